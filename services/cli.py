"""The `ecm` command line: bring the system up, serve one service, status, demo data, tokens."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services import backup_cli
from services.cli_support import (
    EXIT_FAILED,
    EXIT_IN_USE,
    EXIT_USAGE,
    DataDir,
    Token,
    authorise,
    cli_meta,
    settings_or_exit,
)
from shared.domain import Area, Role
from shared.settings import SERVICES, Settings

if TYPE_CHECKING:
    # Heavy modules (runtime, NATS, rich) load inside the commands that need them, so a
    # command such as `ecm token` starts in a fraction of a second.
    from services.runtime import System
    from shared.natsserver import EmbeddedNats

app = typer.Typer(help="ECM Record: the Enhanced Case Management record.", no_args_is_help=True)
demo = typer.Typer(help="Synthetic demonstration data.", no_args_is_help=True)
parked_cli = typer.Typer(help="Messages a consumer parked after its last retry.",
                         no_args_is_help=True)
app.add_typer(demo, name="demo")
app.add_typer(parked_cli, name="parked")


class _Console:
    """rich's Console, imported on first use."""

    def print(self, *objects: Any) -> None:
        from rich.console import Console

        Console().print(*objects)


console = _Console()
_settings = settings_or_exit


def _nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


async def _serve_until_signalled(system: System, nats_url: str, serve_api: bool,
                                 announce: str | None,
                                 supervised: EmbeddedNats | None = None) -> None:
    from services.runtime import run_node

    stop, ready = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The supervisor runs in this (main) thread: a restarted nats-server's parent-death signal
    # is tied to the thread that started it.
    supervisor = (asyncio.create_task(supervised.supervise(stop), name="nats-supervisor")
                  if supervised is not None else None)
    node = asyncio.create_task(run_node(system, nats_url=nats_url, serve_api=serve_api,
                                        stop=stop, ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([node, waiter], return_when=asyncio.FIRST_COMPLETED)
    if ready.is_set() and announce:
        console.print(announce)
    waiter.cancel()
    try:
        await node
    finally:
        stop.set()
        if supervisor is not None:
            await supervisor


@app.command()
def up(
    data_dir: DataDir = None,
    port: Annotated[int | None, typer.Option(
        help="HTTP port (default: ECM_API_PORT, else 8000)", show_default=False)] = None,
    nats_port: Annotated[int | None, typer.Option(
        help="Embedded NATS port (default: ECM_NATS_PORT, else 4322)", show_default=False)] = None,
) -> None:
    """Start the whole system on the embedded default (dev mode); Ctrl-C stops everything."""
    from shared.instance import FolderInUse, InstanceLock

    folder = (data_dir or Path(os.environ.get("ECM_DATA_DIR", "var"))).resolve()
    lock = InstanceLock(folder)
    try:
        lock.acquire()
    except FolderInUse as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(EXIT_IN_USE) from None
    try:
        _up(folder, {"api_port": port, "nats_port": nats_port})
    finally:
        lock.release()


def _up(folder: Path, options: dict[str, int | None]) -> None:
    from services.runtime import System
    from shared.instance import remove_run_file, write_run_file
    from shared.logs import configure_logging
    from shared.natsserver import EmbeddedNats, NatsServerError
    from shared.settings import development_settings

    overrides = {name: value for name, value in options.items() if value is not None}
    try:
        settings = development_settings(folder, **overrides)
    except ValueError as e:
        typer.echo(f"settings: {e}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    nats: EmbeddedNats | None = None
    if settings.nats_url is None:
        nats = EmbeddedNats(settings.data_path / "nats", port=settings.nats_port,
                            user=settings.nats_user, password=settings.nats_password,
                            sync_interval=settings.nats_sync_interval)
        try:
            nats.start()
        except NatsServerError as e:
            typer.echo(str(e), err=True)
            raise typer.Exit(EXIT_FAILED) from None
    try:
        system = System.build(settings)
    except BaseException:
        if nats is not None:
            nats.stop()
        raise
    url = _nats_url(settings) if nats is None else nats.url
    base = f"http://{settings.api_host}:{settings.api_port}"
    announce = (
        f"[bold green]ECM Record is up[/bold green] (dev mode, data in {settings.data_path})\n"
        f"  API      {base}/api/v1\n  Docs     {base}/docs\n  AsyncAPI {base}/asyncapi.json\n"
        f"  NATS     {url} (user {settings.nats_user}; password in "
        f"{settings.data_path / 'secrets' / 'nats_password'})\n"
        f"  Token    ecm token --user cm-1 --role case_manager --area bristol\n"
        "Press Ctrl-C to stop."
    )
    write_run_file(settings.data_path, {"nats_url": url, "api_url": base})
    try:
        asyncio.run(_serve_until_signalled(system, url, True, announce, nats))
    finally:
        remove_run_file(settings.data_path)
        system.close()
        if nats is not None:
            nats.stop()
        console.print("stopped")


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help=f"One of {', '.join(SERVICES)}")],
    data_dir: DataDir = None,
    port: Annotated[int | None, typer.Option(help="HTTP port")] = None,
    api: Annotated[bool, typer.Option(help="Serve the HTTP API")] = True,
) -> None:
    """Run one service in this process (scale-out): its API, relay and consumers."""
    from services.runtime import System
    from shared.logs import configure_logging

    settings = _settings(data_dir)
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    if port is not None:
        settings = settings.model_copy(update={"api_port": port})
    try:
        system = System.build(settings, [service])
    except ValueError as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None
    try:
        asyncio.run(_serve_until_signalled(system, _nats_url(settings), api,
                                           f"serving {service} on port {settings.api_port}"))
    finally:
        system.close()


