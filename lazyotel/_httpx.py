"""lazyotel's own httpx instrumentation: opentelemetry-instrumentation-httpx's spans, without its cost.

``HTTPXClientInstrumentor().instrument()`` (0.66b1) costs ~227M instructions to import (wrapt 2.x,
the instrumentor base with ``packaging`` and ``importlib.metadata``, the semantic-convention
tables): +17 % on a typical CLI. This module patches the same two methods the instrumentor wraps,
``httpx.HTTPTransport.handle_request`` and ``httpx.AsyncHTTPTransport.handle_async_request``, with
plain functions, and makes the same CLIENT span per request (name, attributes in the same order,
status, exception event, scope) and the same propagation headers as ``instrument()`` with no
arguments (no hooks, the global providers), under every variable that instrumentor reads:
``OTEL_SEMCONV_STABILITY_OPT_IN`` (default, ``http``, ``http/dup``), the excluded URLs, header
capture and sanitizing, ``OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS``.
``supported_reason`` says when it cannot (patterns that are not regular expressions, httpx before
0.20); use the instrumentor then. It records no metrics: the instrumentor's duration histograms go
to the global meter provider, which lazyotel never sets.

Everything OpenTelemetry-related goes through a *kit* (``Kit`` below): ``ApiKit`` implements it
with the OpenTelemetry API; lazyotel's recorder brings one that needs no OpenTelemetry import.
A fault in the kit never reaches the request: the request runs on untraced, one warning.

A pipeline: imports nothing from OpenTelemetry, wrapt or httpx at module level, and only leaves.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping
    from typing import Any, Protocol

    class KitSpan(Protocol):
        """A span as the kit hands it out: the OpenTelemetry API's span methods, except that
        ``set_status`` takes the status code's name ("ERROR", "OK"), so a kit needs no
        OpenTelemetry import."""

        def set_attribute(self, key: str, value: Any) -> None: ...
        def set_attributes(self, attributes: Mapping[str, Any]) -> None: ...
        def is_recording(self) -> bool: ...
        def record_exception(self, exception: BaseException) -> None: ...
        def set_status(self, code_name: str, description: str | None = None) -> None: ...
        def end(self) -> None: ...

    class Kit(Protocol):
        """What the instrumentation needs from a tracing implementation."""

        def start_client_span(self, name: str, attributes: dict[str, Any]) -> tuple[KitSpan, object]:
            """Start a CLIENT span, child of the current span, and make it current; the token
            is what ``end_span`` needs to make the previous span current again."""

        def end_span(self, span: KitSpan, token: object) -> None:
            """Make the previous span current again, then end ``span``."""

        def inject(self, headers: MutableMapping[str, str]) -> None:
            """Write the current context's propagation headers, as the global propagator would."""

        def suppressed(self) -> bool:
            """Whether instrumentation is suppressed in the current context (OpenTelemetry's
            suppress-instrumentation and suppress-HTTP-instrumentation keys)."""


#: The instrumentation scope of the instrumentor's spans (its module name and version).
SCOPE_NAME = "opentelemetry.instrumentation.httpx"
SCOPE_VERSION = "0.66b1"
#: Semantic-convention modes, as ``OTEL_SEMCONV_STABILITY_OPT_IN`` selects them for HTTP.
DEFAULT, HTTP, HTTP_DUP = "default", "http", "http/dup"
_SCHEMA_URLS = {
    DEFAULT: "https://opentelemetry.io/schemas/1.11.0",
    HTTP: "https://opentelemetry.io/schemas/1.21.0",
    HTTP_DUP: "https://opentelemetry.io/schemas/1.21.0",
}
_CAPTURE_REQUEST = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST"
_CAPTURE_RESPONSE = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE"
_SANITIZE = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"
_CAPTURE_ALL_METHODS = "OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS"
_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY")
)
#: Query parameters whose values ``opentelemetry.util.http.redact_url`` replaces.
_PARAMS_TO_REDACT = ("AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature")


