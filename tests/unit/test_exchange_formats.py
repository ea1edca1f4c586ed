"""Markdown, plain text and HTML exports of a conversation with alternatives, code and
every kind of Unicode; plus the helpers the other exchange tests build their chats with."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatdesk.core.exchange import (
    FORMATS,
    ExchangeError,
    export_all,
    export_conversation,
    format_for_path,
    render,
)
from chatdesk.core.exchange.common import close_open_fence, fence_for
from chatdesk.core.history import HistoryStore, NewMessage

UNICODE_SAMPLES = [
    "emoji 👩‍👩‍👧‍👦 🇯🇵 👍🏽",
    "CJK 漢字かなカナ 한국어",
    "RTL עברית العربية",
    "combining e\u0301 a\u0308 Z\u0351\u0352\u0357",
    "oddities NUL\u0000 BEL\u0007 ZWJ\u200d BOM\ufeff RLO\u202eevil",
    "astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀",
]
CODE_ANSWER = (
    "Here is code:\n\n```python\ndef f(x):\n    return x < 3 and '<b>'  # ``\n```\n\n"
    "and a fence inside a fence:\n\n````markdown\n```js\nalert(1)\n```\n````\n\nDone."
)
SAMPLING = {"temperature": 0.7, "top_k": 40, "top_p": 0.95, "seed": 42, "stop": ["</s>"]}
STATS = {"prompt_tokens": 12, "generated_tokens": 34, "generation_s": 2.5, "ttft_s": 0.1,
         "total_s": 2.6, "tokens_per_s": 13.6, "context_used": 46, "context_length": 2048}
ENERGY = {"joules": 18.0, "wh": 0.005, "cost": 0.0012, "currency": "EUR", "co2_g": 1.5,
          "source": "rapl"}


def open_store(tmp_path: Path) -> HistoryStore:
    return HistoryStore.open(tmp_path / "history.sqlite3")


def make_rich_conversation(history: HistoryStore, title: str = "Rich: a/b <c>") -> int:
    """A tree: u1 → (a1 → u2 → a2 [current], a1b regenerated); u1b edited root → a3."""
    messages = [
        NewMessage("u1", None, "user", "Question with <script>alert('x')</script>\n"
                   + "\n".join(UNICODE_SAMPLES), created_at=1_700_000_000.0),
        NewMessage("a1", "u1", "assistant", CODE_ANSWER, created_at=1_700_000_010.5,
                   model="gemma-3-270m", sampling=SAMPLING, stats=STATS, energy=ENERGY),
        NewMessage("a1b", "u1", "assistant", "A regenerated answer, cut sh",
                   created_at=1_700_000_020.0, model="other-model", sampling=SAMPLING,
                   state="incomplete", stop_reason="user"),
        NewMessage("u2", "a1", "user", "Follow-up 🙂 مرحبا", created_at=1_700_000_030.0),
        NewMessage("a2", "u2", "assistant", "Unclosed block:\n```py\nprint('cut')",
                   created_at=1_700_000_040.0, model="gemma-3-270m", state="error",
                   stop_reason="error", stats={"generated_tokens": 3}),
        NewMessage("u1b", None, "user", "An edited first question",
                   created_at=1_700_000_050.0),
        NewMessage("a3", "u1b", "assistant", "Answer to the edit",
                   created_at=1_700_000_060.0, model="gemma-3-270m"),
    ]
    conversation = history.import_conversation(
        title, messages, created_at=1_699_999_999.0, updated_at=1_700_000_070.0,
        system_prompt="You are terse. ``` fences ``` inside.",
        settings={"sampling": SAMPLING, "context": 2048}, model="gemma-3-270m",
        current_key="a2")
    return conversation.id


@pytest.fixture
def history(tmp_path: Path):
    store = open_store(tmp_path)
    yield store
    store.close()


def text_of(history: HistoryStore, conversation_id: int, fmt: str) -> str:
    return render(history, conversation_id, fmt).decode("utf-8")


# -- markdown ------------------------------------------------------------------------------
def test_markdown_has_title_header_and_each_visible_message_under_its_role(history):
    cid = make_rich_conversation(history)
    md = text_of(history, cid, "md")
    assert md.startswith("# Rich: a/b \\<c\\>\n")
    for label in ("**Model:**", "**Created:**", "**Sampling:**", "**Messages:** 4 shown of 7",
                  "**Totals:**"):
        assert label in md
    assert "Temperature 0.7" in md and "tokens generated" in md
    assert "alternatives" in md and "JSON export" in md
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert [h.split(" · ")[0] for h in headings] == ["## You", "## Assistant", "## You",
                                                     "## Assistant"]
    assert "alternative 1/2" in headings[1]  # a1 has a regenerated sibling
    # Only the visible thread: the alternative answer and the edit are not in it.
    assert "cut sh" not in md and "An edited first question" not in md


def test_markdown_keeps_code_blocks_byte_for_byte_and_closes_a_cut_fence(history):
    cid = make_rich_conversation(history)
    md = text_of(history, cid, "md")
    assert CODE_ANSWER in md
    # a2 was cut inside a ```py block: the export closes it before the next message.
    assert "print('cut')\n```\n" in md
    # The system prompt holds ``` so it is fenced with four backticks.
    assert "````text\nYou are terse. ``` fences ``` inside.\n````" in md


def test_markdown_and_text_keep_every_kind_of_unicode(history):
    cid = make_rich_conversation(history)
    for fmt in ("md", "txt", "json"):
        out = text_of(history, cid, fmt)
        for sample in UNICODE_SAMPLES:
            if fmt == "json":
                sample = sample.replace("\u0000", "\\u0000").replace("\u0007", "\\u0007")
            assert sample in out, (fmt, sample)


def test_plain_text_has_header_and_messages_verbatim(history):
    cid = make_rich_conversation(history)
    txt = text_of(history, cid, "txt")
    assert txt.startswith("Rich: a/b <c>\n=")
    assert "Model: gemma-3-270m" in txt and "Messages: 4 shown of 7" in txt
    assert CODE_ANSWER in txt and "<script>alert('x')</script>" in txt
    assert "[You · " in txt and "[Assistant · gemma-3-270m · " in txt
    assert "34 tokens" in txt and "EUR" in txt and "energy: rapl" in txt
    assert "error (error)" in txt  # a2's state is visible


def test_a_conversation_without_alternatives_does_not_mention_them(history):
    cid = history.import_conversation("Plain", [NewMessage(1, None, "user", "hi"),
                                                NewMessage(2, 1, "assistant", "hello")]).id
    for fmt in ("md", "txt", "html"):
        assert "JSON export" not in text_of(history, cid, fmt)


def test_an_empty_conversation_exports(history):
    cid = history.create_conversation("Empty").id
    for fmt in ("md", "txt", "html", "json"):
        assert "Empty" in text_of(history, cid, fmt)


# -- html ------------------------------------------------------------------------------------
def test_html_is_standalone_styled_and_highlighted(history):
    cid = make_rich_conversation(history)
    page = text_of(history, cid, "html")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<style>" in page and "msg-user" in page and "msg-assistant" in page
    assert "Content-Security-Policy" in page and "<script" not in page
    # Nothing to fetch: no external stylesheet, script, image or font.
    for needle in ("<link", "src=", "@import", "url("):
        assert needle not in page
    # pygments colours with inline styles: 'def' is a keyword span.
    assert '<span style="color: #008000; font-weight: bold">def</span>' in page
    assert "&lt;b&gt;" in page  # the string in the code is escaped, not a tag
    for sample in UNICODE_SAMPLES[:4]:
        assert sample in page


# -- api -------------------------------------------------------------------------------------
def test_export_conversation_into_a_folder_names_the_file_after_the_title(history, tmp_path):
    cid = make_rich_conversation(history, title="Plans: Q3/Q4?")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for fmt in ("md", "json", "html", "txt"):
        path = export_conversation(history, cid, fmt, out_dir)
        assert path == out_dir / f"Plans_ Q3_Q4_.{fmt}"
        assert path.read_bytes() == render(history, cid, fmt) or fmt == "json"


def test_export_all_writes_one_file_per_conversation_and_skips_deleted(history, tmp_path):
    first = make_rich_conversation(history, title="Same")
    make_rich_conversation(history, title="Same")
    gone = make_rich_conversation(history, title="Deleted one")
    history.delete_conversation(gone)
    paths = export_all(history, "md", tmp_path / "all")
    assert sorted(p.name for p in paths) == ["Same (2).md", "Same.md"]
    assert all(p.read_text(encoding="utf-8").startswith("# Same") for p in paths)
    assert first  # ids are not part of the names


def test_unknown_format_and_missing_conversation_are_clear_errors(history, tmp_path):
    with pytest.raises(ExchangeError, match="Unknown export format"):
        export_conversation(history, 1, "docx", tmp_path / "x.docx")
    with pytest.raises(ExchangeError, match="no conversation 999"):
        export_conversation(history, 999, "md", tmp_path / "x.md")
    assert not (tmp_path / "x.md").exists()


def test_format_for_path_and_formats():
    assert FORMATS == ("md", "json", "html", "pdf", "txt")
    assert format_for_path("a/Notes.MD") == "md"
    assert format_for_path("x.htm") == "html"
    assert format_for_path("x.docx") is None


def test_fence_helpers():
    assert fence_for("no ticks") == "```"
    assert fence_for("has ````` five") == "``````"
    assert close_open_fence("a\n```py\nx") == "a\n```py\nx\n```"
    assert close_open_fence("a\n````\nx\n```\n") == "a\n````\nx\n```\n````"
    closed = "```\nx\n```\ntext ``inline`` more"
    assert close_open_fence(closed) == closed


def test_pdf_needs_a_registered_renderer_and_core_imports_none(history, tmp_path,
                                                               monkeypatch):
    import chatdesk.core.exchange as exchange

    without_pdf = {k: v for k, v in exchange._RENDERERS.items() if k != "pdf"}
    monkeypatch.setattr(exchange, "_RENDERERS", without_pdf)  # a process that registered none
    cid = make_rich_conversation(history)
    with pytest.raises(ExchangeError, match="PDF export is not available"):
        export_conversation(history, cid, "pdf", tmp_path / "x.pdf")
    with pytest.raises(ExchangeError, match="PDF export is not available"):
        export_all(history, "pdf", tmp_path / "none")
    assert not (tmp_path / "x.pdf").exists() and not (tmp_path / "none").exists()
    seen = []
    exchange.register_renderer("pdf", lambda data: seen.append(data) or b"%PDF-fake")
    assert export_conversation(history, cid, "pdf", tmp_path).read_bytes() == b"%PDF-fake"
    assert seen[0].conversation.id == cid and len(seen[0].thread) == 4
    with pytest.raises(ExchangeError, match="Unknown export format"):
        exchange.register_renderer("docx", lambda data: b"")
