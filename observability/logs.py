"""The log format: one JSON object per line in production (for a log shipper), plain text
lines in development mode (for a person at a terminal).

A record logged while a request is served carries that request's id (`request_id`), so the
traceback of a failed request can be found from the id its caller was sent (X-Request-ID).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from datetime import datetime, timezone

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# Fields a request's log line carries besides the message (http.py passes them as `extra`).
REQUEST_FIELDS = ("request_id", "route", "method", "path", "status", "duration_ms", "client")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The line every request is logged with (observability/http_layer.py).
REQUESTS = logging.getLogger("http_api.access")
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def _utc_time(created: float) -> str:
    return datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """time (UTC, ISO 8601), level, logger, message, the request's fields when it has them,
    and the traceback (`exception`) when one was logged."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": _utc_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        for name in REQUEST_FIELDS[1:]:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return _ENCODER.encode(line)


def log_request(message: str, fields: dict) -> None:
    """One request's line: `message` and `fields` (REQUEST_FIELDS, in their order), as the JSON
    formatter writes a record with them. Written to stderr straight when the JSON format is set
    up there, without logging's record, caller lookup and handler: the only line logged on every
    request cost about a tenth of a small read's CPU in a gunicorn worker (issue 16), half of it
    that work of logging's. Otherwise (plain lines, other handlers: a test's capture) through
    logging."""
    if not REQUESTS.isEnabledFor(logging.INFO):
        return
    if not _json_to_stderr_alone():
        REQUESTS.info("%s", message, extra=fields)
        return
    line = {"time": _utc_time(time.time()), "level": "INFO", "logger": REQUESTS.name, "message": message, **fields}
    try:
        sys.stderr.write(_ENCODER.encode(line) + "\n")
    except (OSError, ValueError):  # stderr closed or failing: logging's handler reports it, the request is answered
        REQUESTS.info("%s", message, extra=fields)


def _json_to_stderr_alone() -> bool:
    """Whether logging would hand a request's line to one handler, ours, writing JSON to stderr."""
    handlers: list[logging.Handler] = []
    logger: logging.Logger | None = REQUESTS
    while logger is not None:
        if logger.filters:
            return False
        handlers += logger.handlers
        logger = logger.parent if logger.propagate else None
    if len(handlers) != 1:
        return False
    [handler] = handlers
    return (
        type(handler) is StderrHandler
        and type(handler.formatter) is JsonFormatter
        and handler.level <= logging.INFO
        and not handler.filters
    )


def formatter(development: bool) -> logging.Formatter:
    return logging.Formatter(PLAIN_FORMAT) if development else JsonFormatter()


class StderrHandler(logging.StreamHandler):
    """Writes to `sys.stderr` as it is when a record comes, not as it was when configured: a
    caller that swaps it (a test capturing output, then closing its stream) leaves no handler
    writing to a closed file."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass  # always the current sys.stderr


def configure(development: bool, level: int = logging.INFO) -> None:
    """The root logger writes to stderr in the mode's format; a second call replaces what the
    first set up, and handlers others installed (a test runner's) stay."""
    handler = StderrHandler()
    handler.setFormatter(formatter(development))
    root = logging.getLogger()
    for old in [existing for existing in root.handlers if isinstance(existing, StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def gunicorn_config(development: bool) -> dict:
    """gunicorn's `logconfig_dict`: its own messages and the application's, in one format on stderr."""
    formatter_config = (
        {"format": PLAIN_FORMAT} if development else {"()": f"{JsonFormatter.__module__}.{JsonFormatter.__qualname__}"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter_config},
        "handlers": {"stderr": {"()": f"{StderrHandler.__module__}.{StderrHandler.__qualname__}", "formatter": "main"}},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }
