"""A whole node without the HTTP API in its own process, for tests that kill it (SIGKILL)."""

from __future__ import annotations

import asyncio
import signal

from services.cli_support import load_settings
from services.runtime import System, run_node


async def main() -> None:
    """Run relays, consumers and background jobs until SIGTERM (or a SIGKILL)."""
    settings = load_settings()
    system = System.build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await run_node(system, nats_url=settings.nats_url or "", serve_api=False, stop=stop)
    finally:
        system.close()


if __name__ == "__main__":
    asyncio.run(main())
