"""gunicorn settings of both API services, e.g.
    GUNICORN_BIND=127.0.0.1:8081 gunicorn -c deploy/gunicorn/service.py command_service.wsgi:app
    GUNICORN_BIND=127.0.0.1:8082 gunicorn -c deploy/gunicorn/service.py query_service.wsgi:app
"""

import os

from eosc_perf.server_banner import on_starting  # noqa: F401  (gunicorn hook: no Server header)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
graceful_timeout = 10
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None  # empty: no access log
