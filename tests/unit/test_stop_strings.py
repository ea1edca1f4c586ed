"""Streaming stop-string detection: nothing of a stop string is ever shown."""

from __future__ import annotations

import random

import pytest

from chatdesk.core.stop_strings import StopStringFilter


def run(stops, pieces):
    """Feed pieces until a stop; return (all text shown, stopped?, pieces consumed)."""
    f = StopStringFilter(stops)
    shown = []
    for i, piece in enumerate(pieces):
        text, hit = f.feed(piece)
        shown.append(text)
        if hit:
            return "".join(shown), True, i + 1
    shown.append(f.flush())
    return "".join(shown), False, len(pieces)


def test_stop_split_across_pieces_is_never_shown():
    f = StopStringFilter(["\nUser:"])
    assert f.feed("Hello") == ("Hello", False)
    assert f.feed(" there\nUs") == (" there", False)  # "\nUs" held back
    assert f.feed("er") == ("", False)
    assert f.feed(": next") == ("", True)


def test_held_prefix_that_is_not_a_stop_is_released_by_the_next_piece():
    f = StopStringFilter(["\nUser:"])
    assert f.feed("a\nUs") == ("a", False)
    assert f.feed("ually") == ("\nUsually", False)


def test_partial_prefix_is_released_by_flush():
    f = StopStringFilter(["</s>"])
    assert f.feed("the end</") == ("the end", False)
    assert f.flush() == "</"
    assert f.flush() == ""  # flushing empties it


def test_earliest_stop_wins_when_several_match():
    f = StopStringFilter(["STOP", "\n\n"])
    assert f.feed("one\n\ntwo STOP") == ("one", True)
    f = StopStringFilter(["\n\n", "STOP"])
    assert f.feed("oneSTOP\n\n") == ("one", True)


def test_earliest_stop_wins_across_pieces():
    # "xy" completes first in time, but "bx" starts earlier in the text.
    assert run(["xy", "abx"], ["ab", "xy"]) == ("", True, 2)


def test_stop_at_the_very_start():
    assert StopStringFilter(["User:"]).feed("User: hi") == ("", True)


def test_no_stops_passes_text_straight_through():
    f = StopStringFilter([])
    assert f.feed("a</") == ("a</", False)
    assert f.flush() == ""


def test_empty_stop_strings_are_ignored():
    f = StopStringFilter(["", "END"])
    assert f.stops == ("END",)
    assert f.feed("abc") == ("abc", False)
    assert f.feed("xEND") == ("x", True)


def test_self_overlapping_stop():
    # "aab" inside "aaab": the first 'a' is text, the stop starts at the second.
    assert run(["aab"], ["a", "a", "a", "b"]) == ("a", True, 4)


STOPS = ["\nUser:", "<end_of_turn>", "###"]
WORDS = ["Hi", " ", "\n", "\nUs", "er", ":", "User:", "<end_of", "_turn>", "<end", "##", "#", "ok"]


def random_case(seed):
    rng = random.Random(seed)
    text = "".join(rng.choice(WORDS) for _ in range(30))
    cuts = sorted(rng.sample(range(1, len(text)), k=min(12, len(text) - 1)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert "".join(pieces) == text
    return text, pieces


def first_stop(text):
    found = [(i, s) for s in STOPS if (i := text.find(s)) >= 0]
    return min(found) if found else None


def test_random_cases_cover_every_stop_and_none():
    firsts = {(first_stop(random_case(seed)[0]) or (None, None))[1] for seed in range(30)}
    assert firsts == {*STOPS, None}


@pytest.mark.parametrize("seed", range(30))
def test_any_split_gives_the_text_up_to_the_first_stop(seed):
    text, pieces = random_case(seed)
    shown, stopped, _ = run(STOPS, pieces)
    first = first_stop(text)
    assert stopped == (first is not None)
    assert shown == (text[: first[0]] if first else text)
