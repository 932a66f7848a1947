"""The task announcement (抽查任务公告): CSV and HTML in Chinese for the public.

Before the draw it publishes the seed commitment; after it, the revealed seed, the entropy, the
hashes and the enterprises drawn. Credit tiers are internal and never appear (国市监信发〔2022〕6号:
分类结果不对外公开); the tier ratios, being policy, do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from credit.enums import EntityType
from credit.models import Department, District, Enterprise
from credit.policy import TIERS
from credit.tabular import write_table
from inspection.enums import CheckMethod, ItemKind, TaskKind
from inspection.sampling import ALGORITHM
from inspection.task_models import Draw, Plan, PlanBatch, Task, Visit, VisitItem
from inspection.tasks import task_items

KIND = {TaskKind.ROUTINE: "日常抽查", TaskKind.RECHECK: "复查", TaskKind.COMPLAINT: "投诉举报核查"}
ALGORITHM_TEXT = (
    "抽取密钥 = SHA-256(\"" + ALGORITHM + "\\n\" ‖ 种子 ‖ 公开随机数(UTF-8))；每户随机数 = SHA-256(抽取密钥 ‖ 统一社会信用代码) "
    "的前 8 字节（大端序）；按“事项×信用风险类别”分层，每层抽取 round(比例×户数) 户（四舍五入，非空层至少 1 户），"
    "取随机数最小者；同一企业各事项使用同一随机数，抽中多个事项的企业合并为一次检查（进一次门、查多项事）。"
)


def _environment() -> Environment:
    return Environment(loader=PackageLoader("inspection", "templates"), autoescape=select_autoescape(["html"]), keep_trailing_newline=True)


def announcement_data(session: Session, task: Task) -> dict[str, Any]:
    """Everything the announcement shows, as plain values."""
    plan = session.get(Plan, task.plan_id)
    batch = session.get(PlanBatch, task.batch_id)
    lead = session.get(Department, task.lead_department_id)
    draw = session.scalar(select(Draw).where(Draw.task_id == task.id))
    items = task_items(session, task)
    scope = json.loads(task.scope)
    district_names = {code: name for code, name in session.execute(select(District.code, District.name).where(District.code.in_(scope["districts"])))}
    drawn = json.loads(draw.report)["drawn_per_item"] if draw else {}
    data: dict[str, Any] = {
        "code": task.code, "name": task.name, "kind": KIND[task.kind],
        "plan": f"{plan.name}（{plan.code}）" if plan else "", "batch": f"{batch.name}（第{batch.number}批次）" if batch else "",
        "lead": lead.name if lead else "", "departments": sorted({d.name for _, _, d in items}),
        "window": f"{task.starts_on:%Y年%m月%d日} 至 {task.ends_on:%Y年%m月%d日}",
        "scope": {
            "行政区划": "、".join(district_names.get(c, c) for c in scope["districts"]) or "全部",
            "监管所": "、".join(scope["stations"]) or "全部",
            "主体类型": "、".join(EntityType(t).label for t in scope["entity_types"]) or "全部",
            "行业（国民经济行业分类）": "、".join(scope["industries"]) or "全部",
        },
        "inspectors_per_visit": task.inspectors_per_visit,
        "items": [
            {"department": d.name, "code": i.code, "name": i.name, "basis": i.legal_basis,
             "kind": ItemKind(i.kind).label + "检查事项", "methods": "、".join(CheckMethod(m).labels[1] for m in filter(None, i.methods.split(";"))),
             "ratios": "；".join(f"{t}类 {getattr(ti, f'ratio_{t.lower()}')}" for t in TIERS),
             "drawn": drawn.get(i.code, "")}
            for ti, i, d in items
        ],
        "commitment": task.seed_commitment, "seed_source": task.seed_source, "algorithm": ALGORITHM_TEXT,
        "replaces": None, "draw": None, "targets": [],
    }
    if task.replaces_task_id:
        old = session.get(Task, task.replaces_task_id)
        data["replaces"] = {"code": old.code if old else "", "reason": task.replace_reason}
    if draw is not None:
        data["draw"] = {
            "drawn_at": f"{draw.drawn_at:%Y-%m-%d %H:%M:%S} UTC", "entropy": draw.entropy, "seed": draw.seed_hex,
            "key": draw.key_hex, "population": draw.population_size, "population_sha256": draw.population_sha256,
            "result_sha256": draw.result_sha256, "visits": draw.visits, "matters": draw.matters,
            "separate_visits": draw.separate_visits,
        }
        data["targets"] = _targets(session, task)
    return data


def _targets(session: Session, task: Task) -> list[dict[str, Any]]:
    names = {ti.id: (i.name, d.name) for ti, i, d in task_items(session, task)}
    rows = session.execute(
        select(Visit.rank, Visit.number, Enterprise.name, Enterprise.uscc, VisitItem.task_item_id)
        .join(Enterprise, Enterprise.id == Visit.enterprise_id).join(VisitItem, VisitItem.visit_id == Visit.id)
        .where(Visit.task_id == task.id).order_by(Visit.rank, VisitItem.task_item_id)
    ).all()
    targets: dict[int, dict[str, Any]] = {}
    for rank, number, name, uscc, task_item_id in rows:
        entry = targets.setdefault(rank, {"rank": rank, "name": name, "uscc": uscc, "number": number, "items": [], "departments": []})
        item_name, department = names[task_item_id]
        entry["items"].append(item_name)
        if department not in entry["departments"]:
            entry["departments"].append(department)
    return list(targets.values())


def write_announcement(session: Session, task: Task, out_dir: Path) -> list[Path]:
    """Write announcement.html, announcement.csv, items.csv and, after the draw, targets.csv."""
    data = announcement_data(session, task)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / "announcement.html"
    html.write_text(_environment().get_template("announcement.html").render(**data), encoding="utf-8")
    summary = [
        ("任务编号", data["code"]), ("任务名称", data["name"]), ("任务类型", data["kind"]), ("所属计划", data["plan"]),
        ("批次", data["batch"]), ("发起部门", data["lead"]), ("参与部门", "、".join(data["departments"])),
        ("检查时间", data["window"]), *((f"抽查范围：{k}", v) for k, v in data["scope"].items()),
        ("每户检查人员", f"不少于{data['inspectors_per_visit']}名"), ("随机种子承诺（SHA-256）", data["commitment"]),
        ("抽取方法", data["algorithm"]),
    ]
    if data["replaces"]:
        summary += [("重新抽取所替代的任务", data["replaces"]["code"]), ("重新抽取原因", data["replaces"]["reason"])]
    if data["draw"]:
        d = data["draw"]
        summary += [
            ("抽取时间", d["drawn_at"]), ("公开随机数", d["entropy"]), ("随机种子（已公开）", d["seed"]), ("抽取密钥", d["key"]),
            ("检查对象名录户数", d["population"]), ("检查对象名录快照哈希（SHA-256）", d["population_sha256"]),
            ("抽取结果哈希（SHA-256）", d["result_sha256"]), ("抽取户数", d["visits"]), ("检查事项次数", d["matters"]),
            ("各部门分别抽取所需户次", d["separate_visits"]),
        ]
    files = [html, out_dir / "announcement.csv", out_dir / "items.csv"]
    write_table(files[1], ["项目", "内容"], summary)
    write_table(files[2], ["检查实施部门", "事项编码", "抽查事项", "抽查依据", "事项类别", "抽查方式", "抽查比例", "抽取户数"],
                [[i["department"], i["code"], i["name"], i["basis"], i["kind"], i["methods"], i["ratios"], i["drawn"]] for i in data["items"]])
    if data["draw"]:
        files.append(out_dir / "targets.csv")
        write_table(files[3], ["序号", "企业名称", "统一社会信用代码", "检查事项", "检查实施部门", "随机数"],
                    [[t["rank"], t["name"], t["uscc"], "；".join(t["items"]), "、".join(t["departments"]), t["number"]] for t in data["targets"]])
    return files
