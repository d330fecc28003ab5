"""``python -m dicomlab``: the command line."""

import sys

from dicomlab.cli import main

sys.exit(main())
