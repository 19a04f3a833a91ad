"""Serving a WSGI app with gunicorn from inside the CLI (the embedded default)."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


class GunicornServer(BaseApplication):
    def __init__(self, app, options: dict):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def serve_embedded(app, host: str, port: int, threads: int = 8) -> None:
    """One worker process: the SQLite stores and in-process projections live in it; threads
    serve requests concurrently."""
    GunicornServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": threads,
            "accesslog": "-",
            "errorlog": "-",
            "timeout": 60,
            "graceful_timeout": 10,
        },
    ).run()
