"""HTTP errors in the original API's body shapes, raised anywhere and rendered in one place."""

from __future__ import annotations

import json
from http import HTTPStatus

import falcon


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


def invalid(location: str, errors: dict) -> ApiError:
    """Request validation failure: `errors.<query|json>.<field> = [messages]`."""
    return ApiError(422, {"code": 422, "status": "Unprocessable Entity", "errors": {location: errors}})


def detailed(status: int, key: str, details: dict) -> ApiError:
    """Errors whose details sit under a custom key (`errors` or `message`), as filters and sorting do."""
    return ApiError(status, {"code": status, "status": ApiError.reason(status), key: details})


def unauthenticated(description: str) -> ApiError:
    return ApiError(401, {"error": "Unauthenticated", "error_description": description})


def forbidden_requirement(sub: str, iss: str, requirement: str) -> ApiError:
    return ApiError(
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


def install(app: falcon.App) -> None:
    app.add_error_handler(falcon.HTTPError, render_falcon_error)
    app.add_error_handler(ApiError, render)
