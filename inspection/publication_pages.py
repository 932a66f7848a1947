"""一公开: the public pages of a task's spot-check results, as CSV, JSON and a static HTML page.

Pure: it takes the records already chosen for publication and writes files, so what the public
sees is decided elsewhere and this writer can never leak a field it is not given (inspectors,
credit tiers). Output is deterministic, so a republication of unchanged data gives identical
bytes and a diff shows exactly what a correction changed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, Template, select_autoescape

from credit.tabular import neutralise

CSV_NAME = "results.csv"
JSON_NAME = "results.json"
HTML_NAME = "index.html"
TEMPLATE_NAME = "publication.html"

CSV_HEADER = (
    "公示编号", "企业名称", "统一社会信用代码", "任务编号", "任务名称", "检查日期",
    "检查实施部门", "检查结果", "公示日期", "状态", "更正说明",
)

# Status of a record: (English key for JSON, Chinese label for the public).
CURRENT = ("current", "有效")
CORRECTED = ("corrected", "已更正")
CORRECTION = ("correction", "更正")

_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class PublishedRecord:
    """One published spot-check result; deliberately nothing about inspectors or credit tiers."""

    number: str
    enterprise_name: str
    uscc: str
    task_code: str
    task_name: str
    checked_on: dt.date
    department_name: str
    result: str
    published_on: dt.date
    corrects: str | None
    corrected_by: str | None
    correction_reason: str | None


def status(record: PublishedRecord) -> tuple[str, str]:
    """(key, label): being corrected wins over correcting, since what the public must learn
    first is that the record is no longer the one that counts."""
    if record.corrected_by:
        return CORRECTED
    if record.corrects:
        return CORRECTION
    return CURRENT


def correction_note(record: PublishedRecord) -> str:
    """The 更正说明 of the CSV: what this record corrects, and what corrected it."""
    parts = []
    if record.corrects:
        reason = f"：{record.correction_reason}" if record.correction_reason else ""
        parts.append(f"更正公示编号 {record.corrects} 的记录{reason}")
    if record.corrected_by:
        parts.append(f"已由公示编号 {record.corrected_by} 更正")
    return "；".join(parts)


def row_ids(records: Sequence[PublishedRecord]) -> dict[str, str]:
    """A valid, unique HTML id per publication number, so rows can link to each other.

    Numbers are unique, but two may clean up to the same id ("a/b", "a_b"): later ones get a suffix.
    """
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for record in records:
        if record.number in ids:
            raise ValueError(f"publication number {record.number} appears twice")
        base = "r-" + _NOT_ID.sub("_", record.number)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        ids[record.number] = candidate
        taken.add(candidate)
    return ids


def write_pages(out_dir: Path, task_code: str, task_name: str, records: Sequence[PublishedRecord]) -> list[Path]:
    """Write results.csv, results.json and index.html into ``out_dir``; return them in that order."""
    ids = row_ids(records)  # checks the numbers before any file is written
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / CSV_NAME, out_dir / JSON_NAME, out_dir / HTML_NAME]
    _write_csv(paths[0], records)
    _write_json(paths[1], task_code, task_name, records)
    _write_html(paths[2], task_code, task_name, records, ids)
    return paths


def _csv_row(record: PublishedRecord) -> list[str]:
    cells = [
        record.number, record.enterprise_name, record.uscc, record.task_code, record.task_name,
        record.checked_on.isoformat(), record.department_name, record.result, record.published_on.isoformat(),
        status(record)[1], correction_note(record),
    ]
    return [neutralise(c) for c in cells]


def _write_csv(path: Path, records: Sequence[PublishedRecord]) -> None:
    """UTF-8 with BOM so Excel shows the Chinese; every cell neutralised against formula injection."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_HEADER)
        writer.writerows(_csv_row(r) for r in records)


def _json_record(record: PublishedRecord) -> dict[str, Any]:
    return {
        "number": record.number, "enterprise_name": record.enterprise_name, "uscc": record.uscc,
        "task": record.task_code, "task_name": record.task_name, "checked_on": record.checked_on.isoformat(),
        "department": record.department_name, "result": record.result, "published_on": record.published_on.isoformat(),
        "status": status(record)[0], "corrects": record.corrects, "corrected_by": record.corrected_by,
        "correction_reason": record.correction_reason,
    }


def _write_json(path: Path, task_code: str, task_name: str, records: Sequence[PublishedRecord]) -> None:
    document = {"task": task_code, "task_name": task_name, "records": [_json_record(r) for r in records]}
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8", newline="\n")


def _template() -> Template:
    environment = Environment(loader=PackageLoader("inspection", "templates"), autoescape=select_autoescape(["html"]))
    return environment.get_template(TEMPLATE_NAME)


def _link(number: str | None, ids: dict[str, str], positions: dict[str, int]) -> dict[str, Any] | None:
    """Where a related record is: an in-page anchor when it is on this page, else just its number."""
    if not number:
        return None
    return {"number": number, "href": f"#{ids[number]}" if number in ids else None, "position": positions.get(number)}


def _html_rows(records: Sequence[PublishedRecord], ids: dict[str, str]) -> list[dict[str, Any]]:
    positions = {r.number: i for i, r in enumerate(records, start=1)}
    return [{
        "id": ids[r.number], "position": i, "number": r.number, "enterprise": r.enterprise_name, "uscc": r.uscc,
        "checked_on": f"{r.checked_on:%Y年%m月%d日}", "department": r.department_name, "result": r.result,
        "published_on": f"{r.published_on:%Y年%m月%d日}", "status": status(r)[0], "label": status(r)[1],
        "corrects": _link(r.corrects, ids, positions), "corrected_by": _link(r.corrected_by, ids, positions),
        "reason": r.correction_reason or "",
    } for i, r in enumerate(records, start=1)]


def _write_html(path: Path, task_code: str, task_name: str, records: Sequence[PublishedRecord], ids: dict[str, str]) -> None:
    html = _template().render(
        task=task_code, task_name=task_name, rows=_html_rows(records, ids),
        total=len(records), corrections=sum(1 for r in records if r.corrects),
    )
    path.write_text(html, encoding="utf-8", newline="\n")
