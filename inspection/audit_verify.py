"""``audit verify``: check, from the database alone, that the system was used honestly.

Four checks: the event chain holds; every audited row is what the trail last recorded (an
UPDATE, DELETE or INSERT made behind the system's back shows, with the rows and the event whose
record they break); grading runs, draws and assignments reproduce, and the grading columns are
what the records give; published records match their hashes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from credit import audit, grade_store, grading_columns
from credit.audit_chain import EVENT_FIELDS, PackLine, RowChange, check_chain, pack_digest, rows_digest
from credit.audit_compare import differences, pack_hashes
from credit.audit_models import AuditEvent, AuditPack, AuditRow
from credit.errors import SpotcheckError
from credit.grading import USCC_DTYPE, read_population, run_policy
from credit.grading_models import GradingRun
from credit.lookup import positions
from credit.models import Enterprise
from credit.policy import TIERS
from credit.scoring import day_number, grade
import inspection.tables  # noqa: F401  (every audited table)
from inspection.drawing import consistent_snapshot, verify_task
from inspection.publishing import record_digest
from inspection.result_models import Publication
from inspection.task_models import Draw, Task

SHOWN = 20  # rows listed per kind of finding; the count says how many in all


@dataclass
class Finding:
    check: str  # chain, rows, grades, grading_columns, draw, publication
    message: str
    event: int | None = None
    rows: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "message": self.message, "event": self.event, "rows": self.rows}


@dataclass
class Report:
    events: int = 0
    rows: int = 0
    tables: int = 0
    runs: int = 0
    tasks: int = 0
    publications: int = 0
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings

    def first_broken_link(self) -> Finding | None:
        """Where the record of the past stops holding: a break in the chain itself, else the finding
        with the earliest event."""
        chain = [f for f in self.findings if f.check == "chain"]
        if chain:
            return chain[0]
        linked = [f for f in self.findings if f.event is not None]
        return min(linked, key=lambda f: f.event or 0) if linked else (self.findings[0] if self.findings else None)

    def as_dict(self) -> dict[str, Any]:
        first = self.first_broken_link()
        return {
            "intact": self.intact, "events": self.events, "rows": self.rows, "tables": self.tables, "grading_runs": self.runs,
            "tasks": self.tasks, "publications": self.publications,
            "first_broken_link": first.as_dict() if first else None,
            "findings": [f.as_dict() for f in self.findings], "notes": self.notes,
        }


def verify(session: Session) -> Report:
    """Every check; the report lists each problem found and the first broken link."""
    report = Report()
    consistent_snapshot(session)  # every check reads the same state of the database
    digests = _read_rows(session, report)
    _check_chain(session, report, digests)
    _check_rows(session, report)
    _check_grades(session, report)
    _check_grading_columns(session, report)
    _check_tasks(session, report)
    _check_publications(session, report)
    return report


def _events(session: Session) -> Iterator[dict[str, Any]]:
    columns = [getattr(AuditEvent, name) for name in (*EVENT_FIELDS, "sha256")]
    for row in session.execute(select(*columns).order_by(AuditEvent.id).execution_options(yield_per=5000)):
        yield dict(zip((*EVENT_FIELDS, "sha256"), row, strict=True))


def _read_rows(session: Session, report: Report) -> dict[int, str]:
    """One pass over the row hashes and the packs: each event's digest."""
    changes: dict[int, list[RowChange]] = defaultdict(list)
    packs: dict[int, list[PackLine]] = defaultdict(list)
    for event_id, seq, tbl, rows, keys, hashes in session.execute(
        select(AuditPack.event_id, AuditPack.seq, AuditPack.tbl, AuditPack.rows, AuditPack.keys, pack_hashes())
        .order_by(AuditPack.event_id, AuditPack.seq).execution_options(yield_per=100)
    ):
        packs[event_id].append(PackLine(tbl, seq, rows, pack_digest(keys, hashes)))
        report.rows += rows
    for tbl, key, event_id, before, after in session.execute(
        select(AuditRow.tbl, AuditRow.key, AuditRow.event_id, AuditRow.before, AuditRow.after)
        .order_by(AuditRow.event_id).execution_options(yield_per=20000)
    ):
        changes[event_id].append(RowChange(tbl, key, before, after))
        report.rows += 1
    return {event_id: rows_digest(changes.get(event_id, ()), packs.get(event_id, ())) for event_id in changes.keys() | packs.keys()}


def _check_chain(session: Session, report: Report, digests: dict[int, str]) -> None:
    events = list(_events(session))
    report.events = len(events)
    broken = check_chain(events, digests)
    if broken is not None:
        around = [f"{e['id']}: {e['action']} by {e['actor']} at {e['at']:%Y-%m-%d %H:%M:%S} ({e['summary'][:80]})"
                  for e in events if abs(e["id"] - broken.event_id) <= 1]
        report.findings.append(Finding("chain", broken.problem, broken.event_id, around))
    orphans = sorted(set(digests) - {e["id"] for e in events})
    if orphans and broken is None:
        report.findings.append(Finding("chain", f"row hashes of {len(orphans)} event(s) that are not in the trail", orphans[0]))
    last_id, last_sha = audit.head(session.connection())
    if events and (last_id, last_sha) != (events[-1]["id"], events[-1]["sha256"]):
        report.findings.append(Finding("chain", f"the trail ends at event {events[-1]['id']} but its head says {last_id}: events at the end were deleted or added", min(last_id, events[-1]["id"])))
    elif not events and last_id:
        report.findings.append(Finding("chain", f"the trail is empty but its head says {last_id} events: the trail was deleted", 1))


