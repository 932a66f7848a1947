"""Charts of the oversight reports as PNG bytes: matplotlib's object API on the Agg canvas (no
pyplot, no global backend). Labels are Chinese when a CJK font is installed; otherwise English
words and department codes, so no glyph is ever missing."""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Callable, Sequence

from matplotlib import font_manager, rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from credit.policy import TIERS
from inspection.reports import figures as f

# Families that cover Simplified Chinese, the usual Linux, Windows and macOS ones first.
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Droid Sans Fallback", "Microsoft YaHei", "SimHei", "PingFang SC", "Hiragino Sans GB",
    "Heiti SC", "STHeiti", "Noto Serif CJK SC", "AR PL UMing CN", "SimSun",
)
TIER_COLOURS = {"A": "#2e7d32", "B": "#1e88e5", "C": "#fb8c00", "D": "#c62828"}
TIMELINESS_COLOURS = {"published_on_time": "#2e7d32", "published_late": "#8d6e63", "on_time": "#90caf9", "due_soon": "#fbc02d", "overdue": "#c62828"}
TIMELINESS_EN = {"published_on_time": "published on time", "published_late": "published late", "on_time": "open, on time",
                 "due_soon": "open, due soon", "overdue": "open, overdue"}
STAGES = (("planned", "计划", "planned", "#b0bec5"), ("drawn", "抽取", "drawn", "#1e88e5"),
          ("visited", "已检查", "visited", "#43a047"), ("published", "已公示", "published", "#8e24aa"))


@functools.cache
def cjk_font() -> str | None:
    """The first installed font family that has Chinese glyphs, or None."""
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in installed), None)


class Words:
    """Chinese when the font can show it, English otherwise."""

    def __init__(self, chinese: bool) -> None:
        self.chinese = chinese

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.chinese else en

    def department(self, code: str, name: str) -> str:
        return name if self.chinese else code


