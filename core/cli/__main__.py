"""`python -m core.cli ...` is `taskmap ...`."""

import sys

from core.cli import main

sys.exit(main())