def semconv_mode(environ: Mapping[str, str]) -> str:
    """The HTTP semantic-convention mode the instrumentor would use: ``DEFAULT``, ``HTTP`` or
    ``HTTP_DUP``. OpenTelemetry reads ``OTEL_SEMCONV_STABILITY_OPT_IN`` once per process, so a
    mode it has already settled on wins over ``environ``."""
    semconv = sys.modules.get("opentelemetry.instrumentation._semconv")
    stability = getattr(semconv, "_OpenTelemetrySemanticConventionStability", None)
    if semconv is not None and stability is not None and getattr(stability, "_initialized", False):
        try:
            signal = semconv._OpenTelemetryStabilitySignalType.HTTP
            return str(stability._get_opentelemetry_stability_opt_in_mode(signal).value)
        except Exception:  # noqa: BLE001, S110 - a private API that moved: read the environment
            pass
    opt_in = [part.strip() for part in (environ.get("OTEL_SEMCONV_STABILITY_OPT_IN") or "").split(",")]
    if HTTP_DUP in opt_in:
        return HTTP_DUP
    return HTTP if HTTP in opt_in else DEFAULT


def schema_url(mode: str) -> str:
    """The schema URL of the instrumentor's tracer in ``mode``."""
    return _SCHEMA_URLS[mode]


def _excluded_urls(environ: Mapping[str, str]) -> list[str]:
    """The instrumentor's excluded-URL patterns (``get_excluded_urls("HTTPX")``)."""
    raw = environ.get("OTEL_PYTHON_HTTPX_EXCLUDED_URLS", environ.get("OTEL_PYTHON_EXCLUDED_URLS", ""))
    return [part.strip() for part in raw.split(",")] if raw else []


def _header_patterns(environ: Mapping[str, str], name: str) -> list[str]:
    """The instrumentor's header patterns from ``name`` (``get_custom_headers``)."""
    raw = environ.get(name)
    return [part.strip() for part in raw.split(",")] if raw else []


def supported_reason(environ: Mapping[str, str], httpx_version: str | None = None) -> str | None:
    """None when ``instrument`` makes the spans the instrumentor's defaults would make under
    ``environ`` (and httpx ``httpx_version``, when given); otherwise why not, in a few words."""
    checks = [("OTEL_PYTHON_HTTPX_EXCLUDED_URLS / OTEL_PYTHON_EXCLUDED_URLS", _excluded_urls(environ))]
    for name in (_CAPTURE_REQUEST, _CAPTURE_RESPONSE, _SANITIZE):
        checks.append((name, _header_patterns(environ, name)))
    for name, patterns in checks:
        if patterns:
            import re

            try:
                re.compile("|".join(patterns))
            except re.error:
                # The instrumentor raises at instrument() or (headers) in every request.
                return f"{name} is not a valid regular expression"
    if httpx_version is not None:
        try:
            major, minor = (int(part) for part in httpx_version.split(".")[:2])
        except ValueError:
            return f"httpx {httpx_version} (an unknown version)"
        if (major, minor) < (0, 20):
            return f"httpx {httpx_version} (before 0.20, transports took no Request)"
    return None


def _sanitize_method(method: str) -> str:
    method = method.upper()
    if method in _METHODS or os.environ.get(_CAPTURE_ALL_METHODS):
        return method
    return "_OTHER"


def _redact_url(url: str) -> str:
    """``opentelemetry.util.http.redact_url``: credentials and signature parameters hidden."""
    if "@" not in url and "?" not in url:  # nothing it would change
        return url
    from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

    try:
        parsed = urlparse(url)
        if parsed.scheme and parsed.netloc and "@" in parsed.netloc:
            host = parsed.netloc.rpartition("@")[2]
            url = urlunparse((parsed.scheme, "REDACTED:REDACTED@" + host, *parsed[2:]))
    except ValueError:
        pass
    try:
        parsed = urlparse(url)
        if not parsed.query:
            return url
        params = parse_qs(parsed.query)
        if not any(name in params for name in _PARAMS_TO_REDACT):
            return url
        for name in _PARAMS_TO_REDACT:
            if name in params:
                params[name] = ["REDACTED"]
        return urlunparse((*parsed[:4], urlencode(params, doseq=True), parsed.fragment))
    except ValueError:
        return url


def _compile_headers(patterns: list[str]) -> Any:
    if not patterns:
        return None
    import re

    return re.compile("|".join(patterns), re.IGNORECASE)


