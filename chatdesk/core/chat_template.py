"""Turn a list of chat messages into the prompt text a model was trained on.

A GGUF's ``tokenizer.chat_template`` is Jinja source downloaded from the internet, so it is
rendered in Jinja's ImmutableSandboxedEnvironment: no attribute tricks, no file or module
access (CVE-2024-34359 was code execution through exactly this field). Models without a
template get a built-in one chosen from the special tokens their vocabulary has; the UI
always shows which template is in use.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import SecurityError

from chatdesk.core.events import ChatMessage
from chatdesk.core.template_sandbox import (
    RENDER_SECONDS,
    Sandbox,
    TemplateBudgetError,
    TemplateStopped,
    budget,
    render_guarded,
)

_CUT = "\ue000chatdesk-continue\ue000"  # private-use characters: never in a real message


class ChatTemplateError(ValueError):
    """The template could not be compiled or rendered; the message is for the user."""


class TemplateRefusedError(ChatTemplateError):
    """The template ran past its time or size budget, or out of memory."""


class TemplateStoppedError(ChatTemplateError):
    """The user stopped the answer while its prompt was being rendered."""


@dataclass(frozen=True)
class ChatTemplate:
    name: str  # "gguf" for the model's own, else the built-in's name
    source: str  # for the UI: where this template came from and why
    jinja: str
    stop_strings: tuple[str, ...] = ()  # needed when the turn end is plain text, not a token
    model_name: str = ""  # named in the message when the template is refused
    compiled: Any = field(default=None, compare=False, repr=False)  # jinja2.Template


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


def _environment() -> Sandbox:
    env = Sandbox()
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


_ENV = _environment()  # one sandbox; each render's budget lives in a context variable


def _compile(source: str) -> jinja2.Template:
    """Compile once per model: parsing costs far more than rendering."""
    return _ENV.compile_guarded(source)


def builtin_template(name: str, reason: str, model_name: str = "") -> ChatTemplate:
    jinja, stops = BUILTIN_TEMPLATES[name]
    return ChatTemplate(name=name, source=reason, jinja=jinja, stop_strings=stops,
                        model_name=model_name, compiled=_compile(jinja))


def choose_template(gguf_template: str | None, hint: str | None = None,
                    model_name: str = "") -> ChatTemplate:
    """The model's own template if it compiles, else a named hint, else the transcript.

    A GGUF without a template is usually a base model; base models continue a plain
    "User:/Assistant:" transcript far better than chat tokens they were never tuned on
    (Gemma 3 270M base answers sensibly with it and loops with Gemma's turn tokens).
    The chosen template is compiled here, once, and rendered from then on.
    """
    problem = "the model file has no chat template"
    if gguf_template:
        try:
            compiled = _compile(gguf_template)
            return ChatTemplate(name="gguf", source="from the model file", jinja=gguf_template,
                                model_name=model_name, compiled=compiled)
        except (jinja2.TemplateError, SecurityError) as exc:
            problem = f"the model's own template does not compile ({exc})"
        except (TemplateBudgetError, RecursionError, MemoryError) as exc:
            problem = f"the model's own template was refused ({exc or 'too deeply nested'})"
    if hint in BUILTIN_TEMPLATES:
        return builtin_template(hint, f"built-in '{hint}' (catalog hint): {problem}",
                                model_name)
    return builtin_template(FALLBACK_TEMPLATE, f"built-in '{FALLBACK_TEMPLATE}': {problem}",
                            model_name)


def render_prompt(template: ChatTemplate, messages: Sequence[ChatMessage], bos_token: str,
                  eos_token: str, stop: Callable[[], bool] | None = None,
                  seconds: float = RENDER_SECONDS) -> str:
    """Render the conversation plus the assistant's opening, in the sandbox.

    Each render gets ``seconds`` and a size limit; past either it is refused with a
    :class:`TemplateRefusedError` naming the model, and once ``stop()`` is true it ends
    with :class:`TemplateStoppedError`, so a hostile template never holds the engine.
    A conversation that ends with the assistant's message is a partial answer to continue
    ("continue anyway"): see :func:`_continuation`.
    """
    if messages and messages[-1].role == "assistant":
        return _continuation(template, messages, bos_token, eos_token, stop, seconds)
    return _render(template, messages, bos_token, eos_token, stop, seconds,
                   add_generation_prompt=True)


def _continuation(template: ChatTemplate, messages: Sequence[ChatMessage], bos_token: str,
                  eos_token: str, stop: Callable[[], bool] | None, seconds: float) -> str:
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
        full = _render(template, marked, bos_token, eos_token, stop, seconds,
                       add_generation_prompt=False)
        at = full.rfind(_CUT)
        if at >= 0:
            return full[:at] + partial[len(body):]
    opening = _render(template, messages[:-1], bos_token, eos_token, stop, seconds,
                      add_generation_prompt=True)
    return opening + partial


def _render(template: ChatTemplate, messages: Sequence[ChatMessage], bos_token: str,
            eos_token: str, stop: Callable[[], bool] | None, seconds: float, *,
            add_generation_prompt: bool) -> str:
    compiled = template.compiled or _compile(template.jinja)
    try:
        with budget(seconds, stop) as spent:
            return render_guarded(
                compiled, spent,
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=add_generation_prompt,
                nl="\n",
                bos_token=bos_token,
                eos_token=eos_token,
            )
    except ChatTemplateError:
        raise
    except TemplateStopped as exc:
        raise TemplateStoppedError("Stopped while the chat template was rendering.") from exc
    except (TemplateBudgetError, MemoryError) as exc:
        why = str(exc) if isinstance(exc, TemplateBudgetError) else "it ran out of memory"
        owner = f"{template.model_name}'s" if template.model_name else "The model's"
        label = "chat template" if template.name == "gguf" else \
            f"chat template (built-in '{template.name}')"
        raise TemplateRefusedError(f"{owner} {label} was refused: {why}.") from exc
    except SecurityError as exc:
        raise ChatTemplateError(
            f"The chat template tried something unsafe and was stopped: {exc}") from exc
    except (jinja2.TemplateError, TypeError, ValueError, AttributeError, RecursionError,
            ArithmeticError, LookupError) as exc:
        raise ChatTemplateError(f"The chat template failed to render: {exc}") from exc
