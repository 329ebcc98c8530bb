"""ktrade's settings, the way a real CLI keeps them (there: a pydantic-settings class).

Read from ``KTRADE_*`` variables. In the CLI this example is modelled on, importing the settings
costs 650-800 ms (pydantic and the validators), more than the CLI's own import: so ``--help``
must never import them, and telemetry reads them only when it starts (see ``cli.py``).
"""

from __future__ import annotations

import os
from typing import Optional

#: ktrade's version, reported as the ``service.version`` resource attribute.
VERSION = "2.4.0"


class Settings:
    """The values telemetry needs; a real CLI's settings hold many more."""

    def __init__(self, environ: Optional[dict[str, str]] = None) -> None:
        env = os.environ if environ is None else environ
        #: The collector (``KTRADE_OTLP_ENDPOINT``); None: the standard ``OTEL_*`` variables decide.
        self.otlp_endpoint: Optional[str] = env.get("KTRADE_OTLP_ENDPOINT") or None
        #: ``deployment.environment.name``: dev, staging, prod.
        self.environment = env.get("KTRADE_ENV", "dev")
        self.version = VERSION


_loaded: Optional[Settings] = None


def load() -> Settings:
    """The settings, read once."""
    global _loaded
    if _loaded is None:
        _loaded = Settings()
    return _loaded
