"""Codes of the enterprise directory and credit records, with their Chinese labels."""

from __future__ import annotations

from credit.labels import Labeled


class EntityType(Labeled):
    """主体类型."""

    ENTERPRISE = "enterprise", "企业"
    INDIVIDUAL = "individual", "个体工商户", "个体户"
    COOPERATIVE = "cooperative", "农民专业合作社", "合作社"
    OTHER = "other", "其他"


class EnterpriseStatus(Labeled):
    """登记状态. Only 存续 and 在业 are in business."""

    SUBSISTING = "subsisting", "存续"
    OPERATING = "operating", "在业"
    SUSPENDED = "suspended", "停业"
    REVOKED = "revoked", "吊销"
    CANCELLED = "cancelled", "注销"
    MOVED_OUT = "moved_out", "迁出"


class RecordKind(Labeled):
    """记录类型 of a credit record."""

    PENALTY = "penalty", "行政处罚"
    ABNORMAL_IN = "abnormal_in", "列入经营异常名录"
    ABNORMAL_OUT = "abnormal_out", "移出经营异常名录"
    SERIOUS_IN = "serious_in", "列入严重违法失信名单"
    SERIOUS_OUT = "serious_out", "移出严重违法失信名单"
    COMPLAINT = "complaint", "投诉举报"
    ANNUAL_REPORT_LATE = "annual_report_late", "未按时年报"
    SPOT_CHECK = "spot_check", "抽查结果"
    COMMITMENT_BREACH = "commitment_breach", "违背信用承诺"
    COMMENDATION = "commendation", "表彰", "守信激励", "表彰/守信激励"


class Severity(Labeled):
    """处罚程度 of an administrative penalty."""

    GENERAL = "general", "一般"
    MAJOR = "major", "较重"
    SEVERE = "severe", "严重"


class Sector(Labeled):
    """领域 of a penalty; food, drugs and special equipment have longer repair waits."""

    FOOD = "food", "食品"
    DRUG = "drug", "药品"
    SPECIAL_EQUIPMENT = "special_equipment", "特种设备"
    OTHER = "other", "其他"


class AbnormalGround(Labeled):
    """列入事由: the four grounds of the abnormal-operations list (SAIC Order 68)."""

    ANNUAL_REPORT = "annual_report", "未按规定报送年度报告", "未按时报送年度报告", "1"
    INSTANT_INFO = "instant_info", "未按规定公示即时信息", "未按规定公示应当公示的信息", "2"
    FALSE_INFO = "false_info", "公示信息隐瞒真实情况弄虚作假", "公示信息隐瞒真实情况、弄虚作假", "3"
    UNREACHABLE = "unreachable", "通过登记的住所或者经营场所无法联系", "通过登记的住所（经营场所）无法联系", "4"


class RepairStatus(Labeled):
    """State of a credit-repair request (信用修复申请)."""

    REQUESTED = "requested", "已申请"
    APPROVED = "approved", "已修复"
    REJECTED = "rejected", "不予修复"
