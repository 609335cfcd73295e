"""`python -m chat_tools.bench` runs the same command as `chat-tools bench`."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
