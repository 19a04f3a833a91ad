"""The export file: JSON lines, each event as its Kafka envelope plus what an exact restore needs.

    {"format": "eosc-perf-event-log", "format_version": 1, "since": 0, "head": 1234}
    {"notification_id": 1, "event_type": …, "aggregate_id": …, … the envelope …, "topic": …, "state": "<base64>",
     "link": "<hex>"}
    …
    {"personal_keys": [["<key id>", "<user id>", "<base64 key>"], …]}
    {"end": true, "events": 1234, "sha256": "<hex digest of every line above, newlines included>"}

The envelope (domain/envelope.py) is for readers: the event as the current code
decodes it. A restore uses only the stored form next to it: the topic and the state bytes as
stored (they carry the event's time), under the notification id, aggregate id and version. An
event this code cannot decode keeps its stored form, with its envelope's decoded parts null.
The end line makes a cut-off file visible; its digest, a changed byte anywhere. `link` is the
event's link in the log's hash chain (configuration/event_links.py); an export after a position
names the link before it in its header's `previous_link`. Both came after the first files of
this format: a file without them still loads (its events get their links in the new store).
`personal_keys` are the keys of the users living when the export ended, which open their sealed
personal data (domain/personal_data.py); a removed user's key is gone, so an export made after the
removal holds their address neither in the envelope (it reads erased) nor in a form that opens.
A file without that line (made before sealing) loads with no keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import BinaryIO, Iterator
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from domain.envelope import envelope_bytes, to_bytes
from domain.personal_data import BrokenSeal, PersonalDataMapper, opened

FORMAT = "eosc-perf-event-log"
FORMAT_VERSION = 1


class ExportFileError(ValueError):
    """A file that is not a whole, unchanged export: the message names the line."""


def header(since: int, head: int, previous_link: bytes | None = None) -> bytes:
    fields = {"format": FORMAT, "format_version": FORMAT_VERSION, "since": since, "head": head}
    if previous_link is not None:
        fields["previous_link"] = previous_link.hex()
    return to_bytes(fields)


def personal_keys(keys: list[tuple[str, str, bytes]]) -> bytes:
    return to_bytes(
        {"personal_keys": [[key_id, user_id, base64.b64encode(key).decode("ascii")] for key_id, user_id, key in keys]}
    )


def end(events: int, digest: str) -> bytes:
    return to_bytes({"end": True, "events": events, "sha256": digest})


def event_line(mapper: PersonalDataMapper, notification: Notification, link: bytes | None) -> bytes:
    stored = {"topic": notification.topic, "state": base64.b64encode(notification.state).decode("ascii")}
    if link is not None:
        stored["link"] = link.hex()
    try:
        event = mapper.sealed_domain_event(notification)
    except Exception as error:  # an event this code cannot read (parked by the consumers) is kept all the same
        return _undecodable(notification, error, stored)
    try:
        event = opened(event, mapper.keyring)
    except BrokenSeal as error:  # other failures reading the keys are outages: raised, the export stops
        return _undecodable(notification, error, stored)
    return envelope_bytes(notification.id, event, **stored)


def _undecodable(notification: Notification, error: Exception, stored: dict) -> bytes:
    return to_bytes(
        {
            "notification_id": notification.id,
            "event_type": notification.topic,
            "aggregate_id": str(notification.originator_id),
            "aggregate_version": notification.originator_version,
            "timestamp": None,
            "actor": None,
            "payload": None,
            "undecodable": repr(error),
            **stored,
        }
    )


@dataclass(frozen=True)
class Header:
    since: int
    head: int
    previous_link: bytes | None


@dataclass(frozen=True)
class Line:
    number: int
    notification_id: int
    stored: StoredEvent
    link: bytes | None


class Reader:
    """Reads an export file line by line, checking each; `events()` yields the stored events
    and, at the end, checks the end line. A failed check raises ExportFileError."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.number = 0
        self.digest = hashlib.sha256()
        first = self._next()
        if first is None:
            raise ExportFileError("line 1: the file is empty")
        self.digest.update(first)
        fields = self._parse(first)
        if fields.get("format") != FORMAT or fields.get("format_version") != FORMAT_VERSION:
            raise ExportFileError(
                f"line 1: not an event log exported by eosc-perf (format {FORMAT} version "
                f"{FORMAT_VERSION}): {first[:200]!r}"
            )
        since, head = fields.get("since"), fields.get("head")
        if not (_is_int(since) and _is_int(head) and 0 <= since):
            raise ExportFileError("line 1: the header lacks its `since` and `head` positions")
        self.header = Header(since, head, self._link(fields, "previous_link"))
        self.keys: list[tuple[str, str, bytes]] = []  # read with the events

    def _next(self) -> bytes | None:
        raw = self.stream.readline()
        if not raw:
            return None
        self.number += 1
        if not raw.endswith(b"\n"):
            raise ExportFileError(f"line {self.number}: cut off (no end of line): the file is truncated")
        return raw

    def _parse(self, raw: bytes) -> dict:
        try:
            fields = json.loads(raw)
        except ValueError as error:
            raise ExportFileError(f"line {self.number}: not JSON ({error})") from None
        if not isinstance(fields, dict):
            raise ExportFileError(f"line {self.number}: not a JSON object")
        return fields

    def events(self) -> Iterator[Line]:
        previous, count = self.header.since, 0
        while True:
            raw = self._next()
            if raw is None:
                raise ExportFileError(f"line {self.number + 1}: the file ends without its end line: it is truncated")
            fields = self._parse(raw)
            if fields.get("end") is True:
                self._check_end(fields, count, previous)
                return
            self.digest.update(raw)
            if "personal_keys" in fields:
                self.keys = self._keys(fields["personal_keys"])
                continue
            line = self._event(fields)
            if not previous < line.notification_id <= self.header.head:
                raise ExportFileError(
                    f"line {self.number}: notification id {line.notification_id} out of order "
                    f"(after {previous}, up to the header's head {self.header.head})"
                )
            previous, count = line.notification_id, count + 1
            yield line

    def _event(self, fields: dict) -> Line:
        try:
            notification_id, version = fields["notification_id"], fields["aggregate_version"]
            topic, state = fields["topic"], fields["state"]
            if not (
                _is_int(notification_id)
                and _is_int(version)
                and version >= 1
                and isinstance(topic, str)
                and isinstance(state, str)
            ):
                raise ValueError("a field of the wrong type")
            stored = StoredEvent(
                UUID(fields["aggregate_id"]), version, topic, binascii.a2b_base64(state, strict_mode=True)
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            raise ExportFileError(f"line {self.number}: not an exported event ({error!r})") from None
        return Line(self.number, notification_id, stored, self._link(fields, "link"))

    def _keys(self, rows) -> list[tuple[str, str, bytes]]:
        try:
            return [
                (key_id, str(UUID(user_id)), binascii.a2b_base64(key, strict_mode=True))
                for key_id, user_id, key in rows
            ]
        except (TypeError, ValueError, binascii.Error) as error:
            raise ExportFileError(f"line {self.number}: not the users' personal-data keys ({error!r})") from None

    def _link(self, fields: dict, name: str) -> bytes | None:
        value = fields.get(name)
        if value is None:
            return None
        if not (isinstance(value, str) and len(value) == 64):
            raise ExportFileError(f"line {self.number}: `{name}` is not a SHA-256 in hex: {value!r}")
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise ExportFileError(f"line {self.number}: `{name}` is not a SHA-256 in hex: {value!r}") from None

    def _check_end(self, fields: dict, count: int, last: int) -> None:
        if fields.get("events") != count:
            raise ExportFileError(
                f"line {self.number}: the end line counts {fields.get('events')} events, the file holds {count}"
            )
        if fields.get("sha256") != self.digest.hexdigest():
            raise ExportFileError(
                f"line {self.number}: the file's SHA-256 differs from its end line's: a line above was changed"
            )
        if count and last != self.header.head:
            raise ExportFileError(f"line {self.number}: the last event is {last}, the header's head {self.header.head}")
        if self.stream.readline():
            raise ExportFileError(f"line {self.number + 1}: lines after the end line")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
