"""The event store: one eventsourcing Application holding every aggregate of the service.

Persistence (SQLite file or PostgreSQL) is chosen by the environment passed in, so the
domain never names a database. Commands live in the command service; projectors read the
notification log of this same application.
"""

from __future__ import annotations

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Mapper, Transcoder, Transcoding

from domain.actor import Actor
from domain.personal_data import PersonalDataMapper, SealedAsDict
from domain.transcoding import FastJSONTranscoder


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

    def construct_mapper(self) -> Mapper:
        """Personal data is sealed on the way in, opened on the way out (domain/personal_data.py)."""
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=PersonalDataMapper)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON, written and read by orjson (domain/transcoding.py); the stored bytes
        are the same, so this is no setting (the library's TRANSCODER_TOPIC is not read)."""
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ActorAsDict())
        transcoder.register(SealedAsDict())
