"""``python -m numcnn``: the ``numcnn`` command (see ``numcnn.cli``)."""

import sys

from .cli import main

sys.exit(main())
