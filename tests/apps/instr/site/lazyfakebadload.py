"""A library whose instrumentor cannot even be loaded."""

VALUE = 43
