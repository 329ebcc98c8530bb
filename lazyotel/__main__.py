"""``python -m lazyotel``: lazyotel's command line: ``doctor``, ``receive``, ``ship`` and ``spool``.

argparse is fine here: this module is never on a CLI's start-up path.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from . import _doctor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

DOCTOR_USAGE = (
    "python -m lazyotel doctor [--forbid MOD[,MOD...]] [--no-default-forbid] [--top N] [--json]\n"
    "                                 [--keep-env] [--timeout SECONDS] -- COMMAND [ARG ...]"
)
DOCTOR_DESCRIPTION = """\
Run COMMAND with Python's import-time profiling; print the modules that cost the most (cumulative
and self ms, and the chain of imports that pulled each one in), the total, and every forbidden
module imported. Exits non-zero when one was, so a CLI's CI can guard its start-up."""
DOCTOR_EPILOG = f"""\
examples:
  python -m lazyotel doctor -- mycli --help
  python -m lazyotel doctor --forbid pandas,httpx --top 5 -- python -m mypkg --help
  python -m lazyotel doctor --json -- ./tool.py --help > imports.json

exit codes:
  0  clean: the command succeeded and imported no forbidden module
  1  a forbidden module was imported (even if the command then failed: the import did happen)
  2  usage error: no command after --, a bad option
  3  COMMAND (or the interpreter its shebang names) was not found or cannot be run
  4  COMMAND failed: non-zero exit, killed, or over --timeout (its code and stderr tail are shown)
  5  COMMAND reported no Python imports (not a Python program?), so nothing was checked

how COMMAND runs:
  A Python command (python ..., a .py file, a console script or any script whose shebang names
  Python) runs as PYTHON -X importtime ..., which profiles that one process. Other commands (a
  shell wrapper, uv run) get PYTHONPROFILEIMPORTTIME=1, which their Python children inherit too:
  their figures are merged, and the report says how many processes wrote timings.
  stdin is empty and stdout is not shown. The environment is yours without
  PYTHONDONTWRITEBYTECODE (cached bytecode gives realistic figures; --keep-env keeps it) and
  without PYTEST_VERSION / PYTEST_CURRENT_TEST (so lazyotel does not think it runs under pytest).
  Bytecode goes to a per-user directory under the system's temporary directory
  (PYTHONPYCACHEPREFIX, unless you set it), never into your project.
  Every import while COMMAND runs is counted: profile --help (or similar) to see start-up.
  Default forbidden modules: {", ".join(_doctor.DEFAULT_FORBID)}; a name forbids its submodules too.
  An import of the OpenTelemetry API alone is reported as a note (its chain and cost) and does not
  change the exit code; --forbid opentelemetry forbids it too."""


def _count(text: str) -> int:
    if not text.isdigit():
        msg = f"expected a whole number >= 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        msg = f"expected a number of seconds > 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _forbid(text: str) -> list[str]:
    try:
        return _doctor.parse_forbid([text])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


RECEIVE_DESCRIPTION = """\
Run an OTLP collector on 127.0.0.1 and print every trace that arrives as a tree with a timeline:
a local collector for a first try, no install beyond 'pip install lazyotel[testing]'. It listens
where OpenTelemetry exporters send by default (OTLP/HTTP on port 4318, gRPC on 4317), so a CLI
using lazyotel needs no configuration to reach it. Stop it with Ctrl-C."""
RECEIVE_EPILOG = """\
examples:
  python -m lazyotel receive                   # then, in another terminal: mycli some command
  python -m lazyotel receive --protocol grpc   # OTEL_EXPORTER_OTLP_PROTOCOL=grpc for the CLI
  python -m lazyotel receive --port 0 --count 1   # a free port; exit once one span arrived"""
