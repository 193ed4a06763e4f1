"""Worked solutions of the exercises: each file passes ``numcnn check NAME FILE``."""
