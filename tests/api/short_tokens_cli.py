"""The command line with the token lifetime floor lowered to one second.

``python -m tests.api.short_tokens_cli listen ...`` runs the real command line
in a real process, except that it believes a server's tokens of a few seconds
instead of taking them to live a minute: tests of renewal on an open
connection need not wait a minute.
"""

import sys

from custom_components.weblink_nguc.api import auth
from custom_components.weblink_nguc.api.cli import main

if __name__ == "__main__":
    auth.MIN_LIFETIME = 1.0
    sys.exit(main(sys.argv[1:]))
