"""Plan and task definition files (TOML), validated into plain objects. Pure: the names they use
(departments, items, districts, the plan) are checked against the database by the services,
which report through the same :class:`Source`, so every refusal names the file, line and reason."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from credit.enums import EntityType
from credit.errors import SpotcheckError
from credit.policy import TIERS, parse_percent
from inspection.enums import TaskKind

Path = tuple[str | int, ...]
HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
MAX_ITEMS = 60  # a visit's items are a 64-bit set in the draw
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class DefinitionError(SpotcheckError):
    """A plan or task definition is refused; the message names the file, line and reason."""


class Source:
    """The text of a definition file, to point at the line a key or value is on."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text
        self.lines = text.splitlines()

    def error(self, path: Path, reason: str, value: Any = None) -> DefinitionError:
        line = self.line(path, value)
        where = f"{self.name}:{line}" if line else self.name
        return DefinitionError(f"{where}: {_dotted(path)}: {reason}" if path else f"{where}: {reason}")

    def line(self, path: Path, value: Any = None) -> int | None:
        """1-based line of ``path`` (keys, and indexes into arrays of tables), or of ``value``
        inside it; None when it cannot be found (a missing key: then the table's header)."""
        start, end = 0, len(self.lines)
        section: list[str] = []
        found: int | None = None
        i = 0
        while i < len(path):
            part = path[i]
            nxt = path[i + 1] if i + 1 < len(path) else None
            name = ".".join([*section, str(part)])
            if isinstance(nxt, int):  # an array of tables: the nxt-th [[name]] header in this section
                headers = [n for n in range(start, end) if _header(self.lines[n]) == name]
                if nxt >= len(headers):
                    return found
                start = headers[nxt]
                end = self._section_end(start, name)
                found, section, i = start + 1, [*section, str(part)], i + 2
                continue
            header = next((n for n in range(start, end) if _header(self.lines[n]) == name), None)
            if header is not None:  # a [table] of its own, inside the current section
                start, end = header, min(end, self._next_header(header))
                found, section, i = start + 1, [*section, str(part)], i + 1
                continue
            # `key =`, `key.sub =` (a dotted key) or `{ key = ` inside an inline table.
            word = f'(?:"{re.escape(str(part))}"|{re.escape(str(part))})'
            key = re.compile(rf"(?:^\s*|[{{,]\s*|\.){word}\s*[=.]")
            first = start if found is None or not _header(self.lines[start]) else start + 1
            hit = next((n for n in range(first, end) if key.search(self.lines[n]) and not _header(self.lines[n])), None)
            if hit is None:
                return found
            found, start, i = hit + 1, hit, i + 1
        if value is not None and found is not None:
            needle = f'"{value}"' if isinstance(value, str) else str(value)
            hit = next((n for n in range(found - 1, end) if needle in self.lines[n]), None)
            if hit is not None:
                return hit + 1
        return found

    def _next_header(self, after: int) -> int:
        return next((n for n in range(after + 1, len(self.lines)) if _header(self.lines[n])), len(self.lines))

    def _section_end(self, start: int, name: str) -> int:
        """Where the array entry whose [[name]] header is at ``start`` ends: at the next header
        that is not one of its sub-tables."""
        for n in range(start + 1, len(self.lines)):
            header = _header(self.lines[n])
            if header and not header.startswith(name + "."):
                return n
        return len(self.lines)


