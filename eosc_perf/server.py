"""Serving the embedded default with gunicorn from inside the CLI."""

from __future__ import annotations

from typing import Callable, Protocol

from gunicorn.app.base import BaseApplication

from eosc_perf import server_banner


class Service(Protocol):
    app: object

    def close(self) -> None: ...


class GunicornServer(BaseApplication):
    """Builds the service in the worker, after gunicorn forked it: SQLite connections and the
    background threads (mail) must belong to the process that uses them, never be inherited
    from the master."""

    def __init__(self, build: Callable[[], Service], options: dict):
        self.build = build
        self.service: Service | None = None
        self.options = {**options, "worker_exit": self._close_service}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # older gunicorn releases lack some settings
                self.cfg.set(key, value)

    def load(self):
        self.service = self.build()
        return self.service.app

    def _close_service(self, arbiter, worker) -> None:
        if self.service is not None:
            self.service.close()


def serve_embedded(build: Callable[[], Service], host: str, port: int, threads: int = 8) -> None:
    """One worker process: the SQLite stores and in-process projections live in it; threads
    serve requests concurrently. Returns after SIGTERM/SIGINT once the worker has finished."""
    GunicornServer(
        build,
        {
            "bind": f"{host}:{port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": threads,
            "accesslog": "-",
            "errorlog": "-",
            # No boot/heartbeat watchdog: building the worker's service replays every event into a
            # new or deleted read store, which takes as long as the history is long; requests run
            # in threads, so the watchdog would only guard the accept loop.
            "timeout": 0,
            "graceful_timeout": 10,
            # The default control socket is one path per user ($XDG_RUNTIME_DIR or ~/.gunicorn):
            # a second instance would take it over and the first would delete it when stopping.
            "control_socket_disable": True,
            "on_starting": server_banner.on_starting,  # no Server header
        },
    ).run()
