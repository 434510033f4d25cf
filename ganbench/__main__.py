"""``python -m ganbench``: see ganbench.cli."""

import sys

from ganbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
