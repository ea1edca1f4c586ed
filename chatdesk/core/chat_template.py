"""Turn a list of chat messages into the prompt text a model was trained on.

A GGUF's ``tokenizer.chat_template`` is Jinja source downloaded from the internet, so it is
rendered in Jinja's ImmutableSandboxedEnvironment: no attribute tricks, no file or module
access (CVE-2024-34359 was code execution through exactly this field). Models without a
template get a built-in one chosen from the special tokens their vocabulary has; the UI
always shows which template is in use.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from chatdesk.core.events import ChatMessage

MAX_PROMPT_CHARS = 4_000_000  # a template that balloons the prompt is refused
_CUT = "\ue000chatdesk-continue\ue000"  # private-use characters: never in a real message


class ChatTemplateError(ValueError):
    """The template could not be compiled or rendered; the message is for the user."""


@dataclass(frozen=True)
class ChatTemplate:
    name: str  # "gguf" for the model's own, else the built-in's name
    source: str  # for the UI: where this template came from and why
    jinja: str
    stop_strings: tuple[str, ...] = ()  # needed when the turn end is plain text, not a token


# Built-ins spell newlines as {{ nl }}: with trim_blocks (which GGUF templates expect) a
# literal newline before a "{%-" tag would be stripped away.
_GEMMA = (
    "{{ bos_token }}"
    "{% set ns = namespace(sys='') %}"
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{% set ns.sys = m.content ~ nl ~ nl %}"
    "{% else %}"
    "<start_of_turn>{{ 'model' if m.role == 'assistant' else 'user' }}{{ nl }}"
    "{{ ns.sys }}{% set ns.sys = '' %}{{ m.content | trim }}<end_of_turn>{{ nl }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model{{ nl }}{% endif %}"
)

_CHATML = (
    "{% for m in messages %}"
    "<|im_start|>{{ m.role }}{{ nl }}{{ m.content }}<|im_end|>{{ nl }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ nl }}{% endif %}"
)

_LLAMA3 = (
    "{{ bos_token }}"
    "{% for m in messages %}"
    "<|start_header_id|>{{ m.role }}<|end_header_id|>{{ nl }}{{ nl }}"
    "{{ m.content | trim }}<|eot_id|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>{{ nl }}{{ nl }}"
    "{% endif %}"
)

# For base models with no chat tokens at all: a plain transcript, which base models continue
# well, ended by a stop string when the model starts writing the user's next line.
_TRANSCRIPT = (
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content }}{{ nl }}{{ nl }}"
    "{% elif m.role == 'user' %}User: {{ m.content }}{{ nl }}"
    "{% else %}Assistant: {{ m.content }}{{ nl }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

BUILTIN_TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (jinja, stop strings)
    "gemma": (_GEMMA, ()),
    "chatml": (_CHATML, ()),
    "llama3": (_LLAMA3, ()),
    "transcript": (_TRANSCRIPT, ("\nUser:", "\nAssistant:")),
}
FALLBACK_TEMPLATE = "transcript"


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(f"The model's chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, but an unsafe attribute stops the render at once.

    The stock sandbox returns an undefined for ``x.__class__``; with ChainableUndefined that
    prints as '' and a hostile template would render silently instead of being refused.
    """

    def unsafe_undefined(self, obj: object, attribute: str) -> jinja2.Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )


def _environment() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


def builtin_template(name: str, reason: str) -> ChatTemplate:
    jinja, stops = BUILTIN_TEMPLATES[name]
    return ChatTemplate(name=name, source=reason, jinja=jinja, stop_strings=stops)


def choose_template(gguf_template: str | None, hint: str | None = None) -> ChatTemplate:
    """The model's own template if it compiles, else a named hint, else the transcript.

    A GGUF without a template is usually a base model; base models continue a plain
    "User:/Assistant:" transcript far better than chat tokens they were never tuned on
    (Gemma 3 270M base answers sensibly with it and loops with Gemma's turn tokens).
    """
    problem = "the model file has no chat template"
    if gguf_template:
        try:
            _environment().from_string(gguf_template)
            return ChatTemplate(name="gguf", source="from the model file", jinja=gguf_template)
        except (jinja2.TemplateError, SecurityError) as exc:
            problem = f"the model's own template does not compile ({exc})"
    if hint in BUILTIN_TEMPLATES:
        return builtin_template(hint, f"built-in '{hint}' (catalog hint): {problem}")
    return builtin_template(FALLBACK_TEMPLATE, f"built-in '{FALLBACK_TEMPLATE}': {problem}")


def render_prompt(template: ChatTemplate, messages: Sequence[ChatMessage], bos_token: str,
                  eos_token: str) -> str:
    """Render the conversation plus the assistant's opening, in the sandbox.

    A conversation that ends with the assistant's message is a partial answer to continue
    ("continue anyway"): see :func:`_continuation`.
    """
    if messages and messages[-1].role == "assistant":
        return _continuation(template, messages, bos_token, eos_token)
    return _render(template, messages, bos_token, eos_token, add_generation_prompt=True)


def _continuation(template: ChatTemplate, messages: Sequence[ChatMessage], bos_token: str,
                  eos_token: str) -> str:
    """The prompt for continuing the last (assistant) message: the conversation as the
    template writes it with that message as a past turn, cut right after its text, so no
    end of turn follows. The template's own spelling of an assistant turn ("Assistant: "
    with its space, ChatML's newline) is what the model saw when it began the answer."""
    partial = messages[-1].content
    if partial.strip():
        # A marker after the text shows where it ends, whatever the template does to it
        # (trim, escaping); the partial's own trailing whitespace is kept.
        body = partial.rstrip()
        marked = [*messages[:-1], ChatMessage("assistant", body + _CUT)]
        full = _render(template, marked, bos_token, eos_token, add_generation_prompt=False)
        at = full.rfind(_CUT)
        if at >= 0:
            return full[:at] + partial[len(body):]
    opening = _render(template, messages[:-1], bos_token, eos_token,
                      add_generation_prompt=True)
    return opening + partial


def _render(template: ChatTemplate, messages: Sequence[ChatMessage], bos_token: str,
            eos_token: str, *, add_generation_prompt: bool) -> str:
    try:
        compiled = _environment().from_string(template.jinja)
        text = compiled.render(
            messages=[{"role": m.role, "content": m.content} for m in messages],
            add_generation_prompt=add_generation_prompt,
            nl="\n",
            bos_token=bos_token,
            eos_token=eos_token,
        )
    except ChatTemplateError:
        raise
    except SecurityError as exc:
        raise ChatTemplateError(
            f"The chat template tried something unsafe and was stopped: {exc}") from exc
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, RecursionError,
            ArithmeticError, LookupError) as exc:
        raise ChatTemplateError(f"The chat template failed to render: {exc}") from exc
    if len(text) > MAX_PROMPT_CHARS:
        raise ChatTemplateError("The chat template produced an absurdly long prompt.")
    return text
