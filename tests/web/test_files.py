"""HTTP byte ranges of the files the pages serve (``web.files``): what a player asks for
with ``Range`` and what it gets; the back office's recordings are served this way (R-3.2, R-5.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.files import ByteRange, RangeNotSatisfiableError, parse_byte_range


@given(size=st.integers(0, 10_000), data=st.data())
def test_a_satisfiable_range_is_within_the_file_and_python_slicing_agrees(
    size: int, data: st.DataObject
) -> None:
    first = data.draw(st.integers(0, size + 50))
    last = data.draw(st.one_of(st.none(), st.integers(0, size + 50)))
    header = f"bytes={first}-{'' if last is None else last}"
    content = bytes(n % 251 for n in range(size))
    try:
        found = parse_byte_range(header, size)
    except RangeNotSatisfiableError:
        assert first >= size or (last is not None and last < first)
        return
    assert found is not None
    assert 0 <= found.first <= found.last < size
    expected = content[first : None if last is None else last + 1]
    assert content[found.first : found.last + 1] == expected


@given(size=st.integers(0, 10_000), suffix=st.integers(0, 20_000))
def test_a_suffix_range_is_the_end_of_the_file(size: int, suffix: int) -> None:
    content = bytes(n % 251 for n in range(size))
    try:
        found = parse_byte_range(f"bytes=-{suffix}", size)
    except RangeNotSatisfiableError:
        assert suffix == 0 or size == 0
        return
    assert found is not None
    assert content[found.first : found.last + 1] == content[-suffix:]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", ByteRange(0, 0)),
        (" bytes = 5-9 ", ByteRange(5, 9)),
        ("BYTES=5-", ByteRange(5, 99)),
        ("bytes=0-5,10-20", None),  # several ranges: answered in full
        ("seconds=1-2", None),  # a unit we do not serve: ignored
    ],
)
def test_byte_range_examples(header: str | None, expected: ByteRange | None) -> None:
    assert parse_byte_range(header, 100) == expected


@pytest.mark.parametrize(
    "header",
    ["bytes=", "bytes=-", "bytes=a-b", "bytes=9-3", "bytes=100-", "bytes=-0", "bytes=1-2-3"],
)
def test_bad_byte_ranges_are_unsatisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError):
        parse_byte_range(header, 100)
