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
