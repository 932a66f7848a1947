"""The draw of a task's targets, once, and its verification from the recorded inputs."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np
import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from credit import audit, forked, sha256many
from credit.audit_chain import PackedRows, hash_json_rows, json_id, packed_rows
from credit.bulk import allocate_ids, insert_fresh_rows
from credit.pg_copy import copy_rows
from credit.errors import SpotcheckError
from credit.grading import run_policy
from credit.grading_models import GradingRun
from credit.models import Enterprise
from credit.policy import format_percent, parse_percent
from inspection import draw_concurrency, sampling
from inspection.assignment_check import check_assignment
from inspection.enums import DrawOutcome, TaskStatus
from inspection.frame import FrameParams, ItemRule, TaskFrame, frame_params, read_frame
from inspection.task_models import AssignmentRun, Draw, DrawAttempt, Task, TaskItem, Visit, VisitItem
from inspection.tasks import get_task, task_items

log = structlog.get_logger()
T = TypeVar("T")

# Up to this many items a visit's items are staged as the bits of one integer (_insert_by_masks).
MASK_ITEMS = 62
# A population from which the snapshot and the audit packs are made in forked processes (below,
# in threads: a small draw's take milliseconds, less than a fork).
FORK_FROM = 100_000
NICE = 10

VISIT_COLUMNS = ("id", "task_id", "enterprise_id", "rank", "number", "tier", "scheduled_on")
VISIT_ITEM_COLUMNS = ("visit_id", "task_item_id")


class DrawRefused(SpotcheckError):
    """A draw that may not happen (already drawn, replaced, no entropy); the attempt is recorded."""

    def __init__(self, task_id: int | None, message: str) -> None:
        super().__init__(message)
        self.task_id = task_id


def _ratios(params: FrameParams) -> list[list[Fraction]]:
    return [[parse_percent(r) for r in item.ratios] for item in params.items]


def draw_task(session: Session, code: str, entropy: str, operator: str) -> Draw:
    """Draw ``code``'s targets with its committed seed and the public ``entropy``; store the draw,
    one visit per drawn enterprise and its items. Refused when the task was drawn before."""
    started = time.perf_counter()
    task = get_task(session, code)
    if not entropy.strip():
        raise DrawRefused(task.id, "--entropy must not be empty: enter the public string fixed for this draw (e.g. that day's lottery numbers)")
    try:
        entropy.encode("utf-8")
    except UnicodeEncodeError:
        raise DrawRefused(task.id, "--entropy is not valid text (check the terminal's encoding is UTF-8)") from None
    # Claim the task first: of concurrent draws exactly one changes the row, the rest are refused.
    try:
        claimed = session.execute(
            update(Task).where(Task.id == task.id, Task.status == TaskStatus.CREATED).values(status=TaskStatus.DRAWN)
            .execution_options(synchronize_session=False)
        ).rowcount
    except sa_exc.OperationalError:  # a serialization failure, should the transaction not be READ COMMITTED
        raise DrawRefused(task.id, f"task {code} was drawn by another session at the same time; a draw is never repeated") from None
    if claimed != 1:  # on PostgreSQL, after waiting for the session that claimed it to commit
        session.refresh(task)
        raise DrawRefused(task.id, _refusal(session, task))
    # Draws whose scopes overlap go one after another (draw_concurrency.py); then one snapshot.
    draw_concurrency.lock_scope(session, json.loads(task.scope))
    seed = bytes.fromhex(task.seed_hex)
    if sampling.seed_commitment(seed) != task.seed_commitment:
        raise SpotcheckError(f"task {code}: the stored seed does not match its published commitment; the task cannot be drawn")

    items = task_items(session, task)
    run = session.get(GradingRun, task.grading_run_id)
    assert run is not None
    rules = [
        ItemRule(item.code, department.code, item.kind.value, tuple(filter(None, item.entity_types.split(";"))),
                 tuple(filter(None, item.industries.split(";"))), tuple(getattr(ti, f"ratio_{t.lower()}") for t in "abcd"))
        for ti, item, department in items
    ]
    key = sampling.draw_key(seed, entropy)
    with draw_concurrency.snapshot_reader(session) as reader:
        params = frame_params(reader, task, rules, run_policy(run).default_tier)
        task_frame = read_frame(reader, params, key)
    read_s = time.perf_counter() - started
    log.info("draw_read", task=code, eligible=len(task_frame.frame.usccs), seconds=round(read_s, 3), sha256=sha256many.IMPLEMENTATION)

    big = len(task_frame.frame.usccs) >= FORK_FROM
    # On the other core meanwhile: the population snapshot (the text, its hash and compression);
    # then, beside the inserts, the audit packs of the new rows and the result hash.
    snapshot = _beside(_snapshot, task_frame.frame, big=big)
    with forked.reaped(snapshot):
        result = sampling.draw(task_frame.frame, _ratios(params), key, task_frame.numbers)
        log.info("draw_sampled", task=code, seconds=round(time.perf_counter() - started, 3))
        visits = _ranked_visits(session, task.id, task_frame, result, [ti.id for ti, _, _ in items])
        digests = _beside(_packs_and_result_hash, visits, result, big=big)
        with forked.reaped(digests):
            _insert_visits(session, visits)
            departments = [r.department for r in rules]
            report = json.dumps(_report(task_frame, result, departments), ensure_ascii=False)
        visit_packs, item_packs, result_sha256 = digests()
        audit.note_packed(session, Visit.__table__, visit_packs)
        audit.note_packed(session, VisitItem.__table__, item_packs)
    population_sha256, population = snapshot()
    record = Draw(
        task_id=task.id, operator=operator, algorithm=sampling.ALGORITHM, entropy=entropy, seed_hex=task.seed_hex,
        key_hex=key.hex(), parameters=params.to_json(), population_sha256=population_sha256,
        population_size=len(task_frame.frame.usccs), population=population,
        result_sha256=result_sha256, visits=len(result.visit_rows), matters=result.matters,
        separate_visits=result.separate_visits(departments), report=report, seconds=0.0,
    )
    session.add(record)
    session.add(DrawAttempt(task_id=task.id, operator=operator, entropy=entropy, outcome=DrawOutcome.DRAWN))
    session.flush()
    if task.replaces_task_id:
        session.execute(update(Task).where(Task.id == task.replaces_task_id).values(status=TaskStatus.REPLACED).execution_options(synchronize_session=False))
    record.seconds = round(time.perf_counter() - started, 3)
    audit.record(session, "task.draw", f"task {code} drawn: {record.visits} visit(s), {record.matters} matter(s) from {record.population_size} eligible; seed revealed",
                 task=code, subject=code, detail={"entropy": entropy, "key": record.key_hex, "population_sha256": population_sha256, "result_sha256": record.result_sha256})
    log.info("draw_written", task=code, visits=record.visits, seconds=record.seconds)
    return record


def consistent_snapshot(session: Session) -> None:
    """Read everything of this transaction from one snapshot (verification). SQLite's
    transaction has one already; PostgreSQL's READ COMMITTED would let an import that commits
    between two queries show each of them different data. For a transaction that writes, see
    draw_concurrency.snapshot_reader instead."""
    if session.get_bind().dialect.name == "postgresql" and not session.info.get("snapshot"):
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        session.info["snapshot"] = True  # set once, before the first statement (audit verify calls it first)


def _beside(func: Callable[..., T], *args: Any, big: bool) -> Callable[[], T]:
    """Start ``func(*args)`` beside this process; the returned function waits for its result.
    Big work goes to a forked process, where building the snapshot's text or the packs' rows
    (numpy and Python work that holds the GIL) does not slow the draw; small work to a thread,
    which starts in microseconds. The
    forked process is niced: this process's inserts are what the draw waits for, and with two
    such processes beside them on two cores, they took 1.1 s instead of 0.75."""
    if forked.AVAILABLE and big:
        return forked.start(func, *args, nice=NICE)
    pool = ThreadPoolExecutor(max_workers=1)
    made = pool.submit(func, *args)

    def wait() -> T:
        try:
            return made.result()
        finally:
            pool.shutdown()

    return wait


def _refusal(session: Session, task: Task) -> str:
    if task.status == TaskStatus.REPLACED:
        successor = session.scalar(select(Task.code).where(Task.replaces_task_id == task.id))
        return f"task {task.code} was drawn and then replaced by task {successor}; it is never drawn again"
    draw = session.scalar(select(Draw).where(Draw.task_id == task.id))
    when = f" on {draw.drawn_at:%Y-%m-%d %H:%M:%S} UTC by {draw.operator}" if draw else ""
    return (f"task {task.code} was already drawn{when}; a draw is never repeated. To replace it, create a new task"
            f' with replaces = "{task.code}" and a replace_reason')


def record_refusal(session: Session, code: str, entropy: str, operator: str, reason: str) -> None:
    """Record a refused attempt (in its own transaction: the refusal itself must survive)."""
    task = session.scalar(select(Task).where(Task.code == code))
    if task is not None:
        session.add(DrawAttempt(task_id=task.id, operator=operator, entropy=entropy, outcome=DrawOutcome.REFUSED, reason=reason))
    audit.record(session, "task.draw", f"draw of task {code} refused: {reason}", task=code, subject=code, detail={"entropy": entropy}, outcome="refused")


def _report(task_frame: TaskFrame, result: sampling.Draw, departments: list[str]) -> dict[str, Any]:
    return {
        **task_frame.report,
        "strata": [
            {"item": s.item, "tier": s.tier, "ratio": format_percent(s.ratio), "size": s.size, "drawn": s.drawn}
            for s in result.strata
        ],
        "matters_per_visit": {str(k): v for k, v in result.matters_per_visit().items()},
        "drawn_per_item": {item: int(result.selected[:, k].sum()) for k, item in enumerate(result.frame.items)},
        "drawn_per_department": {
            d: int(result.selected[:, [k for k, dd in enumerate(departments) if dd == d]].any(axis=1).sum())
            for d in sorted(set(departments))
        },
    }


@dataclass
class _Visits:
    """What a draw writes: a visit per drawn enterprise, in id order, and its items. Ids go by
    enterprise id, so that the inserts meet the enterprises (foreign key) and the index of
    (task, enterprise) in order: 0.19 s against 0.26 s in rank order. The rank is the
    published order."""

    task_id: int
    ids: list[int]
    enterprise_ids: list[int]
    ranks: list[int]
    numbers: list[str]  # 16 hex digits
    tiers: list[str]
    selected: np.ndarray  # bool, visits × the task's items
    task_item_ids: list[int]

    def items(self) -> tuple[list[int], list[int]]:
        """(visit id, task item id) of every item of every visit, in that order."""
        which, item = np.nonzero(self.selected)
        return np.asarray(self.ids, np.int64)[which].tolist(), np.asarray(self.task_item_ids, np.int64)[item].tolist()


def _ranked_visits(session: Session, task_id: int, task_frame: TaskFrame, result: sampling.Draw, task_item_ids: list[int]) -> _Visits:
    if tuple(c.name for c in Visit.__table__.columns) != VISIT_COLUMNS or tuple(c.name for c in VisitItem.__table__.columns) != VISIT_ITEM_COLUMNS:
        raise RuntimeError("the columns of visits or visit_items no longer match the draw's: the audit hashes would be wrong")
    rows = result.visit_rows
    # Rank by random number (ties by USCC): the published list's order.
    ranked = rows[sampling.order_by_number(result.numbers[rows], task_frame.frame.usccs[rows])]
    ranks = np.arange(1, len(ranked) + 1)
    by_enterprise = np.argsort(task_frame.enterprise_ids[ranked], kind="stable")
    written = ranked[by_enterprise]
    return _Visits(
        task_id, list(allocate_ids(session, Visit.__table__, len(written))), task_frame.enterprise_ids[written].tolist(),
        ranks[by_enterprise].tolist(), [f"{n:016x}" for n in result.numbers[written].tolist()],
        [sampling.TIERS[t] for t in task_frame.frame.tiers[written].tolist()], result.selected[written], task_item_ids,
    )


def _insert_visits(session: Session, visits: _Visits) -> None:
    ranks = visits.ranks
    if len(visits.task_item_ids) <= MASK_ITEMS:
        masks = sampling.item_bits(visits.selected).astype(np.int64).tolist()
        _insert_by_masks(session, visits.task_id, list(zip(visits.ids, visits.enterprise_ids, ranks, visits.numbers, visits.tiers, masks, strict=True)),
                         visits.task_item_ids)
        return
    insert_fresh_rows(session, Visit.__table__, VISIT_COLUMNS, list(zip(visits.ids, itertools.repeat(visits.task_id), visits.enterprise_ids, ranks,
                                                                    visits.numbers, visits.tiers, itertools.repeat(None), strict=False)))
    insert_fresh_rows(session, VisitItem.__table__, VISIT_ITEM_COLUMNS, list(zip(*visits.items(), strict=True)))


def _insert_by_masks(session: Session, task_id: int, rows: list[tuple[int, int, int, str, str, int]], task_item_ids: list[int]) -> None:
    """Insert the visits, and their items, from one staged row per visit whose ``items`` has bit
    k set for the task's item k: the database makes the visit_items rows itself (a fifth of
    the draw's writing was binding them one by one)."""
    connection = session.connection()
    stage = "draw_stage"
    columns = ("id", "enterprise_id", "rank", "number", "tier", "items")
    # SQLite's INTEGER PRIMARY KEY is the row id: the rows are read back in id order, no index.
    key = "BIGINT PRIMARY KEY" if connection.dialect.name == "postgresql" else "INTEGER PRIMARY KEY"
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (id {key}, enterprise_id BIGINT NOT NULL, rank INTEGER NOT NULL,"
        f" number TEXT NOT NULL, tier TEXT NOT NULL, items BIGINT NOT NULL)")
    connection.exec_driver_sql(f"DELETE FROM {stage}")
    if connection.dialect.name == "postgresql":
        copy_rows(connection, stage, columns, rows)
    else:
        connection.exec_driver_sql(f"INSERT INTO {stage} ({', '.join(columns)}) VALUES (?, ?, ?, ?, ?, ?)", rows)
    connection.exec_driver_sql(
        f"INSERT INTO visits ({', '.join(VISIT_COLUMNS)}) SELECT s.id, {int(task_id)}, s.enterprise_id, s.rank, s.number, s.tier, NULL"
        f" FROM {stage} s ORDER BY s.id")
    # CROSS JOIN: SQLite then reads the visits in the outer loop, the items (in id order) in the
    # inner one, so the rows come in key order with no sort (an ORDER BY made one: +0.07 s).
    items = ", ".join(f"({int(i)}, {k})" for k, i in sorted(enumerate(task_item_ids), key=lambda p: p[1]))
    connection.exec_driver_sql(
        f"WITH task_item(id, bit) AS (VALUES {items}) INSERT INTO visit_items ({', '.join(VISIT_ITEM_COLUMNS)})"
        f" SELECT s.id, i.id FROM {stage} s CROSS JOIN task_item i WHERE (s.items >> i.bit) & 1 = 1")
    connection.exec_driver_sql(f"DELETE FROM {stage}")


