"""A library whose instrumentor raises in instrument()."""

VALUE = 42
