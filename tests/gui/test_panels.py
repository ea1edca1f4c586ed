"""The right panel (sampling, presets, load options), the live stats panel, the sidebar
and the themes, each on its own."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from chatdesk.core.events import GenerationResult, StopReason
from chatdesk.core.sampling import SamplingParams
from chatdesk.ui.conversation_list import ConversationList, highlight_snippet
from chatdesk.ui.sampling_panel import KNOBS, SamplingPanel
from chatdesk.ui.stats_panel import StatsPanel
from chatdesk.ui.theme import apply_theme, is_dark


@pytest.fixture
def panel(qtbot) -> SamplingPanel:
    widget = SamplingPanel()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_every_knob_has_a_range_and_a_one_sentence_tooltip(panel: SamplingPanel):
    for knob in KNOBS:
        row = panel.knobs[knob.field]
        assert row.slider.toolTip() == knob.tip and knob.tip.endswith(".")
        assert row.box.minimum() == pytest.approx(knob.low)
        assert row.box.maximum() == pytest.approx(knob.high)
        assert row.slider.accessibleName() == knob.label


def test_slider_and_box_stay_in_step_and_emit_validated_params(qtbot, panel: SamplingPanel):
    with qtbot.waitSignal(panel.sampling_changed) as emitted:
        panel.knobs["temperature"].slider.setValue(25)  # 0.25 at two decimals
    assert emitted.args[0].temperature == pytest.approx(0.25)
    assert panel.knobs["temperature"].box.value() == pytest.approx(0.25)
    with qtbot.waitSignal(panel.sampling_changed) as emitted:
        panel.knobs["top_k"].box.setValue(7)
    assert emitted.args[0].top_k == 7
    assert panel.knobs["top_k"].slider.value() == 7


def test_seed_stop_strings_and_reset(qtbot, panel: SamplingPanel):
    panel.random_seed.setChecked(False)
    panel.seed_box.setValue(42)
    panel.stop_edit.setPlainText("###\\nUser:\nEND")
    params = panel.sampling()
    assert params.seed == 42
    assert params.stop == ("###\nUser:", "END")
    with qtbot.waitSignal(panel.sampling_changed) as emitted:
        panel.set_sampling(SamplingParams(), emit=True)
    assert emitted.args[0] == SamplingParams()
    assert panel.random_seed.isChecked()


def test_set_sampling_round_trips_and_does_not_emit(qtbot, panel: SamplingPanel):
    custom = dataclasses.replace(SamplingParams(), temperature=1.3, top_k=12, min_p=0.1,
                                 max_tokens=777, seed=9, stop=("a", "b\nc"))
    with qtbot.assertNotEmitted(panel.sampling_changed):
        panel.set_sampling(custom)
    assert panel.sampling() == custom


def test_presets_save_apply_delete(qtbot, panel: SamplingPanel):
    panel.knobs["temperature"].box.setValue(0.1)
    with qtbot.waitSignal(panel.preset_saved) as saved:
        panel.save_preset("precise")
    assert saved.args[0] == "precise" and saved.args[1].temperature == pytest.approx(0.1)
    panel.set_sampling(SamplingParams())
    with qtbot.waitSignal(panel.sampling_changed) as applied:
        panel._apply_preset(panel.preset_combo.findText("precise"))
    assert applied.args[0].temperature == pytest.approx(0.1)
    panel.preset_combo.setCurrentText("precise")
    with qtbot.waitSignal(panel.preset_deleted):
        panel._delete_preset()
    assert panel.preset_combo.findText("precise") == -1


def test_models_and_reload_options(qtbot, panel: SamplingPanel, tmp_path: Path):
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    panel.set_models([a, b], str(b))
    assert panel.model_combo.currentText() == "b.gguf"
    with qtbot.waitSignal(panel.model_chosen) as chosen:
        panel.model_combo.activated.emit(0)
    assert chosen.args == [str(a)]
    panel.set_load_options(2048, None, None)
    assert panel.gpu_box.text() == "auto" and panel.threads_box.text() == "auto"
    with qtbot.waitSignal(panel.reload_requested) as reload:
        panel._emit_reload()
    assert reload.args == [2048, None, None]
    panel.set_load_options(8192, 0, 4)
    with qtbot.waitSignal(panel.reload_requested) as reload:
        panel._emit_reload()
    assert reload.args == [8192, 0, 4]


def test_system_prompt_emits_on_typing_not_on_load(qtbot, panel: SamplingPanel):
    with qtbot.assertNotEmitted(panel.system_prompt_changed):
        panel.set_system_prompt("Be brief.")
    with qtbot.waitSignal(panel.system_prompt_changed) as changed:
        qtbot.keyClicks(panel.system_prompt, "!")
    assert changed.args[0] == "!Be brief."  # typed at the cursor, which starts at the top


def result(**changes) -> GenerationResult:
    base = GenerationResult(
        request_id=1, text="x", stop_reason=StopReason.EOS, prompt_tokens=40,
        prompt_eval_tokens=10, prompt_eval_s=0.05, generated_tokens=21, generation_s=0.25,
        ttft_s=0.06, total_s=0.31, dropped_turns=0, context_used=61, context_length=4096)
    return dataclasses.replace(base, **changes)


def test_stats_panel_live_then_final(qtbot):
    stats = StatsPanel()
    qtbot.addWidget(stats)
    stats.show()
    assert stats._timer.isActive()
    stats.start_answer(4096)
    stats.on_tokens(1, 0.0, 41)
    assert stats.labels["ttft"].text().endswith(" s")
    stats.on_tokens(41, 0.5, 81)
    stats.refresh()
    assert stats.labels["speed"].text().startswith("80.0 tok/s")
    assert stats.labels["context"].text() == "81 / 4096"  # live, before the answer ends
    assert list(stats.chart.values) == [pytest.approx(80.0)]
    assert "MiB" in stats.labels["process"].text() or "GiB" in stats.labels["process"].text()
    assert "%" in stats.labels["cpu"].text()
    stats.finish_answer(result())
    assert stats.labels["speed"].text() == "80.0 tok/s (21 tokens)"
    assert stats.labels["prompt"].text() == "10/40 tokens at 200 tok/s"
    assert stats.labels["context"].text() == "61 / 4096"
    stats.hide()
    assert not stats._timer.isActive()  # no polling while hidden


@dataclass(frozen=True)
class FakeConversation:
    id: int
    title: str
    pinned: bool = False
    updated_at: float = 1_700_000_000.0


@dataclass(frozen=True)
class FakeHit:
    conversation_id: int
    conversation_title: str
    message_id: int
    snippet: str


def test_sidebar_lists_selects_and_searches(qtbot):
    sidebar = ConversationList()
    qtbot.addWidget(sidebar)
    sidebar.show()
    with qtbot.assertNotEmitted(sidebar.conversation_selected):
        sidebar.set_conversations([FakeConversation(2, "Pinned one", True),
                                   FakeConversation(1, "Older")], current_id=1)
    pinned = sidebar.conversation_items()[0]
    assert pinned.text() == "Pinned one" and not pinned.icon().isNull()  # an icon, no emoji
    assert sidebar.current_id() == 1
    with qtbot.waitSignal(sidebar.conversation_selected) as selected:
        sidebar.list.setCurrentItem(pinned)
    assert selected.args == [2]
    with qtbot.waitSignal(sidebar.search_requested, timeout=2000) as searched:
        qtbot.keyClicks(sidebar.search_box, "paris")
    assert searched.args == ["paris"]
    sidebar.show_hits([FakeHit(1, "Older", 7, "the capital is [Paris] <b>")], "paris", "[", "]")
    assert sidebar.hits.isVisible() and sidebar.hits.count() == 1
    label = sidebar.hits.itemWidget(sidebar.hits.item(0))
    assert '<b style="background:#fef08a">Paris</b>' in label.text()
    assert "&lt;b&gt;" in label.text()  # message text stays text
    with qtbot.waitSignal(sidebar.hit_activated) as activated:
        sidebar.hits.itemClicked.emit(sidebar.hits.item(0))
    assert activated.args == [1, 7]
    sidebar.search_box.clear()
    assert not sidebar.hits.isVisible()


def test_sidebar_context_menu_actions(qtbot):
    sidebar = ConversationList()
    qtbot.addWidget(sidebar)
    sidebar.set_conversations([FakeConversation(5, "Chat")], current_id=None)
    menu = sidebar.context_menu_for(sidebar.conversation_items()[0])
    actions = {a.text(): a for a in menu.actions()}
    assert set(actions) == {"Rename…", "Pin to top", "Export…", "Delete"}
    with qtbot.waitSignal(sidebar.pin_requested) as pinned:
        actions["Pin to top"].trigger()
    assert pinned.args == [5, True]
    with qtbot.waitSignal(sidebar.delete_requested) as deleted:
        actions["Delete"].trigger()
    assert deleted.args == [5]


def test_highlight_snippet_escapes_before_marking():
    assert highlight_snippet("<i>a</i> \x02b\x03", "\x02", "\x03") == (
        '&lt;i&gt;a&lt;/i&gt; <b style="background:#fef08a">b</b>')


def test_themes_switch_palettes(qtbot):
    app = QApplication.instance()
    apply_theme(app, "dark")
    dark_window = app.palette().window().color().lightness()
    apply_theme(app, "light")
    light_window = app.palette().window().color().lightness()
    assert dark_window < 80 < light_window
    assert is_dark("dark") and not is_dark("light")
    apply_theme(app, "light")
    assert app.style().name().lower() == "fusion"
