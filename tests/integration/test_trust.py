"""What to believe of a list's answer (trust.py), answer by answer."""

from __future__ import annotations

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


def test_ordinary_change_is_believed_at_once() -> None:
    """Two of ten gone, one new: believed."""
    judge = judge_of(*"abcdefghij")
    verdict = judge.judge(items(*"abcdefghij"), items(*"abcdefghk"), 0.0)
    assert set(verdict.items) == set("abcdefghk")
    assert not verdict.doubted


def test_an_empty_answer_is_not_believed_until_a_second_agrees() -> None:
    """Every item gone at once: kept; gone only when the next answer says so too."""
    judge = judge_of(*"abcd")
    first = judge.judge(items(*"abcd"), {}, 0.0)
    assert set(first.items) == set("abcd")
    assert first.doubted == frozenset("abcd")
    second = judge.judge(first.items, {}, 10.0)
    assert second.items == {}
    assert not second.doubted


def test_a_doubted_answer_then_the_full_list_removes_nothing() -> None:
    """An empty answer once, then the list as it was: everything stays."""
    judge = judge_of(*"abcd")
    first = judge.judge(items(*"abcd"), {}, 0.0)
    second = judge.judge(first.items, items(*"abcd"), 10.0)
    assert set(second.items) == set("abcd")
    assert not second.doubted


def test_less_than_half_with_more_than_two_gone_is_doubted() -> None:
    """Seven of ten gone: doubted; only what both answers miss goes."""
    judge = judge_of(*"abcdefghij")
    first = judge.judge(items(*"abcdefghij"), items(*"abc"), 0.0)
    assert set(first.items) == set("abcdefghij")
    # The second answer lists two of those the first missed: they stay.
    second = judge.judge(first.items, items(*"abcde"), 10.0)
    assert set(second.items) == set("abcde")


def test_two_of_three_gone_is_ordinary() -> None:
    """A small list losing two is believed (no more than two gone)."""
    judge = judge_of(*"abc")
    verdict = judge.judge(items(*"abc"), items("a"), 0.0)
    assert set(verdict.items) == {"a"}


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
    """Once the list names it, an answer without it is believed."""
    judge = judge_of("a")
    judge.judge(items("a", "new"), items("a", "new"), 0.0)
    assert "new" not in judge.judge(items("a", "new"), items("a"), 1.0).items
