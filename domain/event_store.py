"""The event store: one eventsourcing Application holding every aggregate of the service.

Persistence (SQLite file or PostgreSQL) is chosen by the environment passed in, so the
domain never names a database. Commands live in the command service; projectors read the
notification log of this same application.
"""

from __future__ import annotations

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.actor import Actor


class ActorAsDict(Transcoding):
    type = Actor
    name = "actor"

    def encode(self, obj: Actor) -> dict:
        return {"sub": obj.sub, "iss": obj.iss}

    def decode(self, data: dict) -> Actor:
        return Actor(data["sub"], data["iss"])


class EventStore(Application):
    name = "eoscperf"  # PostgreSQL table prefix and tracking key: never rename
    log_section_size = 500

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ActorAsDict())