def _snapshot(frame: sampling.Frame) -> tuple[str, bytes]:
    text = sampling.snapshot(frame)
    return sampling.digest(text), sampling.pack_snapshot(text)


def _packs_and_result_hash(visits: _Visits, result: sampling.Draw) -> tuple[list[PackedRows], list[PackedRows], str]:
    """The audit packs of the new visits and visit items, and the result hash: what the draw
    records besides the rows, made while they are inserted."""
    # The rows' canonical JSON spelled directly: integers, hex digits and a tier letter need no
    # escaping, and no date is set yet (a test holds this to row_hash).
    layout = b"[%d," + json_id(visits.task_id) + b',%d,%d,"%b","%b",null]'
    visit_hashes = hash_json_rows(layout, visits.ids, visits.enterprise_ids, visits.ranks, map(str.encode, visits.numbers), map(str.encode, visits.tiers))
    item_visits, item_tasks = visits.items()
    return (packed_rows(list(map(str, visits.ids)), visit_hashes, visits.ids),
            packed_rows(list(map("%d|%d".__mod__, zip(item_visits, item_tasks))), hash_json_rows(b"[%d,%d]", item_visits, item_tasks), item_visits),
            sampling.digest(result.result_text()))


@dataclass
class Verification:
    task: str
    findings: list[dict[str, str]] = field(default_factory=list)
    assigned: bool = False  # the assignment was re-solved too

    @property
    def identical(self) -> bool:
        return not self.findings

    def add(self, check: str, message: str) -> None:
        self.findings.append({"check": check, "message": message})

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "identical": self.identical, "assigned": self.assigned, "findings": self.findings}


