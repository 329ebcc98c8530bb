"""A JSON encoder made from CPython's ``_json`` accelerator, without importing ``json``.

``import json`` compiles the decoder's regular expressions and loads the decoder and scanner:
about 5 million instructions, 0.8 % of a small typer command, where a traced command only
encodes (``cli.args``, the spool file). ``json.JSONEncoder.encode`` itself runs the same C
encoder this module builds, with the same arguments, so the output is identical. Where the
accelerator is missing or its signature differs (another interpreter), ``json`` serves.

A leaf: imports ``_json`` only, when an encoder is first made.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def _default(value: object) -> object:
    # json.JSONEncoder.default's error, word for word.
    msg = f"Object of type {value.__class__.__name__} is not JSON serializable"
    raise TypeError(msg)


def encoder(
    *, ensure_ascii: bool = True, allow_nan: bool = True, separators: tuple[str, str] = (", ", ": ")
) -> Callable[[object], str]:
    """``json.JSONEncoder(ensure_ascii=, allow_nan=, separators=, check_circular=False).encode``."""
    item_separator, key_separator = separators
    try:
        import _json

        quote = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
        iterencode = _json.make_encoder(
            None, _default, quote, None, key_separator, item_separator, False, False, allow_nan
        )
    except (ImportError, AttributeError, TypeError):
        import json

        return json.JSONEncoder(
            ensure_ascii=ensure_ascii, allow_nan=allow_nan, check_circular=False, separators=separators
        ).encode

    def encode(value: object) -> str:
        if isinstance(value, str):
            return quote(value)
        return "".join(iterencode(value, 0))

    return encode


class _Context:
    """What ``_json.make_scanner`` reads of a ``json.JSONDecoder``: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str] = {}  # noqa: RUF012 - read by the C scanner, which keeps its own

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_WHITESPACE = " \t\n\r"


def decoder() -> Callable[[str], object]:
    """``json.loads`` for ``str`` input, from ``_json``'s scanner (``ValueError`` on bad input)."""
    try:
        import _json

        scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed: a JSONDecoder's fields
    except (ImportError, AttributeError, TypeError):
        import json

        return json.loads

    def loads(text: str) -> object:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = scan(text, start)
        except StopIteration:
            msg = f"Expecting value: char {start}"
            raise ValueError(msg) from None
        if text[end:].strip(_WHITESPACE):
            msg = f"Extra data: char {end}"
            raise ValueError(msg)
        return value

    return loads
