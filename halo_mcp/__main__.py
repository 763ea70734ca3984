import sys

from halo_mcp.cli import main

sys.exit(main())
