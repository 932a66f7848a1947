"""Write simulated results of a task's visits as `spotcheck result import` files (demo only):
one file per recording inspector (the first of each team by number), since an inspector imports
only the results of their own visits.

Most items are clean; every 5th visit has a publicity problem on its first 市场监管 item (责令改正),
every 7th a safety problem on an 应急管理 item (责令改正), and one enterprise cannot be reached at
its registered address (→ a 经营异常名录 proposal on publication). Deterministic: the same
database gives the same files.

    python scripts/simulate_results.py demo.db 2026-SPB-JLP-2-2 demo-results/   # → demo-results/JC0001.csv, ...
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

HEADER = ["检查编号", "检查事项编码", "录入人员编号", "是否检查", "核查方式", "检查结果", "发现问题情况", "后续处置措施"]


def main(database: str, task: str, out: str) -> None:
    db = sqlite3.connect(database)
    visits = db.execute(
        "SELECT v.id, v.rank FROM visits v JOIN tasks t ON t.id = v.task_id WHERE t.code = ? AND v.scheduled_on IS NOT NULL ORDER BY v.rank", (task,)
    ).fetchall()
    rows: dict[str, list[list[str]]] = defaultdict(list)
    for n, (visit_id, rank) in enumerate(visits, start=1):
        recorder = db.execute(
            "SELECT i.inspector_no FROM assignments a JOIN inspectors i ON i.id = a.inspector_id WHERE a.visit_id = ? ORDER BY i.inspector_no LIMIT 1", (visit_id,)
        ).fetchone()[0]
        items = db.execute(
            "SELECT ci.code, d.code FROM visit_items vi JOIN task_items ti ON ti.id = vi.task_item_id JOIN check_items ci ON ci.id = ti.item_id"
            " JOIN departments d ON d.id = ti.department_id WHERE vi.visit_id = ? ORDER BY ci.code", (visit_id,)
        ).fetchall()
        first_scjg = next((code for code, dept in items if dept == "SCJG"), None)
        first_yjj = next((code for code, dept in items if dept == "YJJ"), None)
        for code, _ in items:
            result, findings, measure = "1", "", ""
            if n == 3 and code == first_scjg:
                result, findings, measure = "A;2;6", "登记住所无人办公，电话无法接通", "其他"
            elif n % 5 == 0 and code == first_scjg:
                result, findings, measure = "A;2;B", "未按规定公示年度报告中的股东出资信息", "责令改正"
            elif n % 7 == 0 and code == first_yjj:
                result, findings, measure = "A;5", "安全生产管理台账缺失", "责令改正"
            rows[recorder].append([f"{task}/{rank}", code, recorder, "是", "实地检查；书面检查", result, findings, measure])
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for recorder, mine in sorted(rows.items()):
        with (folder / f"{recorder}.csv").open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(HEADER)
            writer.writerows(mine)
    print(f"{out}: {sum(map(len, rows.values()))} item results on {len(visits)} visits, one file for each of {len(rows)} inspectors")


if __name__ == "__main__":
    main(*sys.argv[1:4])
