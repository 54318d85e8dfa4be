"""``python -m workspace_qdrant_mcp.service``: run the workspace service in the foreground."""

import sys

from .server import main

sys.exit(main())
