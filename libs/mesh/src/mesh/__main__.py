"""``python -m mesh``: same as the ``mlops`` command."""

import sys

from mesh.cli import main

sys.exit(main())
