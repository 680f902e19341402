"""`python -m core.worker RUN_DIR`: the documented entry point of a detached worker (the
dashboard and `taskmap --detach` start it). The worker itself is `core.loop.worker`."""

import sys

from core.loop.worker import main

if __name__ == "__main__":
    sys.exit(main())
