"""The 信用记录 directory: append-only credit records, where a correction supersedes, never edits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from credit import fields as f
from credit.bulk import insert_rows
from credit.digest import canonical, digest64, digest128
from credit.directory import Refusals, export_cell
from credit.enums import AbnormalGround, RecordKind, Sector, Severity
from credit.importing import Column, Directory, Row
from credit.models import CreditRecord, Enterprise
from credit.result_codes import parse_result_codes
from credit.seen import SeenKeys
from credit.tabular import Cell

RECORD_FIELDS = (
    "kind", "severity", "sector", "ground", "substantiated", "result_codes",
    "occurred_on", "department", "document_no", "effective_until",
)
INSERT_COLUMNS = (
    *RECORD_FIELDS, "enterprise_id", "key_hash", "key_check", "content_hash", "supersedes_id", "import_id", "source_row",
)
# Which kind each optional detail belongs to; it is required there and refused elsewhere.
DETAIL_KIND = {
    "severity": RecordKind.PENALTY,
    "sector": RecordKind.PENALTY,
    "ground": RecordKind.ABNORMAL_IN,
    "substantiated": RecordKind.COMPLAINT,
    "result_codes": RecordKind.SPOT_CHECK,
}

def record_digests(values: dict[str, Any]) -> tuple[int, int, int]:
    """(key_hash, key_check, content_hash): identity by document number when there is one, else by content.

    Keyed by USCC, not by database id, so the parsing process can compute it.
    """
    content = canonical(values[n] for n in RECORD_FIELDS)
    if values["document_no"]:
        key = canonical((values["uscc"], values["kind"], values["document_no"]))
    else:
        key = f"{values['uscc']}\x1d{content}"
    key_hash, key_check = digest128(key)
    return key_hash, key_check, digest64(content)


class Records(Directory):
    """信用记录: append-only; a changed record with the same document number supersedes the old."""

    kind = "records"

    def columns(self) -> Sequence[Column]:
        return (
            Column("uscc", "统一社会信用代码", f.uscc_key, required=True),
            Column("kind", "记录类型", f.labeled(RecordKind), required=True),
            Column("severity", "处罚程度", f.optional(f.labeled(Severity))),
            Column("sector", "领域", f.optional(f.labeled(Sector))),
            Column("ground", "列入事由", f.optional(f.labeled(AbnormalGround))),
            Column("substantiated", "是否属实", f.optional(f.boolean)),
            Column("result_codes", "检查结果", f.optional(lambda c: ";".join(parse_result_codes(f.text(c)))), aliases=("result_code",)),
            Column("occurred_on", "日期", f.past_date(self.today), required=True),
            Column("department", "来源部门", f.bounded(128), required=True),
            Column("document_no", "文书号", f.optional(f.bounded(128))),
            Column("effective_until", "影响期截止", f.optional(f.date)),
        )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.labels = {c.name: c.label for c in self.columns()}
        # Rows found unchanged: kept so a later duplicate of them in this file is caught too.
        self.seen = SeenKeys(self.session)

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        kind = values["kind"]
        problems = []
        for name, owner in DETAIL_KIND.items():
            present = values.get(name) is not None
            if owner is kind and not present:
                problems.append((name, f"required for {kind.label}"))
            elif owner is not kind and present:
                problems.append((name, f"{self.labels[name]} applies only to {owner.label}, not to {kind.label}"))
        until = values.get("effective_until")
        if until is not None and until < values["occurred_on"]:
            problems.append(("effective_until", f"影响期截止 {until} is before the record date {values['occurred_on']}"))
        if not problems:
            values["digests"] = record_digests(values)
        return problems

    @staticmethod
    def _unknown(code: str) -> str:
        try:
            f.uscc(code)
        except ValueError as exc:
            return str(exc)
        return f"no enterprise {code} in the directory (import enterprises first)"

    def _versions(self, keys: set[tuple[int, int]]) -> dict[tuple[int, int], list[tuple[int | None, int, int | None, int | None]]]:
        """Stored versions and rows of this file already met, by key: (id, content, import id, row)."""
        found: dict[tuple[int, int], list[tuple[int | None, int, int | None, int | None]]] = {}
        t = CreditRecord.__table__
        stored = select(t.c.key_hash, t.c.key_check, t.c.id, t.c.content_hash, t.c.import_id, t.c.source_row).where(
            t.c.key_hash.in_({h for h, _ in keys})
        )
        for key_hash, key_check, id_, content, import_id, row in self.session.execute(stored):
            found.setdefault((key_hash, key_check), []).append((id_, content, import_id, row))
        run_id = self.run.id if self.run else None
        for key, (content, row) in self.seen.find(keys).items():
            found.setdefault(key, []).append((None, content, run_id, row))
        return found

    def write(self, batch: list[Row]) -> Refusals:
        refused: Refusals = []
        usccs = {r.values["uscc"] for r in batch}
        ids = dict(self.session.execute(select(Enterprise.uscc, Enterprise.id).where(Enterprise.uscc.in_(usccs))).all())
        keyed: list[tuple[Row, int, tuple[int, int, int]]] = []
        for row in batch:
            eid = ids.get(row.values["uscc"])
            if eid is None:
                refused.append((row, "uscc", self._unknown(row.values["uscc"])))
            else:
                keyed.append((row, eid, row.values["digests"]))
        versions = self._versions({(d[0], d[1]) for _, _, d in keyed})
        run_id = self.run.id if self.run else None
        inserts: list[tuple[Any, ...]] = []
        unchanged: list[tuple[int, int, int, int]] = []
        for row, eid, (key_hash, key_check, content) in keyed:
            known = versions.setdefault((key_hash, key_check), [])
            if not known:  # the usual case on a first load: a new record
                self.counts["inserted"] += 1
                inserts.append((*(row.values[n] for n in RECORD_FIELDS), eid, key_hash, key_check, content, None, run_id, row.number))
                known.append((None, content, run_id, row.number))
                continue
            earlier = next((v for v in known if v[2] == run_id and run_id is not None), None)
            if earlier is not None:
                what = "the same record" if earlier[1] == content else "a record with the same document number"
                refused.append((row, "", f"duplicate: {what} is on row {earlier[3]}"))
                continue
            if any(v[1] == content for v in known):
                # Equal to a stored version: re-importing an old file never flips a correction back.
                self.counts["unchanged"] += 1
                unchanged.append((key_hash, key_check, content, row.number))
                known.append((None, content, run_id, row.number))
                continue
            latest = max((v[0] for v in known if v[0] is not None), default=None)
            self.counts["updated" if latest is not None else "inserted"] += 1
            inserts.append((*(row.values[n] for n in RECORD_FIELDS), eid, key_hash, key_check, content, latest, run_id, row.number))
            known.append((None, content, run_id, row.number))
        insert_rows(self.session, CreditRecord.__table__, INSERT_COLUMNS, inserts)
        self.seen.add(unchanged)
        return refused

    def export_rows(self) -> Iterator[list[Cell]]:
        """Current records only: a superseded version would collide with its correction on re-import."""
        newer = aliased(CreditRecord)
        query = (
            select(Enterprise.uscc, *(CreditRecord.__table__.c[n] for n in RECORD_FIELDS))
            .join(Enterprise, Enterprise.id == CreditRecord.enterprise_id)
            .where(~exists().where(newer.supersedes_id == CreditRecord.id))
            .order_by(CreditRecord.id)
            .execution_options(yield_per=10000)
        )
        for r in self.session.execute(query):
            yield [r.uscc, *(export_cell(getattr(r, n)) for n in RECORD_FIELDS)]
