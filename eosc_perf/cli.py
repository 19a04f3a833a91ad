"""The `eosc-perf` command: run the service and operate it."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from uuid import UUID

from eosc_perf.settings import ConfigurationError, Settings


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "data", None):
        settings = replace(settings, data_dir=Path(args.data))
    if getattr(args, "dev", False):
        settings = replace(settings, mode="development")
    return settings


def serve(args: argparse.Namespace) -> None:
    from eosc_perf.embedded import build
    from eosc_perf.server import serve_embedded

    settings = _settings(args)
    service = build(settings)
    print(f"EOSC Performance API ({settings.mode} mode, data in {settings.data_dir}) on http://{args.host}:{args.port}",
          flush=True)
    try:
        serve_embedded(service.app, args.host, args.port)
    finally:
        service.close()


def dev_token(args: argparse.Namespace) -> None:
    from eosc_perf.dev_tokens import LocalIssuer

    settings = _settings(args)
    if not settings.development:
        raise ConfigurationError(
            "dev-token works only in development mode: set EOSC_PERF_ENV=development (the server must run in it too)"
        )
    entitlements = tuple(args.entitlement or ())
    print(LocalIssuer(settings.data_dir).mint(args.sub, args.email, entitlements, args.lifetime))


def history(args: argparse.Namespace) -> None:
    from eosc_perf.history import history_lines
    from eosc_perf.stores import open_event_store

    settings = _settings(args)
    store = open_event_store(settings.event_store, create_tables=False)
    lines = list(history_lines(store, args.id))
    if not lines:
        raise ConfigurationError(f"no events for {args.id}")
    print("\n".join(lines))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="eosc-perf", description="EOSC Performance API, event-sourced")
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, function, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(function=function)
        sub.add_argument("--data", help="data folder (default: ./data, or EOSC_PERF_DATA)")
        sub.add_argument("--dev", action="store_true", help="development mode (same as EOSC_PERF_ENV=development)")
        return sub

    run = command("serve", serve, "Run the embedded default: one process, SQLite stores, in-process projections.")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=5000)

    token = command("dev-token", dev_token, "Print a token of the local development issuer (development mode only).")
    token.add_argument("--sub", default="dev-user")
    token.add_argument("--email", default="dev@example.org")
    token.add_argument("--entitlement", action="append", help="eduperson_entitlement value (repeatable)")
    token.add_argument("--lifetime", type=int, default=3600, help="seconds")

    trail = command("history", history, "Print the event history of any aggregate (item id).")
    trail.add_argument("id", type=UUID)
    return top


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        args.function(args)
    except ConfigurationError as error:
        print(f"eosc-perf: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
