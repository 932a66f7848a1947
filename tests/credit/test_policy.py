"""The policy file: the shipped default loads, every mistake is refused with the key named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from credit.policy import PolicyError, default_policy_text, load_policy, parse_policy


def test_default_policy_values() -> None:
    policy = load_policy()
    assert policy.points["penalty.major"] == 30 and policy.points["commendation"] == -10
    assert policy.impact_months["abnormal_in"] is None and policy.impact_months["penalty.severe"] == 36
    assert policy.thresholds == (0, 30, 80) and policy.default_tier == "B"
    assert policy.tier_of(-0.01) == "A" and policy.tier_of(0) == "B" and policy.tier_of(30) == "C" and policy.tier_of(80) == "D"
    assert re.fullmatch(r"[0-9a-f]{64}", policy.sha256)


def test_hash_ignores_comments_but_not_values() -> None:
    text = default_policy_text()
    same = parse_policy("# a comment\n" + text, "x")
    changed = parse_policy(text.replace("c = 30", "c = 31"), "x")
    base = parse_policy(text, "x")
    assert same.sha256 == base.sha256
    assert changed.sha256 != base.sha256


def _edit(old: str, new: str) -> str:
    text = default_policy_text()
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("c = 30", "c = 30\nextra = 1", "tiers.extra: unknown key"),
        ('decay = "none"', 'decay = "none"\ncolour = "red"', "colour: unknown key"),
        ("c = 30", 'c = "30"', "tiers.c: expected an integer or a number, got str '30'"),
        ("c = 30", "c = true", "tiers.c: expected an integer or a number, got a boolean"),
        ("c = 30", "c = 90", "thresholds out of order"),
        ("b = 0", "b = 5", "the default tier (no records) must be A"),
        ('default = "B"', 'default = "E"', "tiers.default: expected one of A, B, C, D"),
        ("commendation = -10 ", "commendation = 10 ", "points.commendation: good news may not add points"),
        ("complaint = 5 ", "complaint = -5 ", "points.complaint: an adverse record may not subtract points"),
        ("general = 10, major = 30", "general = 40, major = 30", "points.penalty: points must not fall as severity rises"),
        ("annual_report_late = 5 ", "", "points.annual_report_late: missing"),
        ('abnormal_in = "until_removal"', 'abnormal_in = "forever"', "impact_months.abnormal_in: expected"),
        ("complaint = 12", 'complaint = "until_removal"', "impact_months.complaint: expected"),
        ("complaint = 12", "complaint = 0", "months must be between 1 and 1200"),
        ('decay = "none"', 'decay = "fast"', 'decay: expected "none" or "linear"'),
        ('applies_to = ["penalty.general"]', 'applies_to = ["penalty.tiny"]', "first_offence.applies_to: unknown category 'penalty.tiny'"),
        ('minor = ["penalty.general",', 'minor = ["commendation", "penalty.general",', "tolerance.minor: commendation is not a minor adverse record"),
        ('sensitive_sectors = ["food", "drug", "special_equipment"]', 'sensitive_sectors = ["toys"]', "unknown sector 'toys'"),
        ("window_months = 24", "window_months = -1", "first_offence.window_months: months must be between 0 and 1200"),
        ('version = "default-2026.1"', "", "version: missing"),
    ],
)
def test_invalid_policies_name_the_key(old: str, new: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(_edit(old, new), "p.toml")
    assert str(info.value).startswith("p.toml: ")
    assert message in str(info.value)


def test_not_toml_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse_policy("points = [", "p.toml")
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "missing.toml")
    (tmp_path / "latin.toml").write_bytes(b"version = '\xff'")
    with pytest.raises(PolicyError, match="must be UTF-8"):
        load_policy(tmp_path / "latin.toml")


def test_one_value_for_every_subcategory() -> None:
    policy = parse_policy(_edit("spot_check = { clean = -5, corrected = 5, problem = 15, obstructed = 40, other = 0 }", "spot_check = 0"), "x")
    assert policy.points["spot_check.clean"] == 0 and policy.points["spot_check.obstructed"] == 0
