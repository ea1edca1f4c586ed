"""The token view against a fake engine: an answer's stored trace opens from its "Tokens"
button (an old answer too), tokens tell their alternatives, and an engine that cannot
give logits is told in words. The real-model side (the step chain, branching, the model
card and cost panel) is in tests/integration/test_real_token_view.py."""

from __future__ import annotations

from fake_engine import FakeEngine
from PySide6.QtCore import Qt
from window_driver import ask

from chatdesk.app import build_window
from chatdesk.core.settings import Settings
from chatdesk.core.token_records import TokenAlternative, TokenRecord, TokenTrace
from chatdesk.ui.token_view import TokenDialog, surprise_alpha
from chatdesk.worker import EngineHost

TRACE = TokenTrace((
    TokenRecord(1, "Paris", -0.05, (TokenAlternative(1, "Paris", -0.05),
                                    TokenAlternative(2, "Lyon", -3.2),
                                    TokenAlternative(3, "The", -3.9))),
    TokenRecord(4, " is", -1.4, (TokenAlternative(4, " is", -1.4),
                                 TokenAlternative(5, ".", -0.4))),
), seed=None, prompt_tokens=12)


def test_an_answers_tokens_open_from_its_button(qtbot, app_paths, model_file):
    window = build_window(EngineHost(FakeEngine(), app_paths.models_dir), app_paths,
                          Settings())
    qtbot.addWidget(window)
    try:
        window.show()
        window.load_model(str(model_file))
        qtbot.waitUntil(lambda: window.session.model is not None, timeout=2000)
        ask(qtbot, window, "What is the capital of France?")
        answer = window.session.thread[-1]
        view = window.chat_view
        assert [n for n, _ in view.actions_for(view.model().row_of(answer.id))] == [
            "copy", "regenerate", "tokens", "delete"]

        # A fake engine records nothing: the view says so instead of opening empty.
        assert window.dialogs.show_tokens(answer.id) is None
        assert not window.error_banner.isHidden()

        window.session.history.set_token_trace(answer.id, TRACE)  # as an older answer has
        opened: list[TokenDialog] = []
        view.tokens_requested.connect(lambda i: opened.append(i))
        view.scroll_to_message(answer.id)
        rect = view.target_rect(answer.id, "tokens")
        assert rect is not None
        qtbot.mouseMove(view.viewport(), rect.center())
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert opened == [answer.id]
        dialog = window.findChild(TokenDialog)
        assert dialog is not None and dialog.answer_id == answer.id
        qtbot.waitExposed(dialog)
        tip = dialog.flow.tooltip_text(0).splitlines()
        assert tip[0].startswith("“Paris”") and "95.1%" in tip[0]
        assert [line.split()[0] for line in tip[2:]] == ["Paris", "Lyon", "The"]
        assert "␣is" in dialog.flow.tooltip_text(1)
        # the less likely token is drawn stronger
        assert surprise_alpha(TRACE.tokens[1].probability) > surprise_alpha(
            TRACE.tokens[0].probability)

        qtbot.mouseClick(dialog.flow, Qt.MouseButton.LeftButton,
                         pos=dialog.flow.token_rect(1).center().toPoint())
        assert "Token 2" in dialog.step_title.text()
        buttons = [dialog.alternatives.itemAt(i).widget()
                   for i in range(dialog.alternatives.count() - 1)]
        assert [b.objectName() for b in buttons] == ["branch-4", "branch-5"]
        assert not buttons[0].isEnabled() and buttons[1].isEnabled()  # the chosen one: no
        qtbot.waitUntil(lambda: "Only a model running here" in dialog.chart.caption(),
                        timeout=3000)
        dialog.close()
    finally:
        window.close()
