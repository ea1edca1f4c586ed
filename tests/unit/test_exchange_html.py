"""HTML export safety: whatever a message holds, the only markup is the export's own."""

from __future__ import annotations

import json
import random
from html.parser import HTMLParser

import pytest
from test_exchange_formats import history  # noqa: F401

from chatdesk.core.exchange import import_file, render
from chatdesk.core.exchange.json_format import FORMAT_NAME
from chatdesk.core.exchange.markdown_html import render as render_markdown
from chatdesk.core.history import NewMessage

ALLOWED_TAGS = {"p", "br", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "hr",
                "table", "thead", "tbody", "tr", "th", "td", "div", "pre", "code", "span",
                "strong", "em", "del", "a"}
PAGE_TAGS = ALLOWED_TAGS | {"html", "head", "meta", "title", "style", "body", "main", "h1",
                            "section"}
ATTACKS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)//",
    '"><svg onload=alert(1)>',
    "' onmouseover='alert(1)",
    "<a href=\"javascript:alert(1)\">x</a>",
    "[click](javascript:alert(1))",
    '[x](https://e.com/" onclick="alert(1))',
    "`<script>` and ``<b onclick=x>``",
    "```html\n<script>alert(2)</script>\n```",
    "```\"><script>alert(3)</script>\ncode\n```",
    "| <script>x</script> | b |\n|---|---|\n| <img onerror=y> | c |",
    "> <iframe src=//evil></iframe>",
    "- <style>body{display:none}</style>",
    "# <title>x</title>",
    "**<b>bold</b>** _<i>x</i>_ ~~<s>y</s>~~",
    "</section></main><script>alert(4)</script>",
    "<!-- comment --><![CDATA[x]]>&lt;script&gt;",
]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_comment(self, data):
        self.comments.append(data)

    def unknown_decl(self, data):
        self.comments.append(data)


def _check_markup(html_text: str, allowed: set[str]) -> None:
    parser = _Collector()
    parser.feed(html_text)
    parser.close()
    assert parser.comments == []
    for tag, attrs in parser.tags:
        assert tag in allowed, tag
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert name in {"class", "style", "href", "rel", "dir", "start", "charset",
                            "http-equiv", "content", "name"}, (tag, name)
            if name == "href":
                assert value and value.startswith(("https://", "http://", "mailto:")), value
            if name == "style":
                assert "url(" not in (value or "") and "expression" not in (value or "")


@pytest.mark.parametrize("attack", ATTACKS)
def test_markdown_rendering_never_lets_markup_through(attack):
    _check_markup(render_markdown(attack), ALLOWED_TAGS)


def test_random_soup_never_produces_foreign_markup():
    pieces = ["<", ">", '"', "'", "&", "`", "```", "*", "_", "[", "]", "(", ")", "|", "#",
              "-", ">", "\n", " ", "script", "onerror=", "javascript:", "https://x.y", "a",
              "img", "~~", "1.", "\n\n", "---"]
    rng = random.Random(6)
    for _ in range(600):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 60)))
        _check_markup(render_markdown(text), ALLOWED_TAGS)


def test_the_whole_page_escapes_titles_models_and_every_role(history):  # noqa: F811
    attack = '<script>alert(1)</script><img src=x onerror="alert(1)">'
    cid = history.import_conversation(
        attack, [NewMessage(i, i - 1 if i else None, role, f"{attack} {i}",
                            model=attack if role == "assistant" else None)
                 for i, role in enumerate(["system", "user", "assistant"] * 2)],
        system_prompt=attack).id
    page = render(history, cid, "html").decode("utf-8")
    _check_markup(page, PAGE_TAGS)
    assert "<script" not in page and "<img" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8
    assert "onerror=&quot;alert(1)&quot;" in page  # still readable as text


def test_safe_links_are_links_and_others_stay_text():
    html_text = render_markdown("[docs](https://example.com/a?b=1&c=2) [bad](javascript:x)")
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">docs</a>' \
        in html_text
    assert "[bad](javascript:x)" in html_text


def test_markdown_subset_renders_what_models_write():
    html_text = render_markdown("## Head\n\nPara *em* **strong** `x<y`\n\n1. one\n2. two\n\n"
                                "- a\n- b\n\n> quoted\n\n---\n\n```sh\nls -la\n```")
    for expected in ("<h4>Head</h4>", "<em>em</em>", "<strong>strong</strong>",
                     "<code>x&lt;y</code>", "<ol><li>one</li><li>two</li></ol>",
                     "<ul><li>a</li><li>b</li></ul>", "<blockquote><p>quoted</p></blockquote>",
                     "<hr>", '<div class="lang">sh</div>'):
        assert expected in html_text, expected
    assert "snake_case_name" in render_markdown("snake_case_name")  # no stray <em>


def test_deeply_nested_quotes_do_not_blow_the_stack():
    render_markdown(">" * 5000 + " deep")


POEM = "Roses are red,\nviolets are blue,\nsugar is sweet,\nand so are you."


def test_a_single_newline_is_a_line_break_but_never_in_code():
    assert "<p>20,<br>\nStudent: go on</p>" in render_markdown("20,\nStudent: go on")
    for code in ("```text\nline one\nline two\n```", "    line one\n    line two"):
        html_text = render_markdown(code)
        assert "<pre><code>line one\nline two</code></pre>" in html_text, html_text
        assert "<br>" not in html_text
    assert "<li>first<br>\nmore of it</li>" in render_markdown("- first\n  more of it")


def test_an_imported_poem_keeps_its_lines_in_the_page(history, tmp_path):  # noqa: F811
    path = tmp_path / "poem.json"
    path.write_text(json.dumps({
        "format": FORMAT_NAME, "version": 1,
        "conversation": {"title": "poem", "current_message": 2},
        "messages": [{"id": 1, "parent": None, "role": "user", "content": "A poem?"},
                     {"id": 2, "parent": 1, "role": "assistant", "content": POEM}]}),
        encoding="utf-8")
    [cid] = import_file(history, path)
    page = render(history, cid, "html").decode("utf-8")
    assert "<br>\n".join(POEM.split("\n")) in page


def test_bare_urls_become_safe_links_and_images_stay_text():
    html_text = render_markdown("see https://example.com/x or www.python.org, "
                                "![pic](https://e.com/p.png)")
    assert ('<a href="https://example.com/x" rel="noopener noreferrer">'
            "https://example.com/x</a>") in html_text
    assert '<a href="http://www.python.org" rel="noopener noreferrer">' in html_text
    assert "<img" not in html_text
    _check_markup(html_text, ALLOWED_TAGS)
