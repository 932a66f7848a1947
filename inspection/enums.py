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
    """检查方式 of an item."""

    ONSITE = "onsite", "现场", "实地检查", "现场检查"
    DOCUMENT = "document", "书面", "书面检查"
    ONLINE = "online", "网络", "网络监测"


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
