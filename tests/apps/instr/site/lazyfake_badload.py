"""An instrumentor module that fails on import (entry point ``lazyfakebadload``)."""

raise ImportError("lazyfake_badload cannot be imported")
