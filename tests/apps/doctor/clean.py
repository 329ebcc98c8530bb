"""Script entry for ``doctorapp.clean`` (its directory is ``sys.path[0]``)."""

import sys

from doctorapp.clean import main

sys.exit(main())
