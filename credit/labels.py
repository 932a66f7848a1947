"""Enumerations whose members carry their Chinese labels, parsed from either form."""

from __future__ import annotations

import enum
from typing import Self


class Labeled(enum.StrEnum):
    """A string enum stored by its English code and shown by its first Chinese label.

    Declare members as ``CODE = "code", "中文标签", "别名"``; ``parse`` accepts the
    code or any label.
    """

    labels: tuple[str, ...]

    def __new__(cls, value: str, *labels: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.labels = labels or (value,)
        return member

    @property
    def label(self) -> str:
        """The Chinese label used in exports and public documents."""
        return self.labels[0]

    @classmethod
    def lookup(cls) -> dict[str, Self]:
        """Every accepted spelling (code, case-folded, and each label) mapped to its member."""
        table = cls.__dict__.get("_lookup_table")
        if table is None:
            table = {}
            for member in cls:
                table[member.value.casefold()] = member
                for label in member.labels:
                    table[label] = member
            cls._lookup_table = table  # built once per enum, on first use
        return table

    @classmethod
    def parse(cls, text: str) -> Self:
        """The member for a code or a Chinese label; ``ValueError`` lists what is accepted."""
        key = text.strip()
        table = cls.lookup()
        member = table.get(key) or table.get(key.casefold())
        if member is None:
            accepted = "/".join(m.label for m in cls)
            raise ValueError(f"unknown value {text!r}; expected one of {accepted}")
        return member
