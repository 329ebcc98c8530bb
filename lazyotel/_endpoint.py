"""The collector's address: one rule for ``endpoint=`` and the ``OTEL_*`` variables, the
address the collector probe may check, and whether a proxy stands in the way.

A leaf: imports only ``os`` (``ipaddress`` inside the one function that needs it), so
``bootstrap(endpoint=...)`` can check a value at start-up for free.
"""

from __future__ import annotations

import os

# One rule for the collector's address, whoever gives it (docs/adopting.md, "The endpoint rule"):
# - ``endpoint=`` and ``OTEL_EXPORTER_OTLP_ENDPOINT`` are base URLs: for OTLP/HTTP the signal
#   path ``/v1/traces`` is appended (a base URL that already ends with it is used as is, with a
#   warning); ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is used as is. gRPC takes no path.
# - The value is what the chosen protocol's exporter accepts: OTLP/HTTP needs an ``http://`` or
#   ``https://`` URL; gRPC also takes a target without a scheme (``jaeger:4317``, TLS unless
#   ``OTEL_EXPORTER_OTLP_INSECURE=true``, as the gRPC exporter decides) or ``unix:``/``dns:``.
# Parsed by hand: ``urllib.parse`` imports ``re`` and ``ipaddress`` (cost: benchmarks/README.md) and
# ``bootstrap(endpoint=...)`` runs at every start.

TRACES_ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_PATH = "/v1/traces"
DEFAULT_ENDPOINTS = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}


class Endpoint:
    """Where spans go: the URL the exporter gets, who named it, the address to probe."""

    __slots__ = ("address", "source", "url", "warning")

    def __init__(self, url: str, source: str | None, address: tuple[str, int] | None) -> None:
        self.warning = ""  # a mistake worth one warning, though spans can still be sent
        self.url = url
        self.source = source  # "endpoint", an OTEL_* variable, or None for the default
        self.address = address  # (host, port) a TCP connect can check, or None: not probed


def split_url(url: str) -> tuple[str, str, str] | None:
    """``scheme://netloc/path?query`` -> (lower-case scheme, netloc, the rest); None without ``://``."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return None
    cut = _first(rest, "/?#")
    return scheme.lower(), rest[:cut], rest[cut:]


def _first(text: str, chars: str) -> int:
    """Where the first of ``chars`` is in ``text``; ``len(text)`` if none is."""
    return min((i for i in map(text.find, chars) if i >= 0), default=len(text))


def host_port(netloc: str) -> tuple[str, int | None] | None:
    """``[user@]host[:port]`` -> (host, port or None); None if it is not that shape."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):  # an IPv6 literal: [::1]:4317
        host, sep, tail = hostport[1:].partition("]")
        if not sep or (tail and not tail.startswith(":")):
            return None
        port_text = tail[1:]
    else:
        host, _, port_text = hostport.partition(":")
    if not host or any(c.isspace() or c in "/\\" for c in host):
        return None
    if not port_text:
        return host, None
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        return None
    return host, int(port_text)


def endpoint_problem(url: str, protocol: str) -> str | None:
    """Why the ``protocol`` exporter cannot send to ``url`` (an actionable phrase), or None."""
    parts = split_url(url)
    if protocol == "grpc" and (parts is None or parts[0] not in ("http", "https")):
        # A gRPC target: host:port, unix:path, dns:///host:port... grpc resolves it.
        return None if url and not any(c.isspace() for c in url) else "not a gRPC target"
    if parts is None:
        example = display_url(url) or "localhost:4318"
        return f"OTLP/HTTP needs a URL with a scheme, for example 'http://{example}'"
    scheme, netloc, _ = parts
    if scheme not in ("http", "https"):
        return f"OTLP/HTTP sends to http:// or https:// URLs, not {scheme}://"
    if host_port(netloc) is None:
        return "expected http(s)://host[:port] with a port from 0 to 65535"
    return None


def display_url(url: str) -> str:
    """``url`` for a message: no user info, query or fragment (they can carry credentials)."""
    parts = split_url(url)
    if parts is None:
        return url.rpartition("@")[2].partition("?")[0]
    scheme, netloc, rest = parts
    path = rest[: _first(rest, "?#")]
    return f"{scheme}://{netloc.rpartition('@')[2]}{path}"


def probe_address(url: str, protocol: str) -> tuple[str, int] | None:
    """The TCP address behind ``url``, if it is one this module can parse; else None."""
    parts = split_url(url)
    if parts is None:
        # Only gRPC takes a target without a scheme; "unix:/x" and "dns:..." fail here.
        found = host_port(url) if protocol == "grpc" else None
        return None if found is None else (found[0], found[1] or 443)
    scheme, netloc, _ = parts
    found = host_port(netloc) if scheme in ("http", "https") else None
    if found is None:
        return None
    # grpc defaults to 443 whatever the scheme; HTTP by scheme.
    default = 443 if scheme == "https" or protocol == "grpc" else 80
    return found[0], found[1] or default


