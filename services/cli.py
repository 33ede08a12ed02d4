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
from services.evaluation import cli as evaluation_cli
from shared.domain import Area, Role
from shared.settings import SERVICES, Settings

if TYPE_CHECKING:
    # Heavy modules (runtime, NATS, rich) load inside the commands that need them, so a
    # command such as `ecm token` starts in a fraction of a second.
    from services.migrate import MigrationReport
    from services.runtime import System
    from shared.natsserver import EmbeddedNats

app = typer.Typer(help="ECM Record: the Enhanced Case Management record.", no_args_is_help=True)
demo = typer.Typer(help="Synthetic demonstration data.", no_args_is_help=True)
parked_cli = typer.Typer(
    help="Messages a consumer parked after its last retry.", no_args_is_help=True
)
app.add_typer(demo, name="demo")
app.add_typer(parked_cli, name="parked")


class _Console:
    """rich's Console, imported on first use."""

    def print(self, *objects: Any, markup: bool | None = None) -> None:
        self.rich().print(*objects, markup=markup)

    @staticmethod
    def rich() -> Any:
        """The rich Console itself (for progress bars)."""
        from rich.console import Console

        return Console()


console = _Console()
_settings = settings_or_exit


def _nats_url(settings: Settings) -> str:
    return settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"


