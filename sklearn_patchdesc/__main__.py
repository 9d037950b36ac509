"""``python -m sklearn_patchdesc <command>``: see :mod:`sklearn_patchdesc._cli`."""
import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
