"""The 信用记录 directory: append-only credit records, where a correction supersedes, never edits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from sqlalchemy import exists, func, select
from sqlalchemy.orm import aliased

from credit import fields as f
from credit.audit_chain import encode_json, hash_json, plain_values
from credit import audit
from credit.bulk import allocate_ids, fetch_in, insert_new_rows
from credit.digest import canonical, digest64, digest128
from credit.directory import Refusals, export_cell
from credit.enums import AbnormalGround, RecordKind, Sector, Severity
from credit.grading_columns import Collector
from credit.importing import Column, Directory, Row
from credit.models import CreditRecord, Enterprise
from credit.record_batch import Combinations, RecordColumns, RecordRules, row_hashes
from credit.result_codes import parse_result_codes
from credit.seen import Key, SeenKeys
from credit.tabular import Cell

RECORD_FIELDS = (
    "kind", "severity", "sector", "ground", "substantiated", "result_codes",
    "occurred_on", "department", "document_no", "effective_until",
)
# The columns in table order. A row's audit hash is the JSON of its values in this order, so the
# parsing process encodes the middle part (the file's values and digests) and the writer adds the
# rest: the id, the enterprise, what it supersedes, from_result, the import and the row.
TABLE_LAYOUT = (
    "id", "enterprise_id", *RECORD_FIELDS, "key_hash", "key_check", "content_hash",
    "supersedes_id", "from_result", "import_id", "source_row",
)
INSERT_COLUMNS = (*RECORD_FIELDS, "key_hash", "key_check", "content_hash", "id", "enterprise_id", "supersedes_id", "import_id", "source_row", "from_result")
# Which kind each optional detail belongs to; it is required there and refused elsewhere.
DETAIL_KIND = {
    "severity": RecordKind.PENALTY,
    "sector": RecordKind.PENALTY,
    "ground": RecordKind.ABNORMAL_IN,
    "substantiated": RecordKind.COMPLAINT,
    "result_codes": RecordKind.SPOT_CHECK,
}

class Version(NamedTuple):
    """A known version of a record key: stored id (None if not stored before), content digest,
    and its row number when it comes from the file being imported."""

    id: int | None
    content: int
    row_in_file: int | None


# Every field but the document number takes few distinct values (kinds, dates, departments):
# each value's stored form, JSON and canonical text are made once, not for every record.
_FRAGMENTS: dict[tuple[type, Any], tuple[Any, str, str]] = {}
FRAGMENTS_LIMIT = 100_000


def _fragment(value: Any) -> tuple[Any, str, str]:
    """(``plain(value)``, its JSON, its ``canonical`` text)."""
    key = (type(value), value)
    hit = _FRAGMENTS.get(key)
    if hit is None:
        stored = plain_values([value])[0]
        hit = (stored, encode_json(stored), canonical([value]))
        if len(_FRAGMENTS) >= FRAGMENTS_LIMIT:
            _FRAGMENTS.clear()
        _FRAGMENTS[key] = hit
    return hit


_DOCUMENT = RECORD_FIELDS.index("document_no")
_REMEMBERED = tuple(n for n in RECORD_FIELDS if n != "document_no")


def _fields(values: dict[str, Any]) -> list[tuple[Any, str, str]]:
    """``_fragment`` of each of RECORD_FIELDS; the document number, different on every record,
    made on the spot (``encode_basestring`` is what the JSON encoder itself calls for text)."""
    # The cache looked up in line: a call per field would cost about a microsecond a record.
    out = [_FRAGMENTS.get((type(v), v)) or _fragment(v) for v in [values[n] for n in _REMEMBERED]]
    document = values["document_no"]
    out.insert(_DOCUMENT, _fragment(None) if document is None else (document, encode_basestring(document), document))
    return out


def pack(values: dict[str, Any]) -> tuple[str, tuple[int, int, int], tuple[Any, ...], str]:
    """A checked record as the parsing process sends it to the writer, plain to pickle: the USCC;
    the digests (key_hash, key_check, content_hash); RECORD_FIELDS as stored (codes, ISO dates)
    followed by the digests; and that tuple's JSON without brackets, the middle of the row's
    audit hash (``TABLE_LAYOUT``): ``encode_json(stored)[1:-1]``, spelled from the fragments
    that ``Records.check`` made."""
    digests, fields = values["digests"], values["fields"]
    stored = (*[f[0] for f in fields], *digests)
    return values["uscc"], digests, stored, ",".join([*[f[1] for f in fields], *map(str, digests)])


def record_digests(values: dict[str, Any], fields: list[tuple[Any, str, str]] | None = None) -> tuple[int, int, int]:
    """(key_hash, key_check, content_hash): identity by document number when there is one, else by content.

    Keyed by USCC, not by database id, so the parsing process can compute it. ``fields``:
    ``_fields(values)``, when the caller has them already.
    """
    content = canonical([f[2] for f in fields or _fields(values)])  # = canonical(values[n] for n in RECORD_FIELDS)
    if values["document_no"]:
        key = canonical((values["uscc"], values["kind"], values["document_no"]))
    else:
        key = f"{values['uscc']}\x1d{content}"
    key_hash, key_check = digest128(key)
    return key_hash, key_check, digest64(content)


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(value)


class Records(Directory):
    """信用记录: append-only; a changed record with the same document number supersedes the old."""

    kind = "records"

    def columns(self) -> Sequence[Column]:
        # Every column but the USCC and the document number takes few distinct values: remembered.
        m = f.memo
        return (
            Column("uscc", "统一社会信用代码", f.uscc_key, required=True),
            Column("kind", "记录类型", m(f.labeled(RecordKind)), required=True),
            Column("severity", "处罚程度", m(f.optional(f.labeled(Severity)))),
            Column("sector", "领域", m(f.optional(f.labeled(Sector)))),
            Column("ground", "列入事由", m(f.optional(f.labeled(AbnormalGround)))),
            Column("substantiated", "是否属实", m(f.optional(f.boolean))),
            Column("result_codes", "检查结果", m(f.optional(lambda c: ";".join(parse_result_codes(f.text(c))))), aliases=("result_code",)),
            Column("occurred_on", "日期", m(f.past_date(self.today)), required=True),
            Column("department", "来源部门", m(f.bounded(128)), required=True),
            Column("document_no", "文书号", f.optional(f.bounded(128))),
            Column("effective_until", "影响期截止", m(f.optional(f.date))),
        )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.labels = {c.name: c.label for c in self.columns()}
        # Rows found unchanged: kept so a later duplicate of them in this file is caught too.
        self.seen = SeenKeys(self.session)
        # Records with a larger id were written after this import started.
        self.id_floor = self.session.scalar(select(func.max(CreditRecord.id))) or 0
        self.combinations: Combinations | None = None
        # The stored records as the grader reads them (credit.grading_columns), written at the end.
        self.grading_columns = Collector(self.session)
        if tuple(c.name for c in CreditRecord.__table__.columns) != TABLE_LAYOUT:
            raise RuntimeError("credit_records' columns no longer match TABLE_LAYOUT: the audit hashes would be wrong")

    def detail_problems(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        """Each detail given for a kind it does not belong to, or missing for its own."""
        kind = values["kind"]
        problems = []
        for name, owner in DETAIL_KIND.items():
            present = values.get(name) is not None
            if owner is kind and not present:
                problems.append((name, f"required for {kind.label}"))
            elif owner is not kind and present:
                problems.append((name, f"{self.labels[name]} applies only to {owner.label}, not to {kind.label}"))
        return problems

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        problems = self.detail_problems(values)
        until = values.get("effective_until")
        if until is not None and until < values["occurred_on"]:
            problems.append(("effective_until", f"影响期截止 {until} is before the record date {values['occurred_on']}"))
        if not problems:
            values["fields"] = fields = _fields(values)
            values["digests"] = record_digests(values, fields)
        return problems

    @staticmethod
    def _unknown(code: str) -> str:
        try:
            f.uscc(code)
        except ValueError as exc:
            return str(exc)
        return f"no enterprise {code} in the directory (import enterprises first)"

    def _versions(self, enterprise_ids: set[int], keys: set[Key]) -> dict[Key, list[Version]]:
        """Every known version of these keys: stored ones, and rows of this file met before."""
        found: dict[Key, list[Version]] = {}
        # Answered from the covering index (enterprise_id, key_hash, key_check, content_hash).
        stored = fetch_in(self.session, "SELECT key_hash, key_check, content_hash, id FROM credit_records", "enterprise_id", list(enterprise_ids))
        for key_hash, key_check, content, id_ in stored:
            if (key_hash, key_check) in keys:
                found.setdefault((key_hash, key_check), []).append(self._stored_version(id_, content))
        for key, (content, row) in self.seen.find(keys).items():
            found.setdefault(key, []).append(Version(None, content, row))
        return found

    def _stored_version(self, id_: int, content: int) -> Version:
        if id_ <= self.id_floor:
            return Version(id_, content, None)
        # Newer than this import's start: written by this file, unless another import committed meanwhile.
        import_id, row = self.session.execute(select(CreditRecord.import_id, CreditRecord.source_row).where(CreditRecord.id == id_)).one()
        return Version(id_, content, row if self.run is not None and import_id == self.run.id else None)

    pack = staticmethod(pack)

    def batch_rules(self) -> RecordRules:
        return RecordRules(RECORD_FIELDS, _fragment, self.detail_problems)

    def write_batch(self, numbers: list[int], values: RecordColumns, cells: list[Any]) -> Refusals:
        """Store a batch packed by ``RecordRules``: all at once when every record is new (no
        stored or earlier version of its key, a known enterprise), else row by row (``write``).
        A batch parsed row by row (a workbook's cells, short rows) is a list of ``pack`` values."""
        if not isinstance(values, RecordColumns):
            return super().write_batch(numbers, values, cells)
        if self.combinations is None:
            self.combinations = Combinations(self.session)
        self.combinations.learn(values)
        usccs = values.usccs
        ids = dict(fetch_in(self.session, "SELECT uscc, id FROM enterprises", "uscc", list(set(usccs))))  # type: ignore[arg-type]
        enterprise_ids = list(map(ids.get, usccs))
        keys = list(zip(values.key_hash, values.key_check))
        if None in enterprise_ids:
            return self.write(self._rows(numbers, values, cells), ids)
        versions = self._versions(set(enterprise_ids), set(keys))  # type: ignore[arg-type]
        if versions or len(set(keys)) < len(keys):
            return self.write(self._rows(numbers, values, cells), ids, versions)
        table = CreditRecord.__table__
        new_ids = allocate_ids(self.session, table, len(keys))
        run_id = self.run.id if self.run else None
        self.counts["inserted"] += len(keys)
        hashes = row_hashes(new_ids, enterprise_ids, values.middles, numbers, run_id)  # type: ignore[arg-type]
        own = zip(new_ids, enterprise_ids, values.combinations, values.occurred_on, values.document_no, values.effective_until,
                  values.key_hash, values.key_check, values.content_hash, numbers)
        if self.combinations.sqlite:
            audit.note_new(self.session, table, list(map(str, new_ids)), hashes)
            self.combinations.insert(table, list(own), {"supersedes_id": None, "from_result": False, "import_id": run_id})
        else:
            rows = [self._stored(row[2], row[3:9]) + (row[0], row[1], None, run_id, row[9], False) for row in own]
            insert_new_rows(self.session, table, INSERT_COLUMNS, rows, hashes=hashes)
        known = self.combinations.values
        codes = {n: self.grading_columns.code(*known[n][:3], *known[n][4:6]) for n in set(values.combinations)}
        self.grading_columns.add(new_ids, enterprise_ids, list(map(codes.__getitem__, values.combinations)),  # type: ignore[arg-type]
                                 values.occurred_on, values.effective_until)
        return []

    def finish(self) -> None:
        self.grading_columns.flush()

    def _stored(self, combination: int, own: tuple[Any, ...]) -> tuple[Any, ...]:
        """RECORD_FIELDS and the digests as ``pack`` stores them, from a combination and the
        record's own (occurred_on, document_no, effective_until, key_hash, key_check, content_hash)."""
        kind, severity, sector, ground, substantiated, result_codes, department = self.combinations.values[combination]  # type: ignore[union-attr]
        occurred, document, until, *digests = own
        return (kind, severity, sector, ground, substantiated, result_codes, occurred, department, document, until, *digests)

    def _rows(self, numbers: list[int], values: RecordColumns, cells: list[Any]) -> list[Row]:
        """The batch as ``write`` takes it: each row's ``pack``."""
        own = zip(values.combinations, values.occurred_on, values.document_no, values.effective_until, values.key_hash, values.key_check,
                  values.content_hash)
        return [Row(number, (uscc, row[4:], self._stored(row[0], row[1:]), middle.decode()), cell)
                for number, uscc, row, middle, cell in zip(numbers, values.usccs, own, values.middles, cells, strict=True)]

    def write(self, batch: list[Row], ids: dict[str, int] | None = None, versions: dict[Key, list[Version]] | None = None) -> Refusals:
        """Decide and store each record of ``batch``. ``ids`` (the enterprises' ids by USCC) and
        ``versions`` (``_versions`` of every row's key, all enterprises being known) when the
        caller has them already."""
        refused: Refusals = []
        if ids is None:
            ids = dict(fetch_in(self.session, "SELECT uscc, id FROM enterprises", "uscc", list({r.values[0] for r in batch})))  # type: ignore[arg-type]
        keyed: list[tuple[Row, int]] = []
        for row in batch:
            eid = ids.get(row.values[0])
            if eid is None:
                refused.append((row, "uscc", self._unknown(row.values[0])))
            else:
                keyed.append((row, eid))
        if versions is None:
            versions = self._versions({eid for _, eid in keyed}, {row.values[1][:2] for row, _ in keyed})
        run_id = self.run.id if self.run else None
        inserts: list[tuple[Row, int, int | None]] = []
        unchanged: list[tuple[int, int, int, int]] = []
        for row, eid in keyed:
            key_hash, key_check, content = row.values[1]
            known = versions.setdefault((key_hash, key_check), [])
            earlier = next((v for v in known if v.row_in_file is not None), None)
            if earlier is not None:
                what = "the same record" if earlier.content == content else "a record with the same document number"
                refused.append((row, "", f"duplicate: {what} is on row {earlier.row_in_file}"))
                continue
            if any(v.content == content for v in known):
                # Equal to a stored version: re-importing an old file never flips a correction back.
                self.counts["unchanged"] += 1
                unchanged.append((key_hash, key_check, content, row.number))
            else:
                latest = max((v.id for v in known if v.id is not None), default=None)
                self.counts["updated" if latest is not None else "inserted"] += 1
                inserts.append((row, eid, latest))
            known.append(Version(None, content, row.number))
        table = CreditRecord.__table__
        new_ids = allocate_ids(self.session, table, len(inserts))
        rows, hashes = [], []
        for (row, eid, latest), id_ in zip(inserts, new_ids, strict=True):
            _, _, stored, middle = row.values
            rows.append((*stored, id_, eid, latest, run_id, row.number, False))
            hashes.append(hash_json(f"[{id_},{eid},{middle},{_json_int(latest)},false,{_json_int(run_id)},{row.number}]"))
        insert_new_rows(self.session, table, INSERT_COLUMNS, rows, hashes=hashes)
        # RECORD_FIELDS: kind, severity, sector, ground, substantiated, result_codes, occurred_on, …, effective_until
        self.grading_columns.add(new_ids, [row[-5] for row in rows], [self.grading_columns.code(*row[:3], *row[4:6]) for row in rows],
                                 [row[6] for row in rows], [row[9] for row in rows])
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


def add_record(session: Any, enterprise: Enterprise, *, kind: RecordKind, occurred_on: Any, department: str, document_no: str | None = None,
               ground: AbnormalGround | None = None, result_codes: str | None = None, supersedes_id: int | None = None,
               from_result: bool = False) -> CreditRecord:
    """A credit record made by the system itself (a published result, a listing decision), keyed
    like an imported one so a later import of the same record is recognised as unchanged."""
    values: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    values.update(kind=kind, occurred_on=occurred_on, department=department, document_no=document_no, ground=ground,
                  result_codes=result_codes, uscc=enterprise.uscc)
    key_hash, key_check, content = record_digests(values)
    record = CreditRecord(
        enterprise_id=enterprise.id, kind=kind, ground=ground, result_codes=result_codes, occurred_on=occurred_on,
        department=department, document_no=document_no, key_hash=key_hash, key_check=key_check, content_hash=content,
        supersedes_id=supersedes_id, from_result=from_result,
    )
    session.add(record)
    session.flush()
    return record