def _fault(exc: BaseException) -> None:
    from . import _log

    _log.warn_once("the httpx instrumentation failed (%s); the request is not affected", _log.describe(exc))


class _Tracing:
    """One instrumentation of one httpx module: the kit, the mode, and the originals."""

    def __init__(self, httpx_module: Any, kit: Kit, environ: Mapping[str, str]) -> None:
        self.kit = kit
        self.active = True  # uninstrument: requests pass through, spans already started still end
        self.headers_type = httpx_module.Headers
        self.response_type = httpx_module.Response
        mode = semconv_mode(environ)
        self.old = mode != HTTP
        self.new = mode != DEFAULT
        patterns = _excluded_urls(environ)
        self.excluded: Any = None
        if patterns:
            import re

            self.excluded = re.compile("|".join(patterns))
        self.request_headers = _compile_headers(_header_patterns(environ, _CAPTURE_REQUEST))
        self.response_headers = _compile_headers(_header_patterns(environ, _CAPTURE_RESPONSE))
        self.sensitive = _compile_headers(_header_patterns(environ, _SANITIZE))

    def header_attributes(self, headers: Any, pattern: Any, prefix: str) -> dict[str, list[str]]:
        """``opentelemetry.util.http.get_custom_header_attributes`` on httpx headers: the
        headers ``pattern`` matches in full, values split at commas, sensitive ones hidden."""
        values: dict[str, list[str]] = {}
        if pattern is None:
            return values
        normalized: dict[str, list[str]] = {}
        for key in headers.keys():  # noqa: SIM118 - httpx's keys(), as the instrumentor calls it
            normalized.setdefault(key.lower(), []).extend(headers.get_list(key, split_commas=True))
        sensitive = self.sensitive
        for name, found in normalized.items():
            if pattern.fullmatch(name):
                hidden = sensitive is not None and sensitive.search(name)
                key = prefix + name.lower().replace("-", "_")
                values[key] = ["[REDACTED]"] * len(found) if hidden else found
        return values

    def begin(self, request: Any) -> tuple[KitSpan, object] | None:
        """The request's span, started and current, its headers injected; None: untraced."""
        kit = self.kit
        if not self.active or kit.suppressed():
            return None
        url = request.url
        full = str(url)
        if self.excluded is not None and self.excluded.search(full):
            return None
        name, attributes = self.request_attributes(request.method, url, full, request.headers)
        span, token = kit.start_client_span(name, attributes)
        try:
            # As the instrumentor does: inject into a copy, then give the request the copy.
            headers = self.headers_type(request.headers)
            kit.inject(headers)
            request.headers = headers
        except BaseException:
            kit.end_span(span, token)
            raise
        return span, token

    def request_attributes(
        self, method: str, url: Any, full: str, headers: Any
    ) -> tuple[str, dict[str, Any]]:
        """The span's name and start attributes, as the instrumentor computes them: ``full``
        is ``str(url)``, ``headers`` the request's headers before injection."""
        name = _sanitize_method(method.strip())
        if name == "_OTHER":
            name = "HTTP"
        original = method.strip()
        normalized = _sanitize_method(method).strip()
        attributes: dict[str, Any] = {}
        if self.new and original != normalized and original:
            attributes["http.request.method_original"] = original
        if normalized:
            if self.old:
                attributes["http.method"] = normalized
            if self.new:
                attributes["http.request.method"] = normalized
        full = _redact_url(full)
        if full:
            if self.old:
                attributes["http.url"] = full
            if self.new:
                attributes["url.full"] = full
        if self.request_headers is not None:
            attributes.update(self.header_attributes(headers, self.request_headers, "http.request.header."))
        if self.new:
            self.peer_attributes(attributes, url)
        return name, attributes

    def peer_attributes(self, attributes: dict[str, Any], url: Any) -> None:
        """Host and port (new conventions only; ``http/dup`` adds the old names)."""
        host = url.host
        if host:
            if self.old:
                attributes["http.host"] = host
            attributes["server.address"] = host
            attributes["network.peer.address"] = host
        port = url.port
        if port:
            if self.old:
                attributes["net.peer.port"] = port
            attributes["server.port"] = port
            attributes["network.peer.port"] = port

    def responded(self, span: KitSpan, response: Any) -> None:
        if not span.is_recording():
            return
        code = response.status_code
        error = isinstance(code, int) and (code < 100 or code >= 400)
        self.status_attributes(span, code, error)
        if error:
            span.set_status("ERROR", None)
        if self.response_headers is not None:
            prefix = "http.response.header."
            captured = self.header_attributes(response.headers, self.response_headers, prefix)
            if captured:
                span.set_attributes(captured)
                # The instrumentor sets the status attributes twice, around the headers; the
                # SDK moves a key set again to the end (its order decides what a full span drops).
                self.status_attributes(span, code, error)
        if self.new:
            version = response.http_version
            version = version.replace("HTTP/", "") if version else version
            if version:
                if self.old:
                    span.set_attribute("http.flavor", version)
                span.set_attribute("network.protocol.version", version)

    def status_attributes(self, span: KitSpan, code: Any, error: bool) -> None:
        if self.old:
            span.set_attribute("http.status_code", code)
        if self.new:
            span.set_attribute("http.response.status_code", code)
            if error:
                span.set_attribute("error.type", str(code))

    def finish(self, started: tuple[KitSpan, object], response: Any) -> None:
        span, token = started
        try:
            self.responded(span, response)
        except Exception as exc:  # noqa: BLE001 - telemetry never reaches the request
            _fault(exc)
        self.end(span, token)

    def failed(self, started: tuple[KitSpan, object], exc: Exception) -> None:
        span, token = started
        try:
            response = getattr(exc, "response", None)
            if isinstance(response, self.response_type):
                self.responded(span, response)
            if span.is_recording():
                if self.new:
                    span.set_attribute("error.type", type(exc).__qualname__)
                span.record_exception(exc)
                span.set_status("ERROR", f"{type(exc).__name__}: {exc}")
        except Exception as fault:  # noqa: BLE001 - telemetry never reaches the request
            _fault(fault)
        self.end(span, token)

    def end(self, span: KitSpan, token: object) -> None:
        try:
            self.kit.end_span(span, token)
        except Exception as exc:  # noqa: BLE001 - telemetry never reaches the request
            _fault(exc)


