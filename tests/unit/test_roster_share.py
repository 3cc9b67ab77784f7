"""The roster's share: every copy computing it from the same copies gets a disjoint part, the
parts cover every partition, and they differ in size by one at most."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from oncallnova.bus.roster import share

copy_ids = st.sets(st.text(min_size=1, max_size=12), min_size=1, max_size=12)


@given(copy_ids, st.integers(min_value=1, max_value=32))
def test_shares_are_disjoint_cover_everything_and_even(copies: set[str], partitions: int) -> None:
    parts = [share(copies, me, partitions) for me in copies]
    assert set().union(*parts) == set(range(partitions))
    assert sum(len(p) for p in parts) == partitions  # disjoint
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1


@given(copy_ids, st.integers(min_value=1, max_value=32))
def test_a_copy_alone_takes_everything(copies: set[str], partitions: int) -> None:
    me = min(copies)
    assert share({me}, me, partitions) == set(range(partitions))
    assert share(set(), me, partitions) == set(range(partitions))


def test_the_order_of_the_ids_given_does_not_matter() -> None:
    assert share(["b", "a", "c"], "b", 8) == share(["c", "b", "a"], "b", 8) == {1, 4, 7}
