"""Aggregates built in memory for tests of the domain and of the command side's pieces."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from domain.actor import Actor
from domain.result import Result


def a_result(actor: Actor) -> Result:
    """A result of `actor` with the document {"score": 1}, referring to no stored catalog item."""
    return Result(
        benchmark_id=uuid4(),
        flavor_id=uuid4(),
        site_id=uuid4(),
        execution_datetime=datetime(2024, 1, 1),
        json={"score": 1},
        tags_ids=[],
        actor=actor,
    )
