"""What to believe of a list's answer (trust.py), answer by answer."""

from __future__ import annotations

import pytest

from custom_components.weblink_nguc.trust import (
    EVENT_ITEM_MAX_AGE,
    EVENT_ITEM_READS,
    ListJudge,
)


def items(*ids: str) -> dict[str, str]:
    """Return items by id; each item is its id."""
    return {item_id: item_id for item_id in ids}


def judge_of(*listed: str) -> ListJudge:
    """Return a judge whose list named ``listed`` before."""
    judge = ListJudge()
    judge.listed.update(listed)
    return judge


DELAY = 10.0


def test_an_item_gone_goes_at_the_second_answer_that_lacks_it() -> None:
    """Two of ten gone, one new: the new one at once, the two at the next answer."""
    judge = judge_of(*"abcdefghij")
    first = judge.judge(items(*"abcdefghij"), items(*"abcdefghk"), 0.0, DELAY)
    assert set(first.items) == set("abcdefghijk")
    assert first.doubted == frozenset("ij")
    assert first.recheck_at == DELAY
    second = judge.judge(first.items, items(*"abcdefghk"), DELAY, DELAY)
    assert set(second.items) == set("abcdefghk")
    assert not second.doubted
    assert second.recheck_at is None


def test_a_second_answer_too_soon_does_not_confirm() -> None:
    """Two answers less than the re-read delay apart: still kept."""
    judge = judge_of(*"ab")
    first = judge.judge(items(*"ab"), items("a"), 0.0, DELAY)
    second = judge.judge(first.items, items("a"), DELAY / 2, DELAY)
    assert set(second.items) == set("ab")
    assert second.recheck_at == DELAY
    third = judge.judge(second.items, items("a"), DELAY, DELAY)
    assert set(third.items) == {"a"}


def test_an_empty_answer_is_not_believed_until_a_second_agrees() -> None:
    """Every item gone at once: kept; gone only when the next answer says so too."""
    judge = judge_of(*"abcd")
    first = judge.judge(items(*"abcd"), {}, 0.0, DELAY)
    assert set(first.items) == set("abcd")
    assert first.doubted == frozenset("abcd")
    second = judge.judge(first.items, {}, DELAY, DELAY)
    assert second.items == {}
    assert not second.doubted


@pytest.mark.parametrize("held", ["a", "ab"])
def test_an_empty_answer_of_a_small_list_is_doubted(held: str) -> None:
    """Issue 18 case 6: one or two items, an empty answer: kept until a second."""
    judge = judge_of(*held)
    first = judge.judge(items(*held), {}, 0.0, DELAY)
    assert set(first.items) == set(held)
    assert first.doubted == frozenset(held)


def test_a_doubted_answer_then_the_full_list_removes_nothing() -> None:
    """An empty answer once, then the list as it was: everything stays."""
    judge = judge_of(*"abcd")
    first = judge.judge(items(*"abcd"), {}, 0.0, DELAY)
    second = judge.judge(first.items, items(*"abcd"), DELAY, DELAY)
    assert set(second.items) == set("abcd")
    assert not second.doubted
    # A later empty answer is a first one again.
    third = judge.judge(second.items, {}, 2 * DELAY, DELAY)
    assert set(third.items) == set("abcd")


def test_only_what_both_answers_miss_goes() -> None:
    """Seven of ten gone, then two of them back: only the five go."""
    judge = judge_of(*"abcdefghij")
    first = judge.judge(items(*"abcdefghij"), items(*"abc"), 0.0, DELAY)
    assert set(first.items) == set("abcdefghij")
    second = judge.judge(first.items, items(*"abcde"), DELAY, DELAY)
    assert set(second.items) == set("abcde")


def test_an_event_between_the_answers_saves_the_item() -> None:
    """Issue 18 case 13: an event names the item between two answers lacking it."""
    judge = judge_of(*"ab")
    first = judge.judge(items(*"ab"), items("a"), 0.0, DELAY)
    judge.seen_by_event("b")
    second = judge.judge(first.items, items("a"), DELAY, DELAY)
    assert set(second.items) == set("ab")
    assert second.doubted == frozenset("b")


def test_item_seen_by_event_outlives_a_few_answers() -> None:
    """Never listed: kept for a few answers in a row without it, then gone."""
    judge = judge_of(*"ab")
    held = items("a", "b", "new")
    for read in range(EVENT_ITEM_READS - 1):
        verdict = judge.judge(held, items("a", "b"), float(read))
        assert "new" in verdict.items
    verdict = judge.judge(held, items("a", "b"), 10.0)
    assert "new" not in verdict.items


def test_item_seen_by_event_goes_after_an_hour_without_it() -> None:
    """Missed by answers for an hour, however few: gone."""
    judge = judge_of("a")
    held = items("a", "new")
    assert "new" in judge.judge(held, items("a"), 0.0).items
    assert "new" not in judge.judge(held, items("a"), EVENT_ITEM_MAX_AGE).items


def test_an_event_about_the_item_starts_the_count_again() -> None:
    """An item events keep telling of is kept, whatever the list says."""
    judge = judge_of("a")
    held = items("a", "new")
    for read in range(2 * EVENT_ITEM_READS):
        assert "new" in judge.judge(held, items("a"), float(read)).items
        judge.seen_by_event("new")


def test_item_seen_by_event_then_listed_is_an_ordinary_item() -> None:
    """Once the list names it, two answers without it are believed."""
    judge = judge_of("a")
    judge.judge(items("a", "new"), items("a", "new"), 0.0)
    assert "new" in judge.judge(items("a", "new"), items("a"), 1.0, DELAY).items
    assert "new" not in judge.judge(items("a", "new"), items("a"), 11.0, DELAY).items
