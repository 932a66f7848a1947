"""The grades of a run, stored as arrays: a part per ``PART`` enterprises in id order, and the
run's distinct reasons texts once.

A run grades every enterprise under supervision. As a million table rows the grades cost 1.2–1.6 s
to write on SQLite at 1M enterprises (performance.md §2 measured 0.8 s for three columns), more
than the rest of the grading, and the table grew by a million rows a run. As arrays they are 22
bytes an enterprise, written in a few hundredths of a second, and read back as fast by the draw,
the drift and the lists. Runs are never rewritten; each carries the SHA-256 of its result
(``result_digest``), which ``audit verify`` recomputes from what is stored here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from credit.bulk import insert_rows
from credit.errors import SpotcheckError
from credit.grading_models import GradePart, GradeReason
from credit.lookup import distinct_rows
from credit.policy import TIERS

PART = 100_000
# The arrays of a part, in this order, little-endian.
_ARRAYS = (("enterprise", "<i8"), ("score", "<i8"), ("reason", "<u4"), ("tier", "u1"), ("flags", "u1"))
_BYTES = sum(np.dtype(t).itemsize for _, t in _ARRAYS)
_TIER_BYTES = [t.encode() for t in TIERS]


@dataclass(frozen=True)
class RunGrades:
    """Grades of a run (all of them, or those asked for), by enterprise id ascending."""

    enterprise: np.ndarray  # int64
    tier: np.ndarray  # index in TIERS
    score: np.ndarray  # int64, hundredths of a point
    flags: np.ndarray  # credit.scoring's SERIOUS_LIST | ABNORMAL_LIST | TOLERANCE | NO_RECORDS
    reason: np.ndarray  # number of the reasons text in ``reasons``
    reasons: dict[int, str]

    def __len__(self) -> int:
        return len(self.enterprise)

    def find(self, enterprise_id: int) -> int | None:
        """The index of an enterprise's grade, or None when the run did not grade it."""
        at = int(np.searchsorted(self.enterprise, enterprise_id))
        return at if at < len(self) and int(self.enterprise[at]) == enterprise_id else None

    def tier_of(self, index: int) -> str:
        return TIERS[int(self.tier[index])]

    def reasons_of(self, index: int) -> str:
        return self.reasons[int(self.reason[index])]

    def take(self, indexes: np.ndarray) -> RunGrades:
        return RunGrades(self.enterprise[indexes], self.tier[indexes], self.score[indexes], self.flags[indexes], self.reason[indexes], self.reasons)


def store(session: Session, run_id: int, enterprise: np.ndarray, tier: np.ndarray, score: np.ndarray, flags: np.ndarray,
          reason: np.ndarray, texts: Sequence[str]) -> None:
    """Store a run's grades: per enterprise (any order) its tier, score, flags and the number of
    its reasons text in ``texts``."""
    if len(enterprise) and (int(enterprise.min()) < 0 or len(texts) >= 2**32):
        raise RuntimeError("grades out of the stored range")
    order = np.argsort(enterprise, kind="stable")
    columns = {"enterprise": enterprise, "score": score, "reason": reason, "tier": tier, "flags": flags}
    parts = []
    for number, start in enumerate(range(0, len(order), PART)):
        chosen = order[start:start + PART]
        ids = enterprise[chosen]
        data = b"".join(np.ascontiguousarray(columns[name][chosen], dtype).tobytes() for name, dtype in _ARRAYS)
        parts.append({"run_id": run_id, "part": number, "first_enterprise_id": int(ids[0]), "last_enterprise_id": int(ids[-1]),
                      "enterprises": len(chosen), "data": data})
    if parts:
        session.execute(insert(GradePart), parts)
    # Fifty thousand rows: through the DBAPI (COPY on PostgreSQL); the ORM's bulk insert took 0.9 s.
    insert_rows(session, GradeReason.__table__, ("run_id", "code", "text"), [(run_id, code, text) for code, text in enumerate(texts)], stage=False)


