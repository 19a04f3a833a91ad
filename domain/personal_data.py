"""Personal data in events, sealed under a key of its own per user (crypto-shredding).

An event field that holds personal data (a user's e-mail address) is stored as a `Sealed`
value: AES-GCM under the user's key, which lives in a key table beside the log, not in it
(configuration/personal_keys.py). Removing the user destroys the key in the removal's own
transaction: the sealed bytes stay in the immutable log, linked in its hash chain, but nothing
can open them any more. Every reader passes through the event store's mapper, which opens the
sealed fields (`PersonalDataMapper`), so the projector, the mailer and replays see plain values;
a field whose key is gone reads as `ERASED`. Events stored before sealing carry the plain value,
which reads as it always did (`eosc-perf seal-personal-data` copies such a log into a sealed one).

The Kafka envelope carries a sealed field as `{"key": …, "box": …}` (the relay publishes what
the store holds); its consumers open it with the same key table (`opened`).
"""

from __future__ import annotations

import base64
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoding
from eventsourcing.utils import get_topic

from domain.user import User

# What a field reads as once its user's key is destroyed: no address, plainly so.
ERASED = "(erased)"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12

# The fields of each event class that hold personal data of the event's user (its aggregate).
PERSONAL_FIELDS: dict[type, tuple[str, ...]] = {
    User.Registered: ("email",),
    User.RegisteredAgain: ("email",),
    User.EmailUpdated: ("email",),
}
PERSONAL_TOPICS = frozenset(map(get_topic, PERSONAL_FIELDS))
# Event classes whose storing destroys their user's key, in the same transaction.
ERASING = frozenset({User.Removed})
ERASING_TOPICS = frozenset(map(get_topic, ERASING))


@dataclass(frozen=True)
class Sealed:
    """A sealed value: the id of the key that sealed it and base64 of nonce + ciphertext + tag."""

    key: str
    box: str


class SealedAsDict(Transcoding):
    type = Sealed
    name = "sealed"

    def encode(self, obj: Sealed) -> dict:
        return {"key": obj.key, "box": obj.box}

    def decode(self, data: dict) -> Sealed:
        return Sealed(data["key"], data["box"])


class BrokenSeal(ValueError):
    """A sealed value that its key, which exists, does not open: the event's bytes or the key
    table were changed. The event's own fault, unlike a key table out of reach (an outage)."""


class Keyring(Protocol):
    def key_for(self, user_id: UUID) -> tuple[str, bytes]:
        """(key id, key) of the user's live key, made when the user has none."""

    def key(self, key_id: str) -> bytes | None:
        """The key of that id; None once destroyed."""


def _context(user_id: UUID, field: str) -> bytes:
    """Bound into the tag: a sealed value opens only as the field of the user it was sealed for."""
    return f"{user_id}/{field}".encode()


def seal(key_id: str, key: bytes, user_id: UUID, field: str, value: str) -> Sealed:
    nonce = os.urandom(NONCE_BYTES)
    box = nonce + AESGCM(key).encrypt(nonce, value.encode("utf-8"), _context(user_id, field))
    return Sealed(key_id, base64.b64encode(box).decode("ascii"))


def unseal(keyring: Keyring, user_id: UUID, field: str, sealed: Sealed) -> str:
    """The plain value, or ERASED when its key was destroyed; BrokenSeal when the key does not open
    it (the box or the key table was changed: an error, not an erasure)."""
    key = keyring.key(sealed.key)
    if key is None:
        return ERASED
    box = base64.b64decode(sealed.box)
    try:
        return AESGCM(key).decrypt(box[:NONCE_BYTES], box[NONCE_BYTES:], _context(user_id, field)).decode("utf-8")
    except InvalidTag as error:
        raise BrokenSeal(f"sealed {field} of user {user_id} does not open with its key {sealed.key}") from error


def opened(event: DomainEventProtocol, keyring: Keyring) -> DomainEventProtocol:
    """The event with its sealed fields opened, in place. A sealed field comes as a `Sealed` from
    the store, as its plain dict from a Kafka envelope; a plain string (an old event) stays."""
    state = vars(event)
    for field in PERSONAL_FIELDS.get(type(event), ()):
        value = state.get(field)
        if isinstance(value, dict):
            value = Sealed(value["key"], value["box"])
        if isinstance(value, Sealed):
            state[field] = unseal(keyring, event.originator_id, field, value)
    return event


class MemoryKeyring:
    """The keys of an event store in memory (the POPO store of dry runs and unit tests): nothing
    is persisted, so nothing needs destroying."""

    def __init__(self) -> None:
        self._by_user: dict[UUID, str] = {}
        self._keys: dict[str, bytes] = {}

    def key_for(self, user_id: UUID) -> tuple[str, bytes]:
        if user_id not in self._by_user:
            key_id = os.urandom(16).hex()
            self._by_user[user_id], self._keys[key_id] = key_id, AESGCM.generate_key(KEY_BYTES * 8)
        key_id = self._by_user[user_id]
        return key_id, self._keys[key_id]

    def key(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)


class PersonalDataMapper(Mapper):
    """The library's mapper, sealing personal fields on the way in and opening them on the way out.
    Its keyring starts in memory; a store in a database gets the database's (configuration/stores.py)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.keyring: Keyring = MemoryKeyring()
        self._encoded = threading.local()  # `encoding_once`'s events of each thread

    @contextmanager
    def encoding_once(self) -> Iterator[None]:
        """Within it, an event this thread has encoded is not encoded again: the command side
        measures each event as stored before it saves it (command_service/services/event_size.py),
        and the save then stores those bytes (its second encoding was 3 % of an upload's CPU in
        the command worker, issue 16)."""
        self._encoded.events = {}
        try:
            yield
        finally:
            self._encoded.events = None

    def to_stored_event(self, domain_event: DomainEventProtocol) -> StoredEvent:
        encoded = getattr(self._encoded, "events", None)
        if encoded is None:
            return self._stored(domain_event)
        # By the object's id, with the object kept: an id is not reused while its object lives.
        kept = encoded.get(id(domain_event))
        if kept is None or kept[0] is not domain_event:
            kept = encoded[id(domain_event)] = (domain_event, self._stored(domain_event))
        return kept[1]

    def _stored(self, domain_event: DomainEventProtocol) -> StoredEvent:
        fields = PERSONAL_FIELDS.get(type(domain_event))
        if fields:
            state = dict(vars(domain_event))
            key_id, key = self.keyring.key_for(domain_event.originator_id)
            for field in fields:
                if isinstance(state[field], str):
                    state[field] = seal(key_id, key, domain_event.originator_id, field, state[field])
            domain_event = object.__new__(type(domain_event))
            object.__setattr__(domain_event, "__dict__", state)  # as the library builds events
        return super().to_stored_event(domain_event)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol:
        return opened(super().to_domain_event(stored_event), self.keyring)

    def sealed_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol:
        """The event as stored: its personal fields still sealed (what the relay publishes)."""
        return super().to_domain_event(stored_event)
