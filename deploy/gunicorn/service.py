"""gunicorn settings of both API services, e.g.
    GUNICORN_BIND=127.0.0.1:8081 gunicorn -c deploy/gunicorn/service.py eosc_perf.command_wsgi:app
    GUNICORN_BIND=127.0.0.1:8082 gunicorn -c deploy/gunicorn/service.py eosc_perf.query_wsgi:app
"""

import os

from eosc_perf.server_banner import on_starting  # noqa: F401  (gunicorn hook: no Server header)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Behind nginx, which reads each request whole before passing it on (deploy/nginx): slow clients
# never reach these threads. Every statement a request runs is bounded by QUERY_TIMEOUT_SECONDS
# and a wait for X-Min-Position by READ_WAIT_SECONDS, so a request ends well within nginx's
# proxy_read_timeout (60 s).
timeout = 30  # the worker's heartbeat: a worker whose main loop stalls this long is replaced
graceful_timeout = 10
keepalive = 65  # idle connections from nginx: longer than its upstream keepalive_timeout (60 s)
limit_request_line = 8190  # as long as nginx passes on (large_client_header_buffers 8k)
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None  # empty: no access log
