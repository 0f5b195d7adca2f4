"""`python -m sandbox`: run the sandbox cluster."""

from __future__ import annotations

import sys

from sandbox.server import main

sys.exit(main())
