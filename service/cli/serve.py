"""`semblance serve`: starts the web door (its app factory, settings and TLS helper are all it imports from it)."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Annotated

import typer

from service.cli.app import app, console, engine, fail, notice, service_store
from service.safe_text import markup_safe
from service.web.settings import ServiceSettings


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for the office network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    tls_cert: Annotated[str | None, typer.Option("--tls-cert", help="The office's certificate (PEM).")] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="Its private key (PEM).")] = None,
    tls_self_signed: Annotated[
        bool, typer.Option("--tls-self-signed", help="Serve https with a certificate made and kept in the workspace.")
    ] = False,
    proxy: Annotated[
        bool, typer.Option("--behind-proxy", help="Trust X-Forwarded-* from 127.0.0.1 (a TLS proxy in front).")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=0, max=64, help="Scan worker processes (default: one per core; 0: scan in-process)."
        ),
    ] = None,
    rate_per_minute: Annotated[
        int, typer.Option("--rate-per-minute", min=1, help="Requests a minute per address and per key.")
    ] = ServiceSettings.rate_per_minute,
) -> None:
    """Start the web service (API under /api/v1, web UI at /) over this workspace."""
    import uvicorn

    from service.scan_pool import usable_cores  # the engine's stack loads when the server starts, not at --help
    from service.web.app import create_app
    from service.web.tls import self_signed

    if bool(tls_cert) != bool(tls_key):
        raise fail("--tls-cert and --tls-key go together")
    with engine() as e:
        with service_store() as (store, _):
            if not any(u.role == "admin" for u in store.accounts.users()):
                notice("no admin yet: add one with `semblance users add NAME --role admin`")
        ssl: dict[str, str] = {}
        if tls_self_signed:
            cert, key, fp = self_signed(e.workspace.home / "tls")
            ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
            # emoji=False: Rich would turn a fingerprint's ":AB:" into an emoji (it did, now and then, in a test)
            console.print(f"TLS certificate SHA-256 fingerprint (check it in the browser once): {fp}", emoji=False)
        elif tls_cert and tls_key:
            ssl = {"ssl_certfile": tls_cert, "ssl_keyfile": tls_key}
        address = f"{'https' if ssl else 'http'}://{host}:{port}/"
        with ExitStack() as held:
            # another server on this workspace: a WorkspaceError, which `engine()` turns into its one-line refusal
            held.enter_context(e.workspace.serving(address))
            with service_store() as (store, _):  # the only server now: claims left by a crashed one are void
                store.jobs.release_all()
            console.print(f"Semblance serving {markup_safe(e.workspace.home)} at {address}")
            scan_workers = usable_cores() if workers is None else workers
            settings = ServiceSettings(
                home=e.workspace.home, scan_workers=scan_workers, rate_per_minute=rate_per_minute
            )
            app_ = create_app(settings, engine=e)
            uvicorn.run(app_, host=host, port=port, proxy_headers=proxy, forwarded_allow_ips="127.0.0.1", **ssl)  # type: ignore[arg-type]
