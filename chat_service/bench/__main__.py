"""`python -m chat_service.bench` runs the same command as `chat-service bench`."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
