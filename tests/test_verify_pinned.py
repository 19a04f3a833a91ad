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

    with pytest.raises(SystemExit) as exit:
        target.run(capsys, "verify")
    assert exit.value.code == 1
    out = capsys.readouterr().out
    assert "sites: 1 rows only in the live tables, 1 only in the replay" in out
    assert f"sites (id={site_id}) name: live 'changed by hand', replay {name!r}" in out
    assert f"tags (id={tag_id}): only in the replay" in out
