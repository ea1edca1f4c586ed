"""Full-text search over the history: any typed text is safe, matches are marked, unicode
of every script is found, deleted chats and half-streamed answers stay out."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatdesk.core.history import SNIPPET_END, SNIPPET_START, HistoryStore
from chatdesk.core.history.search import make_snippet, parse_query

HOSTILE = ['"', '""', "'", "AND", "OR", "NOT", "*", "NEAR(", "NEAR(a b", "-x", "a:b",
           "content:foo", "(", ")", "^", "{x}", "a OR", "'; DROP TABLE messages; --", "%",
           "_", "\\", "\x00", "\ud800", "\x02", "a" * 5000, " ".join(["w"] * 500), "🎉" * 3,
           "NEAR(\"a\" \"b\", 3)", "x AND NOT y", "col : * ^"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def store(tmp_path: Path):
    opened = HistoryStore.open(tmp_path / "history.sqlite3", clock=Clock())
    yield opened
    opened.close()


def add(store: HistoryStore, title: str, *texts: str) -> int:
    conversation = store.create_conversation(title)
    for index, text in enumerate(texts):
        store.add_message(conversation.id, "user" if index % 2 == 0 else "assistant", text)
    return conversation.id


def unmark(snippet: str) -> str:
    return snippet.replace(SNIPPET_START, "").replace(SNIPPET_END, "")


def marked(snippet: str) -> list[str]:
    parts = snippet.split(SNIPPET_START)[1:]
    return [part.split(SNIPPET_END)[0] for part in parts]


def test_hits_carry_conversation_message_and_a_marked_snippet_newest_first(store):
    first = add(store, "Cooking", "How long do I boil an egg?", "Boil the egg for 7 minutes.")
    second = add(store, "Python", "What is an egg in Python packaging?")
    hits = store.search("egg")
    assert [h.conversation_id for h in hits] == [second, first, first]
    assert hits[0].conversation_title == "Python" and hits[0].role == "user"
    assert hits[0].created_at > hits[1].created_at > hits[2].created_at
    message = store.message(hits[1].message_id)
    assert message.content == "Boil the egg for 7 minutes." and hits[1].role == "assistant"
    assert hits[1].snippet == f"Boil the {SNIPPET_START}egg{SNIPPET_END} for 7 minutes."
    assert hits[1].snippet_parts() == [("Boil the ", False), ("egg", True),
                                      (" for 7 minutes.", False)]


def test_every_word_must_match_case_insensitively_and_substrings_count(store):
    add(store, "t", "The Quick brown fox", "a lazy dog", "quick dog")
    assert {unmark(h.snippet) for h in store.search("QUICK dog")} == {"quick dog"}
    assert {unmark(h.snippet) for h in store.search("uic")} == {"The Quick brown fox",
                                                                "quick dog"}
    assert store.search("quick cat") == []
    hit = store.search("quick fox")[0]
    assert marked(hit.snippet) == ["Quick", "fox"]


def test_quoted_words_are_a_phrase(store):
    add(store, "t", "new york city", "york is new")
    assert [unmark(h.snippet) for h in store.search('"new york"')] == ["new york city"]
    assert len(store.search("new york")) == 2


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise(store, query):
    add(store, "t", 'She said "hi" AND left *now* -x NEAR(the door) 50% a_b \\ (x)', "🎉🎉🎉")
    hits = store.search(query)
    assert isinstance(hits, list)


def test_operators_and_symbols_are_searched_as_text(store):
    add(store, "t", 'She said "hi" AND left', "price: 50% off", "snake_case and C#",
        "plain words")
    assert [unmark(h.snippet) for h in store.search('"hi"')] == ['She said "hi" AND left']
    assert [unmark(h.snippet) for h in store.search('said "hi"')] == ['She said "hi" AND left']
    assert [unmark(h.snippet) for h in store.search('"')] == ['She said "hi" AND left']
    assert [unmark(h.snippet) for h in store.search("AND")] == ["snake_case and C#",
                                                               'She said "hi" AND left']
    assert [unmark(h.snippet) for h in store.search("%")] == ["price: 50% off"]
    assert [unmark(h.snippet) for h in store.search("_")] == ["snake_case and C#"]
    assert [unmark(h.snippet) for h in store.search("C#")] == ["snake_case and C#"]
    assert store.search("*") == [] and store.search("NEAR(") == []
    assert store.search("") == [] and store.search("   ") == []


def test_unicode_cjk_emoji_accents_and_rtl(store):
    add(store, "Unicode ✨", "你好世界，今天天气很好", "東京タワーに行きました", "Party time 🎉🥳",
        "Crème brûlée für Ümit", "مرحبا بالعالم", "👨‍👩‍👧 family")
    assert [marked(h.snippet) for h in store.search("世界")] == [["世界"]]
    assert [marked(h.snippet) for h in store.search("今天天气")] == [["今天天气"]]
    assert [marked(h.snippet) for h in store.search("タワー")] == [["タワー"]]
    assert [marked(h.snippet) for h in store.search("🎉")] == [["🎉"]]
    assert [marked(h.snippet) for h in store.search("🥳")] == [["🥳"]]
    assert [marked(h.snippet) for h in store.search("brûlée")] == [["brûlée"]]
    assert [marked(h.snippet) for h in store.search("ümit")] == [["Ümit"]]  # folded case
    assert [marked(h.snippet) for h in store.search("بالعالم")] == [["بالعالم"]]
    assert [marked(h.snippet) for h in store.search("👨‍👩‍👧")] == [["👨‍👩‍👧"]]
    assert store.search("Unicode") == []  # titles are not message text


def test_deleted_chats_and_streaming_answers_are_left_out(store):
    kept = add(store, "kept", "zebra facts")
    gone = add(store, "gone", "zebra secrets")
    store.delete_conversation(gone)
    assert [h.conversation_id for h in store.search("zebra")] == [kept]
    user = store.add_message(kept, "user", "more")
    reply = store.begin_answer(kept, user.id, model="m", sampling={})
    store.append_answer_text(reply.id, "a zebra in progress")
    assert [h.conversation_id for h in store.search("zebra")] == [kept]  # not the stream
    assert reply.id not in [h.message_id for h in store.search("ze")]  # LIKE path too
    store.finish_answer(reply.id, content="a zebra, finished", state="complete",
                        stop_reason="eos", stats={})
    assert store.search("zebra")[0].message_id == reply.id
    store.restore_conversation(gone)
    assert len(store.search("zebra")) == 3
    store.check_search_index()


def test_edits_and_deletes_keep_the_index_in_step(store):
    conversation = add(store, "t", "original wording")
    message_id = store.thread(conversation)[0].id
    reply = store.begin_answer(conversation, message_id, model="m", sampling={})
    for piece in ("alpha ", "beta ", "gamma"):
        store.append_answer_text(reply.id, piece)
    store.finish_answer(reply.id, content="alpha beta gamma", state="complete",
                        stop_reason=None, stats={})
    store.finish_answer(reply.id, content="delta", state="error", stop_reason=None, stats={})
    assert store.search("alpha") == [] and len(store.search("delta")) == 1
    store.delete_message(message_id)
    assert store.search("delta") == [] and store.search("wording") == []
    store.check_search_index()


def test_limit_and_snippet_window(store):
    add(store, "t", *[f"needle number {i}" for i in range(30)])
    assert len(store.search("needle", limit=5)) == 5
    assert store.search("needle", limit=0) == []
    long_text = ("lorem ipsum " * 100) + "the NEEDLE is here " + ("dolor sit " * 100)
    snippet = make_snippet(long_text, ("needle",))
    assert snippet.startswith("…") and snippet.endswith("…")
    assert marked(snippet) == ["NEEDLE"] and len(unmark(snippet)) <= 170
    assert make_snippet("line one\n\nline\ttwo", ("two",)) == (
        f"line one line\t{SNIPPET_START}two{SNIPPET_END}".replace("\t", " "))
    assert SNIPPET_START not in unmark(make_snippet(f"odd {SNIPPET_START} text", ("odd",)))


def test_parse_query_quotes_every_term():
    parsed = parse_query('hello "big world" AND * NEAR( ab')
    assert parsed.fts == '"hello" AND "big world" AND "AND" AND "NEAR("'
    assert parsed.like == ("%*%", "%ab%")
    assert parse_query('say "hi').fts == '"say" AND """hi"'
    assert parse_query("").terms == ()
