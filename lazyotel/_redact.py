"""Which names hide their values: redaction by name *parts*, for ``cli.args`` and argv.

A name is split into lower-case parts at every character that is not a letter or a digit
(``_``, ``-``, ``.``, spaces...) and at camelCase boundaries: ``X-Api-Key``, ``x_api_key``,
``xApiKey`` and ``XAPIKey`` all give ``x``, ``api``, ``key``. A pattern (``bootstrap(redact=
...)``, split the same way) matches a name when:

- its parts appear in the name as consecutive parts, each equal to the pattern's word or to
  its plural with ``s`` (``api_key`` matches ``x-api-key`` and ``API_KEYS``; ``token`` matches
  ``auth_tokens`` but not ``tokenizer``; ``auth`` does not match ``author``);
- or, for a one-word pattern of five letters or more, a part ends with it: a glued name
  (``dbpassword``, ``accesstoken``, ``clientsecret``);
- and no *other* part of the name is a quantity word (``NOT_SECRET_PARTS``: ``count``,
  ``max``, ``len``, ``timeout``, ``type``...): ``session_count``, ``max_tokens`` and
  ``token_type`` are about a secret, not the secret.

In argv-style sequences (a ``list``/``tuple`` argument, ``*args``, ``sys.argv``) an option
names the value after it: ``["--password", "x"]`` hides ``"x"`` (whatever it is),
``"--token=x"`` and ``"DB_PASSWORD=x"`` keep their name and hide what follows ``=``. A
one-letter short option (``-p``) names nothing: it is a port, a profile or a password
depending on the tool, so use a long option or a ``capture_args`` filter for those.

Imported on the active path only, with ``_capture``.
"""

from __future__ import annotations

from ._config import SETTINGS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Parts that make a name a quantity or a kind *about* a secret, never the secret itself.
NOT_SECRET_PARTS = frozenset(
    (
        "count",
        "num",
        "max",
        "min",
        "limit",
        "len",
        "length",
        "size",
        "ttl",
        "timeout",
        "expiry",
        "expires",
        "type",
    )
)
#: A one-word pattern this long (or longer) also matches the end of a glued part.
GLUED_MIN = 5
#: What a redacted value is recorded as.
REDACTED = "[REDACTED]"

_CACHE_LIMIT = 4096
_OPTION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")

# (the patterns in force, split into words, name -> redacted): one tuple, replaced whole, so a
# thread never pairs new patterns with the cache of the old ones.
_state: tuple[Any, tuple[tuple[str, ...], ...], dict[str, bool]] = (None, (), {})


def name_parts(name: str) -> tuple[str, ...]:
    """``name`` as lower-case parts: split at non-alphanumerics and camelCase boundaries."""
    parts: list[str] = []
    start = -1  # index of the current part's first character
    previous = 0  # 0 separator, 1 lower case or digit, 2 upper case
    size = len(name)
    for index, char in enumerate(name):
        if not char.isalnum():
            if start >= 0:
                parts.append(name[start:index].lower())
                start = -1
            previous = 0
            continue
        if char.isupper():
            # ``apiKey`` splits before ``K``; ``APIKey`` splits before ``K`` too (the end of
            # an acronym is the upper-case letter followed by a lower-case one).
            if start >= 0 and (
                previous == 1 or (previous == 2 and index + 1 < size and name[index + 1].islower())
            ):
                parts.append(name[start:index].lower())
                start = index
            previous = 2
        else:
            previous = 1
        if start < 0:
            start = index
    if start >= 0:
        parts.append(name[start:].lower())
    return tuple(parts)


def _word_matches(part: str, word: str, glued: bool) -> bool:
    if part in (word, word + "s"):
        return True
    return glued and part.endswith((word, word + "s"))


def _quantity(part: str) -> bool:
    return part in NOT_SECRET_PARTS or (part[-1:] == "s" and part[:-1] in NOT_SECRET_PARTS)


def matches(parts: tuple[str, ...], patterns: tuple[tuple[str, ...], ...]) -> bool:
    """Whether the name split into ``parts`` is hidden by one of the split ``patterns``."""
    for words in patterns:
        width = len(words)
        glued = width == 1 and len(words[0]) >= GLUED_MIN
        for start in range(len(parts) - width + 1):
            if all(_word_matches(parts[start + i], words[i], glued) for i in range(width)):
                others = parts[:start] + parts[start + width :]
                if not any(_quantity(part) for part in others):
                    return True
    return False


def redacted(name: str) -> bool:
    """Whether values named ``name`` are recorded as ``"[REDACTED]"`` (see the module doc)."""
    global _state
    state = _state
    patterns = SETTINGS.redact
    if patterns is not state[0]:
        state = (patterns, tuple(words for words in map(name_parts, patterns) if words), {})
        _state = state
    cache = state[2]
    hit = cache.get(name)
    if hit is None:
        hit = matches(name_parts(name), state[1])
        if len(cache) < _CACHE_LIMIT:
            cache[name] = hit
    return hit


def cache_in_force() -> dict[str, bool] | None:
    """The ``name -> redacted`` cache of the patterns in force, if it is filled for them."""
    state = _state
    return state[2] if SETTINGS.redact is state[0] else None


#: What ``option`` returns.
PLAIN, HIDES_NEXT, HIDES_VALUE = 0, 1, 2


def option(text: str) -> int:
    """How an argv item hides a value: ``HIDES_NEXT`` (``--password``), ``HIDES_VALUE``
    (``--token=x``, ``DB_PASSWORD=x``) or ``PLAIN``.
    """
    dashes = 2 if text[:2] == "--" else 1 if text[:1] == "-" else 0
    name, equals, _value = text[dashes:].partition("=")
    if not name or (not dashes and not equals) or (dashes == 1 and len(name) == 1):
        return PLAIN
    if len(name) > 128 or not _OPTION_CHARS.issuperset(name):  # a sentence or a URL, not a name
        return PLAIN
    if not redacted(name):
        return PLAIN
    return HIDES_VALUE if equals else HIDES_NEXT


def hide_value(text: str) -> str:
    """``--token=x`` -> ``--token=[REDACTED]``."""
    return text[: text.index("=") + 1] + REDACTED