def _start(tracing: _Tracing, request: Any) -> tuple[KitSpan, object] | None:
    try:
        return tracing.begin(request)
    except Exception as exc:  # noqa: BLE001 - telemetry never reaches the request
        _fault(exc)
        return None


def _contrib_wrapped(method: object) -> bool:
    """Whether the instrumentor's wrapt wrapper is on ``method`` (two instrumentations would
    make two spans per request)."""
    wrapper = getattr(getattr(method, "_self_wrapper", None), "func", None)
    return "HTTPXClientInstrumentor" in str(getattr(wrapper, "__qualname__", ""))


def tracing_of(method: object) -> _Tracing | None:
    """The state of the wrapper ``method`` is, if it is one of ours (known by identity: an
    attribute would be copied by ``functools.wraps`` and invented by a ``MagicMock``)."""
    wrappers = _WRAPPERS
    if wrappers is None:
        return None
    try:
        return wrappers.get(method)  # type: ignore[no-any-return]
    except TypeError:  # not hashable, or not weak-referenceable: not ours
        return None


_WRAPPERS: Any = None  # weakref.WeakKeyDictionary: our wrapper functions -> their _Tracing


def instrument(httpx_module: Any, kit: Kit) -> _Tracing | None:
    """Trace every request of ``httpx_module``'s transports through ``kit``.

    Idempotent: a second call (or one after the instrumentor instrumented httpx) changes
    nothing and returns None; else the wrappers' state (``uninstrument`` takes it). ``OTEL_*``
    variables are read now, as the instrumentor reads them.
    """
    global _WRAPPERS
    if _WRAPPERS is None:
        import weakref

        _WRAPPERS = weakref.WeakKeyDictionary()
    import functools

    sync_type = httpx_module.HTTPTransport
    async_type = httpx_module.AsyncHTTPTransport
    sync_original = sync_type.__dict__.get("handle_request")
    async_original = async_type.__dict__.get("handle_async_request")
    if sync_original is None or async_original is None:
        msg = f"httpx {getattr(httpx_module, '__version__', '?')}: its transports define no handle_request"
        raise TypeError(msg)
    for method in (sync_original, async_original):
        if tracing_of(method) is not None or _contrib_wrapped(method):
            return None
    tracing = _Tracing(httpx_module, kit, os.environ)

    def handle_request(self: Any, request: Any) -> Any:
        started = _start(tracing, request)
        if started is None:
            return sync_original(self, request)
        try:
            response = sync_original(self, request)
        except Exception as exc:
            tracing.failed(started, exc)
            raise
        except BaseException:
            tracing.end(*started)
            raise
        tracing.finish(started, response)
        return response

    async def handle_async_request(self: Any, request: Any) -> Any:
        started = _start(tracing, request)
        if started is None:
            return await async_original(self, request)
        try:
            response = await async_original(self, request)
        except Exception as exc:
            tracing.failed(started, exc)
            raise
        except BaseException:
            tracing.end(*started)
            raise
        tracing.finish(started, response)
        return response

    for owner, name, original, wrapper in (
        (sync_type, "handle_request", sync_original, handle_request),
        (async_type, "handle_async_request", async_original, handle_async_request),
    ):
        functools.update_wrapper(wrapper, original)
        _WRAPPERS[wrapper] = tracing
        setattr(owner, name, wrapper)
    return tracing


