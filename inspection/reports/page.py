"""The oversight report as one static HTML page in Chinese: per section a title, a one-sentence
summary, its chart (PNG embedded as a data URI) and its tables. Reads no database."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from credit.policy import TIERS
from inspection.enums import TaskStatus
from inspection.reports import charts
from inspection.reports import figures as f

PAGE_NAME = "index.html"
TEMPLATE_NAME = "report.html"
VERDICTS = {"stable": "稳定", "watch": "需关注", "shift": "显著变化"}
LIGHTS = {"red": "红灯（逾期）", "yellow": "黄灯（即将到期）", "green": "绿灯（期限内）", "closed": "已完结"}


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _src(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _chart(title: str, png: bytes) -> dict[str, str]:
    return {"title": title, "src": _src(png)}


def _table(title: str, header: list[str], rows: list[list[Any]], numeric_from: int = 1) -> dict[str, Any]:
    return {"title": title, "header": header, "rows": [["—" if c is None else c for c in row] for row in rows], "numeric_from": numeric_from}


def _status(value: str) -> str:
    return TaskStatus(value).label


def _coverage(c: f.Coverage, names: dict[str, str], chinese: bool) -> dict[str, Any]:
    t = c.total
    summary = (f"计划抽查 {t.planned} 户次，实际抽取 {t.drawn} 户次（{t.visits} 户），已检查 {t.visited} 户次（{pct(f.share(t.visited, t.drawn))}），"
               f"已公示 {t.published} 户次（{pct(f.share(t.published, t.drawn))}）。")
    head = ["计划", "抽取", "已检查", "已公示", "户数", "检查率", "公示率"]

    def cells(x: f.Counts) -> list[Any]:
        return [x.planned, x.drawn, x.visited, x.published, x.visits, pct(f.share(x.visited, x.drawn)), pct(f.share(x.published, x.drawn))]

    return {
        "summary": summary,
        "note": "单位为“户次”：一户企业的一个抽查事项计一户次；计划数为抽取时各事项、各信用等级（抽查层）的应抽数。",
        "charts": [_chart("按信用等级的抽查覆盖", charts.coverage_by_tier(c, chinese))],
        "tables": [
            _table("按信用等级", ["信用等级", *head], [[f"{line.key}类", *cells(line.counts)] for line in c.by_tier]),
            _table("按检查实施部门", ["部门", *head], [[names.get(line.key, line.label), *cells(line.counts)] for line in c.by_department]),
            _table("按抽查任务", ["任务编号", "任务名称", "状态", *head], [[line.key, line.label, _status(line.status or "drawn"), *cells(line.counts)] for line in c.tasks], 3),
        ],
    }


def _joint(j: f.Joint, chinese: bool) -> dict[str, Any]:
    data = j.as_dict()
    summary = (f"共检查 {j.visits} 户、{j.matters} 个事项，平均每户 {data['mean_matters_per_visit'] or 0:.2f} 项；其中 {j.joint_visits} 户为跨部门联合检查"
               f"（{pct(data['joint_share'])}）。与各部门分别抽取（需进门 {j.separate_visits} 次）相比，少进企业门 {j.saved} 次（{pct(data['saved_share'])}）。")
    return {
        "summary": summary, "note": "进一次门、查多项事：同一企业被多个事项抽中时合并为一次检查。",
        "charts": [_chart("每户检查事项数分布", charts.matters_per_visit(j, chinese))],
        "tables": [
            _table("每户检查事项数", ["事项数", "户数"], [[k, v] for k, v in sorted(j.matters_per_visit.items())]),
            _table("按抽查任务", ["任务编号", "户数", "事项数", "分别抽取需进门次数", "减少进门次数"],
                   [[t["task"], t["visits"], t["matters"], t["separate_visits"], t["visits_saved"]] for t in data["by_task"]]),
        ],
    }


def _timeliness(t: f.Timeliness, names: dict[str, str], chinese: bool) -> dict[str, Any]:
    total = t.total
    summary = (f"检查结果应自检查之日起 {t.deadline_working_days} 个工作日内公示。已公示 {total.published} 项，其中按期 {total.counts['published_on_time']} 项"
               f"（{pct(f.share(total.counts['published_on_time'], total.published))}）、逾期 {total.counts['published_late']} 项；"
               f"尚未公示 {total.open} 项，其中即将到期 {total.counts['due_soon']} 项、已逾期 {total.counts['overdue']} 项。")
    header = ["部门", *(f.TIMELINESS_LABELS[k] for k in f.TIMELINESS), "合计", "按期公示率"]
    rows = [[names.get(line.key, line.label), *(line.counts[k] for k in f.TIMELINESS), line.total, pct(f.share(line.counts["published_on_time"], line.published))]
            for line in [*t.departments, total]]
    tables = [_table("按检查实施部门", header, rows)]
    if t.overdue:
        tables.append(_table("已逾期未公示", ["检查编号", "部门"], [[d.visit, names.get(d.department, d.department)] for d in t.overdue], 2))
    return {"summary": summary, "note": "一户企业的检查结果由参与的各部门分别公示（谁检查、谁录入、谁公开），按部门分别计数。",
            "charts": [_chart("按部门的公示及时性", charts.timeliness_by_department(t, names, chinese))], "tables": tables}


def _closure(c: f.Closure, chinese: bool) -> dict[str, Any]:
    median = "—" if c.median_days_to_close is None else f"{c.median_days_to_close:g}"
    summary = (f"共 {c.cases} 件后续处置案件，已完结 {c.closed} 件（{pct(f.share(c.closed, c.cases))}），逾期未完结（红灯）{c.by_light['red']} 件；"
               f"已完结案件自立案至完结的工作日数中位数为 {median} 天。")
    tables = [_table("按处置阶段", ["阶段", "案件数"], [[p, n] for p, n in c.by_phase.items()]),
              _table("按红黄绿灯", ["状态", "案件数"], [[LIGHTS[k], n] for k, n in c.by_light.items()])]
    tables.append(_table("逾期未完结案件", ["案件编号", "检查编号", "企业名称", "部门", "处置类型", "阶段", "期限", "逾期工作日"],
                         [[x.id, x.visit, x.enterprise, x.department, x.kind, x.phase, x.deadline.isoformat(),
                           None if x.working_days_left is None else -x.working_days_left] for x in c.overdue], 7))
    return {"summary": summary, "note": "逾期清单为空表示没有逾期未完结的案件。",
            "charts": [_chart("每周完结案件数及累计", charts.closure_over_time(c, chinese))], "tables": tables}


def _fairness(fa: f.Fairness, chinese: bool) -> dict[str, Any]:
    data = fa.as_dict()
    yearly = data["yearly_checks"]
    repeats = ("无：没有企业在 {m} 个月内就同一事项被重复检查。" if not fa.repeats else "有 {n} 起 {m} 个月内同一事项的重复检查，见下表。").format(m=fa.recheck_months, n=len(fa.repeats))
    summary = (f"{len(fa.inspectors)} 名检查人员共分配 {data['assigned']} 户次，按资格随机的期望为 {data['expected']:g} 户次；"
               f"实际与期望之比在 {_ratio(data['ratio_min'])} 至 {_ratio(data['ratio_max'])} 之间。"
               f"每户企业年度检查最多 {yearly['max']} 次（上限 {fa.yearly.cap} 次），超过上限 {len(fa.yearly.over_cap)} 户。")
    tables = [
        _table("检查人员实际分配与期望", ["编号", "姓名", "部门", "实际分配", "期望", "实际/期望"],
               [[i.number, i.name, i.department, i.assigned, f"{float(i.expected):.2f}", None if i.ratio is None else f"{i.ratio:.2f}"] for i in fa.inspectors], 3),
        _table("企业年度检查次数分布", ["年度", "检查次数", "企业数"],
               [[y, k, v] for y, d in sorted(fa.yearly.distribution.items()) for k, v in sorted(d.items())]),
    ]
    if fa.yearly.over_cap:
        tables.append(_table("超过年度检查上限的企业", ["统一社会信用代码", "企业名称", "年度", "检查次数", "来源"],
                             [[e.uscc, e.name, e.year, e.checks, "、".join(e.sources)] for e in fa.yearly.over_cap], 2))
    if fa.repeats:
        tables.append(_table("同一事项重复检查", ["统一社会信用代码", "企业名称", "事项", "前次任务", "前次", "后次任务", "后次"],
                             [[r.uscc, r.name, r.item, r.first, r.first_on.isoformat(), r.second, r.second_on.isoformat()] for r in fa.repeats], 7))
    note = "期望户次：每次检查中，部门的每个席位在符合条件的检查人员中均等抽取，每人的机会为席位数 ÷ 符合条件人数，逐户相加。"
    if fa.unassigned_tasks:
        note += f" 尚未分配检查人员的任务：{'、'.join(fa.unassigned_tasks)}。"
    return {"summary": summary, "note": note, "verdict": repeats,
            "charts": [_chart("检查人员实际分配与期望户次", charts.inspector_load(fa.inspectors, chinese))], "tables": tables}


def _credit(c: f.Credit, chinese: bool) -> dict[str, Any]:
    runs = [f.run_line(r) for r in c.runs]
    drifts = [f.drift_line(d) for d in c.drifts]
    if runs:
        last = runs[-1]
        summary = (f"最近一次分类（第 {last['run']} 次，{last['as_of']}）共 {last['enterprises']} 户："
                   + "，".join(f"{t}类 {last['counts'][t]} 户（{pct(last['shares'][t])}）" for t in TIERS) + "。")
        if drifts:
            d = drifts[-1]
            summary += f"与上一次相比，{d['riskier']} 户风险等级上升、{d['safer']} 户下降，群体稳定性指数 PSI 为 {d['psi']:.4f}（{VERDICTS[d['verdict']]}）。"
    else:
        summary = "没有信用风险分类记录。"
    tables = [_table("各次分类的等级分布", ["分类批次", "分类日期", "企业数", *(f"{t}类" for t in TIERS)],
                     [[r["run"], r["as_of"], r["enterprises"], *(f"{r['counts'][t]}（{pct(r['shares'][t])}）" for t in TIERS)] for r in runs], 2)]
    if drifts:
        tables.append(_table("相邻两次分类的变化", ["前次", "后次", "等级不变", "风险上升", "风险下降", "仅前次", "仅后次", "PSI", "判断"],
                             [[d["run_a"], d["run_b"], d["stayed"], d["riskier"], d["safer"], d["only_a"], d["only_b"], f"{d['psi']:.4f}", VERDICTS[d["verdict"]]] for d in drifts]))
        d = drifts[-1]
        tables.append(_table(f"等级迁移矩阵（第 {d['run_a']} 次 → 第 {d['run_b']} 次）", ["前次＼后次", *(f"{t}类" for t in TIERS)],
                             [[f"{a}类", *(d["matrix"][a][b] for b in TIERS)] for a in TIERS]))
    return {"summary": summary, "note": "信用风险分类仅供内部监管使用，不对外公示。PSI < 0.10 为稳定，0.10–0.25 需关注，> 0.25 为显著变化。",
            "charts": [_chart("各等级企业占比", charts.tier_distribution(c, chinese))], "tables": tables}


def _empty_message(section: f.Section, report: f.Report) -> str | None:
    if section.message is None:
        return None
    if section.kind != "credit" and not report.tasks:
        return f"{report.year}年没有抽查任务。" if report.year is not None else "尚无抽查任务。"
    return {
        "joint": "所选任务尚未抽取。", "timeliness": f"截至 {report.as_of.isoformat()} 没有到期应公示的检查结果。",
        "closure": "没有后续处置案件。", "fairness": "所选任务尚未分配检查人员。",
        "credit": f"{report.year}年没有信用风险分类记录。" if report.year is not None else "没有信用风险分类记录。",
    }.get(section.kind, section.message)


def sections(report: f.Report, chinese: bool = True) -> list[dict[str, Any]]:
    """What the template shows of each section; ``chinese`` False draws the charts in English."""
    names = report.departments
    out = []
    for section in report.sections:
        fig = section.figures
        if isinstance(fig, f.Coverage):
            view = _coverage(fig, names, chinese)
        elif isinstance(fig, f.Joint):
            view = _joint(fig, chinese)
        elif isinstance(fig, f.Timeliness):
            view = _timeliness(fig, names, chinese)
        elif isinstance(fig, f.Closure):
            view = _closure(fig, chinese)
        elif isinstance(fig, f.Fairness):
            view = _fairness(fig, chinese)
        else:
            view = _credit(fig, chinese)
        out.append({"kind": section.kind, "title": f.TITLES[section.kind], "message": _empty_message(section, report), **view})
    return out


def scope_text(report: f.Report) -> str:
    if report.task is not None:
        return f"抽查任务 {report.task}"
    if report.year is not None:
        return f"{report.year}年抽查任务（{len(report.tasks)} 项）"
    return f"全部抽查任务（{len(report.tasks)} 项）"


def write_page(folder: Path, report: f.Report, generated: dt.date | None = None) -> Path:
    """Write ``folder/index.html`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    environment = Environment(loader=PackageLoader("inspection", "templates"), autoescape=select_autoescape(["html"]))
    html = environment.get_template(TEMPLATE_NAME).render(
        scope=scope_text(report), as_of=report.as_of.isoformat(), generated=(generated or dt.date.today()).isoformat(),
        tasks=report.tasks, sections=sections(report),
    )
    path = folder / PAGE_NAME
    path.write_text(html, encoding="utf-8", newline="\n")
    return path