def load(session: Session, run_id: int, enterprise_ids: Sequence[int] | None = None, *, with_reasons: bool = True,
         check: bool = True) -> RunGrades:
    """The grades of a run: all, or those of ``enterprise_ids`` it has (only the parts that may
    hold them are read), with the reasons texts they use unless ``with_reasons`` is false.
    A stored tier that is none (written around the application) is refused unless ``check``
    is false (``audit verify`` reports it)."""
    query = select(GradePart.enterprises, GradePart.data).where(GradePart.run_id == run_id).order_by(GradePart.part)
    wanted = None
    if enterprise_ids is not None:
        wanted = np.unique(np.asarray(enterprise_ids, np.int64))
        if len(wanted) <= 100:  # a few: only the parts whose range may hold them
            low, high = (int(wanted[0]), int(wanted[-1])) if len(wanted) else (0, -1)
            query = query.where(GradePart.first_enterprise_id <= high, GradePart.last_enterprise_id >= low)
    arrays: dict[str, list[np.ndarray]] = {name: [] for name, _ in _ARRAYS}
    for count, data in session.execute(query):
        data = bytes(data)
        if len(data) != count * _BYTES:
            raise RuntimeError(f"grading run {run_id}: a part of {len(data)} bytes for {count} grades")
        at = 0
        for name, dtype in _ARRAYS:
            arrays[name].append(np.frombuffer(data, dtype, count, at))
            at += np.dtype(dtype).itemsize * count
    joined = {name: np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, np.int64) for name, parts in arrays.items()}
    grades = RunGrades(joined["enterprise"], joined["tier"], joined["score"], joined["flags"], joined["reason"], {})
    if check and len(grades) and int(grades.tier.max()) >= len(TIERS):
        raise SpotcheckError(f"grading run {run_id}: a stored tier is none of {', '.join(TIERS)}; run `spotcheck audit verify`")
    if wanted is not None:
        at = np.searchsorted(grades.enterprise, wanted)
        hit = at < len(grades)
        at = at[hit][grades.enterprise[at[hit]] == wanted[hit]]
        grades = grades.take(at)
    if not with_reasons:
        return grades
    codes = np.unique(grades.reason).tolist()
    reasons = select(GradeReason.code, GradeReason.text).where(GradeReason.run_id == run_id)
    if wanted is not None and len(codes) <= 1000:
        reasons = reasons.where(GradeReason.code.in_(codes))
    texts = {code: text for code, text in session.execute(reasons)}
    return RunGrades(grades.enterprise, grades.tier, grades.score, grades.flags, grades.reason, texts)


def result_digest(usccs: Sequence[bytes], tier: np.ndarray, score: np.ndarray, reason: np.ndarray, texts: Sequence[str] | dict[int, str]) -> str:
    """The SHA-256 of a run's result: a line ``USCC <tab> tier <tab> score <tab> reasons`` per
    enterprise, in the order given (the run's: USCC order). Most lines share their tail (tier,
    score, reasons) with others, so each distinct tail is formatted once and the lines are
    joined from USCCs and tails (0.45 s → 0.2 s for a million)."""
    encoded = {code: text.encode() for code, text in (texts.items() if isinstance(texts, dict) else enumerate(texts))}
    number, tails = distinct_rows(np.column_stack([tier, score, reason]).astype(np.int64))
    tail = [b"\t%b\t%d\t%b\n" % (_TIER_BYTES[t], s, encoded[r]) for t, s, r in tails.tolist()]
    digest = hashlib.sha256()
    for start in range(0, len(usccs), PART):
        chosen = usccs[start:start + PART]
        pieces: list[bytes] = [b""] * (2 * len(chosen))
        pieces[0::2] = chosen
        pieces[1::2] = map(tail.__getitem__, number[start:start + PART].tolist())
        digest.update(b"".join(pieces))
    return digest.hexdigest()
