"""Chat templates: exact prompt text for the built-ins, choice and fallback, and the sandbox."""

from __future__ import annotations

import pytest

from chatdesk.core.chat_template import (
    BUILTIN_TEMPLATES,
    FALLBACK_TEMPLATE,
    ChatTemplate,
    ChatTemplateError,
    builtin_template,
    choose_template,
    render_prompt,
)
from chatdesk.core.events import ChatMessage

CONVERSATION = (
    ChatMessage("system", "You are terse."),
    ChatMessage("user", "Hi"),
    ChatMessage("assistant", "Hello!"),
    ChatMessage("user", "Two\nlines?"),
)

EXPECTED = {
    "gemma": (
        "<bos><start_of_turn>user\nYou are terse.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nTwo\nlines?<end_of_turn>\n"
        "<start_of_turn>model\n"
    ),
    "chatml": (
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nTwo\nlines?<|im_end|>\n"
        "<|im_start|>assistant\n"
    ),
    "llama3": (
        "<bos><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nTwo\nlines?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "transcript": (
        "You are terse.\n\n"
        "User: Hi\n"
        "Assistant: Hello!\n"
        "User: Two\nlines?\n"
        "Assistant:"
    ),
}


def render(template: ChatTemplate, messages=CONVERSATION) -> str:
    return render_prompt(template, messages, bos_token="<bos>", eos_token="<eos>")


def test_every_builtin_has_an_expected_rendering():
    assert set(EXPECTED) == set(BUILTIN_TEMPLATES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_renders_exact_text(name):
    assert render(builtin_template(name, "test")) == EXPECTED[name]


def test_transcript_stops_at_the_next_user_line():
    assert builtin_template("transcript", "test").stop_strings == ("\nUser:", "\nAssistant:")


def test_gemma_without_a_system_message():
    text = render(builtin_template("gemma", "t"), [ChatMessage("user", "  Hi  ")])
    assert text == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"


# A GGUF-style template: literal newlines and "{%-" / "{{-" whitespace control, as in the
# wild. Rendered with trim_blocks/lstrip_blocks, it must give exactly the ChatML text.
GGUF_CHATML = """{%- for message in messages %}
{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

# Gemma's own style: system folded into the first user turn, roles checked.
GGUF_GEMMA = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {{- message['content'] | trim }}
    {{- '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<start_of_turn>model\n' }}
{%- endif -%}
"""


# Zephyr's template relies on trim_blocks: each "{% ... %}" line leaves no newline behind,
# each "{{ ... }}" line keeps its own.
GGUF_ZEPHYR = r"""{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}"""


def test_gguf_template_relying_on_trim_blocks():
    assert render(choose_template(GGUF_ZEPHYR)) == (
        "<|system|>\nYou are terse.<eos>\n"
        "<|user|>\nHi<eos>\n"
        "<|assistant|>\nHello!<eos>\n"
        "<|user|>\nTwo\nlines?<eos>\n"
        "<|assistant|>\n"
    )


def test_gguf_template_with_whitespace_control_keeps_its_newlines():
    template = choose_template(GGUF_CHATML)
    assert template.name == "gguf"
    assert render(template) == EXPECTED["chatml"]


def test_real_style_gemma_template_matches_the_builtin():
    assert render(choose_template(GGUF_GEMMA)) == EXPECTED["gemma"]


def test_raise_exception_message_surfaces():
    bad_order = (ChatMessage("assistant", "Hello!"), ChatMessage("user", "Hi"))
    with pytest.raises(ChatTemplateError, match="roles must alternate"):
        render(choose_template(GGUF_GEMMA), bad_order)
    with pytest.raises(ChatTemplateError, match="nope"):
        render(choose_template("{{ raise_exception('nope') }}"))


# --- choosing a template ------------------------------------------------------------------


def test_gguf_template_wins_when_it_compiles():
    template = choose_template(GGUF_CHATML, hint="llama3")
    assert template.name == "gguf"
    assert template.jinja == GGUF_CHATML
    assert template.stop_strings == ()


@pytest.mark.parametrize("missing", [None, ""])
def test_hint_is_used_when_the_file_has_no_template(missing):
    template = choose_template(missing, hint="chatml")
    assert template.name == "chatml"
    assert "hint" in template.source and "no chat template" in template.source
    assert render(template) == EXPECTED["chatml"]


@pytest.mark.parametrize("hint", [None, "no-such-template"])
def test_transcript_without_template_or_known_hint(hint):
    template = choose_template(None, hint=hint)
    assert template.name == FALLBACK_TEMPLATE == "transcript"
    assert template.stop_strings == ("\nUser:", "\nAssistant:")


def test_template_that_does_not_compile_falls_back_with_the_reason():
    template = choose_template("{% for m in messages %}{{ m.content }}", hint="gemma")
    assert template.name == "gemma"
    assert "does not compile" in template.source
    assert "endfor" in template.source  # Jinja's own words about what is missing
    template = choose_template("{{ unclosed ")
    assert template.name == "transcript"
    assert "does not compile" in template.source


# --- the sandbox --------------------------------------------------------------------------

HOSTILE = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ '{0.__class__}'.format(1) }}",
    "{% set x = messages.append(1) %}",
    "{{ messages.pop() }}",
    "{{ messages[0].update({'role': 'system'}) }}",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_template_is_stopped(source):
    template = choose_template(source)  # it compiles: the danger is in rendering
    assert template.name == "gguf"
    with pytest.raises(ChatTemplateError, match="unsafe"):
        render(template)


