"""Codes of the inspector directory and the spot-check item list, with Chinese labels."""

from __future__ import annotations

from credit.labels import Labeled


class InspectorStatus(Labeled):
    """在岗 inspectors can be drawn; 离岗 ones stay in the directory but never inspect."""

    ACTIVE = "active", "在岗"
    INACTIVE = "inactive", "离岗"


class ItemKind(Labeled):
    """一般检查事项 have capped ratios; 重点检查事项 may go to 100 %."""

    GENERAL = "general", "一般", "一般检查事项"
    KEY = "key", "重点", "重点检查事项"


class CheckMethod(Labeled):
    """检查方式 of an item, and 核查方式 of a result (domain.md §4: the last three only there)."""

    ONSITE = "onsite", "现场", "实地检查", "现场检查"
    DOCUMENT = "document", "书面", "书面检查"
    ONLINE = "online", "网络", "网络监测"
    OPINION = "opinion", "专业意见", "行政部门检查结果或专业意见"
    TESTING = "testing", "检验检测", "检验检测"
    AGENCY = "agency", "委托专业机构", "委托专业机构辅助"


class TaskKind(Labeled):
    """任务类型. Re-checks and complaint checks are exempt from the frequency rules."""

    ROUTINE = "routine", "日常抽查", "日常", "双随机"
    RECHECK = "recheck", "复查"
    COMPLAINT = "complaint", "投诉举报核查", "投诉举报"


class TaskStatus(Labeled):
    """A task is created, drawn once, and may later be replaced by a new task."""

    CREATED = "created", "已创建"
    DRAWN = "drawn", "已抽取"
    REPLACED = "replaced", "已重新抽取"


class DrawOutcome(Labeled):
    DRAWN = "drawn", "已抽取"
    REFUSED = "refused", "已拒绝"


class ResultState(Labeled):
    """State of a visit's results: 录入 → 待审核 → 已审核 → 已公示 (a return goes back to 录入)."""

    ENTERED = "entered", "录入"
    SUBMITTED = "submitted", "待审核"
    APPROVED = "approved", "已审核"
    PUBLISHED = "published", "已公示"


class Measure(Labeled):
    """后续处置措施 of an item's result (domain.md §5), in the standard wording."""

    NONE = "none", "未发现问题或相关问题已规范、已改正，无需后续处置", "无需后续处置"
    FEEDBACK = "feedback", "停止检查，反馈至日常监管部门依法依规处理", "反馈日常监管部门"
    ORDER = "order", "违反本部门相关规定，责令改正；后续跟踪由日常监管部门负责", "责令改正"
    REFER = "refer", "发现案件线索，初步固定相关证据后移送办案机构依法依规处理", "移送"
    NOTIFY = "notify", "违反其他部门相关规定，抄告相关部门", "抄告"
    OTHER = "other", "其他"


class CaseKind(Labeled):
    """What a follow-up case (后续处置) does, and so how it closes."""

    ORDER = "order", "责令改正"
    REFER = "refer", "移送"
    NOTIFY = "notify", "抄告"
    FEEDBACK = "feedback", "反馈日常监管部门"
    OTHER = "other", "其他处置"
    ABNORMAL = "abnormal", "列入经营异常名录建议"


class CasePhase(Labeled):
    """Where a follow-up case stands. 责令改正 → 复查 → 已完结; 移送/抄告/反馈 → 已完结 when the
    receiving side reports back; a listing proposal → 已完结 when decided."""

    RECTIFYING = "rectifying", "责令改正"
    RECHECKED = "rechecked", "复查"
    AWAITING = "awaiting", "待反馈"
    PROPOSED = "proposed", "待决定"
    OPEN = "open", "处置中"
    CLOSED = "closed", "已完结"
