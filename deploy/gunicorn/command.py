"""gunicorn settings of the command service: `gunicorn -c deploy/gunicorn/command.py command_service.wsgi:app`."""

import os

bind = os.environ.get("COMMAND_BIND", "127.0.0.1:8081")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
graceful_timeout = 10
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None  # empty: no access log
proc_name = "eosc-perf-command"
