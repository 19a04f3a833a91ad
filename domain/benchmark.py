"""A benchmark: a container image whose results follow its JSON Schema."""

from __future__ import annotations

from eventsourcing.domain import event

from domain.actor import Actor
from domain.review import ReviewedItem

UNIQUE_SCOPE = "benchmark"


def unique_name(docker_image: str, docker_tag: str) -> str:
    return f"{docker_image}:{docker_tag}"


class Benchmark(ReviewedItem):
    kind = "Benchmark"

    @event("Submitted")
    def __init__(
        self, docker_image: str, docker_tag: str, url: str, json_schema: dict, description: str | None, actor: Actor
    ):
        self.docker_image = docker_image
        self.docker_tag = docker_tag
        self.url = url
        self.json_schema = json_schema
        self.description = description
        self.uploader = actor

    @property
    def name(self) -> str:
        return unique_name(self.docker_image, self.docker_tag)

    @event("Updated")
    def update(
        self, docker_image: str, docker_tag: str, url: str, json_schema: dict, description: str | None, actor: Actor
    ) -> None:
        """`description=None` keeps the current one: it cannot be cleared (contract §5.1)."""
        self.docker_image = docker_image
        self.docker_tag = docker_tag
        self.url = url
        self.json_schema = json_schema
        if description is not None:
            self.description = description
