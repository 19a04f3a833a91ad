"""`eosc-perf export` and `eosc-perf import` on SQLite and PostgreSQL: the log moves with its
notification ids (gaps included), versions, times and order; export -> import -> export is byte
for byte the same; `verify` passes on the imported store; a store that is not empty, and a file
that is cut off or changed, are refused with nothing written; --since exports the rest of a log."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import PersistenceError

from configuration.stores import open_event_store
from eosc_perf import cli
from log_transfer import file_format, transfer
from log_transfer.recorders import insert_numbered
from tests.support.log_stores import GAP, Target, run
from tests.support.stored_events import as_stored, load


def export(capsys, data, file: Path, *more: str) -> list[bytes]:
    code, _out, err = (
        data.run(capsys, "export", str(file), *more)
        if isinstance(data, Target)
        else run(capsys, "export", str(file), "--data", str(data), *more)
    )
    assert code == 0, err
    return file.read_bytes().splitlines(keepends=True)


def test_export_import_export_is_byte_identical_and_verify_passes(capsys, tmp_path, source, target):
    first = export(capsys, source, tmp_path / "first.jsonl")
    assert len(first) == len(load()) + 3  # header, events, the living users' keys, end line
    assert json.loads(first[0]) == {
        "format": "eosc-perf-event-log",
        "format_version": 1,
        "since": 0,
        "head": GAP * len(load()),
    }

    code, out, err = target.run(capsys, "import", str(tmp_path / "first.jsonl"))
    assert code == 0, err
    assert f"imported {len(load())} events" in out
    assert "events/s" in err  # progress
    target.project()
    export(capsys, target, tmp_path / "second.jsonl")

    assert (tmp_path / "second.jsonl").read_bytes() == (tmp_path / "first.jsonl").read_bytes()
    store = target.store()  # kept: the library closes a store's connections when it goes
    stored = store.recorder.select_notifications(start=1, limit=10**6)
    assert [(n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state)) for n in stored] == [
        (
            GAP * e["stored"]["notification_id"],
            e["stored"]["originator_id"],
            e["stored"]["originator_version"],
            e["stored"]["topic"],
            e["stored"]["state"].encode(),
        )
        for e in load()
    ]
    code, out, err = target.run(capsys, "verify")
    assert code == 0, out + err
    assert "read tables equal a fresh replay" in out
    # The links moved with the events, and the imported chain holds up to the same head.
    last = json.loads(first[-3])
    assert all(len(json.loads(line)["link"]) == 64 for line in first[1:-2])
    assert target.run(capsys, "audit", "head")[1] == f"{last['notification_id']} {last['link']}\n"
    code, out, err = target.run(capsys, "audit", "verify")
    assert code == 0 and f"the chain holds: {len(load())} events" in out, out + err
    # The store numbers the next write after the imported events, as it would have.
    next_one = as_stored(load()[0])
    assert store.recorder.insert_events([replace(next_one, originator_id=uuid4())]) == [GAP * len(load()) + 1]


def test_a_store_that_is_not_empty_is_refused_and_nothing_is_written(capsys, tmp_path, source, target):
    file = tmp_path / "log.jsonl"
    export(capsys, source, file)
    assert target.run(capsys, "import", str(file))[0] == 0
    head = target.head()

    code, _out, err = target.run(capsys, "import", str(file))
    assert code == 2 and "already holds every event of this file" in err and "nothing was written" in err

    other = tmp_path / "other"
    other.mkdir()
    store = open_event_store(f"sqlite:///{other / 'events.sqlite'}")
    store.recorder.insert_events([as_stored(entry) for entry in load()[:3]])
    export(capsys, other, tmp_path / "other.jsonl")
    code, _out, err = target.run(capsys, "import", str(tmp_path / "other.jsonl"))
    assert code == 2
    assert f"the event store is not empty: it holds events up to position {head}" in err
    assert "--resume" not in err  # the store is no import of that file
    assert target.head() == head


def _cut_in_a_line(lines):
    return b"".join(lines[:5]) + lines[5][:40], "line 6: cut off"


def _without_end_line(lines):
    return b"".join(lines[:-1]), f"line {len(lines)}: the file ends without its end line"


def _a_byte_changed_in_a_state(lines):
    line = json.loads(lines[7])
    line["state"] = ("A" if line["state"][10] != "A" else "B").join((line["state"][:10], line["state"][11:]))
    changed = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    # The event's chain link finds it at its line, before the end line's digest would.
    return b"".join([*lines[:7], changed, *lines[8:]]), f"line 8: event {line['notification_id']}'s chain link"


def _a_byte_changed_and_the_digest_rewritten(lines):
    """Whoever rewrites the end line too still cannot give the event its link without the ones after it."""
    damaged, message = _a_byte_changed_in_a_state(lines)
    body = damaged.splitlines(keepends=True)[:-1]
    end = file_format.end(len(body) - 1, hashlib.sha256(b"".join(body)).hexdigest()) + b"\n"
    return b"".join([*body, end]), message


def _a_line_without_its_link_before_a_changed_one(lines):
    """A link removed (the format allows lines without one) is recomputed, so what follows still checks."""
    return _a_byte_changed_and_the_digest_rewritten([*lines[:3], _without_link(lines[3]), *lines[4:]])


def _two_lines_swapped(lines):
    # Event 8 comes right after event 4: its link, made after event 6's, finds the swap at once.
    return b"".join([*lines[:3], lines[4], lines[3], *lines[5:]]), "line 4: event 8's chain link"


def _two_lines_swapped_without_links(lines):
    unlinked = [*lines[:1], *(_without_link(line) for line in lines[1:-2]), lines[-2]]  # the keys line has none
    body = [*unlinked[:3], unlinked[4], unlinked[3], *unlinked[5:]]
    end = file_format.end(len(body) - 2, hashlib.sha256(b"".join(body)).hexdigest()) + b"\n"
    return b"".join([*body, end]), "line 5: notification id 6 out of order"


def _without_link(raw: bytes) -> bytes:
    line = json.loads(raw)
    del line["link"]
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _not_json(lines):
    return b"".join([*lines[:9], b'{"notification_id": 9,\n', *lines[10:]]), "line 10: not JSON"


def _not_an_export(lines):
    return b"".join([b'{"some": "thing"}\n', *lines[1:]]), "line 1: not an event log exported by eosc-perf"


@pytest.mark.parametrize(
    "damage",
    [
        _cut_in_a_line,
        _without_end_line,
        _a_byte_changed_in_a_state,
        _a_byte_changed_and_the_digest_rewritten,
        _a_line_without_its_link_before_a_changed_one,
        _two_lines_swapped,
        _two_lines_swapped_without_links,
        _not_json,
        _not_an_export,
    ],
)
def test_a_cut_off_or_changed_file_is_refused_with_its_line_and_leaves_nothing_behind(
    capsys, tmp_path, source, target, damage
):
    lines = export(capsys, source, tmp_path / "log.jsonl")
    damaged, message = damage(lines)
    (tmp_path / "damaged.jsonl").write_bytes(damaged)

    code, _out, err = target.run(capsys, "import", str(tmp_path / "damaged.jsonl"))
    assert code == 2 and message in err, err
    assert target.head() == 0
    assert target.run(capsys, "import", str(tmp_path / "log.jsonl"))[0] == 0  # nothing to trip on
    assert target.head() == GAP * len(load())


def test_since_exports_the_events_after_a_position_to_stdout(capsysbinary, tmp_path, source, target):
    whole = export(capsysbinary, source, tmp_path / "log.jsonl")
    assert cli.main(["export", "-", "--since", "41", "--data", str(source)]) == 0
    rest = capsysbinary.readouterr().out.splitlines(keepends=True)

    assert json.loads(rest[0])["since"] == 41 and json.loads(rest[0])["head"] == json.loads(whole[0])["head"]
    assert rest[1:-2] == [line for line in whole[1:-2] if json.loads(line)["notification_id"] > 41]
    # The link the rest continues from: the last event's at or before the position.
    [before] = [json.loads(line)["link"] for line in whole[1:-2] if json.loads(line)["notification_id"] == 40]
    assert json.loads(rest[0])["previous_link"] == before
    (tmp_path / "rest.jsonl").write_bytes(b"".join(rest))
    code = target.main("import", str(tmp_path / "rest.jsonl"))
    assert code == 2 and "loads only into an event store at position 41" in capsysbinary.readouterr().err.decode()
    assert target.head() == 0
    assert cli.main(["export", "-", "--since", "-1", "--data", str(source)]) == 2
    assert b"--since takes an event position" in capsysbinary.readouterr().err


def test_an_interrupted_import_continues_with_resume(capsys, tmp_path, source, target, monkeypatch):
    file = tmp_path / "log.jsonl"
    export(capsys, source, file)
    monkeypatch.setattr(transfer, "IMPORT_BATCH", 20)
    batches = []

    def fails_at_the_third_batch(recorder, events):
        batches.append(len(events))
        if len(batches) == 3:
            raise PersistenceError("the disk is full")
        insert_numbered(recorder, events)

    monkeypatch.setattr(transfer, "insert_numbered", fails_at_the_third_batch)
    code, _out, err = target.run(capsys, "import", str(file))
    assert code == 2 and "the disk is full" in err and "--resume" in err
    assert target.head() == GAP * 40

    code, _out, err = target.run(capsys, "import", str(file))
    assert code == 2 and "Run it again with --resume" in err
    code, out, err = target.run(capsys, "import", str(file), "--resume")
    assert code == 0, err
    assert f"imported {len(load()) - 40} events" in out
    target.project()
    export(capsys, target, tmp_path / "again.jsonl")
    assert (tmp_path / "again.jsonl").read_bytes() == file.read_bytes()
