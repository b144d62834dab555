"""``python -m simulator ...``: the same command as ``mlops simulate ...``."""

import sys

from simulator.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python -m simulator"))
