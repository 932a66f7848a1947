"""The credit-risk classification policy: a TOML file, validated into an immutable object. Pure."""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

from credit.errors import SpotcheckError

TIERS = ("A", "B", "C", "D")

# Every record falls into one category; points, impact periods and the rules name categories.
# The order is the integer code the grading core uses; append only.
CATEGORIES = (
    "penalty.general", "penalty.major", "penalty.severe",
    "abnormal_in", "abnormal_out", "serious_in", "serious_out",
    "complaint", "complaint.unsubstantiated", "annual_report_late",
    "spot_check.clean", "spot_check.corrected", "spot_check.problem", "spot_check.obstructed", "spot_check.other",
    "commitment_breach", "commendation",
)
CODE = {name: code for code, name in enumerate(CATEGORIES)}
# Categories that never earn points: removals end a listing, an unsubstantiated complaint is no finding.
POINTLESS = ("abnormal_out", "serious_out", "complaint.unsubstantiated")
# Good news: may subtract points, never add them.
FAVOURABLE = ("spot_check.clean", "commendation")
LISTS = ("abnormal_in", "serious_in")
SENSITIVE_SECTORS = ("food", "drug", "special_equipment", "other")


class PolicyError(SpotcheckError):
    """The policy file is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class Policy:
    """A validated policy. ``points`` and ``impact_months`` are keyed by category."""

    version: str
    points: Mapping[str, float]
    impact_months: Mapping[str, int | None]  # None: until removal
    decay: str
    thresholds: tuple[float, float, float]  # lowest score of B, C, D
    default_tier: str
    serious_list_tier: str
    abnormal_list_tier: str
    first_offence: bool
    first_offence_window_months: int
    first_offence_applies_to: tuple[str, ...]
    tolerance_months: int
    tolerance_cap: str
    minor: tuple[str, ...]
    repair_penalty_months: int
    repair_sensitive_penalty_months: int
    repair_sensitive_sectors: tuple[str, ...]
    repair_serious_months: int
    repair_abnormal_months: int
    draw_ratios: tuple[str, str, str, str]  # per tier A–D, as percentages ("3%")
    general_max_ratio: str
    recheck_months: int
    yearly_cap: int
    inspectors_per_visit: int
    visits_per_day: int
    visits_per_task: int
    cross_station: bool
    publish_working_days: int  # 一公开: results published within this many working days of the check
    publish_due_soon: int  # "due soon" when this many working days or fewer are left
    clean_record: bool  # 未发现问题 makes a spot-check record (category spot_check.clean)
    rectify_working_days: int  # 责令改正: the period to rectify, from the check date
    recheck_working_days: int  # 复查 due this long after the rectification deadline
    report_back_working_days: int  # 移送/抄告/反馈: the receiving side reports back within this
    listing_working_days: int  # 列入经营异常名录: decided within this after publication
    followup_due_soon: int  # yellow light: due within this many working days
    text: str  # the TOML as given, stored with every run
    sha256: str  # of the canonical JSON of the validated values: formatting and comments do not count

    def tier_of(self, score: float) -> str:
        """The tier of a score by the thresholds alone."""
        return TIERS[sum(score >= t for t in self.thresholds)]


def parse_percent(text: str) -> Fraction:
    """An exact ratio from a percentage such as "3%" or "0.5%": ratios decide sample sizes, and
    binary floating point would round 0.03 × 100 to 2.9999…; ``ValueError`` explains a bad one."""
    if not isinstance(text, str) or not text.strip().endswith("%"):
        raise ValueError(f'expected a percentage such as "3%", got {text!r}')
    try:
        value = Decimal(text.strip()[:-1].strip())
    except InvalidOperation:
        raise ValueError(f'expected a percentage such as "3%", got {text!r}') from None
    if not value.is_finite() or not 0 <= value <= 100:
        raise ValueError(f"a percentage must be between 0% and 100%, got {text!r}")
    return Fraction(value) / 100


def format_percent(ratio: Fraction) -> str:
    """The canonical spelling of a ratio: "3%", "0.5%", "100%"."""
    text = format(Decimal(ratio.numerator) / Decimal(ratio.denominator) * 100, "f")
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def check_tier_ratios(ratios: Mapping[str, Fraction]) -> str | None:
    """Why a set of tier ratios breaks the rules, or None: every tier is drawn (不免抽, no 0%),
    and a riskier tier is never drawn at a lower ratio than a safer one."""
    for tier in TIERS:
        if ratios[tier] <= 0:
            return f"tier {tier} has ratio 0%: no tier is exempt from the draw (不免抽)"
    for lower, higher in zip(TIERS, TIERS[1:]):
        if ratios[higher] < ratios[lower]:
            return f"tier {higher} ({format_percent(ratios[higher])}) is below tier {lower} ({format_percent(ratios[lower])}): a riskier tier is never drawn less"
    return None


def default_policy_text() -> str:
    return resources.files("credit").joinpath("data/policy.toml").read_text(encoding="utf-8")


def load_policy(path: Path | None = None) -> Policy:
    """The shipped default, or the policy in ``path`` (a full policy; unknown keys are refused)."""
    if path is None:
        return parse_policy(default_policy_text(), "default policy")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{path}: the policy file must be UTF-8 text") from None
    return parse_policy(text, str(path))


class _Reader:
    """Typed access to a TOML table that remembers which keys were used, to refuse unknown ones."""

    def __init__(self, source: str, table: Mapping[str, Any], path: str = "") -> None:
        self.source, self.table, self.path, self.used = source, table, path, set()

    def error(self, key: str, reason: str) -> PolicyError:
        return PolicyError(f"{self.source}: {self.path}{key}: {reason}")

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = True, default: Any = None) -> Any:
        self.used.add(key)
        if key not in self.table:
            if required:
                raise self.error(key, "missing")
            return default
        value = self.table[key]
        # bool is an int in Python; a policy saying `c = true` is a mistake, not 1.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(key, f"expected {_names(kind)}, got a boolean")
        if not isinstance(value, kind):
            raise self.error(key, f"expected {_names(kind)}, got {type(value).__name__} {value!r}")
        return value

    def sub(self, key: str) -> _Reader:
        return _Reader(self.source, self.get(key, dict), f"{self.path}{key}.")

    def tier(self, key: str) -> str:
        value = self.get(key, str)
        if value not in TIERS:
            raise self.error(key, f"expected one of A, B, C, D, got {value!r}")
        return value

    def months(self, key: str) -> int:
        value = self.get(key, int)
        if not 0 <= value <= 1200:
            raise self.error(key, f"months must be between 0 and 1200, got {value}")
        return value

    def working_days(self, key: str, *, low: int = 1) -> int:
        value = self.get(key, int)
        if not low <= value <= 250:
            raise self.error(key, f"working days must be between {low} and 250, got {value}")
        return value

    def percent(self, key: str) -> Fraction:
        value = self.get(key, str)
        try:
            return parse_percent(value)
        except ValueError as exc:
            raise self.error(key, str(exc)) from None

    def tier_ratios(self, key: str) -> dict[str, Fraction]:
        """A table of all four tiers' ratios."""
        sub = self.sub(key)
        ratios = {tier: sub.percent(tier) for tier in TIERS}
        sub.done()
        problem = check_tier_ratios(ratios)
        if problem:
            raise self.error(key, problem)
        return ratios

    def categories(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list)
        for value in values:
            if value not in CODE:
                raise self.error(key, f"unknown category {value!r}; known: {', '.join(CATEGORIES)}")
        return tuple(values)

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {int: "an integer", float: "a number", str: "a string", dict: "a table", list: "a list", bool: "true or false"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def _per_category(reader: _Reader, kind: type | tuple[type, ...], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A table keyed by record kind, where a kind with sub-categories may be a sub-table."""
    found: dict[str, Any] = {}
    families: dict[str, list[str]] = {}
    for name in CATEGORIES:
        if name not in skip:
            families.setdefault(name.split(".")[0], []).append(name)
    for family, names in families.items():
        if family not in reader.table:
            raise reader.error(family, "missing")
        if names == [family]:
            found[family] = reader.get(family, kind)
            continue
        value = reader.table[family]
        if not isinstance(value, dict):  # one value for every sub-category
            found.update(dict.fromkeys(names, reader.get(family, kind)))
            continue
        sub = reader.sub(family)
        for name in names:
            found[name] = sub.get(name.split(".")[1], kind)
        sub.done()
    reader.done()
    return found


def _adverse_only(reader: _Reader, key: str, names: tuple[str, ...]) -> None:
    """The leniency rules only ever take points away from adverse records."""
    for name in names:
        if name in FAVOURABLE or name in POINTLESS or name in LISTS:
            raise reader.error(key, f"{name} is not a minor adverse record")


def parse_policy(text: str, source: str) -> Policy:
    """Validate a policy's TOML text; every mistake is a ``PolicyError`` naming the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML ({exc})") from None
    top = _Reader(source, data)
    version = top.get("version", str)

    points_reader = top.sub("points")
    skip = POINTLESS
    points = {name: float(v) for name, v in _per_category(points_reader, (int, float), skip=skip).items()}
    for name, value in points.items():
        if name in FAVOURABLE and value > 0:
            raise points_reader.error(name, f"good news may not add points (got {value:g}); use 0 or less")
        if name not in FAVOURABLE and value < 0:
            raise points_reader.error(name, f"an adverse record may not subtract points (got {value:g}); use 0 or more")
    severities = [points[f"penalty.{s}"] for s in ("general", "major", "severe")]
    if severities != sorted(severities):
        raise points_reader.error("penalty", "points must not fall as severity rises (general <= major <= severe)")
    points.update(dict.fromkeys(POINTLESS, 0.0))

    months_reader = top.sub("impact_months")
    raw = _per_category(months_reader, (int, str), skip=POINTLESS)
    impact: dict[str, int | None] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            if value != "until_removal" or name not in LISTS:
                allowed = '"until_removal" (abnormal_in, serious_in only) or a number of months'
                raise months_reader.error(name.split(".")[0], f"expected {allowed}, got {value!r}")
            impact[name] = None
        elif not 1 <= value <= 1200:
            raise months_reader.error(name.split(".")[0], f"months must be between 1 and 1200, got {value}")
        else:
            impact[name] = value

    decay = top.get("decay", str)
    if decay not in ("none", "linear"):
        raise top.error("decay", f'expected "none" or "linear", got {decay!r}')

    tiers = top.sub("tiers")
    thresholds = tuple(float(tiers.get(k, (int, float))) for k in ("b", "c", "d"))
    if not thresholds[0] < thresholds[1] < thresholds[2]:
        raise tiers.error("b", f"thresholds out of order: b < c < d is required, got b={thresholds[0]:g} c={thresholds[1]:g} d={thresholds[2]:g}")
    default_tier = tiers.tier("default")
    zero_tier = TIERS[sum(0 >= t for t in thresholds)]
    if default_tier != zero_tier:
        raise tiers.error("default", f"a score of 0 falls in tier {zero_tier}, so the default tier (no records) must be {zero_tier}, not {default_tier}; move the thresholds or the default")
    tiers.done()

    overrides = top.sub("overrides")
    serious, abnormal = overrides.tier("serious_list"), overrides.tier("abnormal_list")
    overrides.done()

    first = top.sub("first_offence")
    first_enabled = first.get("enabled", bool)
    window = first.months("window_months")
    applies_to = first.categories("applies_to")
    _adverse_only(first, "applies_to", applies_to)
    first.done()

    tolerance = top.sub("tolerance")
    tolerance_months = tolerance.months("months")
    cap = tolerance.tier("cap")
    minor = tolerance.categories("minor")
    _adverse_only(tolerance, "minor", minor)
    tolerance.done()

    repair = top.sub("repair")
    repair_values = {k: repair.months(k) for k in ("penalty_months", "sensitive_penalty_months", "serious_months", "abnormal_months")}
    sensitive = tuple(repair.get("sensitive_sectors", list))
    for sector in sensitive:
        if sector not in SENSITIVE_SECTORS:
            raise repair.error("sensitive_sectors", f"unknown sector {sector!r}; known: {', '.join(SENSITIVE_SECTORS)}")
    repair.done()

    draw = top.sub("draw")
    ratios = draw.tier_ratios("ratios")
    general_max = draw.percent("general_max_ratio")
    if general_max <= 0:
        raise draw.error("general_max_ratio", "must be above 0%")
    for tier in TIERS:
        if ratios[tier] > general_max:
            raise draw.error("ratios", f"tier {tier} ({format_percent(ratios[tier])}) is above general_max_ratio ({format_percent(general_max)}), so no 一般检查事项 could use the defaults")
    recheck_months = draw.months("recheck_months")
    yearly_cap = draw.get("yearly_cap", int)
    if not 1 <= yearly_cap <= 366:
        raise draw.error("yearly_cap", f"checks per enterprise per year must be between 1 and 366, got {yearly_cap}")
    per_visit = draw.get("inspectors_per_visit", int)
    if not 2 <= per_visit <= 20:
        raise draw.error("inspectors_per_visit", f"must be between 2 (执法人员不得少于两人) and 20, got {per_visit}")
    draw.done()

    assign = top.sub("assign")
    per_day = assign.get("visits_per_day", int)
    if not 1 <= per_day <= 20:
        raise assign.error("visits_per_day", f"must be between 1 and 20, got {per_day}")
    per_task = assign.get("visits_per_task", int)
    if not 1 <= per_task <= 100_000:
        raise assign.error("visits_per_task", f"must be between 1 and 100000, got {per_task}")
    cross_station = assign.get("cross_station", bool)
    assign.done()

    publication = top.sub("publication")
    publish_days = publication.working_days("deadline_working_days")
    publish_soon = publication.working_days("due_soon_working_days", low=0)
    clean = publication.get("clean_record", bool)
    publication.done()

    followup = top.sub("followup")
    followup_days = {k: followup.working_days(k) for k in ("rectify_working_days", "recheck_working_days", "report_back_working_days", "listing_working_days")}
    followup_soon = followup.working_days("due_soon_working_days", low=0)
    followup.done()
    top.done()

    values = {
        "version": version, "points": points, "impact_months": impact, "decay": decay,
        "thresholds": thresholds, "default_tier": default_tier, "serious_list_tier": serious,
        "abnormal_list_tier": abnormal, "first_offence": first_enabled,
        "first_offence_window_months": window, "first_offence_applies_to": applies_to,
        "tolerance_months": tolerance_months, "tolerance_cap": cap, "minor": minor,
        "repair_penalty_months": repair_values["penalty_months"],
        "repair_sensitive_penalty_months": repair_values["sensitive_penalty_months"],
        "repair_sensitive_sectors": sensitive,
        "repair_serious_months": repair_values["serious_months"],
        "repair_abnormal_months": repair_values["abnormal_months"],
        "draw_ratios": tuple(format_percent(ratios[t]) for t in TIERS),
        "general_max_ratio": format_percent(general_max), "recheck_months": recheck_months,
        "yearly_cap": yearly_cap, "inspectors_per_visit": per_visit,
        "visits_per_day": per_day, "visits_per_task": per_task, "cross_station": cross_station,
        "publish_working_days": publish_days, "publish_due_soon": publish_soon, "clean_record": clean,
        "rectify_working_days": followup_days["rectify_working_days"],
        "recheck_working_days": followup_days["recheck_working_days"],
        "report_back_working_days": followup_days["report_back_working_days"],
        "listing_working_days": followup_days["listing_working_days"], "followup_due_soon": followup_soon,
    }
    canonical = json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return Policy(**values, text=text, sha256=hashlib.sha256(canonical.encode()).hexdigest())