def verify_task(session: Session, code: str) -> Verification:
    """Recompute ``code``'s draw from its recorded inputs and the current directories, and say
    where it differs: the seed against its commitment, the population against its hash, the
    visits against a re-run of the draw; then, once assigned, the dates and teams against a
    re-solve from the facts the assignment recorded (assignment_check.py)."""
    consistent_snapshot(session)
    task = get_task(session, code)
    draw = session.scalar(select(Draw).where(Draw.task_id == task.id))
    if draw is None:
        raise SpotcheckError(f"task {code} has not been drawn: nothing to verify yet")
    out = Verification(code)
    seed = bytes.fromhex(draw.seed_hex)
    if sampling.seed_commitment(seed) != task.seed_commitment:
        out.add("seed", f"the revealed seed does not match the commitment published before the draw ({task.seed_commitment[:16]}…)")
    key = sampling.draw_key(seed, draw.entropy)
    if key.hex() != draw.key_hex:
        out.add("key", "the recorded draw key is not SHA-256 of the algorithm, the seed and the entropy")
    params = FrameParams.from_json(draw.parameters)
    recorded_text = sampling.unpack_snapshot(draw.population)
    if sampling.digest(recorded_text) != draw.population_sha256:
        out.add("population", "the stored population snapshot does not match its recorded hash")
    current = read_frame(session, params)
    current_text = sampling.snapshot(current.frame)
    if sampling.digest(current_text) != draw.population_sha256:
        out.add("population", "population changed: " + _first_difference(recorded_text, current_text, params))
    recorded = sampling.parse_snapshot(recorded_text, [i.code for i in params.items])
    expected = sampling.draw(recorded, _ratios(params), key)
    if sampling.digest(expected.result_text()) != draw.result_sha256:
        out.add("result", "re-running the draw on the recorded population does not give the recorded result hash")
    stored = _stored_visits(session, task)
    wanted = {line.split(" ")[0]: line for line in expected.result_text().decode().splitlines()}
    difference = _visit_difference(wanted, stored)
    if difference:
        out.add("visits", difference)
    out.assigned = session.scalar(select(AssignmentRun.id).where(AssignmentRun.task_id == task.id)) is not None
    for check, message in check_assignment(session, task):
        out.add(check, message)
    return out


