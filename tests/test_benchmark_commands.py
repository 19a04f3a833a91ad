"""The benchmark commands below HTTP, on an in-memory event store: the image is checked before the
command runs and the schema first in it (services/catalog.py), before anything is read or saved."""

from __future__ import annotations

from uuid import uuid4

import pytest

from command_service.image_registry import ImageNotFound
from command_service.services import catalog
from command_service.services.session import Commands
from domain.errors import InvalidDocument
from tests.support.commands import ACTOR, in_memory
from tests.support.commands import BENCHMARK_FIELDS as FIELDS


class Registry:
    """An ImageCheck that knows a fixed set of images and records what it was asked."""

    def __init__(self, *known: tuple[str, str]):
        self.known = set(known)
        self.asked: list[tuple[str, str]] = []

    def check(self, docker_image: str, docker_tag: str) -> None:
        self.asked.append((docker_image, docker_tag))
        if (docker_image, docker_tag) not in self.known:
            raise ImageNotFound(ImageNotFound.MANIFEST_NOT_FOUND)


@pytest.fixture
def commands() -> Commands:
    return in_memory()


def submitted(commands, images, fields):
    """As the resource does (resources/catalog.py): the image, then the command."""
    catalog.check_image(images, fields)
    return commands.run(catalog.submit_benchmark, ACTOR, fields, registered=None)


def updated(commands, images, id, fields):
    catalog.check_image(images, fields)
    return commands.run(catalog.update_benchmark, ACTOR, id, fields, registered=None)


def test_a_benchmark_whose_image_exists_is_submitted_after_one_check(commands):
    registry = Registry(("org/bench", "1.0"))
    benchmark, position = submitted(commands, registry, FIELDS)
    assert position > 0 and benchmark.docker_image == "org/bench"
    assert registry.asked == [("org/bench", "1.0")]


def test_a_missing_image_refuses_the_submission_and_saves_nothing(commands):
    with pytest.raises(ImageNotFound) as refused:
        submitted(commands, Registry(), FIELDS)
    assert refused.value.message == ImageNotFound.MANIFEST_NOT_FOUND
    assert commands.store.recorder.max_notification_id() in (None, 0)


def test_without_an_image_check_only_the_schema_is_checked(commands):
    with pytest.raises(InvalidDocument) as refused:
        submitted(commands, None, {**FIELDS, "json_schema": {"type": 7}})
    assert refused.value.path == "$.type"
    _, position = submitted(commands, None, FIELDS)
    assert position > 0


def test_an_update_is_checked_before_the_benchmark_is_looked_up(commands):
    """The order of the answers: a refused image is the 422, even for an unknown benchmark."""
    with pytest.raises(ImageNotFound):
        updated(commands, Registry(), uuid4(), FIELDS)
    registry = Registry(("org/bench", "1.0"), ("org/bench", "2.0"))
    benchmark, _ = submitted(commands, registry, FIELDS)
    changed, position = updated(commands, registry, benchmark.id, {**FIELDS, "docker_tag": "2.0"})
    assert position > 0 and changed.docker_tag == "2.0"
    assert registry.asked[-1] == ("org/bench", "2.0")
