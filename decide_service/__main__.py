"""``python -m decide_service``: runs the decide service (see docs/service.md)."""

from __future__ import annotations

import sys

from ._server import main

if __name__ == "__main__":
    sys.exit(main())
