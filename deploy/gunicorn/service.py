"""gunicorn settings of both API services, e.g.
GUNICORN_BIND=127.0.0.1:8081 gunicorn -c deploy/gunicorn/service.py eosc_perf.command_wsgi:app
GUNICORN_BIND=127.0.0.1:8082 gunicorn -c deploy/gunicorn/service.py eosc_perf.query_wsgi:app
"""

import glob
import os
import tempfile

from gunicorn.glogging import Logger

from eosc_perf.server_banner import on_starting  # noqa: F401  (gunicorn hook: no Server header)
from observability import logs

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# gunicorn's threaded worker, with every thread taking connections' events itself
# (eosc_perf/gunicorn_worker.py); `--worker-class gthread` on the command line gives gunicorn's own.
worker_class = "eosc_perf.gunicorn_worker.SharedPollWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Behind nginx, which reads each request whole before passing it on (deploy/nginx): slow clients
# never reach these threads. Every statement a request runs is bounded by QUERY_TIMEOUT_SECONDS
# and a wait for X-Min-Position by READ_WAIT_SECONDS, so a request ends well within nginx's
# proxy_read_timeout (60 s).
timeout = 30  # the worker's heartbeat: a worker whose main loop stalls this long is replaced
graceful_timeout = 10
keepalive = 65  # idle connections from nginx: longer than its upstream keepalive_timeout (60 s)
limit_request_line = 8190  # as long as nginx passes on (large_client_header_buffers 8k)
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None


class AccessLogOnRequest(Logger):
    """gunicorn's logger, whose access lines are written only when GUNICORN_ACCESSLOG names a
    file: with `logconfig_dict` set (below) gunicorn writes one for every request, beside the
    application's own, and builds its fields for it (about a tenth of a small read's CPU)."""

    def access(self, resp, req, environ, request_time):
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


logger_class = AccessLogOnRequest

# Logs: one JSON object per line on stderr (plain text with EOSC_PERF_ENV=development), gunicorn's
# own lines and the application's alike. The application logs each request itself, with its
# request id, route template and duration (observability/http_layer.py); gunicorn's access log
# is off unless GUNICORN_ACCESSLOG names a file ("-": stdout).
logconfig_dict = logs.gunicorn_config(development=os.environ.get("EOSC_PERF_ENV") == "development")

# Metrics: every worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR and a scrape of
# GET /metrics, whichever worker answers it, sums them all (prometheus_client's multiprocess
# mode). The directory belongs to this one service and is emptied at start (stale files of a
# previous run would be counted again); without the variable a fresh temporary one is made.
# The variable is set here, before any worker imports prometheus_client, and workers inherit it.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="eosc-perf-metrics-")
os.makedirs(_metrics_dir, exist_ok=True)
for _stale in glob.glob(os.path.join(_metrics_dir, "*.db")):
    os.remove(_stale)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def child_exit(server, worker):
    """A dead worker's live gauges leave the sums (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