def _with_signal_path(url: str) -> tuple[str, bool]:
    """The traces URL for a base URL, and whether the base URL already ended with the path."""
    scheme, netloc, rest = split_url(url) or ("", "", "")
    cut = _first(rest, "?#")
    path, tail = rest[:cut], rest[cut:]
    if path.rstrip("/").endswith(TRACES_PATH):
        return f"{scheme}://{netloc}{path.rstrip('/')}{tail}", True
    return f"{scheme}://{netloc}{path.rstrip('/')}{TRACES_PATH}{tail}", False


def resolve_endpoint(explicit: str | None, protocol: str) -> Endpoint:
    """Where the OTLP exporter for ``protocol`` sends: ``endpoint=``, else the environment.

    Raises:
        ValueError: The value is not one the exporter accepts; the message names it and the fix.
    """
    env = os.environ
    if explicit is not None:
        raw, source = explicit, "endpoint"
    elif env.get(TRACES_ENDPOINT_VARIABLE, "").strip():
        raw, source = env[TRACES_ENDPOINT_VARIABLE], TRACES_ENDPOINT_VARIABLE
    elif env.get(ENDPOINT_VARIABLE, "").strip():
        raw, source = env[ENDPOINT_VARIABLE], ENDPOINT_VARIABLE
    else:
        raw, source = DEFAULT_ENDPOINTS[protocol], None
    raw = raw.strip()
    problem = endpoint_problem(raw, protocol)
    if problem:
        msg = f"{source}={display_url(raw)!r}: {problem}"
        raise ValueError(msg)
    url, doubled = raw, False
    if protocol != "grpc" and source != TRACES_ENDPOINT_VARIABLE:
        url, doubled = _with_signal_path(raw)
    endpoint = Endpoint(url, source, probe_address(url, protocol))
    if doubled:
        endpoint.warning = (
            f"{source or ENDPOINT_VARIABLE}={display_url(raw)!r} is a base URL but already ends with "
            f"{TRACES_PATH}: sending to it as is; remove {TRACES_PATH} "
            f"(or set {TRACES_ENDPOINT_VARIABLE} to the full URL)"
        )
    return endpoint


def _proxy_variable(name: str) -> str:
    """A proxy variable's value, the lower-case spelling first (as urllib and requests read it)."""
    return (os.environ.get(name) or os.environ.get(name.upper()) or "").strip()


def proxy_in_use(protocol: str, url: str, host: str, port: int) -> bool:
    """Whether the exporter would reach ``host`` through a proxy from the environment.

    OTLP/HTTP (requests) uses ``<scheme>_proxy`` or ``all_proxy`` unless ``no_proxy`` matches;
    grpc uses ``grpc_proxy``, ``https_proxy`` or ``http_proxy`` unless ``no_grpc_proxy`` or
    ``no_proxy`` matches. Through a proxy the collector may be reachable only via it, so it is
    not probed; otherwise the probe's refused connection saves the exporter's back-off.
    """
    if protocol == "grpc":
        proxies: tuple[str, ...] = ("grpc_proxy", "https_proxy", "http_proxy")
        bypass_names: tuple[str, ...] = ("no_grpc_proxy", "no_proxy")
    else:
        scheme = (split_url(url) or ("http",))[0]
        proxies, bypass_names = (f"{scheme}_proxy", "all_proxy"), ("no_proxy",)
    if not any(_proxy_variable(name) for name in proxies):
        return False
    no_proxy = next((value for value in map(_proxy_variable, bypass_names) if value), "")
    return not proxy_bypassed(no_proxy, host, port)


def proxy_bypassed(no_proxy: str, host: str, port: int) -> bool:
    """Whether ``no_proxy`` (``*``, names, ``.suffix``, ``host:port``, CIDR) covers ``host``."""
    host = host.lower().rstrip(".")
    for item in no_proxy.replace(" ", ",").split(","):
        entry = item.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, entry_port = entry, ""
        if entry.startswith("["):  # [::1]:4317
            name, _, tail = entry[1:].partition("]")
            entry_port = tail[1:]
        elif entry.count(":") == 1:
            name, _, entry_port = entry.partition(":")
        if entry_port and entry_port != str(port):
            continue
        name = name.lstrip("*").lstrip(".")
        if "/" in name:
            if _in_network(host, name):
                return True
        elif name and (host == name or host.endswith("." + name)):
            return True
    return False


def _in_network(host: str, network: str) -> bool:
    import ipaddress  # only for a CIDR entry in no_proxy, at activation

    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False