def _first_change(old: dict[str, str], new: dict[str, str]) -> tuple[str, str | None, str | None] | None:
    """The first USCC whose line differs between two {USCC: line} maps, with both lines."""
    for uscc in sorted(old.keys() | new.keys()):
        if old.get(uscc) != new.get(uscc):
            return uscc, old.get(uscc), new.get(uscc)
    return None


def _first_difference(recorded: bytes, current: bytes, params: FrameParams) -> str:
    change = _first_change(*({line[:18]: line for line in text.decode().splitlines()} for text in (recorded, current)))
    if change is None:
        return "the population text differs"
    uscc, a, b = change
    if a is None:
        return f"{uscc} is now eligible but was not at the draw"
    if b is None:
        return f"{uscc} was eligible at the draw and is not now (status, scope, grading or checks changed)"
    if a[19] != b[19]:
        return f"{uscc}: its credit tier in the grading run changed"
    items = [i.code for i in params.items]
    changed = [items[k] for k in range(len(items)) if a[21 + k] != b[21 + k]]
    return f"{uscc}: eligibility for item(s) {', '.join(changed)} changed"


def _stored_visits(session: Session, task: Task) -> dict[str, str]:
    rows = session.execute(
        select(Enterprise.uscc, Visit.number, TaskItem.item_id, Visit.id)
        .join(Visit, Visit.enterprise_id == Enterprise.id)
        .join(VisitItem, VisitItem.visit_id == Visit.id, isouter=True)
        .join(TaskItem, TaskItem.id == VisitItem.task_item_id, isouter=True)
        .where(Visit.task_id == task.id)
    ).all()
    by_item = {ti.item_id: item.code for ti, item, _ in task_items(session, task)}
    visits: dict[str, tuple[str, list[str]]] = {}
    for uscc, number, item_id, _ in rows:
        entry = visits.setdefault(uscc, (number, []))
        if item_id is not None:
            entry[1].append(by_item[item_id])
    return {u: f"{u} {n} {';'.join(sorted(c))}" for u, (n, c) in visits.items()}


def _visit_difference(wanted: dict[str, str], stored: dict[str, str]) -> str | None:
    change = _first_change(wanted, stored)
    if change is None:
        return None
    uscc, a, b = change
    if b is None:
        return f"visit removed: {uscc} was drawn ({a.split(' ', 2)[2] if a else ''}) but has no visit"
    if a is None:
        return f"visit added: {uscc} has a visit the draw does not give"
    return f"visit changed: {uscc} should be {a.split(' ', 1)[1]!r}, is {b.split(' ', 1)[1]!r}"