def uninstrument(httpx_module: Any, tracing: _Tracing | None = None) -> None:
    """Undo ``instrument``: the original methods back where our wrappers sit; ``tracing``'s
    wrappers (``instrument``'s return) pass requests through untraced wherever they are now
    (a test double may hold the seat, and put them back later)."""
    if tracing is not None:
        tracing.active = False
    for owner, name in (
        (httpx_module.HTTPTransport, "handle_request"),
        (httpx_module.AsyncHTTPTransport, "handle_async_request"),
    ):
        method = owner.__dict__.get(name)
        seated = tracing_of(method)
        if seated is not None:
            seated.active = False
            setattr(owner, name, method.__wrapped__)


class _ApiSpan:
    """An OpenTelemetry API span with the kit's ``set_status``."""

    __slots__ = ("span",)

    def __init__(self, span: Any) -> None:
        self.span = span

    def set_attribute(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.span.set_attributes(attributes)

    def is_recording(self) -> bool:
        return bool(self.span.is_recording())

    def record_exception(self, exception: BaseException) -> None:
        self.span.record_exception(exception)

    def set_status(self, code_name: str, description: str | None = None) -> None:
        from opentelemetry.trace import Status, StatusCode

        self.span.set_status(Status(StatusCode[code_name], description))

    def end(self) -> None:
        self.span.end()


class ApiKit:
    """The kit on the OpenTelemetry API: the global tracer provider, context and propagator,
    under the instrumentor's scope (name, version, and the schema URL of the semantic-convention
    mode ``environ`` selects; default: ``os.environ``)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        from opentelemetry import context, trace
        from opentelemetry.propagate import inject

        mode = semconv_mode(os.environ if environ is None else environ)
        self._tracer = trace.get_tracer(SCOPE_NAME, SCOPE_VERSION, schema_url=schema_url(mode))
        self._client = trace.SpanKind.CLIENT
        self._set_span_in_context = trace.set_span_in_context
        self._attach = context.attach
        self._detach = context.detach
        self._get_current = context.get_current
        self._inject = inject
        # What ``opentelemetry.instrumentation.utils.is_http_instrumentation_enabled`` checks.
        self._keys = (
            context._SUPPRESS_INSTRUMENTATION_KEY,
            "suppress_instrumentation",
            context._SUPPRESS_HTTP_INSTRUMENTATION_KEY,
        )

    def start_client_span(self, name: str, attributes: dict[str, Any]) -> tuple[_ApiSpan, object]:
        span = self._tracer.start_span(name, kind=self._client, attributes=attributes)
        return _ApiSpan(span), self._attach(self._set_span_in_context(span))

    def end_span(self, span: _ApiSpan, token: Any) -> None:
        try:
            self._detach(token)
        finally:
            span.span.end()

    def inject(self, headers: MutableMapping[str, str]) -> None:
        self._inject(headers)

    def suppressed(self) -> bool:
        current = self._get_current()
        return any(current.get(key) for key in self._keys)
