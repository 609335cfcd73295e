"""`python -m chat_tools` runs the same command as `chat-tools`."""

import sys

from .cli import main

sys.exit(main())
