"""`python -m chat_service` runs the same command as `chat-service`."""

import sys

from .cli import main

sys.exit(main())
