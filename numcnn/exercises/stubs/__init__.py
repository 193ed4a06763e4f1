"""The exercises' stubs: ``numcnn exercise start NAME`` copies ``NAME.py`` from here."""
