"""The audit trail: every change an event in a hash chain; `audit verify` finds each kind of
tampering made behind the system's back (sqlite3 or psql), with the first broken link and the rows
concerned; `audit log` reads it. Both databases."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy import text

from credit import audit, audit_pending
from credit.audit_chain import row_hash, row_key
from credit.db import make_engine

from tests.cli.test_results import problem, through_review, two_items  # noqa: F401  (fixture)
from tests.cli.test_results import clean, team
from tests.cli.test_task import execute, rows
from tests.conftest import Env, snapshot


@pytest.fixture
def published(two_items: Env) -> Env:  # noqa: F811
    """T1 drawn and assigned; visit 1 clean, visit 2 with a problem (责令改正), both approved and
    published; an evaluation of visit 1."""
    env = two_items

    def build() -> None:
        clean(env, 1)
        through_review(env, 1)
        clean(env, 2)
        problem(env, 2, "K-01")
        through_review(env, 2)
        env.run("publish", "T1", "--on", "2026-03-31", "--out", str(env.tmp / "pub"))
        env.run("evaluation", "record", "T1/1", "--score", "5", "--comment", "满意", "--on", "2026-03-31")

    snapshot(env, "published", build)
    return env


def verify(env: Env, expect: int) -> dict[str, Any]:
    return env.json("audit", "verify", expect=expect)


def event_id(env: Env, action: str, which: str = "min") -> int:
    return int(env.scalar(f"SELECT {which}(id) FROM audit_events WHERE action = '{action}'"))


class TestIntact:
    def test_every_step_is_an_event_and_verify_passes(self, published: Env) -> None:
        report = verify(published, 0)
        assert report["intact"] and report["findings"] == [] and report["first_broken_link"] is None
        assert report["tasks"] == 1 and report["publications"] == 2 and report["grading_runs"] == 1
        actions = [a for (a,) in rows(published, "SELECT action FROM audit_events ORDER BY id")]
        for action in ("audit.adopt", "user.add", "directory.import", "credit.grade", "task.create", "task.seed", "task.draw",
                       "task.assign", "result.record", "result.submit", "result.review", "followup.step", "result.publish",
                       "evaluation.record"):
            assert action in actions, action
        # The seed commitment comes right after the task, before the draw.
        assert actions.index("task.seed") == actions.index("task.create") + 1 < actions.index("task.draw")
        # Each event names who acted, in which role.
        who = rows(published, "SELECT DISTINCT actor, role FROM audit_events WHERE action IN ('task.draw', 'result.review', 'result.record')")
        assert sorted(who) == sorted([("planner", "planner"), ("reviewer", "reviewer"), (f"inspector-{team(published, 1)[0]}", "inspector")]
                                     + ([(f"inspector-{team(published, 2)[0]}", "inspector")] if team(published, 2)[0] != team(published, 1)[0] else []))

    def test_row_hashes_before_and_after(self, published: Env) -> None:
        """The review changed visit 1's result row: its before is the after of the submit."""
        review = published.scalar("SELECT min(id) FROM audit_events WHERE action = 'result.review'")
        visit = published.scalar("SELECT v.id FROM visits v WHERE v.rank = 1")
        before, after = rows(published, f"SELECT before, after FROM audit_rows WHERE event_id = {review} AND tbl = 'visit_results' AND key = '{visit}'")[0]
        submitted = published.scalar(f"SELECT after FROM audit_rows WHERE tbl = 'visit_results' AND key = '{visit}' AND event_id < {review} ORDER BY event_id DESC LIMIT 1")
        assert before == submitted and after != before and len(after) == 32


    def test_changes_spilled_to_the_temporary_table_verify_the_same(self, database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                                     request: pytest.FixtureRequest) -> None:
        """Imports set their row changes aside in a temporary table; force that path for every event."""
        monkeypatch.setattr(audit_pending, "SPILL_AT", 2)
        request.getfixturevalue("env").snapshots = False  # every event of the scenario made here
        env: Env = request.getfixturevalue("published")
        report = verify(env, 0)
        assert report["intact"] and report["rows"] == env.scalar("SELECT count(*) FROM audit_rows") + env.scalar("SELECT coalesce(sum(rows), 0) FROM audit_packs") > 100
        assert env.scalar("SELECT count(*) FROM audit_events WHERE action = 'directory.import' AND rows > 2") >= 3


    def test_rows_hash_as_read_through_their_types(self, published: Env) -> None:
        """row_hashes reads enum (and, on SQLite, date) columns as the text stored: every audited
        row of a full scenario hashes exactly as it does read as Python objects, so trails
        recorded before that shortcut still verify."""
        engine = make_engine(published.url)
        try:
            with engine.connect() as connection:
                compared = 0
                for table in audit.audited_tables():
                    keys = [i for i, c in enumerate(table.columns) if c.primary_key]
                    typed = {row_key([row[i] for i in keys]): row_hash(row) for row in connection.execute(sa.select(*table.columns))}
                    assert dict(audit.row_hashes(connection, table, sa.true())) == typed, table.name
                    compared += len(typed)
                raw = [t.name for t in audit.audited_tables() if any(isinstance(c.type, (sa.Enum, sa.Date)) for c in t.columns)]
        finally:
            engine.dispose()
        assert compared > 150 and {"credit_records", "enterprises", "visits", "item_results"} <= set(raw), (compared, raw)


