"""`eosc-perf verify` compares the live read tables and the replay at one event position (the
live read model's, read in one snapshot), so events the projector has not folded yet are no
difference; and it names each differing row by table, key and column."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import pytest
from sqlalchemy import text

from read_model import read_store
from tests.support.log_stores import imported
from tests.support.stored_events import as_stored, load


def test_events_the_projector_has_not_folded_yet_are_no_difference(capsys, tmp_path, source, target):
    head = imported(capsys, tmp_path, source, target)
    store = target.store()
    later = [replace(as_stored(entry), originator_id=uuid4()) for entry in load()[:3]]  # registrations, unprojected
    store.recorder.insert_events(later)

    code, out, err = target.run(capsys, "verify")
    assert code == 0, out + err
    assert f"up to event position {head} (the live read model's; the log's head: {head + 3})" in out
    assert "read tables equal a fresh replay" in out


def test_verify_names_each_differing_row_by_table_key_and_column(capsys, tmp_path, source, target):
    imported(capsys, tmp_path, source, target)
    engine = read_store.connect(target.settings.read_store)
    with engine.begin() as conn:
        site_id, name = conn.execute(text("SELECT id, name FROM sites ORDER BY name LIMIT 1")).one()
        conn.execute(text("UPDATE sites SET name = 'changed by hand' WHERE id = :id"), {"id": site_id})
        tag_id = conn.execute(text("SELECT id FROM tags LIMIT 1")).scalar_one()
        conn.execute(text("DELETE FROM tags WHERE id = :id"), {"id": tag_id})
    engine.dispose()

    out = _verify_fails(capsys, target)
    assert "sites: 1 rows only in the live tables, 1 only in the replay" in out
    assert f"sites (id={site_id}) name: live 'changed by hand', replay {name!r}" in out
    assert f"tags (id={tag_id}): only in the replay" in out


def test_verify_names_the_rows_of_a_damaged_store_without_holding_them(capsys, tmp_path, source, target):
    """A result deleted by hand leaves its numbers without a result (their key's id is missing),
    and every row of the events index edited by hand is more than verify shows: the side-by-side
    walk in key order (projections/replay.py) names them, stops early, and counts every row."""
    imported(capsys, tmp_path, source, target)
    engine = read_store.connect(target.settings.read_store)
    with engine.begin() as conn:
        result_id, seq = conn.execute(
            text("SELECT id, seq FROM results WHERE seq IN (SELECT seq FROM result_numbers) ORDER BY id LIMIT 1")
        ).one()
        numbers = conn.execute(text("SELECT count(*) FROM result_numbers WHERE seq = :seq"), {"seq": seq}).scalar()
        conn.execute(text("DELETE FROM results WHERE id = :id"), {"id": result_id})
        events = conn.execute(text("UPDATE events_index SET version = version + 1000")).rowcount
    engine.dispose()
    assert events > 20  # more differing rows than verify names

    out = _verify_fails(capsys, target)
    assert f"results (id={result_id}): only in the replay" in out
    assert f"result_numbers: {numbers} rows only in the live tables, {numbers} only in the replay" in out
    assert f"result_numbers (id={result_id}, path=" in out and "result_numbers (id=None, path=" in out
    assert f"events_index: {events} rows only in the live tables, {events} only in the replay" in out
    assert "... (the first 20 shown)" in out


def _verify_fails(capsys, target) -> str:
    """`verify`'s output, having checked that it exits 1."""
    with pytest.raises(SystemExit) as exit:
        target.run(capsys, "verify")
    assert exit.value.code == 1
    return capsys.readouterr().out
