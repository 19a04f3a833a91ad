"""gunicorn settings of the query service: `gunicorn -c deploy/gunicorn/query.py query_service.wsgi:app`."""

import os

bind = os.environ.get("QUERY_BIND", "127.0.0.1:8082")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
graceful_timeout = 10
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None  # empty: no access log
proc_name = "eosc-perf-query"