def _check_rows(session: Session, report: Report) -> None:
    connection = session.connection()
    for table in audit.audited_tables():
        report.tables += 1
        found = differences(connection, table)
        for what, rows in (("changed (UPDATE)", found.changed), ("deleted (DELETE)", found.deleted)):
            if rows:
                first_event = rows[0][0]
                report.findings.append(Finding(
                    "rows", f"{table.name}: {len(rows)} row(s) {what} behind the system's back; the first breaks what event {first_event} recorded",
                    first_event, [f"{table.name} {key} (event {event})" for event, key in rows[:SHOWN]]))
        if found.added:
            report.findings.append(Finding(
                "rows", f"{table.name}: {len(found.added)} row(s) added (INSERT) behind the system's back: no event recorded them",
                None, [f"{table.name} {key}" for key in found.added[:SHOWN]]))


def _check_grades(session: Session, report: Report) -> None:
    # Grades are not hashed row by row (a million per run) but each run carries the digest of all
    # of them; when it no longer matches, the run is graded again to find the grades concerned.
    directory: tuple[np.ndarray, np.ndarray] | None = None
    for run in session.scalars(select(GradingRun).order_by(GradingRun.id)):
        report.runs += 1
        stored = grade_store.load(session, run.id, check=False)
        if directory is None:
            rows = session.execute(select(Enterprise.id, Enterprise.uscc)).all()
            directory = (np.array([r[0] for r in rows], np.int64), np.array([r[1].encode() for r in rows], dtype=USCC_DTYPE))
        at = positions(directory[0], stored.enterprise)
        usccs = np.where(at >= 0, directory[1][at], b"?")
        order = np.argsort(usccs, kind="stable")  # the run's order: USCC
        try:
            digest = grade_store.result_digest(usccs[order].tolist(), stored.tier[order], stored.score[order], stored.reason[order], stored.reasons)
        except (KeyError, IndexError):  # a tier or a reasons number out of range
            digest = None
        if digest == run.result_sha256 and len(stored) == run.enterprises:
            continue
        report.findings.append(Finding("grades", f"grading run {run.id}: the stored grades no longer match the run's digest", _event_of(session, "grading_runs", str(run.id)),
                                       _regraded(session, run, usccs.astype(str).tolist(), stored)))


def _regraded(session: Session, run: GradingRun, usccs: list[str], stored_grades: grade_store.RunGrades) -> list[str]:
    population = read_population(session, run.as_of, run.max_record_id, run.max_repair_id)
    again = grade(population.records, population.new_economy_since, run_policy(run), day_number(run.as_of))
    tiers = np.array(TIERS)[again.tier].tolist()
    wanted = dict(zip(population.usccs.astype(str).tolist(), zip(tiers, again.score.tolist(), strict=True), strict=True))
    letters = np.array([*TIERS, "?"])[np.minimum(stored_grades.tier, len(TIERS))].tolist()
    stored = dict(zip(usccs, zip(letters, stored_grades.score.tolist(), strict=True), strict=True))
    # Enterprises registered after the run are in today's population but were never in the run.
    out = [f"grades {uscc}: stored {stored[uscc][0]} {stored[uscc][1]}, re-graded {t} {s}"
           for uscc, (t, s) in sorted(wanted.items()) if uscc in stored and stored[uscc] != (t, s)]
    out += [f"grades {uscc}: stored but not in the run's population" for uscc in sorted(set(stored) - set(wanted))]
    return out[:SHOWN]


def _check_grading_columns(session: Session, report: Report) -> None:
    # Derived from the records, so checked by deriving them again (credit.grading_columns).
    for problem in grading_columns.verify(session):
        report.findings.append(Finding("grading_columns", problem, None, []))


def _event_of(session: Session, table: str, key: str) -> int | None:
    return session.scalar(select(AuditRow.event_id).where(AuditRow.tbl == table, AuditRow.key == key).order_by(AuditRow.event_id.desc()).limit(1))


def _check_tasks(session: Session, report: Report) -> None:
    codes = session.scalars(select(Task.code).join(Draw, Draw.task_id == Task.id).order_by(Task.id)).all()
    for code in codes:
        report.tasks += 1
        try:
            result = verify_task(session, code)
        except SpotcheckError as exc:  # e.g. its grading run's grades were edited
            report.findings.append(Finding("draw", f"task {code}: cannot be verified: {exc}", _event_of(session, "tasks", str(_task_id(session, code)))))
            continue
        for finding in result.findings:
            if finding["check"] == "population" and finding["message"].startswith("population changed"):
                # The directories moved on since the draw, through events of their own.
                report.notes.append(f"task {code}: {finding['message']}")
                continue
            report.findings.append(Finding("draw", f"task {code}: {finding['check']}: {finding['message']}", _event_of(session, "tasks", str(_task_id(session, code)))))


def _task_id(session: Session, code: str) -> int:
    return session.scalar(select(Task.id).where(Task.code == code)) or 0


def _check_publications(session: Session, report: Report) -> None:
    bad = []
    for publication in session.scalars(select(Publication).order_by(Publication.id)):
        report.publications += 1
        if record_digest(publication) != publication.sha256:
            bad.append(publication)
    if bad:
        report.findings.append(Finding(
            "publication", f"{len(bad)} published record(s) no longer match their hash",
            _event_of(session, "publications", str(bad[0].id)), [f"{p.number}" for p in bad[:SHOWN]]))