class TestTampering:
    """Each edit made with SQL, outside spotcheck, is found; exit 1."""

    def test_edited_result(self, published: Env) -> None:
        execute(published, "UPDATE item_results SET result_codes = '1', findings = '' WHERE result_codes LIKE 'A%'")
        report = verify(published, 1)
        found = [f for f in report["findings"] if f["check"] == "rows"]
        assert len(found) == 1 and found[0]["message"].startswith("item_results: 1 row(s) changed (UPDATE) behind the system's back")
        visit = published.scalar("SELECT id FROM visits WHERE rank = 2")
        assert found[0]["rows"][0].startswith(f"item_results {visit}|")
        # The first broken link is the last event that recorded that row (the result's review or record).
        assert report["first_broken_link"]["event"] == found[0]["event"]
        assert published.scalar(f"SELECT action FROM audit_events WHERE id = {found[0]['event']}") == "result.record"

    def test_deleted_event(self, published: Env) -> None:
        gone = event_id(published, "task.draw")
        execute(published, f"DELETE FROM audit_rows WHERE event_id = {gone}")
        execute(published, f"DELETE FROM audit_packs WHERE event_id = {gone}")
        execute(published, f"DELETE FROM audit_events WHERE id = {gone}")
        report = verify(published, 1)
        assert report["first_broken_link"] == {"check": "chain", "message": f"event {gone} missing: deleted from the trail",
                                               "event": gone, "rows": report["first_broken_link"]["rows"]}
        # The row only that event recorded (the draw) no longer has a record: it shows as added.
        assert any(f["message"].startswith("draws: 1 row(s) added (INSERT)") for f in report["findings"])

    def test_reordered_events(self, published: Env) -> None:
        a, b = event_id(published, "result.submit"), event_id(published, "result.review")
        assert a < b
        # Swap the two events' contents, as one would to move an event earlier in the trail.
        columns = "at, actor, role, action, outcome, task, subject, summary, detail, rows, rows_sha256, prev_sha256, sha256"
        engine = make_engine(published.url)
        with engine.begin() as conn:
            first, second = (conn.execute(text(f"SELECT {columns} FROM audit_events WHERE id = {n}")).one()._mapping for n in (a, b))
            assignments = ", ".join(f"{c} = :{c}" for c in columns.split(", "))
            conn.execute(text(f"UPDATE audit_events SET {assignments} WHERE id = {a}"), dict(second))
            conn.execute(text(f"UPDATE audit_events SET {assignments} WHERE id = {b}"), dict(first))
        engine.dispose()
        report = verify(published, 1)
        first_break = report["first_broken_link"]
        assert first_break["check"] == "chain" and first_break["event"] == a and "reordered" in first_break["message"]

    def test_edited_event_text(self, published: Env) -> None:
        target = event_id(published, "result.review")
        execute(published, f"UPDATE audit_events SET actor = 'someone else' WHERE id = {target}")
        first = verify(published, 1)["first_broken_link"]
        assert (first["event"], first["message"]) == (target, f"event {target} was edited: its fields no longer match its hash")

    def test_edited_row_hash(self, published: Env) -> None:
        """Rewriting the trail's row hash to hide an edit breaks the chain instead."""
        target = event_id(published, "evaluation.record")
        execute(published, f"UPDATE audit_rows SET after = '{'0' * 32}' WHERE event_id = {target}")
        first = verify(published, 1)["first_broken_link"]
        assert (first["event"], first["message"]) == (target, f"the row hashes of event {target} were edited, added or deleted")

    def test_edited_pack(self, published: Env) -> None:
        """Rewriting a hash in a pack (the rows an import or a draw inserted) breaks the chain."""
        target = event_id(published, "task.draw")
        assert published.scalar(f"SELECT count(*) FROM audit_packs WHERE event_id = {target}") == 2  # visits, visit items
        flipped = ("set_byte(hashes, 0, (get_byte(hashes, 0) + 1) % 256)" if published.url.startswith("postgresql")
                   else "CAST(CASE WHEN substr(hashes, 1, 1) = X'00' THEN X'01' ELSE X'00' END || substr(hashes, 2) AS BLOB)")
        execute(published, f"UPDATE audit_packs SET hashes = {flipped} WHERE event_id = {target} AND tbl = 'visit_items'")
        report = verify(published, 1)
        first = report["first_broken_link"]
        assert (first["event"], first["message"]) == (target, f"the row hashes of event {target} were edited, added or deleted")
        # The visit item whose packed hash no longer matches is named too (the first of the pack).
        visit = published.scalar("SELECT min(visit_id) FROM visit_items")
        assert any(f["message"].startswith("visit_items: 1 row(s) changed (UPDATE)") and f["rows"][0].startswith(f"visit_items {visit}|")
                   for f in report["findings"]), report["findings"]

    def test_pack_hashes_overwritten_with_text(self, published: Env) -> None:
        """SQLite takes text into a BLOB column: that edit is found too, not a read error."""
        if published.url.startswith("postgresql"):
            pytest.skip("PostgreSQL refuses text in a bytea column")
        target = event_id(published, "task.draw")
        execute(published, f"UPDATE audit_packs SET hashes = 'forged ' || char(233) WHERE event_id = {target} AND tbl = 'visit_items'")
        report = verify(published, 1)
        assert report["first_broken_link"]["message"] == f"the row hashes of event {target} were edited, added or deleted"

    def test_deleted_pack(self, published: Env) -> None:
        target = event_id(published, "task.draw")
        execute(published, f"DELETE FROM audit_packs WHERE event_id = {target} AND tbl = 'visit_items'")
        report = verify(published, 1)
        assert report["first_broken_link"]["message"] == f"the row hashes of event {target} were edited, added or deleted"
        # Its rows are no longer known to the trail.
        assert any(f["message"].startswith("visit_items: ") and "added (INSERT)" in f["message"] for f in report["findings"])

    def test_edited_and_deleted_packed_rows(self, published: Env) -> None:
        """Rows known only from an import's packs: an edit and a deletion each name the import."""
        first_id, last_id = rows(published, "SELECT min(id), max(id) FROM credit_records WHERE from_result = false")[0]
        execute(published, f"UPDATE credit_records SET document_no = 'forged' WHERE id = {first_id}")
        execute(published, f"DELETE FROM credit_records WHERE id = {last_id}")
        report = verify(published, 1)
        found = {f["message"].split(";")[0]: f for f in report["findings"] if f["check"] == "rows"}
        changed = found["credit_records: 1 row(s) changed (UPDATE) behind the system's back"]
        deleted = found["credit_records: 1 row(s) deleted (DELETE) behind the system's back"]
        assert changed["rows"] == [f"credit_records {first_id} (event {changed['event']})"]
        assert deleted["rows"] == [f"credit_records {last_id} (event {deleted['event']})"]
        for finding in (changed, deleted):
            assert published.scalar(f"SELECT action FROM audit_events WHERE id = {finding['event']}") == "directory.import"

    def test_truncated_trail(self, published: Env) -> None:
        last = published.scalar("SELECT max(id) FROM audit_events")
        execute(published, f"DELETE FROM audit_rows WHERE event_id = {last}")
        execute(published, f"DELETE FROM audit_events WHERE id = {last}")
        report = verify(published, 1)
        assert any(f["check"] == "chain" and f"its head says {last}" in f["message"] for f in report["findings"])

    def test_edited_visit(self, published: Env) -> None:
        execute(published, "UPDATE visits SET scheduled_on = '2026-03-30' WHERE rank = 3")
        report = verify(published, 1)
        checks = {f["check"] for f in report["findings"]}
        assert checks == {"rows", "draw"}
        rows_finding = next(f for f in report["findings"] if f["check"] == "rows")
        visit = published.scalar("SELECT id FROM visits WHERE rank = 3")
        assert rows_finding["message"].startswith("visits: 1 row(s) changed (UPDATE)") and rows_finding["rows"][0].startswith(f"visits {visit} ")
        # The assignment wrote the scheduled day: that event's record is what breaks.
        assert published.scalar(f"SELECT action FROM audit_events WHERE id = {rows_finding['event']}") == "task.assign"

    def test_changed_seed(self, published: Env) -> None:
        execute(published, "UPDATE tasks SET seed_hex = '" + "ab" * 32 + "' WHERE code = 'T1'")
        report = verify(published, 1)
        messages = [f["message"] for f in report["findings"]]
        assert any(m.startswith("tasks: 1 row(s) changed (UPDATE)") for m in messages)
        assert not any("seed" in m for m in messages if m.startswith("task T1")), messages  # the draw keeps its own copy
        execute(published, "UPDATE draws SET seed_hex = '" + "ab" * 32 + "'")
        messages = [f["message"] for f in verify(published, 1)["findings"]]
        assert any(m.startswith("task T1: seed: the revealed seed does not match the commitment") for m in messages)
        assert any(m.startswith("draws: 1 row(s) changed (UPDATE)") for m in messages)

    def test_edited_publication(self, published: Env) -> None:
        execute(published, "UPDATE publications SET result = '未发现问题' WHERE number LIKE 'T1/2-%'")
        report = verify(published, 1)
        publication = next(f for f in report["findings"] if f["check"] == "publication")
        assert publication["message"] == "1 published record(s) no longer match their hash" and publication["rows"] == ["T1/2-SCJG"]

    def test_deleted_and_inserted_rows(self, published: Env) -> None:
        execute(published, "DELETE FROM evaluations")
        execute(published, "INSERT INTO departments (code, name) VALUES ('XX', '假部门')")
        report = verify(published, 1)
        messages = sorted(f["message"] for f in report["findings"])
        assert messages[0].startswith("departments: 1 row(s) added (INSERT) behind the system's back")
        assert messages[1].startswith("evaluations: 1 row(s) deleted (DELETE) behind the system's back")

    def test_edited_grade_is_found_by_regrading(self, published: Env) -> None:
        grades = published.grades(1)
        at = int(np.flatnonzero(grades.tier > 0)[0])
        uscc = published.scalar(f"SELECT uscc FROM enterprises WHERE id = {int(grades.enterprise[at])}")
        _set_tier_byte(published, 1, at, 0)  # tier A, written around the application
        report = verify(published, 1)
        grades = next(f for f in report["findings"] if f["check"] == "grades")
        assert grades["message"] == "grading run 1: the stored grades no longer match the run's digest"
        assert len(grades["rows"]) == 1 and grades["rows"][0].startswith(f"grades {uscc}: stored A ")

    def test_grades_with_an_impossible_tier_are_found(self, published: Env) -> None:
        _set_tier_byte(published, 1, 0, 9)
        report = verify(published, 1)
        grades = next(f for f in report["findings"] if f["check"] == "grades")
        assert grades["message"] == "grading run 1: the stored grades no longer match the run's digest"
        assert len(grades["rows"]) == 1 and " stored ? " in grades["rows"][0]
        draw = next(f for f in report["findings"] if f["check"] == "draw")
        assert "cannot be verified: grading run 1: a stored tier is none of A, B, C, D" in draw["message"]

    def test_edited_grading_columns_are_found(self, published: Env) -> None:
        from sqlalchemy import create_engine

        engine = create_engine(published.url)
        try:
            with engine.begin() as conn:
                low, data = conn.execute(text("SELECT low_id, data FROM grading_columns ORDER BY low_id LIMIT 1")).one()
                edited = bytearray(data)
                edited[-1] ^= 1  # the last record's code: another category
                conn.execute(text("UPDATE grading_columns SET data = :d WHERE low_id = :low"), {"d": bytes(edited), "low": low})
        finally:
            engine.dispose()
        report = verify(published, 1)
        found = [f for f in report["findings"] if f["check"] == "grading_columns"]
        assert len(found) == 1 and found[0]["message"].startswith(f"grading columns of records {low + 1}–") and "no longer match the records" in found[0]["message"]

    def test_text_output_names_the_first_broken_link(self, published: Env) -> None:
        execute(published, "UPDATE item_results SET findings = '改过' WHERE result_codes LIKE 'A%'")
        out = published.run("audit", "verify", expect=1).stdout
        assert out.startswith("NOT intact: 1 problem(s) in ")
        assert "first broken link: item_results: 1 row(s) changed (UPDATE) behind the system's back" in out


