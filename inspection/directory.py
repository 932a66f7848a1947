"""The inspection-side directories: inspectors (执法检查人员名录库) and the item list (随机抽查事项清单)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update

from credit import fields as f
from credit.directory import Refusals, export_cell
from credit.enums import EntityType
from credit.importing import Column, Directory, Row
from credit.models import Department, District
from credit.tabular import Cell
from inspection.enums import CheckMethod, InspectorStatus, ItemKind
from inspection.models import CheckItem, Inspector, InspectorConflict, InspectorLeave, InspectorQualification


def leave_periods(cell: Cell) -> list[tuple[dt.date, dt.date]]:
    """``2026-03-01..2026-03-05;2026-07-10..2026-07-12`` as sorted (start, end) pairs."""
    periods = []
    for token in f.split_list(cell):
        start, sep, end = token.partition("..")
        if not sep:
            raise ValueError(f"leave {token!r} must be written start..end")
        first, last = f.date(start.strip()), f.date(end.strip())
        if last < first:
            raise ValueError(f"leave {token!r} ends before it starts")
        periods.append((first, last))
    periods.sort()
    for (_, end), (start, _) in itertools.pairwise(periods):
        if start <= end:
            raise ValueError(f"leave periods overlap around {start}")
    return periods


def uscc_list(cell: Cell) -> list[str]:
    return sorted({f.uscc(v) for v in f.split_list(cell)})


class _DepartmentLookup:
    """Departments by code or by name, as files may give either."""

    def __init__(self, directory: Directory) -> None:
        rows = directory.session.execute(select(Department.id, Department.code, Department.name)).all()
        self.ids = {code: id_ for id_, code, _ in rows} | {name: id_ for id_, _, name in rows}
        self.codes = {id_: code for id_, code, _ in rows}

    def resolve(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        department_id = self.ids.get(values["department"])
        if department_id is None:
            return [("department", f"unknown department {values['department']!r} (import departments first)")]
        values["department_id"] = department_id
        return []


class Inspectors(Directory):
    """执法检查人员名录库: upsert by inspector id, qualifications, leave and conflicts replaced as a whole."""

    kind = "inspectors"

    def columns(self) -> Sequence[Column]:
        return (
            Column("inspector_id", "执法人员编号", f.bounded(32), required=True),
            Column("name", "姓名", f.bounded(64), required=True),
            Column("department", "所属部门", f.bounded(128), required=True),
            Column("certificate_no", "执法证号", f.optional(f.bounded(64))),
            Column("certificate_expires", "执法证有效期至", f.optional(f.date)),
            Column("qualifications", "可检查事项", f.split_list),
            Column("district_code", "行政区划代码", f.district_code, required=True),
            Column("station", "监管所", f.optional(f.bounded(128))),
            Column("status", "状态", f.labeled(InspectorStatus), required=True),
            Column("leave", "请假", leave_periods),
            Column("conflicts", "回避企业", uscc_list),
        )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.departments = _DepartmentLookup(self)
        self.districts = set(self.session.scalars(select(District.code)))
        items = self.session.execute(select(CheckItem.code, CheckItem.category)).all()
        self.item_names = {code for code, _ in items} | {cat for _, cat in items if cat}
        self.existing = {i.inspector_no: i for i in self.session.scalars(select(Inspector))}
        self._load_children()

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        problems = self.departments.resolve(values)
        if values["district_code"] not in self.districts:
            problems.append(("district_code", f"unknown district code {values['district_code']}"))
        unknown = [q for q in values["qualifications"] if q not in self.item_names]
        if unknown:
            problems.append(("qualifications", f"unknown item or item category: {', '.join(unknown)}"))
        if (values["certificate_no"] is None) != (values["certificate_expires"] is None):
            problems.append(("certificate_expires", "执法证号 and 执法证有效期至 go together"))
        if values["status"] is InspectorStatus.ACTIVE:
            expires = values["certificate_expires"]
            if values["certificate_no"] is None:
                problems.append(("certificate_no", "an active (在岗) inspector needs an enforcement certificate"))
            elif expires is not None and expires < self.today:
                problems.append(("certificate_expires", f"an active (在岗) inspector's certificate expired on {expires}"))
        return problems

    def _load_children(self) -> None:
        """Qualifications, leave and conflicts of every inspector, in three queries."""
        self.qualifications: dict[int, list[str]] = defaultdict(list)
        self.leave: dict[int, list[tuple[dt.date, dt.date]]] = defaultdict(list)
        self.conflicts: dict[int, list[str]] = defaultdict(list)
        for inspector_id, item in self.session.execute(select(InspectorQualification.inspector_id, InspectorQualification.item)):
            self.qualifications[inspector_id].append(item)
        for inspector_id, starts, ends in self.session.execute(select(InspectorLeave.inspector_id, InspectorLeave.starts_on, InspectorLeave.ends_on)):
            self.leave[inspector_id].append((starts, ends))
        for inspector_id, uscc in self.session.execute(select(InspectorConflict.inspector_id, InspectorConflict.uscc)):
            self.conflicts[inspector_id].append(uscc)

    def _state(self, inspector: Inspector) -> dict[str, Any]:
        return {
            "name": inspector.name,
            "department_id": inspector.department_id,
            "certificate_no": inspector.certificate_no,
            "certificate_expires": inspector.certificate_expires,
            "district_code": inspector.district_code,
            "station": inspector.station,
            "status": inspector.status,
            # Sorted here, not by ORDER BY: a database collation may order Chinese text differently.
            "qualifications": sorted(self.qualifications[inspector.id]),
            "leave": sorted(self.leave[inspector.id]),
            "conflicts": sorted(self.conflicts[inspector.id]),
        }

    def write(self, batch: list[Row]) -> Refusals:
        refused: Refusals = []
        for row in batch:
            v = row.values
            number = v["inspector_id"]
            earlier = self.duplicate_of(number, row)
            if earlier is not None:
                refused.append((row, "inspector_id", f"duplicate inspector id {number} (also on row {earlier})"))
                continue
            scalars = {k: v[k] for k in ("name", "department_id", "certificate_no", "certificate_expires", "district_code", "station", "status")}
            wanted = {**scalars, "qualifications": sorted(v["qualifications"]), "leave": v["leave"], "conflicts": v["conflicts"]}
            inspector = self.existing.get(number)
            if inspector is None:
                inspector = Inspector(inspector_no=number, import_id=self.run.id if self.run else None, **scalars)
                self.session.add(inspector)
                self.session.flush()
                self.counts["inserted"] += 1
            elif self._state(inspector) == wanted:
                self.counts["unchanged"] += 1
                continue
            else:
                self.session.execute(update(Inspector).where(Inspector.id == inspector.id).values(import_id=self.run.id if self.run else None, **scalars))
                for child in (InspectorQualification, InspectorLeave, InspectorConflict):
                    self.session.execute(delete(child).where(child.inspector_id == inspector.id))
                self.counts["updated"] += 1
            self._insert_children(inspector.id, wanted)
        return refused

    def _insert_children(self, inspector_id: int, wanted: dict[str, Any]) -> None:
        children = (
            (InspectorQualification, [{"item": q} for q in wanted["qualifications"]]),
            (InspectorLeave, [{"starts_on": s, "ends_on": e} for s, e in wanted["leave"]]),
            (InspectorConflict, [{"uscc": u} for u in wanted["conflicts"]]),
        )
        for model, rows in children:
            if rows:
                self.session.execute(insert(model), [{"inspector_id": inspector_id, **r} for r in rows])

    def export_rows(self) -> Iterator[list[Cell]]:
        for inspector in self.session.scalars(select(Inspector).order_by(Inspector.inspector_no)):
            state = self._state(inspector)
            yield [
                inspector.inspector_no,
                inspector.name,
                self.departments.codes[inspector.department_id],
                inspector.certificate_no,
                inspector.certificate_expires,
                ";".join(state["qualifications"]),
                inspector.district_code,
                inspector.station,
                export_cell(inspector.status),
                ";".join(f"{s}..{e}" for s, e in state["leave"]),
                ";".join(state["conflicts"]),
            ]


ITEM_FIELDS = ("name", "category", "department_id", "legal_basis", "kind", "entity_types", "industries", "methods")


def _codes(members: list[Any]) -> str:
    return ";".join(m.value for m in members)


class Items(Directory):
    """随机抽查事项清单: each (code, version) is loaded once and never rewritten."""

    kind = "items"

    def columns(self) -> Sequence[Column]:
        return (
            Column("code", "事项编码", f.bounded(32), required=True),
            Column("name", "事项名称", f.bounded(256), required=True),
            Column("category", "事项类别", f.optional(f.bounded(128))),
            Column("department", "抽查主体", f.bounded(128), required=True, aliases=("部门",)),
            Column("legal_basis", "抽查依据", f.bounded(1024), required=True),
            Column("kind", "事项类型", f.labeled(ItemKind), required=True),
            Column("entity_types", "抽查对象类型", lambda c: [EntityType.parse(t) for t in f.split_list(c)]),
            Column("industries", "行业范围", f.industry_prefixes),
            Column("method", "检查方式", lambda c: [CheckMethod.parse(t) for t in f.split_list(c)], required=True),
            Column("version", "清单版本", f.bounded(32), required=True),
        )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.departments = _DepartmentLookup(self)
        t = CheckItem.__table__
        self.existing = {
            (r.code, r.version): {n: getattr(r, n) for n in ITEM_FIELDS}
            for r in self.session.execute(select(t.c.code, t.c.version, *(t.c[n] for n in ITEM_FIELDS)))
        }

    def check(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        problems = self.departments.resolve(values)
        limit = CheckItem.__table__.c.industries.type.length
        if len(";".join(values["industries"])) > limit:
            problems.append(("industries", f"more than {limit} characters of industry prefixes; use shorter prefixes"))
        return problems

    def write(self, batch: list[Row]) -> Refusals:
        refused: Refusals = []
        inserts = []
        for row in batch:
            v = row.values
            key = (v["code"], v["version"])
            earlier = self.duplicate_of(key, row)
            if earlier is not None:
                refused.append((row, "code", f"duplicate item {key[0]} version {key[1]} (also on row {earlier})"))
                continue
            stored = {
                "name": v["name"], "category": v["category"], "department_id": v["department_id"],
                "legal_basis": v["legal_basis"], "kind": v["kind"], "entity_types": _codes(v["entity_types"]),
                "industries": ";".join(v["industries"]), "methods": _codes(v["method"]),
            }
            old = self.existing.get(key)
            if old is None:
                inserts.append({"code": key[0], "version": key[1], "import_id": self.run.id if self.run else None, **stored})
                self.counts["inserted"] += 1
            elif old == stored:
                self.counts["unchanged"] += 1
            else:
                refused.append((row, "version", f"item {key[0]} version {key[1]} is already loaded with other content; a version is never rewritten: give the change a new version"))
        if inserts:
            self.session.execute(insert(CheckItem), inserts)
        return refused

    def export_rows(self) -> Iterator[list[Cell]]:
        def labels(enum_cls: Any, codes: str) -> str:
            return ";".join(enum_cls(c).label for c in codes.split(";") if c)

        for item in self.session.scalars(select(CheckItem).order_by(CheckItem.version, CheckItem.code)):
            yield [
                item.code, item.name, item.category, self.departments.codes[item.department_id], item.legal_basis,
                export_cell(item.kind), labels(EntityType, item.entity_types), item.industries,
                labels(CheckMethod, item.methods), item.version,
            ]
