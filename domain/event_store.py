"""The event store: one eventsourcing Application holding every aggregate of the service.

Persistence (SQLite file or PostgreSQL) is chosen by the environment passed in, so the
domain never names a database. Commands live in the command service; projectors read the
notification log of this same application.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Mapper, Transcoder, Transcoding, UUIDAsHex

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


class UUIDAsHexRepeated(UUIDAsHex):
    """The library's UUIDs, read back as the same object while the text repeats (up to
    UUIDS_KEPT of them): events name the same benchmarks, sites, flavors and tags again and
    again, and UUID's constructor works in Python (1 µs; a replay decodes five per upload). A
    UUID is immutable, so sharing one is safe."""

    def __init__(self) -> None:
        super().__init__()
        self._decoded: dict[str, UUID] = {}  # shared by threads: a race costs a UUID made twice

    def decode(self, data: str) -> UUID:
        found = self._decoded.get(data)
        if found is None:
            if len(self._decoded) >= UUIDS_KEPT:
                self._decoded.clear()  # simpler than least-recently-used, and as good: few ids repeat
            found = self._decoded[data] = super().decode(data)
        return found


UUIDS_KEPT = 4096


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
        transcoder.register(UUIDAsHexRepeated())  # in the place of the library's, by name and type
        transcoder.register(ActorAsDict())
        transcoder.register(SealedAsDict())
