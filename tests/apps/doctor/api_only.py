"""Script entry for ``doctorapp.api_only`` (its directory is ``sys.path[0]``)."""

import sys

from doctorapp.api_only import main

sys.exit(main())
