"""Hostile chat templates: time and size budgets, Stop, and no folding at compile time."""

from __future__ import annotations

import threading
import tracemalloc

import pytest

from chatdesk.core import chat_template
from chatdesk.core.chat_template import (
    ChatTemplateError,
    TemplateRefusedError,
    TemplateStoppedError,
    choose_template,
    render_prompt,
)
from chatdesk.core.events import ChatMessage
from chatdesk.core.stop_flag import StopFlag

MESSAGES = (ChatMessage("user", "Hi"),)
MB = 1 << 20

# Loops that print nothing: only the time budget can end them.
SILENT_LOOPS = [
    "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}",
    "{% for a in range(99999) %}{% for b in range(99999) %}{% if a == b %}{% endif %}"
    "{% endfor %}{% endfor %}",
    "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}"
    "{% set x = m(60) %}",
    "{% for x in range(2) recursive %}{% if loop.depth < 60 %}{% set y = loop(range(2)) %}"
    "{% endif %}{% endfor %}",
    "{% for c in 'x' * 4000000 %}{% for d in 'y' * 4000000 %}{% endfor %}{% endfor %}",
]

# Each would take seconds and gigabytes if it ran; each must be refused before it does.
BLOWUPS = [
    "{{ 'a' * 10**9 }}",
    "{{ [1] * 10**8 }}",
    "{% for a in range(9999) %}{% for b in range(9999) %}x{% endfor %}{% endfor %}",
    "{{ 'x' | center(10**9) }}",
    "{{ 'x'.center(10**9) }}",
    "{{ 'x'.ljust(10**8) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '%0999999999d' | format(1) }}",
    "{{ 2 ** 999999999 }}",
    "{{ lipsum(10**6) }}",
    "{{ ('a' * 3000000) ~ ('b' * 3000000) }}",
    "{{ ('a' * 3000000) + ('b' * 3000000) }}",
    "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s }}",
    "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}",
    "{{ ('a' * 1000000) | replace('a', 'aaaaaaaaaa') }}",
    "{{ ('a' * 1000000).replace('a', 'aaaaaaaaaa') }}",
    "{{ range(100000) | join('x' * 1000) }}",
    "{{ ('x' * 1000).join(range(100000) | map('string')) }}",
    "{% set s %}{% for i in range(99999) %}{{ 'x' * 1000 }}{% endfor %}{% endset %}",
    "{{ ('a' * 1000) | indent(10**8) }}",
]


def render(template, seconds: float = 0.5, stop=None) -> str:
    return render_prompt(template, MESSAGES, bos_token="<s>", eos_token="</s>", stop=stop,
                         seconds=seconds)


def test_constants_are_not_folded_while_compiling():
    """Jinja evaluates constant expressions at compile time: this one took 17 s and 4.7 GB
    at model load. Compiling must not evaluate it; rendering then refuses it."""
    tracemalloc.start()
    try:
        template = choose_template("{{ 'a' * 10**9 }}{{ 'b' | center(10**9) }}",
                                   model_name="Evil 7B")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert template.name == "gguf"
    assert peak < 16 * MB
    with pytest.raises(TemplateRefusedError, match=r"^Evil 7B's chat template was refused"):
        render(template)


@pytest.mark.parametrize("source", BLOWUPS)
def test_templates_that_build_huge_values_are_refused_without_the_memory(source):
    template = choose_template(source, model_name="Evil 7B")
    assert template.name == "gguf"
    tracemalloc.start()
    try:
        with pytest.raises(TemplateRefusedError) as refused:
            render(template, seconds=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(refused.value).startswith("Evil 7B's chat template was refused: it ")
    assert peak < 64 * MB


@pytest.mark.parametrize("source", SILENT_LOOPS)
def test_templates_that_run_too_long_hit_the_time_budget(source):
    template = choose_template(source, model_name="Evil 7B")
    with pytest.raises(TemplateRefusedError, match=r"ran for more than 0\.3 s"):
        render(template, seconds=0.3)


def test_stop_ends_a_render_in_progress():
    flag = StopFlag()
    template = choose_template(SILENT_LOOPS[0])
    timer = threading.Timer(0.2, flag.set)
    timer.start()
    try:
        with pytest.raises(TemplateStoppedError):
            render(template, seconds=600, stop=flag.is_set)
    finally:
        timer.cancel()


def test_a_stop_set_before_rendering_renders_nothing():
    flag = StopFlag()
    flag.set()
    with pytest.raises(TemplateStoppedError):
        render(choose_template("{{ messages[0].content }}"), stop=flag.is_set)


def test_memory_error_is_a_refusal_naming_the_model(monkeypatch):
    template = choose_template("{{ 'x' }}", model_name="Tiny")

    def out_of_memory(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr(chat_template, "render_guarded", out_of_memory)
    with pytest.raises(TemplateRefusedError,
                       match=r"^Tiny.s chat template was refused: it ran out of memory"):
        render(template)


def test_a_builtin_template_is_named_when_refused():
    template = chat_template.builtin_template("chatml", "test", model_name="Tiny")
    huge = (ChatMessage("user", "x" * 5_000_000),)
    with pytest.raises(TemplateRefusedError,
                       match=r"^Tiny's chat template \(built-in 'chatml'\) was refused"):
        render_prompt(template, huge, "<s>", "</s>")


def test_the_template_is_compiled_once_at_load_not_per_render(monkeypatch):
    template = choose_template("{% for m in messages %}{{ m.content }}{% endfor %}")

    def no_compiling(_source):
        raise AssertionError("compiled again while rendering")

    monkeypatch.setattr(chat_template, "_compile", no_compiling)
    assert [render(template) for _ in range(3)] == ["Hi"] * 3


def test_refusals_and_stops_are_chat_template_errors():
    """The worker explains ChatTemplateErrors to the user: both must be among them."""
    assert issubclass(TemplateRefusedError, ChatTemplateError)
    assert issubclass(TemplateStoppedError, ChatTemplateError)


def test_an_absurdly_large_template_is_not_compiled():
    template = choose_template("{# " + "x" * 2_000_000 + " #}", hint="chatml")
    assert template.name == "chatml"
    assert "was refused" in template.source


@pytest.mark.parametrize("source", [
    "{% for m in messages %}{{ loop.index }}:{{ m.content | upper }} {% endfor %}",
    "{{ messages | map(attribute='content') | join(', ') }}",
    "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
    "{% endfor %}{{ ns.n }}",
    "{{ '%s-%d' % ('a', 3) }}{{ '{}!'.format('b') }}{{ 'x' * 3 }}{{ 2 ** 10 }}",
    "{% for m in messages if m.role == 'user' %}{{ m.content ~ '.' }}{% endfor %}",
])
def test_ordinary_template_features_still_work(source):
    assert render(choose_template(source))