async def _serve_until_signalled(
    system: System,
    nats_url: str,
    serve_api: bool,
    announce: str | None,
    supervised: EmbeddedNats | None = None,
) -> None:
    from services.runtime import run_node

    stop, ready = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The supervisor runs in this (main) thread: a restarted nats-server's parent-death signal
    # is tied to the thread that started it.
    supervisor = (
        asyncio.create_task(supervised.supervise(stop), name="nats-supervisor")
        if supervised is not None
        else None
    )
    node = asyncio.create_task(
        run_node(system, nats_url=nats_url, serve_api=serve_api, stop=stop, ready=ready)
    )
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
    port: Annotated[
        int | None,
        typer.Option(help="HTTP port (default: ECM_API_PORT, else 8000)", show_default=False),
    ] = None,
    nats_port: Annotated[
        int | None,
        typer.Option(
            help="Embedded NATS port (default: ECM_NATS_PORT, else 4322)", show_default=False
        ),
    ] = None,
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
    from shared.natsauth import Identity, embedded_users
    from shared.natsserver import EmbeddedNats, NatsServerError
    from shared.settings import development_settings

    overrides = {name: value for name, value in options.items() if value is not None}
    try:
        settings = development_settings(folder, **overrides)
    except ValueError as e:
        typer.echo(f"settings: {e}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    configure_logging(json_lines=settings.json_logs, level=settings.log_level)
    identities = settings.data_path / "secrets" / "nats"
    if settings.nats_url is None:  # embedded: every service connects as itself
        settings = settings.model_copy(update={"nats_identities_dir": identities})
    system = System.build(settings)
    _migrate_or_exit(system)
    nats: EmbeddedNats | None = None
    if settings.nats_url is None:
        users = embedded_users(
            Identity(settings.nats_user, settings.nats_password), identities, system.nats_services()
        )
        nats = EmbeddedNats(
            settings.data_path / "nats",
            port=settings.nats_port,
            user=settings.nats_user,
            password=settings.nats_password,
            sync_interval=settings.nats_sync_interval,
            users=users,
        )
        try:
            nats.start()
        except NatsServerError as e:
            system.close()
            typer.echo(str(e), err=True)
            raise typer.Exit(EXIT_FAILED) from None
    url = _nats_url(settings) if nats is None else nats.url
    base = f"http://{settings.api_host}:{settings.api_port}"
    announce = (
        f"[bold green]ECM Record is up[/bold green] (dev mode, data in {settings.data_path})\n"
        f"  Web app  {base}/\n"
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


def _migrate_or_exit(system: System) -> MigrationReport:
    """Migrate the node's databases before it serves; a failure stops the start, named."""
    from services.migrate import migrate

    try:
        report = migrate(system)
    except Exception as e:
        system.close()
        typer.echo(f"migration failed: {type(e).__name__}: {e}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    for line in report.lines():
        if "rebuilt" in line:
            console.print(line)
    return report


@app.command("migrate")
def migrate_command(
    data_dir: DataDir = None,
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="Only the databases of these services (default: all)"),
    ] = None,
) -> None:
    """Upgrade every database to the newest schema (Alembic) and rebuild any read model
    whose version changed; `ecm up` and `ecm serve` do this at start."""
    from services.runtime import System

    settings = _settings(data_dir)
    try:
        system = System.build(settings, service or None)
    except ValueError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(EXIT_USAGE) from None
    for line in _migrate_or_exit(system).lines():
        typer.echo(line)
    system.close()


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
    _migrate_or_exit(system)
    try:
        asyncio.run(
            _serve_until_signalled(
                system, _nats_url(settings), api, f"serving {service} on port {settings.api_port}"
            )
        )
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
        table.add_row(
            *(
                "?" if row[k] is None else str(row[k])
                for k in ("service", "stored", "published", "position", "lag")
            )
        )
    console.print(table)
    for row in rows["services"]:
        if row.get("alarm"):
            console.print(
                f"[red]relay {row['service']} ALARM, not publishing: {row['alarm']}[/red]",
                markup=True,
            )
    consumers = Table(title="Consumers")
    for column in ("consumer", "stream position", "pending", "parked"):
        consumers.add_column(column)
    for row in rows["consumers"]:
        consumers.add_row(
            row["consumer"],
            str(row["position"]),
            "?" if row["pending"] is None else str(row["pending"]),
            str(row["parked"]),
        )
    console.print(consumers)
    if rows.get("error"):
        console.print(f"[yellow]{rows['error']}[/yellow]")


async def _status(system: System) -> dict[str, Any]:
    from nats.js.errors import NotFoundError

    from shared.bus import connect, count_messages
    from shared.contracts import STREAM
    from shared.relay import PositionStore

    positions = PositionStore(system.ops)
    published: dict[str, int] = {}
    pending: dict[str, int] = {}
    error = ""
    try:
        nc = await asyncio.wait_for(
            connect(system.settings, _nats_url(system.settings), reconnect=False), 5
        )
        js = nc.jetstream()
        for name in system.apps:
            published[name] = await count_messages(js, f"ecm.{name}.>")
        for consumer in system.consumers():
            with contextlib.suppress(NotFoundError):
                info = await js.consumer_info(STREAM, consumer.name)
                pending[consumer.name] = info.num_pending or 0
        await nc.close()
    except Exception as e:  # NATS down: still report the stores
        error = f"NATS not reachable at {_nats_url(system.settings)}: {type(e).__name__}"
    services: list[dict[str, object]] = []
    for name, application in system.apps.items():
        stored = await asyncio.to_thread(application.max_notification_id)
        position = await asyncio.to_thread(positions.get, name)
        services.append(
            {
                "service": name,
                "stored": stored,
                "published": published.get(name),
                "position": position,
                "lag": stored - position,
                "alarm": await asyncio.to_thread(positions.alarm, name),
            }
        )
    consumers: list[dict[str, object]] = []
    for consumer in system.consumers():
        consumers.append(
            {
                "consumer": consumer.name,
                "position": await asyncio.to_thread(consumer.sink.position),
                "pending": pending.get(consumer.name),
                "parked": len(await asyncio.to_thread(consumer.sink.parked)),
            }
        )
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
    children: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="How many synthetic children")
    ] = 8,
    years: Annotated[
        float, typer.Option(min=0.1, max=20, help="Histories spread over the last Y years")
    ] = 1.0,
    seed_value: Annotated[int, typer.Option("--seed", help="Same seed, same histories")] = 2019,
    token: Token = None,
) -> None:
    """Create synthetic histories through the real use cases (dev mode only)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from services.demo import seed
    from services.runtime import System

    settings = _settings(data_dir)
    if not settings.dev_mode:
        console.print("[red]demo data only in dev mode: never beside real records[/red]")
        raise typer.Exit(2)
    authorise(settings, token, "demo.seed", dev_operator=True)
    embedded = settings.nats_url is None  # the system is not running here
    if embedded:
        settings = settings.model_copy(
            update={"nats_identities_dir": settings.data_path / "secrets" / "nats"}
        )
    system = System.build(settings)
    try:
        with Progress(
            "synthetic children",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console.rich(),
        ) as progress:
            task = progress.add_task("seed", total=children)
            made = seed(
                system, children, seed_value, years, progress=lambda n: progress.advance(task, n)
            )
        if embedded:  # publish now, in time order: a child's story reaches consumers in order
            from services.demo import publish_offline

            with Progress(
                "publishing in time order",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console.rich(),
            ) as progress:
                task = progress.add_task("publish", total=None)
                publish_offline(system, lambda n: progress.advance(task, n))
        else:
            console.print(
                "[yellow]the system is running: its relays publish the seeded "
                "events as they find them[/yellow]"
            )
    finally:
        system.close()
    console.print(
        f"seeded {made['children']} synthetic children, {made['referrals']} referrals, "
        f"{made['formulations']} formulations, {made['reviews']} reviews, "
        f"{made['offences']} offences"
    )


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
def parked_list(
    data_dir: DataDir = None,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list")] = False,
) -> None:
    """List parked messages per consumer, with the reason each was parked."""
    from rich.table import Table

    from services.runtime import System

    settings = _settings(data_dir)
    authorise(settings, token, "ops.status", dev_operator=True)
    system = System.build(settings)
    try:
        rows = [row for consumer in system.consumers() for row in consumer.sink.parked()]
    finally:
        system.close()
    if as_json:
        keys = ("id", "consumer", "seq", "message_id", "subject", "error", "attempts")
        typer.echo(
            json.dumps(
                [{k: row[k] for k in keys} | {"parked_at": str(row["parked_at"])} for row in rows],
                indent=2,
            )
        )
        return
    table = Table(title="Parked messages")
    for column in ("id", "consumer", "message", "attempts", "error"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["consumer"],
            row["message_id"],
            str(row["attempts"]),
            row["error"][:80],
        )
    console.print(table)


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


@app.command("nats-users")
def nats_users(data_dir: DataDir = None) -> None:
    """Print the cluster's NATS users and rights (deploy/nats/users.conf)."""
    from services.runtime import System
    from shared.natsauth import cluster_users

    system = System.build(_settings(data_dir))
    try:
        typer.echo(cluster_users(system.nats_services()), nl=False)
    finally:
        system.close()


