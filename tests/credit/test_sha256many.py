"""SHA-256 of many messages in one call (credit.sha256many): the C loop over OpenSSL and the
Python path both give hashlib's digests, whatever the messages."""

from __future__ import annotations

import hashlib
import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit import sha256many

PATHS = [pytest.param(True, id="compiled"), pytest.param(False, id="python")]


def expected(messages: list[bytes]) -> list[bytes]:
    return [hashlib.sha256(m).digest() for m in messages]


def test_the_compiled_loop_is_built() -> None:
    """The fast path is there: under CI=true a build without it fails here, not only in a benchmark."""
    if sha256many._compiled is None:
        if os.environ.get("CI") == "true":
            pytest.fail("credit._sha256many was not built (a C compiler and OpenSSL's headers are needed): " + sha256many.IMPLEMENTATION)
        pytest.skip("credit._sha256many was not built here; the Python path computes the same digests")
    assert sha256many.IMPLEMENTATION.startswith("C loop over OpenSSL")


@pytest.mark.parametrize("compiled", PATHS)
@settings(max_examples=150, deadline=None)
@given(prefix=st.binary(max_size=80), width=st.integers(1, 90), count=st.integers(0, 12), data=st.data())
def test_fixed_records_are_hashed_with_their_prefix(compiled: bool, prefix: bytes, width: int, count: int, data: st.DataObject) -> None:
    """Every byte of a record counts, trailing NULs too; messages across the 55/64-byte block
    boundaries included (prefix + width up to 170 bytes)."""
    records = [data.draw(st.binary(min_size=width, max_size=width)) for _ in range(count)]
    array = np.array(records, dtype=f"V{width}") if records else np.zeros(0, dtype=f"V{width}")
    digests = sha256many.fixed(prefix, array, compiled=compiled)
    assert digests.shape == (count, 32) and digests.dtype == np.uint8
    assert [bytes(d) for d in digests] == expected([prefix + r for r in records])


@pytest.mark.parametrize("compiled", PATHS)
def test_fixed_takes_byte_strings_with_trailing_nuls(compiled: bool) -> None:
    """An ``S`` array drops trailing NULs when it gives its items back; the digests do not."""
    array = np.array([b"ab", b"a", b""], dtype="S2")
    digests = sha256many.fixed(b"k", array, compiled=compiled)
    assert [bytes(d) for d in digests] == expected([b"kab", b"ka\0", b"k\0\0"])


@pytest.mark.parametrize("compiled", PATHS)
@settings(max_examples=150, deadline=None)
@given(messages=st.lists(st.binary(max_size=300), max_size=20))
def test_each_message_is_hashed(compiled: bool, messages: list[bytes]) -> None:
    out = sha256many.each(messages, compiled=compiled)
    assert [out[i:i + 32] for i in range(0, len(out), 32)] == expected(messages)


@pytest.mark.parametrize("compiled", PATHS)
def test_each_takes_any_iterable(compiled: bool) -> None:
    messages = [b"a", b"bc", b""]
    assert sha256many.each(iter(messages), compiled=compiled) == b"".join(expected(messages))
    assert sha256many.each(tuple(messages), compiled=compiled) == b"".join(expected(messages))


def test_records_must_be_fixed_width_bytes() -> None:
    with pytest.raises(ValueError, match="fixed-width bytes"):
        sha256many.fixed(b"", np.arange(3))
    with pytest.raises(ValueError, match="fixed-width bytes"):
        sha256many.fixed(b"", np.array(["ab"]))


@pytest.mark.skipif(sha256many._compiled is None, reason="credit._sha256many was not built")
class TestCompiledModule:
    def test_data_must_be_whole_records(self) -> None:
        with pytest.raises(ValueError, match="3 bytes are not records of 2 bytes"):
            sha256many._compiled.fixed(b"", b"abc", 2)
        with pytest.raises(ValueError, match="not records of 0 bytes"):
            sha256many._compiled.fixed(b"", b"", 0)

    def test_every_message_must_be_bytes(self) -> None:
        with pytest.raises(TypeError, match="message 1 is str, not bytes"):
            sha256many._compiled.each([b"a", "b"])
        with pytest.raises(TypeError, match="each\\(\\) takes an iterable of bytes"):
            sha256many._compiled.each(42)

    def test_threads_hashing_at_once_each_get_their_digests(self) -> None:
        """The fixed loop runs without the GIL, on buffers held for it: calls in several
        threads at once must not disturb one another."""
        records = np.frombuffer(bytes(range(256)) * 400, dtype="V16")
        want = [bytes(d) for d in sha256many.fixed(b"p", records)]
        results: list[list[bytes]] = []

        def work() -> None:
            results.append([bytes(d) for d in sha256many.fixed(b"p", records)])

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [want] * 4
        assert want[:3] == expected([b"p" + bytes(r) for r in records[:3].tolist()])
