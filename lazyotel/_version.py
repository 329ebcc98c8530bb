"""The version: the one place it is written (hatch reads it at build time)."""

__version__ = "0.1.0.dev0"
