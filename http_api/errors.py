"""HTTP errors in the original API's body shapes, raised anywhere and rendered in one place."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

import eventsourcing.persistence
import falcon
import psycopg
import psycopg_pool
import sqlalchemy.exc

from domain import errors as domain_errors

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer: a status and the JSON body the contract prescribes for it."""

    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None):
        super().__init__(body)
        self.status = status
        self.body = body
        self.headers = headers or {}

    @staticmethod
    def reason(status: int) -> str:
        return HTTPStatus(status).phrase


def abort(status: int) -> ApiError:
    """A bare abort: `{"code": N, "status": "<reason>"}`."""
    return ApiError(status, {"code": status, "status": ApiError.reason(status)})


def message(status: int, text: str) -> ApiError:
    """A handler-raised error with a message: `errors.error`."""
    return ApiError(status, {"code": status, "status": ApiError.reason(status), "errors": {"error": text}})


def retry_shortly(text: str) -> ApiError:
    """A 503 the client may retry after a second: a busy wait or stream slot, a position not reached."""
    return ApiError(
        503, {"code": 503, "status": "Service Unavailable", "errors": {"error": text}}, headers={"Retry-After": "1"}
    )


def invalid(location: str, errors: dict) -> ApiError:
    """Request validation failure: `errors.<query|json>.<field> = [messages]`."""
    return ApiError(422, {"code": 422, "status": "Unprocessable Entity", "errors": {location: errors}})


def detailed(status: int, key: str, details: dict) -> ApiError:
    """Errors whose details sit under a custom key (`errors` or `message`), as filters and sorting do."""
    return ApiError(status, {"code": status, "status": ApiError.reason(status), key: details})


def unauthenticated(description: str) -> ApiError:
    return ApiError(401, {"error": "Unauthenticated", "error_description": description})


class Unregistered(ApiError):
    """The 403 of a verified caller the service does not know as registered: a read that names
    the position of its registration waits for it and is judged again (query_service/admission.py)."""


def requirement(access: str) -> str:
    """The requirement the original checks and names for an access level: `is_admin` (which
    includes being registered) for admin operations, `is_registered` for the others."""
    return "is_admin" if access == "admin" else "is_registered"


def forbidden_requirement(sub: str, iss: str, requirement: str, *, registered: bool = True) -> ApiError:
    """`registered=False`: the caller failed for want of a registration (whatever the requirement's name)."""
    return (ApiError if registered else Unregistered)(
        403,
        {
            "error": "Forbidden",
            "error_description": f"User {sub}@{iss} does not meet requirements",
            "error_details": f"Evaluation of: {requirement}",
        },
    )


def render(req: falcon.Request, resp: falcon.Response, error: ApiError, params) -> None:
    resp.status = error.status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(error.body, sort_keys=True, separators=(",", ":"))
    for name, value in error.headers.items():
        resp.set_header(name, value)


def render_falcon_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError, params) -> None:
    """Falcon's own errors (no route, wrong method) as bare aborts."""
    status = error.status_code
    render(req, resp, abort(status), params)
    if status == 405 and error.headers:
        for name, value in error.headers.items():
            resp.set_header(name, value)


# A store that cannot be reached (restarting database, exhausted pool) is a passing outage:
# 503 with Retry-After tells clients to come back, where a 500 would say we are broken.
UNAVAILABLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    eventsourcing.persistence.OperationalError,
    eventsourcing.persistence.InterfaceError,
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
)


# A statement that ran past QUERY_TIMEOUT_SECONDS (read_model/read_store.py) is another matter:
# the database is up, the request asked for too much work. Retrying it would cost the same.
TOO_EXPENSIVE = (
    "The query took longer than the server allows; narrow it (fewer filters, sort keys or search "
    "terms, a benchmark_id, a smaller page) and try again"
)


def cut_short(error: Exception) -> bool:
    """Whether a store error is a statement stopped at its time limit (PostgreSQL's
    QueryCanceled, SQLite's interrupt), not a store out of reach."""
    cause = getattr(error, "orig", None)
    if isinstance(cause, psycopg.errors.QueryCanceled):
        return True
    return getattr(cause, "sqlite_errorname", "") == "SQLITE_INTERRUPT"


def render_store_error(req: falcon.Request, resp: falcon.Response, error: Exception, params) -> None:
    if cut_short(error):
        log.warning("statement stopped at its time limit for %s %s", req.method, req.relative_uri)
        render(req, resp, message(422, TOO_EXPENSIVE), params)
        return
    log.warning("store unavailable for %s %s: %s", req.method, req.path, error)
    unavailable = ApiError(
        503,
        {"code": 503, "status": "Service Unavailable", "errors": {"error": "Storage is unavailable; retry shortly"}},
        headers={"Retry-After": "2"},
    )
    render(req, resp, unavailable, params)


def render_unexpected(req: falcon.Request, resp: falcon.Response, error: Exception, params) -> None:
    """Last resort for a bug: the traceback goes to the log, the caller gets the bare 500."""
    log.error("%s %s failed", req.method, req.relative_uri, exc_info=error)
    render(req, resp, abort(500), params)


DOMAIN_STATUS = {
    domain_errors.NotFound: 404,
    domain_errors.Conflict: 409,
    domain_errors.Refused: 422,
    domain_errors.Forbidden: 403,
    domain_errors.TooLarge: 413,
}


def render_domain_error(req: falcon.Request, resp: falcon.Response, error: domain_errors.DomainError, params) -> None:
    """A refused command in the contract's body: the message (with its path for a refused
    document), except the bare 403 of a caller who does not own the item."""
    if isinstance(error, domain_errors.NotOwner):
        answer = abort(403)
    elif isinstance(error, domain_errors.Unregistered):
        answer = forbidden_requirement(
            error.sub, error.iss, requirement(req.context.operation.access), registered=False
        )
    elif isinstance(error, domain_errors.InvalidDocument):
        answer = detailed(422, "errors", {"error": error.message, "path": error.path})
    elif isinstance(error, domain_errors.Unavailable):
        answer = ApiError(
            503,
            {"code": 503, "status": "Service Unavailable", "errors": {"error": error.message}},
            headers={"Retry-After": "1"},
        )
    else:
        # By kind, not exact class: a refusal may be a subclass (command_service's ImageNotFound).
        status = next(status for kind, status in DOMAIN_STATUS.items() if isinstance(error, kind))
        answer = message(status, error.message)
    render(req, resp, answer, params)


def install(app: falcon.App) -> None:
    app.add_error_handler(Exception, render_unexpected)  # Falcon picks the most specific handler
    app.add_error_handler(UNAVAILABLE, render_store_error)
    app.add_error_handler(falcon.HTTPError, render_falcon_error)
    app.add_error_handler(ApiError, render)
    app.add_error_handler(domain_errors.DomainError, render_domain_error)