def _header(text: str) -> str | None:
    match = HEADER.match(text)
    return ".".join(p.strip().strip('"') for p in match.group(1).split(".")) if match else None


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class _Table:
    """Typed reads from one TOML table that remember the keys used, to refuse unknown ones."""

    def __init__(self, source: Source, data: Mapping[str, Any], path: Path = ()) -> None:
        self.source, self.data, self.path, self.used = source, data, path, set()

    def error(self, key: str | int | None, reason: str, value: Any = None) -> DefinitionError:
        return self.source.error(self.path if key is None else (*self.path, key), reason, value)

    def get(self, key: str, kind: type | tuple[type, ...], *, default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.error(None, f"{_dotted((*self.path, key))} is missing")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise self.error(key, f"expected {_names(kinds)}, got {value!r}")
        return value

    def text(self, key: str, *, default: Any = ..., limit: int = 256) -> str:
        value = self.get(key, str, default=default)
        if value is None:
            return value
        if not value.strip():
            raise self.error(key, "must not be empty")
        if len(value) > limit:
            raise self.error(key, f"longer than {limit} characters")
        return value.strip()

    def code(self, key: str, *, default: Any = ...) -> str:
        value = self.text(key, default=default, limit=64)
        if value is not None and not CODE.match(value):
            raise self.error(key, f"{value!r} is not a code: letters, digits, '.', '_' and '-', up to 64")
        return value

    def date(self, key: str) -> dt.date:
        value = self.get(key, (dt.date, str))
        if isinstance(value, dt.datetime):
            raise self.error(key, f"expected a date such as 2026-12-01, got a date and time {value}")
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise self.error(key, f"expected a date such as 2026-12-01, got {value!r}") from None
        return value

    def whole(self, key: str, low: int, high: int, *, default: Any = ...) -> int:
        value = self.get(key, int, default=default)
        if value is None:
            return value
        if not low <= value <= high:
            raise self.error(key, f"must be between {low} and {high}, got {value}")
        return value

    def strings(self, key: str, *, default: Any = ...) -> list[str]:
        values = self.get(key, list, default=default)
        for n, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise self.error(key, f"item {n + 1} must be a non-empty string, got {value!r}")
        if len(set(values)) != len(values):
            duplicate = next(v for v in values if values.count(v) > 1)
            raise self.error(key, f"{duplicate!r} is listed twice", duplicate)
        return [v.strip() for v in values]

    def table(self, key: str, *, optional: bool = False) -> _Table:
        value = self.get(key, dict, default={} if optional else ...)
        return _Table(self.source, value, (*self.path, key))

    def tables(self, key: str) -> list[_Table]:
        values = self.get(key, list)
        if not values:
            raise self.error(key, "at least one is needed")
        out = []
        for n, value in enumerate(values):
            if not isinstance(value, dict):
                raise self.error(key, f"entry {n + 1} must be a table ([[{key}]])")
            out.append(_Table(self.source, value, (*self.path, key, n)))
        return out

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _names(kinds: tuple[type, ...]) -> str:
    words = {int: "an integer", str: "a string", dict: "a table", list: "a list", dt.date: "a date", bool: "true or false"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def _load(name: str, text: str) -> tuple[Source, _Table]:
    source = Source(name, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{name}: not valid TOML: {exc}") from None
    return source, _Table(source, data)


@dataclass(frozen=True)
class Scope:
    """Who a batch or task covers; an empty list means no restriction."""

    districts: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()  # EntityType values
    industries: tuple[str, ...] = ()  # GB/T 4754 code prefixes

    def as_dict(self) -> dict[str, list[str]]:
        return {"districts": list(self.districts), "stations": list(self.stations), "entity_types": list(self.entity_types), "industries": list(self.industries)}

    @classmethod
    def from_dict(cls, data: Mapping[str, list[str]]) -> Scope:
        return cls(*(tuple(data.get(k, ())) for k in ("districts", "stations", "entity_types", "industries")))

    def within(self, outer: Scope) -> tuple[str, str] | None:
        """(field, value) of the first restriction that reaches outside ``outer``, or None. A
        field this scope leaves empty takes the outer one's (see :meth:`narrowed`)."""
        for name in ("districts", "stations", "entity_types"):
            mine, theirs = getattr(self, name), getattr(outer, name)
            for value in mine:
                if theirs and value not in theirs:
                    return name, value
        if outer.industries:
            for prefix in self.industries:
                if not any(prefix.startswith(p) for p in outer.industries):
                    return "industries", prefix
        return None

    def narrowed(self, outer: Scope) -> Scope:
        """This scope with the outer scope's restrictions filled in where this one has none."""
        return Scope(*(getattr(self, n) or getattr(outer, n) for n in ("districts", "stations", "entity_types", "industries")))


def _scope(table: _Table) -> Scope:
    districts = table.strings("districts", default=[])
    for d in districts:
        if not re.fullmatch(r"\d{6}", d):
            raise table.error("districts", f"{d!r} is not a 6-digit GB/T 2260 code", d)
    stations = table.strings("stations", default=[])
    types = []
    for label in table.strings("entity_types", default=[]):
        try:
            types.append(EntityType.parse(label).value)
        except ValueError as exc:
            raise table.error("entity_types", str(exc), label) from None
    industries = table.strings("industries", default=[])
    for prefix in industries:
        if not re.fullmatch(r"[A-T]\d{0,4}", prefix):
            raise table.error("industries", f"{prefix!r} is not a GB/T 4754 code or prefix (a letter A–T and up to 4 digits)", prefix)
    table.done()
    return Scope(tuple(districts), tuple(stations), tuple(types), tuple(industries))


@dataclass(frozen=True)
class BatchDefinition:
    number: int
    name: str
    starts_on: dt.date
    ends_on: dt.date
    quantity: int
    scope: Scope


@dataclass(frozen=True)
class PlanDefinition:
    source: Source = field(repr=False)
    code: str
    name: str
    year: int
    departments: tuple[str, ...]
    batches: tuple[BatchDefinition, ...]


def parse_plan(name: str, text: str) -> PlanDefinition:
    """A 年度抽查工作计划 from its TOML text."""
    source, top = _load(name, text)
    code, title, year = top.code("code"), top.text("name"), top.whole("year", 2000, 2100)
    departments = top.strings("departments")
    if not departments:
        raise top.error("departments", "at least one department is needed")
    batches = []
    for table in top.tables("batch"):
        number = table.whole("number", 1, 999)
        starts_on, ends_on = table.date("starts_on"), table.date("ends_on")
        if ends_on < starts_on:
            raise table.error("ends_on", f"{ends_on} is before starts_on {starts_on}")
        for key, day in (("starts_on", starts_on), ("ends_on", ends_on)):
            if day.year != year:
                raise table.error(key, f"{day} is outside the plan's year {year}")
        if any(b.number == number for b in batches):
            raise table.error("number", f"batch {number} is defined twice")
        batch = BatchDefinition(number, table.text("name", default=f"第{number}批次"), starts_on, ends_on, table.whole("quantity", 1, 100_000_000), _scope(table.table("scope", optional=True)))
        table.done()
        batches.append(batch)
    top.done()
    return PlanDefinition(source, code, title, year, tuple(departments), tuple(batches))


@dataclass(frozen=True)
class ItemChoice:
    """An item a department checks in a task, with the tier ratios the task file gave for it."""

    code: str
    ratios: Mapping[str, Fraction]  # only the tiers the file set
    path: Path


@dataclass(frozen=True)
class DepartmentChoice:
    code: str
    items: tuple[ItemChoice, ...]
    path: Path


@dataclass(frozen=True)
class TaskDefinition:
    source: Source = field(repr=False)
    code: str
    name: str
    kind: TaskKind
    plan: str
    batch: int
    lead: str
    grading_run: int | None  # None: the latest
    item_version: str
    starts_on: dt.date
    ends_on: dt.date
    inspectors_per_visit: int | None  # None: the policy's
    visits_per_day: int | None  # None: the policy's
    visits_per_task: int | None  # None: the policy's
    cross_station: bool | None  # None: the policy's
    scope: Scope
    ratios: Mapping[str, Fraction]  # task-wide ratios the file set, per tier
    departments: tuple[DepartmentChoice, ...]
    replaces: str | None
    replace_reason: str | None
    # 跨区协作: groups of districts whose inspectors may inspect each other's enterprises.
    cooperation: tuple[tuple[str, ...], ...] = ()


def _cooperation(top: _Table) -> tuple[tuple[str, ...], ...]:
    """``cooperation = [["500106", "500107"], ...]``: each group at least two districts, a
    district in one group at most."""
    groups = top.get("cooperation", list, default=[])
    seen: set[str] = set()
    out = []
    for n, group in enumerate(groups):
        if not isinstance(group, list) or len(group) < 2 or not all(isinstance(d, str) for d in group):
            raise top.error("cooperation", f"group {n + 1} must be a list of at least two district codes, got {group!r}")
        for d in group:
            if not re.fullmatch(r"\d{6}", d):
                raise top.error("cooperation", f"{d!r} is not a 6-digit GB/T 2260 code", d)
            if d in seen:
                raise top.error("cooperation", f"district {d} is in two cooperation groups: merge them", d)
            seen.add(d)
        out.append(tuple(sorted(group)))
    return tuple(sorted(out))


def _ratios(table: _Table) -> dict[str, Fraction]:
    ratios = {}
    for tier in TIERS:
        value = table.get(tier, str, default=None)
        if value is not None:
            try:
                ratios[tier] = parse_percent(value)
            except ValueError as exc:
                raise table.error(tier, str(exc)) from None
    table.done()
    return ratios


def parse_task(name: str, text: str) -> TaskDefinition:
    """An 抽查任务 from its TOML text."""
    source, top = _load(name, text)
    code, title = top.code("code"), top.text("name")
    kind_text = top.text("kind", default="routine")
    try:
        kind = TaskKind.parse(kind_text)
    except ValueError as exc:
        raise top.error("kind", str(exc)) from None
    run = top.get("grading_run", (int, str), default="latest")
    if isinstance(run, str) and run != "latest":
        raise top.error("grading_run", f'expected a grading run number or "latest", got {run!r}')
    starts_on, ends_on = top.date("starts_on"), top.date("ends_on")
    if ends_on < starts_on:
        raise top.error("ends_on", f"{ends_on} is before starts_on {starts_on}")
    per_visit = top.get("inspectors_per_visit", int, default=None)
    if per_visit is not None and not 2 <= per_visit <= 20:
        raise top.error("inspectors_per_visit", f"must be between 2 (执法人员不得少于两人) and 20, got {per_visit}")
    departments = []
    for table in top.tables("department"):
        dept = table.code("code")
        items = []
        values = table.get("items", list)
        if not values:
            raise table.error("items", "at least one item is needed")
        for n, value in enumerate(values):
            if isinstance(value, str):
                if not CODE.match(value.strip()):
                    raise table.error("items", f"{value!r} is not an item code: letters, digits, '.', '_' and '-', up to 64", value)
                items.append(ItemChoice(value.strip(), {}, (*table.path, "items")))
            elif isinstance(value, dict):
                entry = _Table(source, value, (*table.path, "items"))
                item_code = entry.code("code")
                ratios = _ratios(entry.table("ratios", optional=True))
                entry.done()
                items.append(ItemChoice(item_code, ratios, (*table.path, "items")))
            else:
                raise table.error("items", f"entry {n + 1} must be an item code or {{ code = ..., ratios = {{...}} }}, got {value!r}")
        table.done()
        if any(d.code == dept for d in departments):
            raise table.error("code", f"department {dept} is listed twice")
        departments.append(DepartmentChoice(dept, tuple(items), table.path))
    if sum(len(d.items) for d in departments) > MAX_ITEMS:
        raise top.error("department", f"a task has at most {MAX_ITEMS} items; split it into several tasks")
    seen: dict[str, str] = {}
    for d in departments:
        for item in d.items:
            if item.code in seen:
                raise source.error(item.path, f"item {item.code} is listed twice (also under {seen[item.code]})", item.code)
            seen[item.code] = d.code
    replaces = top.code("replaces", default=None)
    reason = top.text("replace_reason", default=None, limit=2000)
    if (replaces is None) != (reason is None):
        raise top.error("replaces" if replaces else "replace_reason", "a replacement names the task it replaces and gives replace_reason, both or neither")
    definition = TaskDefinition(
        source, code, title, kind, top.code("plan"), top.whole("batch", 1, 999), top.code("lead"),
        None if run == "latest" else run, top.text("item_version", limit=32), starts_on, ends_on, per_visit,
        top.whole("visits_per_day", 1, 20, default=None), top.whole("visits_per_task", 1, 100_000, default=None),
        top.get("cross_station", bool, default=None), _scope(top.table("scope", optional=True)), _ratios(top.table("ratios", optional=True)),
        tuple(departments), replaces, reason, _cooperation(top),
    )
    top.done()
    if definition.lead not in {d.code for d in departments}:
        raise top.error("lead", f"the lead department {definition.lead} must take part: add a [[department]] for it", definition.lead)
    return definition