def _png(draw: Callable[[Figure, Words], None], chinese: bool, size: tuple[float, float] = (8.0, 4.0)) -> bytes:
    font = cjk_font() if chinese else None
    words = Words(font is not None)
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    with rc_context({"font.family": "sans-serif", "font.sans-serif": families, "axes.unicode_minus": False}), warnings.catch_warnings():
        # A character outside the chosen font (a rare name) draws as a box rather than failing the report.
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from", category=UserWarning)
        figure = Figure(figsize=size, dpi=100, layout="constrained")
        draw(figure, words)
        out = io.BytesIO()
        figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _nothing(axes: Axes, words: Words) -> None:
    axes.text(0.5, 0.5, words("暂无数据", "no data"), ha="center", va="center", fontsize=14, color="#777", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def tier_distribution(credit: f.Credit, chinese: bool = True) -> bytes:
    """Each grading run as a bar split into the shares of tiers A–D."""

    def draw(figure: Figure, w: Words) -> None:
        axes = figure.add_subplot()
        axes.set_title(w("信用风险分类：各等级企业占比", "Credit-risk tiers: share of enterprises per run"))
        runs = [f.run_line(r) for r in credit.runs]
        if not runs:
            return _nothing(axes, w)
        labels = [w(f"第{r['run']}次\n{r['as_of']}", f"run {r['run']}\n{r['as_of']}") for r in runs]
        left = [0.0] * len(runs)
        for tier in TIERS:
            values = [100 * (r["shares"][tier] or 0) for r in runs]
            bars = axes.barh(labels, values, left=left, color=TIER_COLOURS[tier], label=w(f"{tier}类", f"tier {tier}"))
            axes.bar_label(bars, labels=[f"{v:.1f}%" if v >= 6 else "" for v in values], label_type="center", color="white", fontsize=8)
            left = [a + b for a, b in zip(left, values, strict=True)]
        axes.set_xlim(0, 100)
        axes.set_xlabel(w("占比（%）", "share of enterprises (%)"))
        axes.set_ylabel(w("分类批次", "grading run"))
        axes.invert_yaxis()
        axes.legend(ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)

    return _png(draw, chinese, (8.0, 1.6 + 0.6 * max(1, len(credit.runs))))


def coverage_by_tier(coverage: f.Coverage, chinese: bool = True) -> bytes:
    """Per tier, matters planned, drawn, visited and published, side by side."""

    def draw(figure: Figure, w: Words) -> None:
        axes = figure.add_subplot()
        axes.set_title(w("抽查覆盖情况：按信用等级", "Coverage by credit tier"))
        positions = range(len(coverage.by_tier))
        width = 0.2
        for k, (stage, zh, en, colour) in enumerate(STAGES):
            values = [getattr(line.counts, stage) for line in coverage.by_tier]
            bars = axes.bar([p + (k - 1.5) * width for p in positions], values, width, label=w(zh, en), color=colour)
            axes.bar_label(bars, fontsize=8)
        axes.set_xticks(list(positions), [w(f"{line.key}类", f"tier {line.key}") for line in coverage.by_tier])
        axes.set_xlabel(w("信用风险等级", "credit-risk tier"))
        axes.set_ylabel(w("事项户次", "matters (enterprise × item)"))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(frameon=False)
        axes.margins(y=0.15)

    return _png(draw, chinese)


def timeliness_by_department(timeliness: f.Timeliness, names: dict[str, str], chinese: bool = True) -> bytes:
    """Per department, a bar split into published on time, late, and still open by urgency."""

    def draw(figure: Figure, w: Words) -> None:
        axes = figure.add_subplot()
        axes.set_title(w(f"公示及时性：按部门（{timeliness.deadline_working_days}个工作日内公示）",
                         f"Publication within {timeliness.deadline_working_days} working days, by department"))
        lines = [line for line in timeliness.departments if line.total]
        if not lines:
            return _nothing(axes, w)
        labels = [w.department(line.key, names.get(line.key, line.label)) for line in lines]
        left = [0] * len(lines)
        for key in f.TIMELINESS:
            values = [line.counts[key] for line in lines]
            axes.barh(labels, values, left=left, color=TIMELINESS_COLOURS[key], label=w(f.TIMELINESS_LABELS[key], TIMELINESS_EN[key]))
            left = [a + b for a, b in zip(left, values, strict=True)]
        axes.set_xlabel(w("检查结果（户次·部门）", "results (visit × department)"))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(w("检查实施部门", "department"))
        axes.invert_yaxis()
        axes.legend(ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False, fontsize=8)

    return _png(draw, chinese, (8.0, 2.2 + 0.5 * max(1, len(timeliness.departments))))


def closure_over_time(closure: f.Closure, chinese: bool = True) -> bytes:
    """Cases closed per week (bars) and in all so far (line)."""

    def draw(figure: Figure, w: Words) -> None:
        axes = figure.add_subplot()
        axes.set_title(w("后续处置闭环：每周完结案件数及累计", "Follow-up cases closed per week, and in all"))
        if not closure.weekly:
            return _nothing(axes, w)
        labels = [week.strftime("%m-%d" if len(closure.weekly) > 8 else "%Y-%m-%d") for week, _, _ in closure.weekly]
        weekly = [n for _, n, _ in closure.weekly]
        # One scale for both: the bars are each week's closures, the line their running total,
        # the dashed line every case, so the gap to it is what is still open.
        axes.bar(labels, weekly, color="#66bb6a", label=w("本周完结", "closed that week"))
        axes.plot(labels, [c for _, _, c in closure.weekly], color="#1e3a8a", marker="o", linewidth=2, label=w("累计完结", "closed in all"))
        axes.axhline(closure.cases, color="#c62828", linestyle="--", linewidth=1, label=w(f"案件总数（{closure.cases}）", f"all cases ({closure.cases})"))
        axes.set_xlabel(w("周（周一日期）", "week starting (Monday)"))
        axes.set_ylabel(w("案件数", "cases"))
        axes.set_ylim(0, max(closure.cases, 1) * 1.15)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
        if len(labels) > 12:
            axes.tick_params(axis="x", labelrotation=60)

    return _png(draw, chinese)


MOST_INSPECTORS = 60  # bars beyond this would be unreadable: the widest deviations are shown


def inspector_load(lines: Sequence[f.InspectorLine], chinese: bool = True) -> bytes:
    """Per inspector, visits assigned beside the visits expected from eligibility (with many
    inspectors, the MOST_INSPECTORS furthest from their expectation)."""
    shown = list(lines)
    if len(shown) > MOST_INSPECTORS:
        widest = sorted(shown, key=lambda x: (-abs(x.assigned - float(x.expected)), x.number))[:MOST_INSPECTORS]
        shown = sorted(widest, key=lambda x: x.number)
    cut = len(shown) < len(lines)

    def draw(figure: Figure, w: Words) -> None:
        axes = figure.add_subplot()
        title = w("公平性：检查人员实际分配与期望户次", "Inspector load: visits assigned against expected")
        if cut:
            title += w(f"（偏差最大的 {len(shown)} 名，共 {len(lines)} 名）", f" ({len(shown)} furthest of {len(lines)})")
        axes.set_title(title)
        if not shown:
            return _nothing(axes, w)
        positions = range(len(shown))
        axes.bar([p - 0.2 for p in positions], [line.assigned for line in shown], 0.4, color="#1e88e5", label=w("实际分配", "assigned"))
        axes.bar([p + 0.2 for p in positions], [float(line.expected) for line in shown], 0.4, color="#b0bec5", label=w("按资格期望", "expected"))
        axes.set_xticks(list(positions), [line.number for line in shown], rotation=90 if len(shown) > 12 else 0, fontsize=8)
        axes.set_xlabel(w("检查人员编号", "inspector"))
        axes.set_ylabel(w("检查户次", "visits"))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(frameon=False)

    return _png(draw, chinese, (max(8.0, 0.3 * len(shown)), 4.0))


def matters_per_visit(joint: f.Joint, chinese: bool = True) -> bytes:
    """How many visits cover 1, 2, 3… items."""

    def draw(figure: Figure, w: Words) -> None:
        axes = figure.add_subplot()
        axes.set_title(w("联合抽查：每户检查事项数分布", "Joint visits: items per visit"))
        if not joint.matters_per_visit:
            return _nothing(axes, w)
        counts = sorted(joint.matters_per_visit.items())
        bars = axes.bar([str(k) for k, _ in counts], [v for _, v in counts], color="#00897b")
        axes.bar_label(bars)
        axes.set_xlabel(w("每户检查事项数", "items checked on the visit"))
        axes.set_ylabel(w("户数", "visits"))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.margins(y=0.15)

    return _png(draw, chinese, (6.0, 3.5))
