"""The join server's memory of checked tokens: bounded, least recently used forgotten first, and
a forgotten token (a refused write) looked up again."""

from __future__ import annotations

from dashboard.join.routes import TokenMemory

TOKENS = [f"{c}" * 24 for c in "abcd"]


def test_a_kept_token_is_found_by_its_lesson_only():
    memory = TokenMemory(most=10)
    memory.keep("CODE1", TOKENS[0], "student a")
    assert memory.get("CODE1", TOKENS[0]) == "student a"
    assert memory.get("CODE2", TOKENS[0]) is None
    assert memory.get("CODE1", TOKENS[1]) is None
    assert memory.get("CODE1", None) is None


def test_past_its_bound_the_least_recently_used_token_is_forgotten():
    memory = TokenMemory(most=2)
    memory.keep("C", TOKENS[0], "a")
    memory.keep("C", TOKENS[1], "b")
    assert memory.get("C", TOKENS[0]) == "a"  # a used again: b is now the oldest
    memory.keep("C", TOKENS[2], "c")
    assert [memory.get("C", t) for t in TOKENS[:3]] == ["a", None, "c"]


def test_a_forgotten_token_must_be_looked_up_again():
    memory = TokenMemory(most=2)
    memory.keep("C", TOKENS[0], "a")
    memory.forget("C", TOKENS[0])
    assert memory.get("C", TOKENS[0]) is None