@app.command("signing-keys")
def signing_keys(
    folder: Annotated[Path, typer.Argument(help="Where to make one folder per service")],
) -> None:
    """Make each service's Ed25519 signing key: FOLDER/<service>/ holds its own private key
    and every service's public key (mount one such folder into each service's process)."""
    from services.registry import all_plugins
    from shared.signing import make_service_folders

    services = [p.name for p in all_plugins() if p.contracts is not None]
    extra = [p.name for p in all_plugins() if p.contracts is None]
    made = make_service_folders(folder, services, extra)
    console.print(f"signing keys in {folder}: {', '.join(made)}")


@app.command("relay-alarm")
def relay_alarm(
    action: Annotated[str, typer.Argument(help="clear")],
    service: Annotated[str, typer.Argument(help="The service whose relay raised the alarm")],
    data_dir: DataDir = None,
    token: Token = None,
) -> None:
    """Clear a relay's alarm once its cause is dealt with (the relay then resumes)."""
    from services.runtime import System
    from shared.relay import PositionStore

    settings = _settings(data_dir)
    authorise(settings, token, "ops.replay", dev_operator=True)
    if action != "clear":
        console.print("[red]the only action is: clear[/red]")
        raise typer.Exit(2)
    system = System.build(settings)
    try:
        cleared = PositionStore(system.ops).clear_alarm(service)
    finally:
        system.close()
    console.print(f"alarm of {service} cleared" if cleared else f"no alarm for {service}")


@app.command()
def rebuild(
    consumer_name: Annotated[
        str | None, typer.Argument(help="The read model's consumer name")
    ] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Every read model")] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Compare live with a fresh rebuild; exit 1 on any difference"),
    ] = False,
    data_dir: DataDir = None,
    token: Token = None,
) -> None:
    """Rebuild read models from the stores in stream order (system stopped or running)."""
    from rich.progress import MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services import rebuild as rebuilding
    from services.runtime import System

    settings = _settings(data_dir)
    authorise(settings, token, "ops.replay", dev_operator=True)
    system = System.build(settings)
    try:
        models = {c.name: c for c in system.consumers() if c.rebuildable}
        if all_models or (check and consumer_name is None):
            chosen = list(models.values())
        elif consumer_name in models:
            chosen = [models[consumer_name]]
        else:
            console.print(
                f"[red]no read model {consumer_name!r}; "
                f"choose one of: {', '.join(models)} (or --all)[/red]"
            )
            raise typer.Exit(2)
        differences: list[Any] = []
        columns = (
            TextColumn("{task.description}"),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]:.0f} events/s"),
        )
        with Progress(*columns, console=console.rich()) as bar:
            for consumer in chosen:
                task = bar.add_task(consumer.name, total=None, rate=0.0)

                def advance(count: int, task: Any = task) -> None:
                    bar.advance(task, count)
                    done = bar.tasks[task]
                    bar.update(task, rate=(done.completed / done.elapsed) if done.elapsed else 0.0)

                if check:
                    differences += rebuilding.check(system, consumer, advance)
                else:
                    rebuilding.rebuild(system, consumer, advance)
            if check and "notifications" in system.apps:
                task = bar.add_task("notice queue", total=None, rate=0.0)
                differences += rebuilding.check_notices(system, lambda n: bar.advance(task, n))
    finally:
        system.close()
    if not check:
        console.print(f"rebuilt: {', '.join(c.name for c in chosen)}")
        return
    for difference in differences:
        console.print(difference.describe(), markup=False)
    if differences:
        console.print(f"[red]{len(differences)} difference(s) between live and rebuilt[/red]")
        raise typer.Exit(1)
    console.print("live equals rebuild")


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
    os.umask(0o077)  # before anything writes: whatever this process creates is the owner's only
    _register_extensions()
    backup_cli.register(app)
    evaluation_cli.register(app)
    app()
