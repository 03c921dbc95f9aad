"""A local Thalex exchange: ``platform emulator`` serves the Thalex websocket JSON-RPC API at
``ws://HOST:PORT/ws/api/v2`` with a matching engine (``engine/``), a simulated market (``market/``), accounts,
rate limits and fault injection. Entry points: :func:`thalex_modular.emulator.runtime.build_server` and the
``emulator`` CLI verb (:mod:`thalex_modular.emulator.cli`). Kept import-light on purpose: the CLI imports it."""
