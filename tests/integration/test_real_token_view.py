"""Under the hood on the real models (issue 14): each token's probabilities against
llama.cpp's own logits, the sampling chain against the real sampler, the model card
against the GGUF metadata, and the window's token view, step view, branching, model
card and cost-at-scale panel driven on a real answer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from real_model import CAPITAL_QUESTION, CONTEXT, greedy, smollm2_path

from chatdesk.core.engine import LlamaEngine
from chatdesk.core.events import ChatMessage
from chatdesk.core.model_card import read_model_card
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.sampling_chain import explain_step
from chatdesk.core.stop_flag import StopFlag

pytestmark = pytest.mark.integration

WAIT_MS = 180_000
STORY = "Tell me a story about a cat."


def _reference_logits(model: Path, prompt: list[int], answer: list[int]) -> list[np.ndarray]:
    """llama.cpp's own logits, from a second, independent Llama (logits_all), fed the same
    tokens one at a time as generation feeds them: the row before each answer token."""
    from llama_cpp import Llama

    from chatdesk.core.engine import skip_llama_chat_formatters

    with skip_llama_chat_formatters():
        reference = Llama(model_path=str(model), n_ctx=CONTEXT, logits_all=True,
                          verbose=False)
    try:
        reference.eval(prompt)
        rows = [reference.scores[reference.n_tokens - 1].astype(np.float64).copy()]
        for token in answer[:-1]:
            reference.eval([token])
            rows.append(reference.scores[reference.n_tokens - 1].astype(np.float64).copy())
        return rows
    finally:
        reference.close()


def test_reported_probabilities_match_a_softmax_over_llamas_logits(
        smollm2_engine: LlamaEngine):
    params = greedy(max_tokens=24, top_logprobs=5)
    prompt = smollm2_engine.prepare_chat([ChatMessage("user", CAPITAL_QUESTION)], 24)
    result = smollm2_engine.generate(prompt, params, StopFlag())
    trace = result.trace
    assert trace is not None and len(trace.tokens) == result.generated_tokens >= 5
    assert trace.seed is None  # greedy: no draw to explain
    rows = _reference_logits(smollm2_path(), prompt.tokens, [t.token for t in trace.tokens])
    for record, row in zip(trace.tokens, rows, strict=True):
        probabilities = np.exp(row - row.max())
        probabilities /= probabilities.sum()
        assert abs(record.probability - probabilities[record.token]) < 1e-3
        assert [a.token for a in record.top] == list(np.argsort(-row, kind="stable")[:5])
        for alternative in record.top:
            assert abs(alternative.probability - probabilities[alternative.token]) < 1e-3
        assert record.token == int(np.argmax(row))  # greedy chose the likeliest
    assert "".join(t.text for t in trace.tokens).strip().startswith(result.text.strip()[:8])


@pytest.mark.parametrize("params", [
    SamplingParams(temperature=0.9, seed=1234, max_tokens=24, top_logprobs=5),
    SamplingParams(temperature=1.5, seed=7, top_k=0, top_p=0.9, min_p=0.0,
                   repeat_penalty=1.3, frequency_penalty=0.5, presence_penalty=0.3,
                   max_tokens=24, top_logprobs=5),
    SamplingParams(temperature=1.2, seed=99, top_k=0, top_p=1.0, min_p=0.02, max_tokens=24,
                   top_logprobs=5),
], ids=["defaults", "penalties-top-p", "min-p-unsorted"])
def test_the_sampling_chain_picks_what_the_real_sampler_picked(smollm2_engine: LlamaEngine,
                                                               params: SamplingParams):
    prompt = smollm2_engine.prepare_chat([ChatMessage("user", STORY)], params.max_tokens)
    trace = smollm2_engine.generate(prompt, params, StopFlag(), loop_guard=False).trace
    assert trace is not None and trace.seed == params.seed
    tokens = [t.token for t in trace.tokens]
    for step, token in enumerate(tokens):
        logits = smollm2_engine.logits_after(prompt.tokens + tokens[:step])
        explanation = explain_step(logits, params, tokens[:step], trace.seed, step)
        assert explanation.chosen == token, step
        assert [s.name for s in explanation.stages] == ["raw", "penalties", "filters",
                                                        "temperature"]
        kept = explanation.stages[2].kept
        assert 1 <= kept <= (params.top_k or kept)


@pytest.mark.parametrize("which", ["smollm2", "gemma"])
def test_the_model_card_matches_the_gguf_metadata(which: str, model_path: Path,
                                                  smollm2_engine: LlamaEngine):
    from gguf import GGUFReader  # an independent GGUF reader (the dev extra)

    path = smollm2_path() if which == "smollm2" else model_path
    card = read_model_card(path)
    reader = GGUFReader(str(path))

    def meta(key: str):
        return reader.fields[f"{card.architecture}.{key}"].contents()

    assert card.architecture == reader.fields["general.architecture"].contents()
    assert card.layers == meta("block_count")
    assert card.heads == meta("attention.head_count")
    assert card.kv_heads == meta("attention.head_count_kv")
    assert card.embedding == meta("embedding_length")
    assert card.feed_forward == meta("feed_forward_length")
    assert card.trained_context == meta("context_length")
    assert card.rope_base == pytest.approx(meta("rope.freq_base"))
    assert card.parameters == sum(int(t.n_elements) for t in reader.tensors)
    assert card.tensor_bytes == sum(int(t.n_bytes) for t in reader.tensors)
    by_type: dict[str, int] = {}
    for tensor in reader.tensors:
        by_type[tensor.tensor_type.name] = by_type.get(tensor.tensor_type.name, 0) + int(
            tensor.n_bytes)
    assert {q.type_name: q.size for q in card.quant_shares} == by_type
    assert sum(q.share for q in card.quant_shares) == pytest.approx(1.0)
    assert card.tied_output  # both models reuse the embedding table as the output matrix
    assert card.weight_bytes_per_token == card.tensor_bytes
    assert card.kv_bytes_per_token == (card.layers * card.kv_heads * 2 * card.head_size * 2)
    assert card.flops_per_token(1000) > card.flops_per_token(0) >= 2 * card.parameters * 0.9
    if which == "smollm2":  # and llama.cpp, which loaded it, counts the same parameters
        assert smollm2_engine.info.parameters == card.parameters


def _window(qtbot, tmp_path: Path, sampling: SamplingParams):
    from chatdesk.app import build_window
    from chatdesk.core.energy import EnergyMeter
    from chatdesk.core.paths import AppPaths
    from chatdesk.core.settings import Settings
    from chatdesk.worker import EngineHost

    root = tmp_path / "data"
    paths = AppPaths(models_dir=root / "models", database=root / "chatdesk.sqlite3",
                     settings_file=root / "settings.json", logs_dir=root / "logs").ensure()
    settings = Settings(context_length=CONTEXT, sampling=sampling)
    window = build_window(EngineHost(LlamaEngine(), paths.models_dir, meter=EnergyMeter()),
                          paths, settings)
    qtbot.addWidget(window)
    window.load_model(str(smollm2_path()))
    qtbot.waitUntil(lambda: window.session.model is not None, timeout=WAIT_MS)
    return window


def test_token_view_step_view_and_a_forced_branch_in_the_window(qtbot, tmp_path: Path):
    from PySide6.QtCore import Qt

    window = _window(qtbot, tmp_path, greedy(max_tokens=20))
    session = window.session
    try:
        assert session.send(CAPITAL_QUESTION)
        qtbot.waitUntil(lambda: not session.busy, timeout=WAIT_MS)
        answer = session.thread[-1]
        trace = session.token_trace(answer.id)  # stored with the answer, read back
        assert trace is not None and len(trace.tokens) >= 4
        assert answer.content.startswith(trace.text().strip()[:10])

        dialog = window.dialogs.show_tokens(answer.id)
        assert dialog is not None
        qtbot.waitExposed(dialog)
        first = trace.tokens[0]
        tip = dialog.flow.tooltip_text(0)
        assert len(tip.splitlines()) == 2 + len(first.top)  # the token, then 5 alternatives
        for alternative in first.top:
            assert alternative.text.replace(" ", "␣") in tip

        step = 2
        qtbot.mouseClick(dialog.flow, Qt.MouseButton.LeftButton,
                         pos=dialog.flow.token_rect(step).center().toPoint())
        assert dialog.flow.selected == step
        qtbot.waitUntil(lambda: dialog.chart.explanation is not None, timeout=WAIT_MS)
        assert dialog.chart.explanation.greedy  # the answer's own sampling: greedy
        assert dialog.chart.explanation.chosen == trace.tokens[step].token
        # Moving the temperature control redraws the chain at once, from the same logits.
        session.set_sampling(dataclasses.replace(session.sampling, temperature=0.8, top_k=40,
                                                 top_p=0.95, min_p=0.05))
        assert not dialog.chart.explanation.greedy
        assert [s.name for s in dialog.chart.explanation.stages][-1] == "temperature"
        assert "temperature 0.8" in dialog.chart.caption()
        session.set_sampling(greedy(max_tokens=20))

        forced = next(a for a in trace.tokens[step].top if a.token != trace.tokens[step].token)
        button = dialog.findChild(type(dialog.alternatives.itemAt(0).widget()),
                                  f"branch-{forced.token}")
        assert button is not None and button.isEnabled()
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not session.busy, timeout=WAIT_MS)
        branch = session.thread[-1]
        assert branch.id != answer.id and branch.parent_id == answer.parent_id
        assert branch.sibling_count == 2 and branch.sibling_index == 1  # ‹ 2/2 ›
        new = session.token_trace(branch.id)
        assert new is not None
        original = [t.token for t in trace.tokens]
        branched = [t.token for t in new.tokens]
        first_difference = next(i for i, (a, b) in enumerate(zip(original, branched,
                                                                 strict=False)) if a != b)
        assert first_difference == step and branched[step] == forced.token
        head = ("".join(t.text for t in trace.tokens[:step]) + forced.text).lstrip()
        assert branch.content.startswith(head) and len(branch.content) > len(head)
        # The model really continued the forced token: the prompt it was given ends with
        # the original prompt's tokens, the kept tokens and the forced one.
        engine = session.host.engine
        messages = [ChatMessage("user", CAPITAL_QUESTION)]
        tokens = session.host.engine.prepare_chat(messages, 20).tokens
        continued = engine.prepare_chat([*messages, ChatMessage("assistant", head)], 20).tokens
        assert continued[:len(tokens) - 2] == tokens[:len(tokens) - 2]
        assert continued[-(step + 1):] == [*original[:step], forced.token]
    finally:
        window.close()


def test_model_card_one_token_and_cost_at_scale_in_the_window(qtbot, tmp_path: Path):
    window = _window(qtbot, tmp_path, greedy(max_tokens=16))
    session = window.session
    try:
        assert session.send(CAPITAL_QUESTION)
        qtbot.waitUntil(lambda: not session.busy, timeout=WAIT_MS)
        assert session.last_answer is not None
        dialog = window.dialogs.show_hood()
        qtbot.waitExposed(dialog)
        card = read_model_card(smollm2_path())
        labels = {dialog.card_form.itemAt(i, dialog.card_form.ItemRole.LabelRole).widget()
                  .text(): dialog.card_form.itemAt(i, dialog.card_form.ItemRole.FieldRole)
                  .widget().text() for i in range(dialog.card_form.rowCount())}
        assert labels["Layers"] == str(card.layers) == "30"
        assert labels["Attention heads"].startswith("9 query, 3 key/value")
        assert "134,515,008" in labels["Parameters"]
        assert "Q4_1" in labels["Quantization"] and "Q8_0" in labels["Quantization"]
        assert dialog.stack is not None and "× 30 blocks" in dialog.stack.labels()
        qtbot.waitUntil(lambda: dialog.limit is not None, timeout=WAIT_MS)  # bandwidth test
        limit = dialog.limit
        assert 1 <= limit.bandwidth_gbs <= 1000
        assert limit.measured_tok_s == pytest.approx(
            session.last_answer.result.generation_tokens_per_s)
        assert limit.limit_tok_s == pytest.approx(
            limit.bandwidth_gbs * 1e9 / (card.weight_bytes_per_token + limit.kv_bytes_read))
        assert "tokens/s" in dialog.limit_text.text()
        assert dialog.limit_text.text().count(". ") >= 1  # two plain sentences
        rows = {dialog.scale_rows.itemAt(i, dialog.scale_rows.ItemRole.LabelRole).widget()
                .text(): dialog.scale_rows.itemAt(i, dialog.scale_rows.ItemRole.FieldRole)
                .widget().text() for i in range(dialog.scale_rows.rowCount())}
        assert "(measured here)" in rows["Speed of one machine"]
        report = session.last_answer.energy_report
        assert (f"({'measured' if report.measured else 'estimated'} here: {report.source})"
                in rows["Energy per token"])
        assert "(setting" in rows["Electricity per day"]
        assert "(setting)" in rows["CO2 per day"]
        before = rows["Tokens per day"]
        dialog.users.setValue(2 * session.store.settings.scale_users_per_day)  # a setting
        assert session.store.settings.scale_users_per_day == dialog.users.value()
        assert dialog.scale_inputs().users_per_day.value == dialog.users.value()
        after = dialog.scale_rows.itemAt(0, dialog.scale_rows.ItemRole.FieldRole).widget()
        assert after.text() != before  # the panel follows the setting
    finally:
        window.close()