@app.command()
def relay(
    service: Annotated[str, typer.Argument(help="Whose store to relay")],
    data_dir: DataDir = None,
) -> None:
    """Run only the outbox relay of one service."""
    from services.runtime import System
    from shared.logs import configure_logging

    settings = _settings(data_dir)
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    system = System.build(settings, [service])
    try:
        asyncio.run(_serve_until_signalled_relay(system, _nats_url(settings)))
    finally:
        system.close()


async def _serve_until_signalled_relay(system: System, url: str) -> None:
    from services.runtime import run_node

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_node(system, nats_url=url, serve_api=False, run_consumers=False, stop=stop)


@app.command()
def status(
    data_dir: DataDir = None,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON")] = False,
) -> None:
    """Per service: events stored, published, relay lag; parked messages per consumer."""
    from rich.table import Table

    from services.runtime import System

    settings = _settings(data_dir)
    authorise(settings, token, "ops.status", dev_operator=True)
    system = System.build(settings)
    try:
        rows = asyncio.run(_status(system))
    finally:
        system.close()
    if as_json:  # "published" is null when NATS is not reachable ("error" says why)
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="ECM Record status")
    for column in ("service", "stored", "published", "relay position", "relay lag"):
        table.add_column(column)
    for row in rows["services"]:
        table.add_row(*("?" if row[k] is None else str(row[k])
                        for k in ("service", "stored", "published", "position", "lag")))
    console.print(table)
    consumers = Table(title="Consumers")
    for column in ("consumer", "processed", "parked"):
        consumers.add_column(column)
    for row in rows["consumers"]:
        consumers.add_row(row["consumer"], str(row["processed"]), str(row["parked"]))
    console.print(consumers)
    if rows.get("error"):
        console.print(f"[yellow]{rows['error']}[/yellow]")


async def _status(system: System) -> dict[str, Any]:
    from shared.bus import connect, count_messages
    from shared.relay import PositionStore

    positions = PositionStore(system.ops)
    published: dict[str, int] = {}
    error = ""
    try:
        nc = await asyncio.wait_for(
            connect(system.settings, _nats_url(system.settings), reconnect=False), 5)
        js = nc.jetstream()
        for name in system.apps:
            published[name] = await count_messages(js, f"ecm.{name}.>")
        await nc.close()
    except Exception as e:  # NATS down: still report the stores
        error = f"NATS not reachable at {_nats_url(system.settings)}: {type(e).__name__}"
    services: list[dict[str, object]] = []
    for name, application in system.apps.items():
        stored = await asyncio.to_thread(application.max_notification_id)
        position = await asyncio.to_thread(positions.get, name)
        services.append({"service": name, "stored": stored,
                         "published": published.get(name), "position": position,
                         "lag": stored - position})
    consumers: list[dict[str, object]] = []
    for consumer in system.consumers():
        consumers.append({"consumer": consumer.name,
                          "processed": consumer.ledger.processed_count(consumer.name),
                          "parked": len(consumer.ledger.parked(consumer.name))})
    return {"services": services, "consumers": consumers, "error": error}


@app.command()
def token(
    user: Annotated[str, typer.Option(help="User id (token subject)")],
    role: Annotated[Role, typer.Option(help="Role")],
    area: Annotated[Area | None, typer.Option(help="YJS area (case managers)")] = None,
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds")] = None,
    data_dir: DataDir = None,
) -> None:
    """Mint a signed development token (HMAC) for the API."""
    from shared.auth import mint_token

    settings = _settings(data_dir)
    if role == Role.CASE_MANAGER and area is None:
        console.print("[red]--area is required for a case manager[/red]")
        raise typer.Exit(2)
    typer.echo(mint_token(settings, user, role, area, ttl))