#: OpenTelemetry's default OTLP ports, where an unconfigured exporter sends.
DEFAULT_PORTS = {"http/protobuf": 4318, "grpc": 4317}


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The ``python -m lazyotel`` parser and its ``doctor`` subparser."""
    parser = argparse.ArgumentParser(
        prog="python -m lazyotel",
        description="lazyotel's tools. Run 'python -m lazyotel doctor --help' for the doctor, "
        "'python -m lazyotel receive --help' for the local collector.",
    )
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    doctor = subparsers.add_parser(
        "doctor",
        help="profile a command's start-up imports and flag forbidden ones (OpenTelemetry, wrapt, grpc...)",
        usage=DOCTOR_USAGE,
        description=DOCTOR_DESCRIPTION,
        epilog=DOCTOR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = doctor.add_argument
    add("--forbid", metavar="MOD[,MOD...]", type=_forbid, action="extend", default=[],
        help="also forbid these modules and their submodules (repeatable)")  # fmt: skip
    add("--no-default-forbid", dest="default_forbid", action="store_false",
        help=f"do not forbid the defaults ({', '.join(_doctor.DEFAULT_FORBID)})")  # fmt: skip
    add(
        "--top",
        metavar="N",
        type=_count,
        default=10,
        help="show the N costliest imports (default 10; 0: none)",
    )
    add(
        "--json",
        action="store_true",
        help="print one JSON object on stdout instead of the report (none on exit 2 or 3)",
    )
    add("--keep-env", action="store_true", help="pass the environment as is (see 'how COMMAND runs')")
    add("--timeout", metavar="SECONDS", type=_seconds, help="kill COMMAND after this long (exit 4)")
    add("stray", nargs="*", help=argparse.SUPPRESS)
    receive = subparsers.add_parser(
        "receive",
        help="run a local OTLP collector and print arriving traces as trees",
        description=RECEIVE_DESCRIPTION,
        epilog=RECEIVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    receive.add_argument(
        "--protocol",
        choices=("http/protobuf", "grpc"),
        default="http/protobuf",
        help="OTLP over HTTP (default) or gRPC",
    )
    receive.add_argument(
        "--port", type=_count, help="port on 127.0.0.1 (default 4318, 4317 for gRPC; 0: a free one)"
    )
    receive.add_argument("--count", metavar="N", type=_count, help="exit 0 once N spans have arrived")
    receive.add_argument(
        "--timeout", metavar="SECONDS", type=_seconds, help="exit 1 if still running after this long"
    )
    _add_delivery_commands(subparsers)
    return parser, doctor


def receive(args: argparse.Namespace) -> int:
    """Run a receiver; print each trace as a tree once its spans stop arriving; return the exit code."""
    import time

    from ._receiver import OTLPReceiver
    from ._tree import draw_trace

    port = DEFAULT_PORTS[args.protocol] if args.port is None else args.port
    try:
        receiver = OTLPReceiver(args.protocol, port=port).start()
    except ImportError as exc:
        print(f"lazyotel receive: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"lazyotel receive: error: cannot listen on 127.0.0.1:{port} ({exc}); "
            "is a collector already running? --port 0 picks a free port",
            file=sys.stderr,
        )
        return 1
    protocol = "" if args.protocol == "http/protobuf" else " OTEL_EXPORTER_OTLP_PROTOCOL=grpc"
    print(
        f"lazyotel receive: listening on {receiver.endpoint} ({args.protocol}); Ctrl-C to stop\n"
        f"  send to it: OTEL_EXPORTER_OTLP_ENDPOINT={receiver.endpoint}{protocol} mycli ...",
        file=sys.stderr,
        flush=True,
    )
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    shown = 0
    try:
        while args.count is None or shown < args.count:
            if deadline is not None and time.monotonic() > deadline:
                print(f"lazyotel receive: {shown} spans within {args.timeout:g} s", file=sys.stderr)
                return 1
            try:
                spans = receiver.wait_for(shown + 1, timeout=0.2)
            except TimeoutError:
                continue
            while True:  # a trace's spans come in several exports: draw once they stop coming
                time.sleep(0.3)
                if len(receiver.spans) == len(spans):
                    break
                spans = receiver.spans
            new = spans[shown:]
            for trace_id in dict.fromkeys(span.trace_id for span in new):
                print(f"trace {trace_id}")
                print("\n".join(draw_trace([s for s in spans if s.trace_id == trace_id])), flush=True)
            shown = len(spans)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0


def _add_delivery_commands(subparsers: Any) -> None:
    """``ship`` and ``spool``: hand-off delivery's shipper and its spool (see docs/delivery.md)."""
    ship = subparsers.add_parser(
        "ship",
        help="export the spans waiting in the spool (started detached by commands; --wait for CI)",
        description="Export the spool's span files, oldest first, through the OTLP exporter the "
        "OTEL_EXPORTER_OTLP_* variables configure; exit when the spool is empty or the time is up.",
    )
    where = "the spool (default: LAZYOTEL_SPOOL_DIR, else ~/.local/state/lazyotel/spool)"
    ship.add_argument(
        "--wait",
        action="store_true",
        help="run in the foreground (after a running shipper); exit 1 if files remain",
    )
    ship.add_argument("--spool", metavar="DIR", help=where)
    ship.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        help="give up after this long (default: LAZYOTEL_SHIP_TIMEOUT, else 30)",
    )
    spool = subparsers.add_parser(
        "spool",
        help="show the spool's state (files, spans, lost counts, last error); --clear empties it",
        description="Show the hand-off spool: pending files and spans, destinations, the shipper, "
        "the spans lost (dropped, expired, rejected) and the last export error.",
    )
    spool.add_argument("--json", action="store_true", help="print one JSON object")
    spool.add_argument("--clear", action="store_true", help="delete every pending and rejected file first")
    spool.add_argument("--spool", metavar="DIR", help=where)


