"""ktrade: a trading-research CLI shaped like ktrdr's, traced with lazyotel (see ``cli.py``).

    python -m examples.ktrade --help
    python -m examples.ktrade --url http://127.0.0.1:8000 data load EURUSD

``plain.py`` and ``eager.py`` run the same commands with no telemetry and with eager
OpenTelemetry set-up, for the benchmarks and the demo.
"""
