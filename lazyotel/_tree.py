"""Received spans drawn as a tree with a timeline: ``python -m lazyotel receive`` and the demo.

One line per span: a bar placed on the trace's timeline, the duration, the name indented under
its parent, the kind, the service and a few telling attributes (HTTP status and path, the
command's arguments, ``operation.id``, the exit code, a status that is not UNSET).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._receiver import ReceivedSpan

__all__ = ["draw_trace"]


def _ms(span: ReceivedSpan) -> float:
    return (span.end_ns - span.start_ns) / 1e6


def _details(span: ReceivedSpan) -> str:
    """The few attributes worth a glance: HTTP status and path, the command's args, outcome."""
    import json
    import re

    attrs = span.attributes
    parts = []
    status = attrs.get("http.response.status_code", attrs.get("http.status_code"))
    if status is not None:
        parts.append(str(status))
    if span.kind == "CLIENT":
        url = str(attrs.get("url.full", attrs.get("http.url", "")))
        parts.append(re.sub(r"^https?://[^/]+", "", url))
    if "cli.args" in attrs:
        try:
            args = json.loads(attrs["cli.args"])
            shown = [
                *map(str, args.get("args", [])),
                *(f"{k}={v}" for k, v in args.get("kwargs", {}).items()),
            ]
        except (TypeError, ValueError, AttributeError):  # not lazyotel's JSON: show it as it is
            shown = [str(attrs["cli.args"])]
        parts.append(" ".join(shown)[:60])
    for key in ("operation.id", "process.exit.code"):
        if key in attrs:
            parts.append(f"{key}={attrs[key]}")
    if span.status_code != "UNSET":
        parts.append(f"status={span.status_code}")
    return "  ".join(parts)


def draw_trace(spans: list[ReceivedSpan], width: int = 24) -> list[str]:
    """Draw one trace as a tree with a timeline column, one line per span, roots first.

    A span whose parent was not received is drawn as a root.

    Args:
        spans: The spans of one trace, in any order.
        width: The width of the timeline column, in characters.

    Returns:
        The lines, without line ends.
    """
    if not spans:
        return []
    ids = {span.span_id for span in spans}
    by_parent: dict[str | None, list[ReceivedSpan]] = {}
    for span in sorted(spans, key=lambda s: s.start_ns):
        parent = span.parent_span_id if span.parent_span_id in ids else None
        by_parent.setdefault(parent, []).append(span)
    t0 = min(s.start_ns for s in spans)
    total = max(max(s.end_ns for s in spans) - t0, 1)
    lines: list[str] = []

    def walk(span: ReceivedSpan, prefix: str, last: bool, depth: int) -> None:
        start = int((span.start_ns - t0) / total * width)
        length = max(int(_ms(span) * 1e6 / total * width), 1)
        bar = (" " * start + "█" * length)[:width].ljust(width)
        branch = "" if depth == 0 else ("└─ " if last else "├─ ")
        label = f"{prefix}{branch}{span.name}"
        service = span.resource.get("service.name", "?")
        lines.append(
            f"  {bar} {_ms(span):8.1f} ms  {label:<44} {span.kind:<8} {service:<10} {_details(span)}".rstrip()
        )
        kids = by_parent.get(span.span_id, [])
        for i, kid in enumerate(kids):
            walk(
                kid,
                prefix + ("" if depth == 0 else ("   " if last else "│  ")),
                i == len(kids) - 1,
                depth + 1,
            )

    for root in by_parent.get(None, []):
        walk(root, "", True, 0)
    return lines