def test_hostile_template_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    payloads = [
        # CVE-2024-34359's payload, aimed at a file in tmp_path.
        "{% for x in ().__class__.__base__.__subclasses__() %}"
        "{% if 'warning' in x.__name__ %}"
        "{{ x()._module.__builtins__['__import__']('os').system('touch " + str(marker) + "') }}"
        "{% endif %}{% endfor %}",
        "{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}",
        "{{ lipsum.__globals__['os'].system('touch " + str(marker) + "') }}",
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os"
        ".system('touch " + str(marker) + "') }}",
    ]
    for source in payloads:
        with pytest.raises(ChatTemplateError):
            render(choose_template(source))
    assert not marker.exists()


def test_messages_are_not_changed_by_a_template():
    messages = [ChatMessage("user", "Hi")]
    with pytest.raises(ChatTemplateError):
        render(choose_template("{% set _ = messages.append({'role': 'x'}) %}"), messages)
    assert messages == [ChatMessage("user", "Hi")]


@pytest.mark.parametrize(
    "source",
    [
        "{{ 1 / 0 }}",  # ZeroDivisionError
        "{{ 2.0 ** 5000 }}",  # OverflowError
        "{% for i in range(10**9) %}x{% endfor %}",  # the sandbox's range limit
        "{{ '%s %s' % 1 }}",  # TypeError
        "{{ messages | sum }}",
    ],
)
def test_template_runtime_errors_become_chat_template_errors(source):
    with pytest.raises(ChatTemplateError, match="failed to render"):
        render(choose_template(source))


def test_ballooning_prompt_is_refused():
    with pytest.raises(ChatTemplateError, match="absurdly long"):
        render(choose_template("{{ 'x' * 5000000 }}"))


def test_undefined_variables_render_empty_like_other_gguf_runtimes():
    assert render(choose_template("{{ tools.whatever }}[{{ messages[5].content }}]")) == "[]"


def test_strftime_now_is_available():
    text = render(choose_template("{{ strftime_now('%Y') }}"))
    assert text.isdigit() and len(text) == 4


# --- continuing a partial answer ("continue anyway") ---------------------------------------

QUESTION = (ChatMessage("system", "You are terse."), ChatMessage("user", "Capital of France?"))


@pytest.mark.parametrize("name", ["chatml", "gemma", "llama3"])
def test_a_partial_answer_is_continued_after_the_assistant_opening(name):
    """The prompt is the usual one (up to the assistant's opening) plus the partial text,
    with no end of turn after it."""
    template = builtin_template(name, "test")
    opening = render(template, QUESTION)
    continued = render(template, (*QUESTION, ChatMessage("assistant", "Paris is")))
    assert continued == opening + "Paris is"


def test_the_transcript_continues_as_it_writes_a_past_turn():
    """'Assistant:' is followed by a space in a past turn: the model wrote ' Paris'."""
    template = builtin_template("transcript", "test")
    continued = render(template, (*QUESTION, ChatMessage("assistant", "Paris is")))
    assert continued == "You are terse.\n\nUser: Capital of France?\nAssistant: Paris is"
    assert "\nUser:" not in continued.split("Assistant:")[-1]


def test_trailing_whitespace_of_the_partial_is_kept_even_when_the_template_trims():
    template = builtin_template("gemma", "test")  # writes "{{ m.content | trim }}"
    continued = render(template, (*QUESTION, ChatMessage("assistant", "Paris is\n\n")))
    assert continued == render(template, QUESTION) + "Paris is\n\n"


def test_a_partial_that_looks_like_the_end_of_turn_is_cut_at_the_right_place():
    """The cut is found by a marker, not by searching the text ('turn' is also inside
    '<end_of_turn>')."""
    template = builtin_template("gemma", "test")
    continued = render(template, (*QUESTION, ChatMessage("assistant", "turn")))
    assert continued.endswith("<start_of_turn>model\nturn")


def test_an_empty_partial_is_a_plain_generation_prompt():
    template = builtin_template("transcript", "test")
    assert render(template, (*QUESTION, ChatMessage("assistant", ""))) == render(template,
                                                                                QUESTION)


def test_a_template_that_drops_assistant_text_falls_back_to_opening_plus_partial():
    template = ChatTemplate("gguf", "test", (
        "{% for m in messages %}{% if m.role == 'user' %}Q: {{ m.content }}\n{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}A:{% endif %}"))
    continued = render(template, (*QUESTION, ChatMessage("assistant", " Paris")))
    assert continued == "Q: Capital of France?\nA: Paris"