class TestLog:
    def test_filters(self, published: Env) -> None:
        everything = published.json("audit", "log")
        assert [e["id"] for e in everything] == list(range(1, len(everything) + 1))
        of_task = published.json("audit", "log", "--task", "T1")
        assert of_task and all(e["task"] == "T1" for e in of_task)
        assert {e["action"] for e in of_task} >= {"task.create", "task.draw", "result.publish"}
        mine = published.json("audit", "log", "--user", "reviewer")
        assert mine and {e["actor"] for e in mine} == {"reviewer"}
        assert published.json("audit", "log", "--since", "2999-01-01") == []
        with_rows = published.json("audit", "log", "--task", "T1", "--rows")
        draw = next(e for e in with_rows if e["action"] == "task.draw")
        assert draw["rows"] == len(draw["changes"]) > 0 and {c["table"] for c in draw["changes"]} >= {"visits", "draws", "tasks"}

    def test_text(self, published: Env) -> None:
        out = published.run("audit", "log", "--task", "T1").stdout.splitlines()
        assert any(" planner (planner) task.draw: task T1 drawn: " in line for line in out)


class TestRefusedAttempts:
    def test_second_draw_is_an_event(self, published: Env) -> None:
        published.run("task", "draw", "T1", "--entropy", "again", expect=1)
        last = published.json("audit", "log", "--task", "T1")[-1]
        assert (last["action"], last["outcome"]) == ("task.draw", "refused") and "drawn" in last["summary"]
        verify(published, 0)


def test_audit_verify_as_json_counts_on_an_empty_database(env: Env) -> None:
    report = verify(env, 0)
    # The users of the test database, and the districts the migration ships, are in the trail.
    assert report["events"] >= 5 and report["intact"]
    assert json.loads(env.run("audit", "log", "--json").stdout)[0]["action"] == "audit.adopt"


def _set_tier_byte(env: Env, run: int, index: int, tier: int) -> None:
    """Set the stored tier of the run's ``index``-th grade (by enterprise id), around the application."""
    from sqlalchemy import create_engine

    from credit.grade_store import PART

    part, at = divmod(index, PART)
    engine = create_engine(env.url)
    try:
        with engine.begin() as conn:
            count, data = conn.execute(text("SELECT enterprises, data FROM grade_parts WHERE run_id = :r AND part = :p"), {"r": run, "p": part}).one()
            edited = bytearray(data)
            edited[count * (8 + 8 + 4) + at] = tier  # enterprise, score and reason arrays come first
            conn.execute(text("UPDATE grade_parts SET data = :d WHERE run_id = :r AND part = :p"), {"d": bytes(edited), "r": run, "p": part})
    finally:
        engine.dispose()
