"""Script entry for ``doctorapp.eager`` (its directory is ``sys.path[0]``)."""

import sys

from doctorapp.eager import main

sys.exit(main())
