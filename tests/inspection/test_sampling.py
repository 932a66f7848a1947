"""Tests of the verifiable stratified draw (``inspection.sampling``): pure, no database.

The expected values are computed by an independent re-implementation of the published
algorithm with ``hashlib`` and plain Python sets, never by calling the module's own helpers.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import zlib
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from credit import sha256many
from credit.policy import check_tier_ratios, format_percent, parse_percent
from inspection import sampling

SEED = bytes(range(32))
KEY = sampling.draw_key(SEED, "test entropy")
PERCENTS = ["0%", "0.5%", "1%", "2%", "3%", "5%", "10%", "12.5%", "14.5%", "25%", "33%", "50%", "99%", "100%"]


def uscc(n: int) -> str:
    """An 18-character code; numeric order equals byte order."""
    return f"91500106{n:09d}X"


def expected_number(key: bytes, code: str) -> int:
    """The published rule: first 8 bytes, big-endian, of SHA-256(key ‖ USCC)."""
    return int.from_bytes(hashlib.sha256(key + code.encode("ascii")).digest()[:8], "big")


def expected_size(ratio: Fraction, size: int) -> int:
    """round(ratio × size) with halves up, at least one of a non-empty stratum, at most all of it."""
    if size == 0:
        return 0
    return min(size, max(1, math.floor(ratio * size + Fraction(1, 2))))


def pct(*texts: str) -> list[Fraction]:
    return [parse_percent(t) for t in texts]


def reference_draw(
    usccs: Sequence[str], tiers: Sequence[int], members: Sequence[Sequence[bool]],
    items: Sequence[str], ratios: Sequence[Sequence[Fraction]], key: bytes,
) -> dict[str, set[str]]:
    """The draw by the book: per item and tier, the members with the smallest (number, USCC)."""
    number = {u: expected_number(key, u) for u in usccs}
    chosen: dict[str, set[str]] = {}
    for k, item in enumerate(items):
        picked: set[str] = set()
        for t in range(4):
            stratum = sorted((number[u], u) for u, tt, m in zip(usccs, tiers, members, strict=True) if tt == t and m[k])
            picked |= {u for _, u in stratum[:expected_size(ratios[k][t], len(stratum))]}
        chosen[item] = picked
    return chosen


def reference_result_text(chosen: dict[str, set[str]], items: Sequence[str], key: bytes) -> bytes:
    visits = sorted(set().union(*chosen.values()), key=lambda u: u.encode("ascii"))
    return "".join(
        f"{u} {expected_number(key, u):016x} {';'.join(i for i in items if u in chosen[i])}\n" for u in visits
    ).encode()


def drawn_sets(result: sampling.Draw) -> dict[str, set[str]]:
    return {
        item: {result.frame.usccs[row].decode() for row in np.flatnonzero(result.selected[:, k]).tolist()}
        for k, item in enumerate(result.frame.items)
    }


def random_rows(rng: np.random.Generator, n: int, k: int, p_member: float = 0.8) -> tuple[list[str], list[int], np.ndarray]:
    codes = [uscc(int(c)) for c in rng.choice(10**6, size=n, replace=False)]
    tiers = rng.integers(0, 4, size=n).tolist()
    members = rng.random((n, k)) < p_member
    return codes, tiers, members


@st.composite
def frames(draw_, max_rows: int = 40, max_items: int = 3):
    """Rows (in random order) of a small frame, its items and ratios for every item and tier."""
    k = draw_(st.integers(1, max_items))
    numbers = draw_(st.lists(st.integers(0, 999), max_size=max_rows, unique=True))
    rows = [(uscc(n), draw_(st.integers(0, 3)), draw_(st.lists(st.booleans(), min_size=k, max_size=k))) for n in numbers]
    items = [f"item{j}" for j in range(k)]
    ratios = [pct(*draw_(st.lists(st.sampled_from(PERCENTS), min_size=4, max_size=4))) for _ in range(k)]
    entropy = draw_(st.text(max_size=20))
    return rows, items, ratios, entropy


class TestDrawKey:
    """The key is SHA-256("spotcheck-draw/1\\n" ‖ 32-byte seed ‖ entropy UTF-8); the commitment is SHA-256(seed)."""

    @pytest.mark.parametrize("entropy", ["", "20240601 上证收盘 3086.42", "e0", "a\nb"])
    def test_key_matches_the_published_formula(self, entropy: str) -> None:
        expected = hashlib.sha256(b"spotcheck-draw/1\n" + SEED + entropy.encode("utf-8")).digest()
        assert sampling.draw_key(SEED, entropy) == expected
        assert len(expected) == 32

    def test_algorithm_name(self) -> None:
        assert sampling.ALGORITHM == "spotcheck-draw/1"

    @pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
    def test_seed_must_be_32_bytes(self, length: int) -> None:
        with pytest.raises(ValueError, match="32 bytes"):
            sampling.draw_key(bytes(length), "x")

    def test_seed_and_entropy_both_matter(self) -> None:
        other_seed = bytes([1]) + SEED[1:]
        assert sampling.draw_key(SEED, "a") != sampling.draw_key(SEED, "b")
        assert sampling.draw_key(SEED, "a") != sampling.draw_key(other_seed, "a")

    def test_seed_commitment_is_sha256_hex_of_the_seed(self) -> None:
        assert sampling.seed_commitment(SEED) == hashlib.sha256(SEED).hexdigest()
        assert sampling.seed_commitment(bytes(32)) == hashlib.sha256(bytes(32)).hexdigest()
        assert sampling.seed_commitment(SEED) != sampling.seed_commitment(bytes(32))

    def test_digest_is_sha256_hex(self) -> None:
        assert sampling.digest(b"abc") == hashlib.sha256(b"abc").hexdigest()


class TestUnitNumbers:
    """Each enterprise's number is the first 8 bytes (big-endian) of SHA-256(key ‖ USCC ASCII), as uint64."""

    def test_numbers_match_independent_hashes(self) -> None:
        codes = [uscc(n) for n in range(50)] + ["91110000600037341L", "92500000MA5U12345Q"]
        numbers = sampling.unit_numbers(KEY, np.array(codes, dtype="S18"))
        assert numbers.dtype == np.uint64
        assert numbers.tolist() == [expected_number(KEY, c) for c in codes]
        # Among 52 numbers some have the top bit set: they must not wrap to negative values.
        assert any(n >= 2**63 for n in numbers.tolist())

    def test_numbers_are_the_same_without_the_compiled_loop(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Where credit._sha256many was not built, Python computes the same numbers."""
        codes = np.array([uscc(n) for n in range(40)], dtype="S18")
        compiled = sampling.unit_numbers(KEY, codes).tolist()
        monkeypatch.setattr(sha256many, "_compiled", None)
        assert sampling.unit_numbers(KEY, codes).tolist() == compiled == [expected_number(KEY, c.decode()) for c in codes]

    def test_numbers_depend_on_the_key(self) -> None:
        codes = np.array([uscc(n) for n in range(20)], dtype="S18")
        other = sampling.draw_key(SEED, "other")
        assert sampling.unit_numbers(other, codes).tolist() == [expected_number(other, c.decode()) for c in codes]
        assert not np.any(sampling.unit_numbers(KEY, codes) == sampling.unit_numbers(other, codes))

    def test_number_depends_only_on_key_and_uscc(self) -> None:
        codes = [uscc(n) for n in range(30)]
        forward = sampling.unit_numbers(KEY, np.array(codes, dtype="S18")).tolist()
        backward = sampling.unit_numbers(KEY, np.array(codes[::-1], dtype="S18")).tolist()
        assert backward == forward[::-1]
        single = sampling.unit_numbers(KEY, np.array(codes[7:8], dtype="S18")).tolist()
        assert single == [forward[7]]

    def test_empty(self) -> None:
        assert sampling.unit_numbers(KEY, np.array([], dtype="S18")).tolist() == []


class TestStratumSize:
    """n = round(ratio × size) with halves up, exact, at least 1 of a non-empty stratum, at most the stratum."""

    @pytest.mark.parametrize(("ratio", "size", "expected"), [
        ("3%", 50, 2),      # 1.5 rounds up
        ("3%", 49, 1),      # 1.47 rounds down
        ("3%", 83, 2),      # 2.49 rounds down
        ("3%", 84, 3),      # 2.52 rounds up
        ("1%", 10, 1),      # 0.1 → minimum one
        ("0%", 7, 1),       # no stratum is exempt
        ("0.5%", 1, 1),
        ("3%", 0, 0),       # empty stratum
        ("100%", 0, 0),
        ("100%", 37, 37),
        ("10%", 25, 3),     # 2.5 rounds up
        ("10%", 24, 2),     # 2.4 rounds down
        ("14.5%", 100, 15),  # 14.5 exactly; 0.145 * 100 in binary floating point is 14.4999…
        ("12.5%", 4, 1),    # 0.5 → rounds up to 1
        ("12.5%", 12, 2),   # 1.5 → 2
        ("50%", 3, 2),      # 1.5 → 2
        ("99%", 1, 1),
        ("33%", 1000, 330),
    ])
    def test_exact_values(self, ratio: str, size: int, expected: int) -> None:
        assert sampling.stratum_size(parse_percent(ratio), size) == expected

    def test_never_more_than_the_stratum(self) -> None:
        assert sampling.stratum_size(Fraction(3, 2), 10) == 10
        assert sampling.stratum_size(Fraction(1), 1) == 1

    def test_negative_size_is_empty(self) -> None:
        assert sampling.stratum_size(Fraction(1, 2), -3) == 0

    @settings(max_examples=300, deadline=None)
    @given(st.integers(0, 10**4), st.integers(1, 10**4), st.integers(0, 10**6))
    def test_bounds_and_rounding(self, numerator: int, denominator: int, size: int) -> None:
        ratio = Fraction(min(numerator, denominator), denominator)
        n = sampling.stratum_size(ratio, size)
        if size == 0:
            assert n == 0
            return
        assert 1 <= n <= size
        rounded = math.floor(ratio * size + Fraction(1, 2))
        if rounded >= 1:
            assert n == rounded
        else:
            assert n == 1
        # Within half a unit of the exact share whenever the minimum of one does not apply.
        if rounded >= 1:
            assert abs(n - ratio * size) <= Fraction(1, 2)

    @settings(max_examples=200, deadline=None)
    @given(st.sampled_from(PERCENTS), st.sampled_from(PERCENTS), st.integers(0, 5000), st.integers(0, 50))
    def test_monotone_in_ratio_and_size(self, a: str, b: str, size: int, extra: int) -> None:
        low, high = sorted(pct(a, b))
        assert sampling.stratum_size(low, size) <= sampling.stratum_size(high, size)
        assert sampling.stratum_size(low, size) <= sampling.stratum_size(low, size + extra)


class TestFrame:
    """make_frame sorts rows by USCC bytes and drops rows in no item's frame; Frame checks its invariants."""

    def test_rows_sorted_and_unused_rows_dropped(self) -> None:
        codes = [uscc(5), uscc(1), uscc(3), uscc(2)]
        members = np.array([[True, False], [False, False], [False, True], [True, True]])
        frame = sampling.make_frame(codes, [3, 0, 1, 2], members, ["a", "b"])
        assert [c.decode() for c in frame.usccs.tolist()] == [uscc(2), uscc(3), uscc(5)]  # uscc(1) in no frame
        assert frame.tiers.tolist() == [2, 1, 3]
        assert frame.members.tolist() == [[True, True], [False, True], [True, False]]
        assert frame.items == ("a", "b")
        assert frame.usccs.dtype == np.dtype("S18") and frame.tiers.dtype == np.uint8 and frame.members.dtype == bool

    def test_byte_order_not_numeric_order(self) -> None:
        codes = ["91A000000000000000", "915000000000000000", "91Z000000000000000"]
        frame = sampling.make_frame(codes, [0, 0, 0], np.ones((3, 1), bool), ["a"])
        assert [c.decode() for c in frame.usccs.tolist()] == sorted(codes, key=str.encode)

    def test_rows_in_any_order_give_the_same_draw(self) -> None:
        codes = np.array([uscc(n) for n in range(40)], dtype="S18")
        members = np.ones((40, 1), bool)
        tiers = np.arange(40, dtype=np.uint8) % 4
        key = sampling.draw_key(bytes(32), "order")
        ratios = [[Fraction(1, 4)] * 4]
        forward = sampling.draw(sampling.Frame(codes, tiers, members, ("a",)), ratios, key)
        backward = sampling.draw(sampling.Frame(codes[::-1], tiers[::-1], members, ("a",)), ratios, key)
        assert forward.result_text() == backward.result_text()
        assert sampling.snapshot(forward.frame) == sampling.snapshot(backward.frame)

    def test_refuses_duplicate_rows(self) -> None:
        codes = np.array([uscc(1), uscc(1)], dtype="S18")
        with pytest.raises(ValueError, match="appears twice"):
            sampling.snapshot(sampling.Frame(codes, np.zeros(2, np.uint8), np.ones((2, 1), bool), ("a",)))
        with pytest.raises(ValueError, match="appears twice"):
            sampling.make_frame([uscc(1), uscc(1)], [0, 1], np.ones((2, 1), bool), ["a"])

    def test_refuses_mismatched_arrays(self) -> None:
        codes = np.array([uscc(1), uscc(2)], dtype="S18")
        with pytest.raises(ValueError, match="do not match"):
            sampling.Frame(codes, np.zeros(3, np.uint8), np.ones((2, 1), bool), ("a",))
        with pytest.raises(ValueError, match="do not match"):
            sampling.Frame(codes, np.zeros(2, np.uint8), np.ones((2, 2), bool), ("a",))

    def test_accepts_sorted_rows(self) -> None:
        codes = np.array([uscc(1), uscc(2), uscc(10)], dtype="S18")
        frame = sampling.Frame(codes, np.zeros(3, np.uint8), np.ones((3, 1), bool), ("a",))
        assert len(frame.usccs) == 3

    def test_empty_frame(self) -> None:
        frame = sampling.make_frame([], [], np.zeros((0, 2), bool), ["a", "b"])
        assert frame.members.shape == (0, 2)
        result = sampling.draw(frame, [pct("3%", "3%", "3%", "3%")] * 2, KEY)
        assert result.result_text() == b""
        assert result.matters == 0 and len(result.visit_rows) == 0 and result.matters_per_visit() == {}
        assert [(s.size, s.drawn) for s in result.strata] == [(0, 0)] * 8


class TestSnapshot:
    """The population text is "USCC TIER FLAGS\\n" per row in USCC order; parse/pack invert it."""

    def test_exact_format(self) -> None:
        codes = [uscc(9), uscc(4), uscc(7)]
        members = np.array([[True, False, True], [False, True, False], [False, False, False]])
        frame = sampling.make_frame(codes, [3, 0, 1], members, ["x", "y", "z"])
        text = sampling.snapshot(frame)
        assert text == f"{uscc(4)} A 010\n{uscc(9)} D 101\n".encode()
        assert sampling.digest(text) == hashlib.sha256(text).hexdigest()

    def test_every_tier_letter(self) -> None:
        frame = sampling.make_frame([uscc(n) for n in range(4)], [0, 1, 2, 3], np.ones((4, 1), bool), ["x"])
        lines = sampling.snapshot(frame).decode().splitlines()
        assert [line.split(" ")[1] for line in lines] == ["A", "B", "C", "D"]
        assert all(len(line) == 18 + 1 + 1 + 1 + 1 for line in lines)

    @settings(max_examples=100, deadline=None)
    @given(frames())
    def test_round_trip(self, case) -> None:
        rows, items, _, _ = case
        frame = sampling.make_frame([r[0] for r in rows], [r[1] for r in rows],
                                    np.array([r[2] for r in rows], bool).reshape(len(rows), len(items)), items)
        text = sampling.snapshot(frame)
        assert len(text) == len(frame.usccs) * (18 + len(items) + 4)
        parsed = sampling.parse_snapshot(text, items)
        assert parsed.usccs.tolist() == frame.usccs.tolist()
        assert parsed.tiers.tolist() == frame.tiers.tolist()
        assert parsed.members.tolist() == frame.members.tolist()
        assert parsed.items == tuple(items)
        assert sampling.snapshot(parsed) == text
        assert sampling.unpack_snapshot(sampling.pack_snapshot(text)) == text
        # The parsed frame draws exactly as the original: what the verifier relies on.
        ratios = [pct("3%", "10%", "25%", "50%")] * len(items)
        assert sampling.draw(parsed, ratios, KEY).result_text() == sampling.draw(frame, ratios, KEY).result_text()

    def test_pack_is_zstandard_and_zlib_still_reads(self) -> None:
        text = b"".join(f"{uscc(n)} B 1\n".encode() for n in range(1000))
        blob = sampling.pack_snapshot(text)
        assert len(blob) < len(text) // 5
        assert zstandard.ZstdDecompressor().decompress(blob) == text  # a standard frame any zstd tool reads
        assert sampling.unpack_snapshot(blob) == text
        assert sampling.unpack_snapshot(zlib.compress(text, 1)) == text  # a draw stored before Zstandard
        with pytest.raises(zlib.error):
            sampling.unpack_snapshot(b"not a snapshot")

    def test_parse_refuses_wrong_width(self) -> None:
        frame = sampling.make_frame([uscc(1)], [0], np.ones((1, 2), bool), ["x", "y"])
        text = sampling.snapshot(frame)
        with pytest.raises(ValueError, match="not a snapshot"):
            sampling.parse_snapshot(text, ["x"])
        with pytest.raises(ValueError, match="not a snapshot"):
            sampling.parse_snapshot(text[:-1], ["x", "y"])

    def test_empty_snapshot(self) -> None:
        parsed = sampling.parse_snapshot(b"", ["x"])
        assert len(parsed.usccs) == 0 and parsed.members.shape == (0, 1)


class TestStratumCounts:
    """Every stratum (item × tier) takes exactly stratum_size(ratio, size) of its members, and reports it."""

    def test_exact_counts_per_stratum(self) -> None:
        rng = np.random.default_rng(7)
        codes, tiers, members = random_rows(rng, 600, 3, p_member=0.6)
        items = ["fire", "food", "price"]
        ratios = [pct("3%", "5%", "10%", "20%"), pct("1%", "1%", "2%", "3%"), pct("0.5%", "12.5%", "14.5%", "100%")]
        frame = sampling.make_frame(codes, tiers, members, items)
        result = sampling.draw(frame, ratios, KEY)
        assert len(result.strata) == 12
        for k, item in enumerate(items):
            for t, tier in enumerate("ABCD"):
                in_stratum = frame.members[:, k] & (frame.tiers == t)
                size = int(in_stratum.sum())
                drawn = int(result.selected[:, k][in_stratum].sum())
                assert drawn == sampling.stratum_size(ratios[k][t], size) == expected_size(ratios[k][t], size)
                # Nothing drawn outside the item's frame.
                assert not np.any(result.selected[:, k] & ~frame.members[:, k])
                stratum = result.strata[4 * k + t]
                assert (stratum.item, stratum.tier, stratum.ratio, stratum.size, stratum.drawn) == (item, tier, ratios[k][t], size, drawn)
        assert result.strata[8].tier == "A" and format_percent(result.strata[8].ratio) == "0.5%"

    def test_smallest_numbers_are_taken(self) -> None:
        rng = np.random.default_rng(11)
        codes, tiers, members = random_rows(rng, 300, 2)
        ratios = [pct("10%", "10%", "20%", "30%"), pct("5%", "7%", "9%", "11%")]
        frame = sampling.make_frame(codes, tiers, members, ["a", "b"])
        result = sampling.draw(frame, ratios, KEY)
        assert result.numbers.tolist() == [expected_number(KEY, c.decode()) for c in frame.usccs.tolist()]
        for k in range(2):
            for t in range(4):
                in_stratum = frame.members[:, k] & (frame.tiers == t)
                chosen = result.selected[:, k] & in_stratum
                rest = in_stratum & ~chosen
                if chosen.any() and rest.any():
                    assert result.numbers[chosen].max() < result.numbers[rest].min()

    def test_ties_broken_by_uscc(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Equal numbers (practically impossible with SHA-256, so forced here) go to the smaller USCC."""
        codes = [uscc(n) for n in (40, 10, 30, 20, 50, 60)]
        frame = sampling.make_frame(codes, [0] * 6, np.ones((6, 1), bool), ["a"])
        fixed = np.array([5, 5, 5, 5, 1, 5], dtype=np.uint64)  # frame order: 10, 20, 30, 40, 50, 60
        monkeypatch.setattr(sampling, "unit_numbers", lambda key, usccs: fixed)
        result = sampling.draw(frame, [pct("50%", "50%", "50%", "50%")], KEY)
        drawn = [frame.usccs[r].decode() for r in np.flatnonzero(result.selected[:, 0]).tolist()]
        assert drawn == [uscc(10), uscc(20), uscc(50)]

    @settings(max_examples=150, deadline=None)
    @given(frames())
    def test_matches_reference_implementation(self, case) -> None:
        rows, items, ratios, entropy = case
        key = sampling.draw_key(SEED, entropy)
        codes, tiers = [r[0] for r in rows], [r[1] for r in rows]
        flags = [r[2] for r in rows]
        frame = sampling.make_frame(codes, tiers, np.array(flags, bool).reshape(len(rows), len(items)), items)
        result = sampling.draw(frame, ratios, key)
        expected = reference_draw(codes, tiers, flags, items, ratios, key)
        assert drawn_sets(result) == expected
        assert result.result_text() == reference_result_text(expected, items, key)
        assert result.matters == sum(len(s) for s in expected.values())


class TestResultText:
    """The result is "USCC NUMBER ITEM;ITEM\\n" per visit, in USCC order, number in 16 hex digits."""

    def test_format(self) -> None:
        codes = [uscc(n) for n in range(40)]
        members = np.array([[n % 2 == 0, n % 3 == 0] for n in range(40)])
        frame = sampling.make_frame(codes, [n % 4 for n in range(40)], members, ["p", "q"])
        result = sampling.draw(frame, [pct("50%", "50%", "50%", "50%"), pct("60%", "60%", "60%", "60%")], KEY)
        lines = result.result_text().decode().splitlines(keepends=True)
        assert len(lines) == len(result.visit_rows) > 0
        assert [line[:18] for line in lines] == sorted(line[:18] for line in lines)
        for line in lines:
            assert line.endswith("\n")
            code, number, item_list = line[:-1].split(" ")
            assert len(number) == 16 and int(number, 16) == expected_number(KEY, code)
            assert item_list in {"p", "q", "p;q"}
        assert any(line.endswith(" p;q\n") for line in lines)


class TestOrderIndependence:
    """The draw depends on the set of rows, never on the order they arrive in."""

    @pytest.mark.parametrize("permutation_seed", [1, 2, 3])
    def test_shuffled_rows_give_identical_bytes(self, permutation_seed: int) -> None:
        rng = np.random.default_rng(5)
        codes, tiers, members = random_rows(rng, 400, 3)
        items = ["a", "b", "c"]
        ratios = [pct("3%", "5%", "10%", "20%"), pct("10%", "10%", "10%", "10%"), pct("1%", "2%", "3%", "4%")]
        base = sampling.make_frame(codes, tiers, members, items)
        perm = np.random.default_rng(permutation_seed).permutation(len(codes))
        shuffled = sampling.make_frame([codes[i] for i in perm], [tiers[i] for i in perm], members[perm], items)
        assert sampling.snapshot(shuffled) == sampling.snapshot(base)
        a, b = sampling.draw(base, ratios, KEY), sampling.draw(shuffled, ratios, KEY)
        assert a.result_text() == b.result_text()
        assert np.array_equal(a.selected, b.selected)
        assert a.strata == b.strata


class TestReproducibility:
    """The same inputs give the same bytes; another entropy or seed gives another sample."""

    def setup_method(self) -> None:
        rng = np.random.default_rng(3)
        codes, tiers, members = random_rows(rng, 300, 2)
        self.frame = sampling.make_frame(codes, tiers, members, ["a", "b"])
        self.ratios = [pct("10%", "10%", "10%", "10%"), pct("5%", "10%", "15%", "20%")]

    def test_same_result_twice(self) -> None:
        first = sampling.draw(self.frame, self.ratios, sampling.draw_key(SEED, "entropy"))
        second = sampling.draw(self.frame, self.ratios, sampling.draw_key(bytes(SEED), "entropy"))
        assert first.result_text() == second.result_text()
        assert sampling.digest(first.result_text()) == sampling.digest(second.result_text())

    def test_other_entropy_other_result(self) -> None:
        texts = {sampling.draw(self.frame, self.ratios, sampling.draw_key(SEED, e)).result_text() for e in ("x", "y", "x ", "X")}
        assert len(texts) == 4

    def test_other_seed_other_result(self) -> None:
        a = sampling.draw(self.frame, self.ratios, sampling.draw_key(SEED, "e")).result_text()
        b = sampling.draw(self.frame, self.ratios, sampling.draw_key(bytes(32), "e")).result_text()
        assert a != b


class TestCoordination:
    """One number per enterprise for all items: samples overlap as far as the ratios allow."""

    @settings(max_examples=100, deadline=None)
    @given(st.data())
    def test_nested_samples_for_same_population(self, data) -> None:
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        codes, tiers, members = random_rows(rng, int(rng.integers(1, 200)), 1)
        both = np.repeat(members, 2, axis=1)
        pairs = [sorted(pct(*data.draw(st.lists(st.sampled_from(PERCENTS), min_size=2, max_size=2)))) for _ in range(4)]
        r1, r2 = [p[0] for p in pairs], [p[1] for p in pairs]
        frame = sampling.make_frame(codes, tiers, both, ["low", "high"])
        result = sampling.draw(frame, [r1, r2], sampling.draw_key(SEED, data.draw(st.text(max_size=8))))
        low, high = result.selected[:, 0], result.selected[:, 1]
        for t in range(4):
            in_tier = frame.tiers == t
            assert not np.any(low & in_tier & ~high)  # subset within the tier
            assert int((low & high & in_tier).sum()) == min(int((low & in_tier).sum()), int((high & in_tier).sum()))
        assert not np.any(low & ~high)
        assert len(result.visit_rows) == int(high.sum())
        assert result.matters == int(low.sum()) + int(high.sum())

    def test_nested_samples_with_policy_ratios(self) -> None:
        """Tier ratios that pass the policy rule (no 0 %, riskier never lower) nest across items too."""
        rng = np.random.default_rng(21)
        codes, tiers, members = random_rows(rng, 500, 1, p_member=1.0)
        r1, r2 = pct("1%", "3%", "5%", "10%"), pct("2%", "3%", "8%", "30%")
        for ratios in (r1, r2):
            assert check_tier_ratios(dict(zip("ABCD", ratios, strict=True))) is None
        frame = sampling.make_frame(codes, tiers, np.repeat(members, 2, axis=1), ["x", "y"])
        for entropy in ("a", "b", "c"):
            result = sampling.draw(frame, [r1, r2], sampling.draw_key(SEED, entropy))
            assert not np.any(result.selected[:, 0] & ~result.selected[:, 1])
            assert result.selected[:, 0].sum() < result.selected[:, 1].sum()

    def test_adding_an_item_does_not_change_another(self) -> None:
        rng = np.random.default_rng(8)
        codes, tiers, members = random_rows(rng, 300, 2, p_member=0.5)
        ratio = pct("10%", "10%", "20%", "20%")
        alone = sampling.make_frame(codes, tiers, members[:, :1], ["a"])
        together = sampling.make_frame(codes, tiers, members, ["a", "b"])
        s_alone = drawn_sets(sampling.draw(alone, [ratio], KEY))["a"]
        s_together = drawn_sets(sampling.draw(together, [ratio, pct("5%", "5%", "5%", "5%")], KEY))["a"]
        assert s_alone == s_together

    def test_visit_counts(self) -> None:
        rng = np.random.default_rng(13)
        codes, tiers, members = random_rows(rng, 400, 4, p_member=0.7)
        items = ["i0", "i1", "i2", "i3"]
        ratios = [pct("10%", "15%", "20%", "25%"), pct("20%", "20%", "30%", "40%"),
                  pct("5%", "5%", "5%", "5%"), pct("30%", "30%", "30%", "30%")]
        frame = sampling.make_frame(codes, tiers, members, items)
        result = sampling.draw(frame, ratios, KEY)
        sets = drawn_sets(result)
        union = set().union(*sets.values())
        assert len(result.visit_rows) == len(union)
        assert [frame.usccs[r].decode() for r in result.visit_rows.tolist()] == sorted(union)
        assert result.matters == sum(len(s) for s in sets.values())
        per_visit = result.matters_per_visit()
        assert sum(per_visit.values()) == len(union)
        assert sum(k * v for k, v in per_visit.items()) == result.matters
        expected_per_visit: dict[int, int] = {}
        for u in union:
            c = sum(u in s for s in sets.values())
            expected_per_visit[c] = expected_per_visit.get(c, 0) + 1
        assert per_visit == expected_per_visit
        assert max(per_visit) > 1  # coordination makes multi-item visits common

        for departments in (["d1", "d1", "d2", "d3"], ["z", "a", "z", "a"], ["d"] * 4, ["a", "b", "c", "d"]):
            expected = sum(len(set().union(*(sets[i] for i, d in zip(items, departments, strict=True) if d == dept)))
                           for dept in set(departments))
            assert result.separate_visits(departments) == expected
        assert result.separate_visits(["d"] * 4) == len(union)
        assert result.separate_visits(["a", "b", "c", "d"]) == result.matters
        assert result.separate_visits(["d1", "d1", "d2", "d3"]) >= len(union)


class TestInclusionProbabilities:
    """Every member of a stratum is drawn with probability n / size (simple random sampling).

    Deterministic: 400 fixed entropies "e0".."e399" over a fixed 200-enterprise frame."""

    DRAWS = 400

    @staticmethod
    def chi_square_bounds(df: int, z: float) -> tuple[float, float]:
        """Wilson–Hilferty quantiles of χ²(df) at ±z standard normal deviations."""
        c = 2 / (9 * df)
        return df * (1 - c - z * math.sqrt(c)) ** 3, df * (1 - c + z * math.sqrt(c)) ** 3

    def statistic(self, counts: np.ndarray, p: float) -> float:
        """Σ (c_i − Dp)² / (Dp(1−p)) × (N−1)/N, about χ²(N−1) under SRS (counts sum to D·n)."""
        n_units = len(counts)
        expected = self.DRAWS * p
        return float(((counts - expected) ** 2).sum() / (expected * (1 - p)) * (n_units - 1) / n_units)

    def test_inclusion_frequencies(self) -> None:
        rng = np.random.default_rng(2024)
        n_units = 200
        codes = [uscc(int(c)) for c in rng.choice(10**6, size=n_units, replace=False)]
        tiers = [0 if i < 120 else 2 for i in range(n_units)]
        members = np.array([[True, i % 3 != 0] for i in range(n_units)])
        items = ["x", "y"]
        ratios = [pct("5%", "5%", "10%", "10%"), pct("10%", "10%", "25%", "25%")]
        frame = sampling.make_frame(codes, tiers, members, items)
        counts = np.zeros(frame.members.shape, dtype=np.int64)
        frozen = np.zeros(frame.members.shape, dtype=np.int64)
        top_bits = 0
        for d in range(self.DRAWS):
            result = sampling.draw(frame, ratios, sampling.draw_key(SEED, f"e{d}"))
            counts += result.selected
            top_bits += int((result.numbers >= 2**63).sum())
            frozen += sampling.draw(frame, ratios, KEY).selected  # a broken design: the key never changes
        checked = 0
        for k in range(len(items)):
            for t in (0, 2):
                in_stratum = frame.members[:, k] & (frame.tiers == t)
                size = int(in_stratum.sum())
                n = sampling.stratum_size(ratios[k][t], size)
                assert 1 < n < size
                c = counts[in_stratum, k]
                # Exact: every draw takes n, so the mean inclusion frequency is n / size.
                assert Fraction(int(c.sum()), self.DRAWS * size) == Fraction(n, size)
                p = n / size
                sd = math.sqrt(self.DRAWS * p * (1 - p))
                assert np.all(np.abs(c - self.DRAWS * p) <= 5 * sd), (items[k], t, c.min(), c.max(), self.DRAWS * p)
                low, high = self.chi_square_bounds(size - 1, 4.0)
                x2 = self.statistic(c, p)
                assert low < x2 < high, (items[k], t, x2, low, high)
                # The same test rejects a draw whose randomness does not depend on the draw.
                assert self.statistic(frozen[in_stratum, k], p) > high
                checked += 1
        assert checked == 4
        # Numbers are uniform: about half have the top bit set.
        total = self.DRAWS * len(frame.usccs)
        assert abs(top_bits / total - 0.5) <= 5 * math.sqrt(0.25 / total)


class TestDrawValidation:
    """draw needs one ratio per item and tier."""

    def setup_method(self) -> None:
        self.frame = sampling.make_frame([uscc(1), uscc(2)], [0, 1], np.ones((2, 2), bool), ["a", "b"])

    @pytest.mark.parametrize("ratios", [
        [],
        [pct("1%", "1%", "1%", "1%")],
        [pct("1%", "1%", "1%", "1%")] * 3,
        [pct("1%", "1%", "1%"), pct("1%", "1%", "1%", "1%")],
        [pct("1%", "1%", "1%", "1%"), pct("1%", "1%", "1%", "1%", "1%")],
    ])
    def test_refuses_ratios_not_matching_items(self, ratios) -> None:
        with pytest.raises(ValueError, match="one ratio per item and tier"):
            sampling.draw(self.frame, ratios, KEY)

    def test_accepts_matching_ratios(self) -> None:
        result = sampling.draw(self.frame, [pct("1%", "1%", "1%", "1%")] * 2, KEY)
        assert result.matters == 4  # one from each non-empty stratum: no tier exempt


def test_sampling_does_not_import_sqlalchemy() -> None:
    """The draw core (and the definition parser) are pure: an auditor needs no database library."""
    code = ("import sys, inspection.sampling, inspection.definitions; "
            "assert 'sqlalchemy' not in sys.modules, sorted(m for m in sys.modules if m.startswith('sqlalchemy'))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/work/main")
