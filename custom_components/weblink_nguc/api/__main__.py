"""Run the NGUC command line: ``python -m custom_components.weblink_nguc.api``."""

import sys

from .cli import main

sys.exit(main())
