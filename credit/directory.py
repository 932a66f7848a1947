"""The credit-side directories: districts, departments and enterprises (检查对象名录库)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, NamedTuple

from sqlalchemy import bindparam, select, update

from credit import fields as f
from credit import audit
from credit.bulk import allocate_ids, fetch_in, insert_new_rows
from credit.digest import canonical, digest64, digest128
from credit.enterprise_batch import EnterpriseColumns, EnterpriseRules, new_rows
from credit.enums import EnterpriseStatus, EntityType
from credit.importing import Column, Directory, Row
from credit.labels import Labeled
from credit.models import Department, District, Enterprise
from credit.seen import SeenKeys
from credit.tabular import Cell

Refusals = list[tuple[Row, str, str]]


def export_cell(value: Any) -> Cell:
    """A stored value as the import format writes it: labels for enums, 是/否 for flags."""
    if isinstance(value, Labeled):
        return value.label
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


class _CodesAndNames(Directory):
    """A small table of unique codes with a name each; the whole table fits in memory."""

    model: ClassVar[Any]
    code_label: ClassVar[str]
    name_label: ClassVar[str]
    noun: ClassVar[str]
    code_parser: ClassVar[Any] = staticmethod(f.bounded(32))
    unique_names = False

    def columns(self) -> Sequence[Column]:
        return (
            Column("code", self.code_label, self.code_parser, required=True),
            Column("name", self.name_label, f.bounded(self.model.__table__.c.name.type.length), required=True),
        )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.name_of: dict[str, str] = dict(self.session.execute(select(self.model.code, self.model.name)).all())
        self.code_of_name = {name: code for code, name in self.name_of.items()}

    def write(self, batch: list[Row]) -> Refusals:
        refused: Refusals = []
        for row in batch:
            code, name = row.values["code"], row.values["name"]
            earlier = self.duplicate_of(code, row)
            if earlier is not None:
                refused.append((row, "code", f"duplicate code {code} (also on row {earlier})"))
                continue
            owner = self.code_of_name.get(name)
            if self.unique_names and owner is not None and owner != code:
                refused.append((row, "name", f"name {name} already belongs to {self.noun} {owner}"))
                continue
            old = self.name_of.get(code)
            if old is None:
                self.session.add(self.model(code=code, name=name))
                self.counts["inserted"] += 1
            elif old != name:
                self.session.execute(update(self.model).where(self.model.code == code).values(name=name))
                self.code_of_name.pop(old, None)
                self.counts["updated"] += 1
            else:
                self.counts["unchanged"] += 1
            self.name_of[code] = name
            self.code_of_name[name] = code
        self.session.flush()
        return refused

    def export_rows(self) -> Iterator[list[Cell]]:
        for code, name in self.session.execute(select(self.model.code, self.model.name).order_by(self.model.code)):
            yield [code, name]


class Districts(_CodesAndNames):
    """GB/T 2260 divisions beyond the shipped Chongqing table."""

    kind, noun = "districts", "district"
    model = District
    code_label, name_label = "行政区划代码", "名称"
    code_parser = staticmethod(f.district_code)


class Departments(_CodesAndNames):
    """Regulating departments, keyed by code; names are unique too."""

    kind, noun = "departments", "department"
    model = Department
    code_label, name_label = "部门代码", "部门名称"
    unique_names = True


ENTERPRISE_FIELDS = (
    "name", "entity_type", "legal_rep", "registered_on", "status", "district_code",
    "station", "industry_code", "address", "new_economy_since", "key_supervision",
)

INSERT_COLUMNS = ("uscc", "import_id", "source_row", "content_hash", *ENTERPRISE_FIELDS, "id")
TABLE_COLUMNS = ("id", "uscc", *ENTERPRISE_FIELDS, "content_hash", "import_id", "source_row")


class Stored(NamedTuple):
    """What an upsert needs of a stored enterprise."""

    uscc: str
    id: int
    content_hash: int
    import_id: int | None
    source_row: int | None


class Enterprises(Directory):
    """The 检查对象名录库: upsert by USCC."""

    kind = "enterprises"

    def columns(self) -> Sequence[Column]:
        # Names, people and addresses differ from row to row; the other columns repeat: remembered.
        m = f.memo
        return (
            Column("uscc", "统一社会信用代码", f.uscc, required=True),
            Column("name", "企业名称", f.bounded(256), required=True),
            Column("entity_type", "主体类型", m(f.labeled(EntityType)), required=True),
            Column("legal_rep", "法定代表人", f.optional(f.bounded(64))),
            Column("registered_on", "成立日期", m(f.past_date(self.today)), required=True),
            Column("status", "登记状态", m(f.labeled(EnterpriseStatus)), required=True),
            Column("district_code", "行政区划代码", m(f.district_code), required=True),
            Column("station", "监管所", m(f.optional(f.bounded(128)))),
            Column("industry_code", "行业代码", m(f.industry_code), required=True),
            Column("address", "住所", f.optional(f.bounded(512))),
            Column("new_economy_since", "四新认定日期", m(f.optional(f.past_date(self.today)))),
            Column("key_supervision", "重点监管", m(f.boolean)),
        )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.districts = set(self.session.scalars(select(District.code)))
        self.seen = SeenKeys(self.session)
        table = Enterprise.__table__
        self._export = select(table.c.uscc, *(table.c[n] for n in ENTERPRISE_FIELDS))
        self._update = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({n: bindparam(n) for n in (*ENTERPRISE_FIELDS, "content_hash", "import_id", "source_row")})
        )

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        problems = []
        if values["district_code"] not in self.districts:
            problems.append(("district_code", f"unknown district code {values['district_code']} (import it with `spotcheck import districts`)"))
        since = values.get("new_economy_since")
        if since is not None and since < values["registered_on"]:
            problems.append(("new_economy_since", f"四新认定日期 {since} is before the registration date {values['registered_on']}"))
        values["content_hash"] = digest64(canonical(values[n] for n in ENTERPRISE_FIELDS))
        return problems

    def batch_rules(self) -> EnterpriseRules:
        return EnterpriseRules(ENTERPRISE_FIELDS, self.districts)

    def write_batch(self, numbers: list[int], values: EnterpriseColumns, cells: list[Any]) -> Refusals:
        """Insert a batch checked by ``EnterpriseRules`` at once when every USCC in it is new to
        the directory and to this file; else row by row (``write``)."""
        if not isinstance(values, EnterpriseColumns):
            return super().write_batch(numbers, values, cells)
        usccs = values.columns["uscc"]
        existing = self._stored(usccs)
        if self.seen.count or len(set(usccs)) < len(usccs) or existing:
            names = list(values.columns)
            rows = zip(*values.columns.values(), values.content_hash)
            return self.write([Row(n, {**dict(zip(names, row)), "content_hash": row[-1]}, c) for n, row, c in zip(numbers, rows, cells, strict=True)],
                              existing)
        table = Enterprise.__table__
        ids = allocate_ids(self.session, table, len(usccs))
        rows, hashes = new_rows(values, ENTERPRISE_FIELDS, ids, numbers, self.run.id if self.run else None)
        insert_new_rows(self.session, table, TABLE_COLUMNS, rows, hashes=hashes)
        self.counts["inserted"] += len(rows)
        return []

    def _stored(self, usccs: list[str]) -> dict[str, Stored]:
        """The stored enterprises among ``usccs``, by USCC."""
        found = fetch_in(self.session, "SELECT uscc, id, content_hash, import_id, source_row FROM enterprises", "uscc", usccs)
        return {row[0]: Stored(*row) for row in found}

    def write(self, batch: list[Row], existing: dict[str, Stored] | None = None) -> Refusals:
        """Upsert each row of ``batch``; ``existing``: ``_stored`` of its USCCs, when the caller
        has it already."""
        refused: Refusals = []
        if existing is None:
            existing = self._stored([r.values["uscc"] for r in batch])
        run_id = self.run.id if self.run else None
        # Where each USCC was first met in this file: rows this import wrote carry its id; rows it
        # found unchanged are in SeenKeys (a temporary table, so a 1M-row file costs no memory).
        keys = {row.number: digest128(row.values["uscc"]) for row in batch}
        first_row = {key: row for key, (_, row) in self.seen.find(set(keys.values())).items()}
        for old in existing.values():
            if run_id is not None and old.import_id == run_id:
                first_row[digest128(old.uscc)] = old.source_row
        inserts: list[tuple[Any, ...]] = []
        updates: list[dict[str, Any]] = []
        unchanged: list[tuple[int, int, int, int]] = []
        for row in batch:
            key = keys[row.number]
            first = first_row.setdefault(key, row.number)
            if first != row.number:
                refused.append((row, "uscc", f"duplicate USCC {row.values['uscc']} (also on row {first})"))
                continue
            values = [row.values[n] for n in ENTERPRISE_FIELDS]
            digest = row.values["content_hash"]
            old = existing.get(row.values["uscc"])
            if old is None:
                inserts.append((row.values["uscc"], run_id, row.number, digest, *values))
            elif old.content_hash != digest:
                updates.append({"_id": old.id, "import_id": run_id, "source_row": row.number, "content_hash": digest, **dict(zip(ENTERPRISE_FIELDS, values, strict=True))})
            else:
                self.counts["unchanged"] += 1
                unchanged.append((*key, digest, row.number))
        self.seen.add(unchanged)
        if inserts:
            table = Enterprise.__table__
            ids = allocate_ids(self.session, table, len(inserts))
            insert_new_rows(self.session, table, INSERT_COLUMNS, [(*row, id_) for row, id_ in zip(inserts, ids, strict=True)])
            self.counts["inserted"] += len(inserts)
        if updates:
            audit.touch(self.session, Enterprise.__table__, ((u["_id"],) for u in updates))
            self.session.execute(self._update, updates)
            self.counts["updated"] += len(updates)
        return refused

    def export_rows(self) -> Iterator[list[Cell]]:
        result = self.session.execute(self._export.order_by(Enterprise.uscc).execution_options(yield_per=5000))
        for r in result:
            yield [r.uscc, *(export_cell(getattr(r, n)) for n in ENTERPRISE_FIELDS)]
