"""Simulated results of a task's visits, as ``spotcheck result import`` files (the demo only).

One file per recording inspector (the first of each team by number), since an inspector imports
only the results of their own visits. Most items are clean; every 5th visit has a publicity problem
on its first 市场监管 item (责令改正), every 7th a problem on an item of another department (责令改正),
and the 3rd cannot be reached at its registered address (→ a 经营异常名录 proposal on
publication). Deterministic: the same database gives the same files.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

HEADER = ["检查编号", "检查事项编码", "录入人员编号", "是否检查", "核查方式", "检查结果", "发现问题情况", "后续处置措施"]
LEAD = "SCJG"

_VISITS = text(
    "SELECT v.id, v.rank, min(i.inspector_no) FROM visits v JOIN tasks t ON t.id = v.task_id"
    " JOIN assignments a ON a.visit_id = v.id JOIN inspectors i ON i.id = a.inspector_id"
    " WHERE t.code = :task AND v.scheduled_on IS NOT NULL GROUP BY v.id, v.rank ORDER BY v.rank")
_ITEMS = text(
    "SELECT vi.visit_id, ci.code, d.code FROM visit_items vi JOIN visits v ON v.id = vi.visit_id"
    " JOIN tasks t ON t.id = v.task_id JOIN task_items ti ON ti.id = vi.task_item_id"
    " JOIN check_items ci ON ci.id = ti.item_id JOIN departments d ON d.id = ti.department_id"
    " WHERE t.code = :task ORDER BY vi.visit_id, ci.code")


def write_results(session: Session, task: str, out: Path) -> dict[str, list[str]]:
    """Write ``out/<inspector>.csv`` for each recording inspector; returns inspector → visit refs."""
    items: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for visit_id, code, department in session.execute(_ITEMS, {"task": task}):
        items[visit_id].append((code, department))
    rows: dict[str, list[list[str]]] = defaultdict(list)
    visits: dict[str, list[str]] = defaultdict(list)
    for n, (visit_id, rank, recorder) in enumerate(session.execute(_VISITS, {"task": task}), start=1):
        mine = items[visit_id]
        first_lead = next((code for code, dept in mine if dept == LEAD), None)
        first_other = next((code for code, dept in mine if dept != LEAD), None)
        ref = f"{task}/{rank}"
        visits[recorder].append(ref)
        for code, _ in mine:
            result, findings, measure = "1", "", ""
            if n == 3 and code == first_lead:
                result, findings, measure = "A;2;6", "登记住所无人办公，电话无法接通", "其他"
            elif n % 5 == 0 and code == first_lead:
                result, findings, measure = "A;2;B", "未按规定公示年度报告中的股东出资信息", "责令改正"
            elif n % 7 == 0 and code == first_other:
                result, findings, measure = "A;5", "安全管理台账缺失", "责令改正"
            rows[recorder].append([ref, code, recorder, "是", "实地检查；书面检查", result, findings, measure])
    out.mkdir(parents=True, exist_ok=True)
    for recorder, lines in sorted(rows.items()):
        with (out / f"{recorder}.csv").open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(HEADER)
            writer.writerows(lines)
    return dict(visits)
