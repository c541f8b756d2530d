"""``python -m arcguard`` runs the ``arcguard`` command."""

import sys

from ._cli import main

sys.exit(main())