def render_text(report: _doctor.ImportReport, top: int = 10) -> str:
    """The doctor's human report."""
    env = [f"{_doctor.PROFILE_VAR}=1"] if report.profiled_with == _doctor.PROFILE_VAR else []
    processes = f" in {report.processes} Python processes" if report.processes > 1 else ""
    lines = [
        f"command  {shlex.join(env + report.argv)}",
        f"exit     {report.returncode}",
        f"imports  {len(report.modules)} modules, {report.total_ms:.1f} ms{processes}",
    ]
    rows = report.top(top)
    if rows:
        lines += ["", f"top {len(rows)} by cumulative time", "  cumul ms   self ms  module"]
        for m in rows:
            via = f"   via {' > '.join(m.chain[:-1])}" if m.parent else ""
            lines.append(f"  {m.cumulative_ms:8.1f}  {m.self_ms:8.1f}  {m.name}{via}")
    rules = ", ".join(report.rules) or "no rules"
    lines += ["", f"forbidden ({rules}): {len(report.forbidden) or 'none imported'}"]
    for m in report.forbidden:
        more = f", +{m.descendants()} modules beneath it" if m.children else ""
        lines.append(f"  {' > '.join(m.chain)}   [{m.rule}{more}]")
    if report.not_installed:
        lines.append(f"  (tried, but not installed so not imported: {', '.join(report.not_installed)})")
    if report.notes:
        lines += ["", f"notes ({', '.join(_doctor.DEFAULT_NOTE)} API, allowed; --forbid to forbid it)"]
        for m in report.notes:
            more = f", +{m.descendants()} modules" if m.children else ""
            lines.append(f"  {' > '.join(m.chain)}   [{m.cumulative_ms:.1f} ms{more}]")
    if report.recorder is not None:
        lines += ["", f"recorder {report.recorder}"]
        if report.recorder.startswith("the OpenTelemetry SDK"):
            lines.append("         (LAZYOTEL_LOG=debug says why on the command's stderr)")
    if report.pycache_prefix:
        cold = "; first run, so the figures include compiling: run again" if report.pycache_cold else ""
        where = f"{report.pycache_prefix} ({_doctor.PYCACHE_VAR})"
        lines += ["", f"bytecode written to {where}, not into the project{cold}"]
    return "\n".join(lines)


def doctor(command: Sequence[str], args: argparse.Namespace) -> int:
    """Run the doctor on ``command``; print the report and messages; return the exit code."""
    import json
    import subprocess

    def say(message: str) -> None:
        print(f"lazyotel doctor: {message}", file=sys.stderr)

    env = dict(os.environ) if args.keep_env else None
    try:
        report = _doctor.check_imports(
            command, args.forbid, default_forbid=args.default_forbid, env=env, timeout=args.timeout
        )
    except _doctor.CommandNotFoundError as exc:
        say(f"error: {exc}")
        return _doctor.EXIT_NOT_FOUND
    except subprocess.TimeoutExpired:
        say(f"error: the command did not finish within {args.timeout:g} s and was killed")
        return _doctor.EXIT_FAILED
    if report.stderr.strip() and report.returncode == 0:
        print(report.stderr, file=sys.stderr)  # the command's own messages, where they would have gone
    print(json.dumps(report.as_dict(args.top), indent=2) if args.json else render_text(report, args.top))
    sys.stdout.flush()
    if report.processes > 1:
        say(f"note: {report.processes} Python processes wrote import timings; their figures are merged")
    for m in report.forbidden:
        say(f"forbidden import: {' > '.join(m.chain)}")
    for m in report.notes:
        say(f"note: {' > '.join(m.chain)} imports the OpenTelemetry API ({m.cumulative_ms:.1f} ms)")
    if report.returncode != 0:
        say(f"error: {report.failure()}")
    elif not report.modules:
        say(
            "error: the command reported no Python imports, so nothing was checked (is it a Python "
            f"program? interpreters run with -E or -I ignore {_doctor.PROFILE_VAR})"
        )
    return report.exit_code()


#: The doctor's options that take a value: the token after them is not a command.
_VALUED = ("--forbid", "--top", "--timeout")


def _command_without_separator(options: list[str]) -> list[str]:
    """The tokens from the first positional after ``doctor`` on, when ``--`` was left out."""
    if not options or options[0] != "doctor":
        return []
    tokens = options[1:]
    for index, token in enumerate(tokens):
        if token.startswith("-"):
            continue
        if index and tokens[index - 1] in _VALUED:
            continue
        return tokens[index:]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lazyotel``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    options, command = argv[:split], argv[split + 1 :]
    parser, doctor_parser = build_parser()
    stray = _command_without_separator(options)
    if stray:  # checked first: "doctor mycli --help" must not print the doctor's help and exit 0
        doctor_parser.error(
            f"put the command after '--', e.g. python -m lazyotel doctor -- {shlex.join(stray)}"
        )
    args = parser.parse_args(options)  # exits 2 on a bad option, 0 on --help
    if args.subcommand in ("ship", "spool"):
        from . import _ship

        if args.subcommand == "ship":
            return _ship.main(args.spool, wait=args.wait, timeout=args.timeout)
        return _ship.spool_command(args.spool, as_json=args.json, clear=args.clear)
    if args.subcommand is None:
        parser.print_help(sys.stderr)
        return _doctor.EXIT_USAGE
    if args.subcommand == "receive":
        if command:
            parser.error("receive takes no command")
        return receive(args)
    if args.stray:
        doctor_parser.error(
            f"put the command after '--', e.g. python -m lazyotel doctor -- {' '.join(args.stray)}"
        )
    if not command:
        doctor_parser.error(
            "no command given: put it after '--', e.g. python -m lazyotel doctor -- mycli --help"
        )
    return doctor(command, args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # ``... --json | head``: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
