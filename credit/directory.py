"""The credit-side directories: districts, departments, enterprises (检查对象名录库), credit records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.orm import aliased

from credit import fields as f
from credit.enums import AbnormalGround, EnterpriseStatus, EntityType, RecordKind, Sector, Severity
from credit.importing import Column, Directory, Row
from credit.labels import Labeled
from credit.models import CreditRecord, Department, District, Enterprise
from credit.result_codes import parse_result_codes
from credit.tabular import Cell

Refusals = list[tuple[Row, str, str]]


def export_cell(value: Any) -> Cell:
    """A stored value as the import format writes it: labels for enums, 是/否 for flags."""
    if isinstance(value, Labeled):
        return value.label
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


class Districts(Directory):
    """GB/T 2260 divisions beyond the shipped Chongqing table."""

    kind = "districts"

    def columns(self) -> Sequence[Column]:
        return (
            Column("code", "行政区划代码", f.district_code, required=True),
            Column("name", "名称", f.bounded(64), required=True),
        )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.existing = dict(self.session.execute(select(District.code, District.name)).all())
        self.seen: dict[str, int] = {}

    def write(self, batch: list[Row]) -> Refusals:
        refused: Refusals = []
        for row in batch:
            code, name = row.values["code"], row.values["name"]
            if code in self.seen:
                refused.append((row, "code", f"duplicate code {code} (also on row {self.seen[code]})"))
                continue
            self.seen[code] = row.number
            if code not in self.existing:
                self.session.add(District(code=code, name=name))
                self.counts["inserted"] += 1
            elif self.existing[code] != name:
                self.session.execute(update(District).where(District.code == code).values(name=name))
                self.counts["updated"] += 1
            else:
                self.counts["unchanged"] += 1
        self.session.flush()
        return refused

    def export_rows(self) -> Iterator[list[Cell]]:
        for code, name in self.session.execute(select(District.code, District.name).order_by(District.code)):
            yield [code, name]


class Departments(Directory):
    """Regulating departments, keyed by code; names are unique too."""

    kind = "departments"

    def columns(self) -> Sequence[Column]:
        return (
            Column("code", "部门代码", f.bounded(32), required=True),
            Column("name", "部门名称", f.bounded(128), required=True),
        )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        rows = self.session.execute(select(Department.code, Department.name)).all()
        self.name_of = dict(rows)
        self.code_of_name = {name: code for code, name in rows}
        self.seen: dict[str, int] = {}

    def write(self, batch: list[Row]) -> Refusals:
        refused: Refusals = []
        for row in batch:
            code, name = row.values["code"], row.values["name"]
            if code in self.seen:
                refused.append((row, "code", f"duplicate code {code} (also on row {self.seen[code]})"))
                continue
            owner = self.code_of_name.get(name)
            if owner is not None and owner != code:
                refused.append((row, "name", f"name {name} already belongs to department {owner}"))
                continue
            self.seen[code] = row.number
            old = self.name_of.get(code)
            if old is None:
                self.session.add(Department(code=code, name=name))
                self.counts["inserted"] += 1
            elif old != name:
                self.session.execute(update(Department).where(Department.code == code).values(name=name))
                self.code_of_name.pop(old, None)
                self.counts["updated"] += 1
            else:
                self.counts["unchanged"] += 1
            self.name_of[code] = name
            self.code_of_name[name] = code
            self.session.flush()
        return refused

    def export_rows(self) -> Iterator[list[Cell]]:
        for code, name in self.session.execute(select(Department.code, Department.name).order_by(Department.code)):
            yield [code, name]


ENTERPRISE_FIELDS = (
    "name", "entity_type", "legal_rep", "registered_on", "status", "district_code",
    "station", "industry_code", "address", "new_economy_since", "key_supervision",
)


class Enterprises(Directory):
    """The 检查对象名录库: upsert by USCC."""

    kind = "enterprises"

    def columns(self) -> Sequence[Column]:
        return (
            Column("uscc", "统一社会信用代码", f.uscc, required=True),
            Column("name", "企业名称", f.bounded(256), required=True),
            Column("entity_type", "主体类型", f.labeled(EntityType), required=True),
            Column("legal_rep", "法定代表人", f.optional(f.bounded(64))),
            Column("registered_on", "成立日期", f.past_date(self.today), required=True),
            Column("status", "登记状态", f.labeled(EnterpriseStatus), required=True),
            Column("district_code", "行政区划代码", f.district_code, required=True),
            Column("station", "监管所", f.optional(f.bounded(128))),
            Column("industry_code", "行业代码", f.industry_code, required=True),
            Column("address", "住所", f.optional(f.bounded(512))),
            Column("new_economy_since", "四新认定日期", f.optional(f.past_date(self.today))),
            Column("key_supervision", "重点监管", f.boolean),
        )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.districts = set(self.session.scalars(select(District.code)))
        self.seen: dict[str, int] = {}
        table = Enterprise.__table__
        self._select = select(table.c.id, table.c.uscc, *(table.c[n] for n in ENTERPRISE_FIELDS))
        self._update = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({n: bindparam(n) for n in (*ENTERPRISE_FIELDS, "import_id")})
        )

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        problems = []
        if values["district_code"] not in self.districts:
            problems.append(("district_code", f"unknown district code {values['district_code']} (import it with `spotcheck import districts`)"))
        since = values.get("new_economy_since")
        if since is not None and since < values["registered_on"]:
            problems.append(("new_economy_since", f"四新认定日期 {since} is before the registration date {values['registered_on']}"))
        return problems

    def write(self, batch: list[Row]) -> Refusals:
        refused: Refusals = []
        fresh: list[Row] = []
        for row in batch:
            code = row.values["uscc"]
            if code in self.seen:
                refused.append((row, "uscc", f"duplicate USCC {code} (also on row {self.seen[code]})"))
            else:
                self.seen[code] = row.number
                fresh.append(row)
        existing = {
            r.uscc: r for r in self.session.execute(self._select.where(Enterprise.uscc.in_([r.values["uscc"] for r in fresh])))
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        run_id = self.run.id if self.run else None
        for row in fresh:
            values = {n: row.values[n] for n in ENTERPRISE_FIELDS}
            old = existing.get(row.values["uscc"])
            if old is None:
                inserts.append({"uscc": row.values["uscc"], "import_id": run_id, **values})
            elif any(getattr(old, n) != values[n] for n in ENTERPRISE_FIELDS):
                updates.append({"_id": old.id, "import_id": run_id, **values})
            else:
                self.counts["unchanged"] += 1
        if inserts:
            self.session.execute(insert(Enterprise.__table__), inserts)
            self.counts["inserted"] += len(inserts)
        if updates:
            self.session.execute(self._update, updates)
            self.counts["updated"] += len(updates)
        return refused

    def export_rows(self) -> Iterator[list[Cell]]:
        result = self.session.execute(self._select.order_by(Enterprise.uscc).execution_options(yield_per=5000))
        for r in result:
            yield [r.uscc, *(export_cell(getattr(r, n)) for n in ENTERPRISE_FIELDS)]


RECORD_FIELDS = (
    "kind", "severity", "sector", "ground", "substantiated", "result_codes",
    "occurred_on", "department", "document_no", "effective_until",
)


def record_key(enterprise_id: int, values: dict[str, Any]) -> tuple[Any, ...]:
    """A record's identity: its document number when it has one, else its whole content."""
    if values["document_no"]:
        return (enterprise_id, values["kind"].value, values["document_no"])
    return (enterprise_id, *(str(values[n]) for n in RECORD_FIELDS))


