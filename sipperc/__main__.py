"""``python -m sipperc`` runs the ``sipperc`` command."""

import sys

from sipperc.cli import main

sys.exit(main())
