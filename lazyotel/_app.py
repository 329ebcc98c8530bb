"""``trace_app``: every command of a typer or click app traced by one call.

Each leaf command's callback is wrapped by ``trace_command`` itself (the same wrapper, the
same semantics), named after its command path (``data.show`` -> span ``cli.data.show``).
Nothing is imported and no command is built: the wrapping is a few attribute writes.

- typer builds its click commands on every run (``typer.main.get_command``) from the
  ``CommandInfo``/``TyperInfo`` records of each ``Typer``; so the callbacks in those records are
  wrapped, and the two lists that hold them are swapped for lists that wrap what is appended
  later (``@app.command()`` and ``app.add_typer()`` append to them).
- click resolves every subcommand through ``Group.get_command`` (lazy-loading groups
  override it), so each group gets an instance-level ``get_command`` that wraps the command it
  returns: commands added later, by any means, are covered when first resolved.

Group callbacks (a root ``--url`` option, say) are not commands: they run before the span.
"""

from __future__ import annotations

from ._command import Command
from ._decorator import TracedCallable, trace_command

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any, TypeVar

    _App = TypeVar("_App")

_OPTION_NAMES = ("attributes", "capture_args", "result_attributes")
_TRACED_APP = "_lazyotel_traced_app"


def trace_app(
    app: _App,
    *,
    exclude: Iterable[str] = (),
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> _App:
    """Trace every command of a typer or click app, including those registered later.

    Each command's span is named after its command path without the program name
    (``mycli data show`` -> ``span_prefix + "data.show"``, so ``cli.data.show``) and has the
    semantics of ``@trace_command`` (which this calls for each command). Nested groups,
    sub-apps and commands added after this call are covered; a command already decorated
    with ``@trace_command`` keeps its own span and is not traced twice. Group callbacks run
    before the span. Nothing is imported and ``--help`` is unchanged.

    Args:
        app: A ``typer.Typer``, a ``click.Group`` or a ``click.Command``.
        exclude: Command paths not to trace (``"data.show"``); a group's path excludes every
            command under it (``"data"``).
        options: Per command path, the keyword options of ``trace_command``
            (``{"data.load": {"capture_args": False, "attributes": {"team": "quant"}}}``).

    Returns:
        ``app`` itself.

    Raises:
        TypeError: ``app`` is not a typer or click app, or an option is unknown or of the
            wrong type.
    """
    rules = _Rules(exclude, options)
    if _is_typer(app):
        _trace_typer(app, "", rules)
    elif _is_click(app):
        if _is_group(app):
            _hook_group(app, "", rules)
        else:
            _trace_click_command(app, getattr(app, "name", None) or "", rules)
    else:
        msg = (
            f"lazyotel.trace_app(app={app!r}): expected a typer.Typer, click.Group or click.Command, "
            f"got {type(app).__name__}"
        )
        raise TypeError(msg)
    return app


class _Rules:
    """``exclude`` and ``options``, checked at once (configuration fails fast)."""

    def __init__(self, exclude: Iterable[str], options: Mapping[str, Mapping[str, Any]] | None) -> None:
        if isinstance(exclude, str):
            exclude = (exclude,)
        self.exclude = tuple(exclude)
        for path in self.exclude:
            if not isinstance(path, str) or not path:
                msg = f"lazyotel.trace_app(exclude=...): {path!r} is not a command path such as 'data.show'"
                raise TypeError(msg)
        self.options: dict[str, dict[str, Any]] = {}
        for path, opts in (options or {}).items():
            if not isinstance(path, str) or not hasattr(opts, "items"):
                msg = (
                    f"lazyotel.trace_app(options=...): expected {{'command.path': {{option: value}}}}, "
                    f"got {path!r}: {opts!r}"
                )
                raise TypeError(msg)
            unknown = sorted(set(opts) - set(_OPTION_NAMES))
            if unknown:
                msg = (
                    f"lazyotel.trace_app(options={{{path!r}: ...}}): unknown option {unknown[0]!r}; "
                    f"valid options: {', '.join(_OPTION_NAMES)}"
                )
                raise TypeError(msg)
            trace_command(None, **opts)  # checks the values now, as the decorator would
            self.options[path] = dict(opts)

    def excluded(self, path: str) -> bool:
        return any(path == rule or path.startswith(rule + ".") for rule in self.exclude)

    def wrap(self, callback: Any, path: str) -> Any:
        """``callback`` traced as ``path``, or unchanged (excluded, already traced, no path)."""
        if callback is None or not path or self.excluded(path) or is_traced(callback):
            return callback
        decorate: Any = trace_command(path, **self.options.get(path, {}))
        return decorate(callback)


def is_traced(fn: Any) -> bool:
    """Whether ``fn``, or a function it wraps (``__wrapped__``), is a ``trace_command`` wrapper.

    A wrapper is a closure over its ``Command``; typer's and click's own wrappers
    (``functools.update_wrapper``) are followed through ``__wrapped__``.
    """
    for _ in range(100):
        if fn is None:
            return False
        if type(fn) is TracedCallable:  # its __class__ is the wrapped object's
            return True
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                if type(cell.cell_contents) is Command:
                    return True
            except ValueError:  # an empty cell
                continue
        fn = getattr(fn, "__wrapped__", None)
    return False


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path and name else path or name


# -- typer ----------------------------------------------------------------------------------------


def _is_typer(app: object) -> bool:
    return all(hasattr(app, name) for name in ("registered_commands", "registered_groups", "info"))


class _WrappingList(list):  # type: ignore[type-arg]
    """A Typer's ``registered_commands`` / ``registered_groups``: wraps what is added later."""

    def __init__(self, items: Iterable[Any], hook: Any) -> None:
        super().__init__()
        self._hook = hook
        self.extend(items)

    def append(self, item: Any) -> None:
        self._hook(item)
        super().append(item)

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.append(item)

    def insert(self, index: Any, item: Any) -> None:
        self._hook(item)
        super().insert(index, item)


def _claim(app: Any, path: str) -> bool:
    """Mark ``app`` (a Typer, a click command or group) as traced under ``path``.

    False if it already was: a sub-app or command shared by two parents keeps its first path.
    """
    if getattr(app, _TRACED_APP, None) is not None:
        return False
    setattr(app, _TRACED_APP, path)
    return True


def _trace_typer(app: Any, path: str, rules: _Rules) -> None:
    if not _claim(app, path):
        return

    def command_added(info: Any) -> None:
        callback = getattr(info, "callback", None)
        if callback is not None:
            name = _placeholder(getattr(info, "name", None)) or _typer_command_name(callback)
            info.callback = rules.wrap(callback, _join(path, name))

    def group_added(info: Any) -> None:
        sub = getattr(info, "typer_instance", None)
        if sub is not None:
            _trace_typer(sub, _join(path, _typer_group_name(info, sub)), rules)

    app.registered_commands = _WrappingList(app.registered_commands, command_added)
    app.registered_groups = _WrappingList(app.registered_groups, group_added)


def _placeholder(value: Any) -> Any:
    """typer's ``Default(...)`` placeholder means "not set"."""
    return None if type(value).__name__ == "DefaultPlaceholder" else value


def _typer_command_name(callback: Any) -> str:
    # typer.main.get_command_name, without importing typer here
    return str(getattr(callback, "__name__", "command")).lower().replace("_", "-")


def _typer_group_name(info: Any, sub: Any) -> str:
    """The name typer gives a sub-app: add_typer's, its callback's, its own; "" if merged."""
    for candidate in (info, getattr(sub, "registered_callback", None), getattr(sub, "info", None)):
        name = _placeholder(getattr(candidate, "name", None))
        if isinstance(name, str) and name:
            return name
    return ""  # typer merges an unnamed sub-app's commands into its parent


# -- click ----------------------------------------------------------------------------------------


def _is_click(app: object) -> bool:
    return all(hasattr(app, name) for name in ("callback", "invoke", "make_context", "main"))


def _is_group(app: object) -> bool:
    return hasattr(app, "get_command") and hasattr(app, "list_commands")


def _trace_click_command(cmd: Any, path: str, rules: _Rules) -> None:
    if not _claim(cmd, path):
        return
    cmd.callback = rules.wrap(cmd.callback, path)


def _hook_group(group: Any, path: str, rules: _Rules) -> None:
    if not _claim(group, path):
        return
    resolve = group.get_command  # the class's, or a lazy group's override

    def get_command(ctx: Any, cmd_name: str) -> Any:
        cmd = resolve(ctx, cmd_name)
        if cmd is not None and getattr(cmd, _TRACED_APP, None) is None:
            sub_path = _join(path, getattr(cmd, "name", None) or cmd_name)
            if _is_group(cmd):
                _hook_group(cmd, sub_path, rules)
            elif _is_click(cmd):
                _trace_click_command(cmd, sub_path, rules)
        return cmd

    group.get_command = get_command