@demo.command("seed")
def demo_seed(
    data_dir: DataDir = None,
    children: Annotated[int, typer.Option(help="How many synthetic children")] = 8,
    token: Token = None,
) -> None:
    """Create synthetic children and referrals through the real use cases (dev mode only)."""
    from services.demo import seed
    from services.runtime import System

    settings = _settings(data_dir)
    if not settings.dev_mode:
        console.print("[red]demo data only in dev mode: never beside real records[/red]")
        raise typer.Exit(2)
    authorise(settings, token, "demo.seed", dev_operator=True)
    system = System.build(settings)
    try:
        made = seed(system, children)
    finally:
        system.close()
    console.print(f"seeded {made['children']} synthetic children, {made['referrals']} referrals")


@app.command()
def tick(data_dir: DataDir = None, token: Token = None) -> None:
    """Raise ReviewOverdue for every review missed by today (run daily)."""
    from services.runtime import System

    settings = _settings(data_dir)
    principal = authorise(settings, token, "review.tick", dev_operator=True)
    system = System.build(settings)
    try:
        reviews = system.apps.get("reviews")
        if reviews is None:
            console.print("[red]the reviews service is not installed[/red]")
            raise typer.Exit(2)
        raised = reviews.tick(date.today(), cli_meta(principal, None))  # type: ignore[attr-defined]
    finally:
        system.close()
    console.print(f"{raised} review(s) newly overdue")


@parked_cli.command("list")
def parked_list(data_dir: DataDir = None, token: Token = None) -> None:
    """List parked messages per consumer."""
    from rich.table import Table

    from services.runtime import System

    settings = _settings(data_dir)
    authorise(settings, token, "ops.status", dev_operator=True)
    system = System.build(settings)
    try:
        table = Table(title="Parked messages")
        for column in ("id", "consumer", "message", "attempts", "error"):
            table.add_column(column)
        for consumer in system.consumers():
            for row in consumer.ledger.parked(consumer.name):
                table.add_row(str(row["id"]), row["consumer"], row["message_id"],
                              str(row["attempts"]), row["error"][:80])
        console.print(table)
    finally:
        system.close()


@parked_cli.command("replay")
def parked_replay(
    consumer_name: Annotated[str, typer.Argument(help="Consumer whose parked messages to replay")],
    data_dir: DataDir = None,
    token: Token = None,
) -> None:
    """Run a consumer's parked messages through its handler again."""
    from services.runtime import System
    from shared.consumer import replay_parked

    settings = _settings(data_dir)
    authorise(settings, token, "ops.replay", dev_operator=True)
    system = System.build(settings)
    try:
        consumers = {c.name: c for c in system.consumers()}
        if consumer_name not in consumers:
            console.print(f"[red]no consumer named {consumer_name}[/red]")
            raise typer.Exit(2)
        failures = replay_parked(consumers[consumer_name])
    finally:
        system.close()
    for parked_id, error in failures:
        console.print(f"[red]{parked_id}: still failing: {error}[/red]")
    if failures:
        raise typer.Exit(1)
    console.print("replayed")


@app.command()
def rebuild(
    consumer_name: Annotated[str, typer.Argument(help="The read model's consumer name")],
    data_dir: DataDir = None,
    token: Token = None,
) -> None:
    """Rebuild a read model from the stream (run with the system stopped)."""
    from services.runtime import System

    settings = _settings(data_dir)
    authorise(settings, token, "ops.replay", dev_operator=True)
    system = System.build(settings)
    try:
        resets = {c.name: c.reset for c in system.consumers() if c.reset is not None}
        reset = resets.get(consumer_name)
        if reset is None:
            names = ", ".join(resets)
            console.print(f"[red]no rebuildable read model {consumer_name}; try: {names}[/red]")
            raise typer.Exit(2)
        reset()
        asyncio.run(_forget_consumer(settings, consumer_name))
    finally:
        system.close()
    console.print(f"{consumer_name} emptied; it replays the whole stream on the next start")


async def _forget_consumer(settings: Settings, name: str) -> None:
    from nats.js.errors import NotFoundError

    from shared.bus import connect
    from shared.contracts import STREAM

    nc = await connect(settings, _nats_url(settings), reconnect=False)
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_consumer(STREAM, name)
    finally:
        await nc.close()


@app.command("asyncapi")
def asyncapi_command(
    out: Annotated[Path | None, typer.Option(help="Write to this file")] = None,
    data_dir: DataDir = None,
) -> None:
    """Print (or write) the AsyncAPI document for every published event."""
    from services.runtime import System
    from shared.contracts import asyncapi

    settings = _settings(data_dir)
    system = System.build(settings)
    try:
        document = json.dumps(asyncapi(system.registries()), indent=2)
    finally:
        system.close()
    if out:
        out.write_text(document)
    else:
        typer.echo(document)


def _register_extensions() -> None:
    try:
        extension = importlib.import_module("services.governance.cli")
    except ModuleNotFoundError as e:
        if e.name not in ("services.governance", "services.governance.cli"):
            raise
        return
    extension.register(app)


def main() -> None:
    """Entry point of the `ecm` script."""
    _register_extensions()
    backup_cli.register(app)
    app()