def key_hash(key: tuple[Any, ...]) -> int:
    """A signed 64-bit digest of a record key, for the index only (hits are re-checked)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Records(Directory):
    """信用记录: append-only; a changed record with the same document number supersedes the old."""

    kind = "records"
    # What each kind needs besides the common columns.
    REQUIRED_BY_KIND = {
        RecordKind.PENALTY: ("severity", "sector"),
        RecordKind.ABNORMAL_IN: ("ground",),
        RecordKind.COMPLAINT: ("substantiated",),
        RecordKind.SPOT_CHECK: ("result_codes",),
    }

    def columns(self) -> Sequence[Column]:
        return (
            Column("uscc", "统一社会信用代码", f.uscc, required=True),
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
        t = CreditRecord.__table__
        self._versions = select(t.c.id, t.c.enterprise_id, t.c.key_hash, t.c.import_id, t.c.source_row, *(t.c[n] for n in RECORD_FIELDS))

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        kind = values["kind"]
        problems = [
            (name, f"required for {kind.label}")
            for name in self.REQUIRED_BY_KIND.get(kind, ())
            if values.get(name) is None
        ]
        until = values.get("effective_until")
        if until is not None and until < values["occurred_on"]:
            problems.append(("effective_until", f"影响期截止 {until} is before the record date {values['occurred_on']}"))
        return problems

    def write(self, batch: list[Row]) -> Refusals:
        refused: Refusals = []
        usccs = {r.values["uscc"] for r in batch}
        ids = dict(self.session.execute(select(Enterprise.uscc, Enterprise.id).where(Enterprise.uscc.in_(usccs))).all())
        keyed: list[tuple[Row, int, tuple[Any, ...], int]] = []
        for row in batch:
            eid = ids.get(row.values["uscc"])
            if eid is None:
                refused.append((row, "uscc", f"no enterprise {row.values['uscc']} in the directory (import enterprises first)"))
                continue
            key = record_key(eid, row.values)
            keyed.append((row, eid, key, key_hash(key)))
        versions: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for r in self.session.execute(self._versions.where(CreditRecord.key_hash.in_({k[3] for k in keyed}))).mappings():
            stored = {n: r[n] for n in RECORD_FIELDS}
            versions.setdefault(record_key(r["enterprise_id"], stored), []).append(dict(r))
        run_id = self.run.id if self.run else None
        inserts: list[dict[str, Any]] = []
        for row, eid, key, digest in keyed:
            content = {n: row.values[n] for n in RECORD_FIELDS}
            known = versions.setdefault(key, [])
            same = next((v for v in known if all(v[n] == content[n] for n in RECORD_FIELDS)), None)
            from_this_file = [v for v in known if v["import_id"] == run_id and run_id is not None]
            if from_this_file:
                what = "the same record" if same is not None else "a record with the same document number"
                refused.append((row, "", f"duplicate: {what} is on row {from_this_file[0]['source_row']}"))
                continue
            if same is not None:
                # Equal to any stored version: re-importing an old file never flips a correction back.
                self.counts["unchanged"] += 1
                continue
            latest = max((v["id"] for v in known), default=None)
            self.counts["updated" if latest is not None else "inserted"] += 1
            record = {**content, "enterprise_id": eid, "key_hash": digest, "supersedes_id": latest, "import_id": run_id, "source_row": row.number}
            inserts.append(record)
            known.append({**record, "id": None})
        if inserts:
            self.session.execute(insert(CreditRecord.__table__), inserts)
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
