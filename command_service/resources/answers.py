"""Rendering of changed aggregates, and the answer every write gives."""

from __future__ import annotations

import falcon

from command_service.services.results import Uploaded
from domain.benchmark import Benchmark
from domain.claim import Claim
from domain.flavor import Flavor
from domain.site import Site
from domain.tag import Tag
from domain.user import User
from http_api import documents


def answer(resp: falcon.Response, position: int, status: int = 204, document: str | None = None) -> None:
    """`X-Event-Position` lets a client read its own write from the query service. `document`:
    the created item's public JSON, as the functions below write it."""
    resp.status = status
    if position:
        resp.set_header("X-Event-Position", str(position))
    if document is not None:
        resp.content_type = falcon.MEDIA_JSON
        resp.text = document


def benchmark(item: Benchmark) -> str:
    return documents.dumps(
        documents.benchmark(
            item.id, item.created_on, item.docker_image, item.docker_tag, item.url, item.json_schema, item.description
        )
    )


def site(item: Site) -> str:
    return documents.dumps(documents.site(item.id, item.created_on, item.name, item.address, item.description))


def flavor(item: Flavor) -> str:
    return documents.dumps(documents.flavor(item.id, item.created_on, item.name, item.description))


def tag(item: Tag) -> str:
    return documents.dumps(documents.tag(item.id, item.name, item.description))


def user(item: User) -> str:
    return documents.dumps(documents.user(item.sub, item.iss, item.email, item.registration_datetime))


def claim(item: Claim, claimer: User) -> str:
    return documents.claim(item.id, item.created_on, item.message, item.result_id, user(claimer))


def result(uploaded: Uploaded) -> str:
    item = uploaded.result
    return documents.result(
        item.id,
        item.created_on,
        item.execution_datetime,
        benchmark(uploaded.benchmark),
        site(uploaded.site),
        flavor(uploaded.flavor),
        [tag(t) for t in uploaded.tags],
        documents.dumps(item.json),
    )
