"""From a stored message to what the conversation view shows (the title, the figures line
and its tooltip): live and stored answers are described by the same code."""

from __future__ import annotations

from pathlib import Path

from chatdesk.core.events import ModelInfo, StopReason
from chatdesk.core.history import ThreadMessage
from chatdesk.ui.chat.model import MessageItem

_STOP_NOTES = {
    StopReason.EOS.value: "",
    StopReason.LENGTH.value: "reached the max tokens limit",
    StopReason.STOP_STRING.value: "",
    StopReason.USER_STOP.value: "stopped by you",
    StopReason.CONTEXT_FULL.value: "the context window is full",
}


def describe_stats(stats: dict | None, stop_reason: str | None) -> str:
    """The grey line under an answer: its cost in tokens and time (from the history's
    statistics dict, so live and stored answers read the same)."""
    if not stats:
        return ""
    parts = [
        f"{stats['generated_tokens']} tokens",
        f"{stats['tokens_per_s']:.1f} tok/s",
        f"first token {stats['ttft_s']:.2f} s",
        f"prompt {stats['prompt_eval_tokens']}/{stats['prompt_tokens']} tokens evaluated"
        f" ({stats['prompt_tokens_per_s']:.0f} tok/s)",
        f"context {stats['context_used']}/{stats['context_length']}",
    ]
    note = _STOP_NOTES.get(stop_reason or "", "")
    if note:
        parts.append(note)
    if stats.get("dropped_turns"):
        parts.append(f"{stats['dropped_turns']} older messages left out to fit the context")
    return " · ".join(parts)


def describe_energy(energy: dict | None) -> str:
    """'0.92 J (0.00026 Wh) · 30.1 W · 0.092 J/token · 5.3e-08 EUR · 0.00012 g CO2 ·
    estimated' — every figure with where it came from."""
    if not energy:
        return ""
    how = "measured by " + energy["source"] if energy.get("measured") else "estimated"
    per_token = energy.get("joules_per_token")
    parts = [f"{energy['joules']:.3g} J ({energy['wh']:.2g} Wh)",
             f"{energy['avg_watts']:.1f} W"]
    if per_token is not None:
        parts.append(f"{per_token:.2g} J/token")
    parts += [f"{energy['cost']:.2g} {energy['currency']}", f"{energy['co2_g']:.2g} g CO2",
              how]
    return " · ".join(parts)


def describe_model(info: ModelInfo) -> str:
    params = (f"{info.parameters / 1e9:.1f}B" if info.parameters >= 1e9
              else f"{info.parameters / 1e6:.0f}M")
    offload = (f"{info.gpu_layers_offloaded}/{info.total_layers} layers on GPU"
               if info.backend != "CPU" else f"{info.threads} threads")
    return (f"{info.name} · {info.architecture} {params} {info.quantization} · "
            f"{info.backend} ({offload}) · context {info.context_length}"
            f"/{info.trained_context}")


def answer_title(model_path: str) -> str:
    """An answer is headed by the model's file name: live and stored answers alike."""
    return Path(model_path).stem


def message_item(message: ThreadMessage) -> MessageItem:
    title = ("You" if message.role == "user"
             else answer_title(message.model) if message.model else "Assistant")
    note = describe_stats(message.stats, message.stop_reason)
    energy = describe_energy(message.energy)
    if energy:
        note = f"{note}\n{energy}" if note else energy
    if message.state == "error":
        note = "(the answer failed)"
    return MessageItem(id=message.id, role=message.role, text=message.content,
                       title=title, note=note,
                       incomplete=message.state in ("incomplete", "streaming"),
                       sibling_index=message.sibling_index,
                       sibling_count=message.sibling_count, tooltip=note)
