"""EngineHost / EngineWorker: requests in, queued frozen-dataclass signals out, clean stop."""

from __future__ import annotations

import threading
import time

import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import QObject, QThread, Slot

from chatdesk.core.engine import LoadOptions, ModelLoadError, PromptTooLongError
from chatdesk.core.events import (
    AnswerDone,
    ChatMessage,
    ErrorEvent,
    GenerationResult,
    LoadProgress,
    ModelInfo,
    StopReason,
    TokenChunk,
)
from chatdesk.core.gguf_file import InvalidModelFileError
from chatdesk.core.sampling import SamplingParams
from chatdesk.worker import EngineHost

MESSAGES = (ChatMessage("user", "What is the capital of France?"),)


class Recorder(QObject):
    """Lives in the GUI thread, like the window: the worker's signals reach it queued."""

    def __init__(self, host: EngineHost) -> None:
        super().__init__()
        self.events: list[tuple[str, object]] = []
        self.wrong_thread: list[str] = []
        worker = host.worker
        worker.progress.connect(self.on_progress)
        worker.loaded.connect(self.on_loaded)
        worker.text.connect(self.on_text)
        worker.done.connect(self.on_done)
        worker.answer_failed.connect(self.on_failed)
        worker.load_failed.connect(self.on_load_failed)
        worker.idle.connect(self.on_idle)

    def _add(self, name: str, payload: object) -> None:
        if QThread.currentThread() is not self.thread():
            self.wrong_thread.append(name)
        self.events.append((name, payload))

    @Slot(object)
    def on_progress(self, value: LoadProgress) -> None:
        self._add("progress", value)

    @Slot(object)
    def on_loaded(self, value: ModelInfo) -> None:
        self._add("loaded", value)

    @Slot(object)
    def on_text(self, value: TokenChunk) -> None:
        self._add("text", value)

    @Slot(object)
    def on_done(self, value: AnswerDone) -> None:
        """The one end-of-answer event, recorded as its result."""
        assert isinstance(value.result, GenerationResult)
        self._add("finished", value.result)

    @Slot(object)
    def on_load_failed(self, value: ErrorEvent) -> None:
        self._add("load_failed", value)

    @Slot(object)
    def on_failed(self, value: ErrorEvent) -> None:
        self._add("failed", value)

    @Slot()
    def on_idle(self) -> None:
        self._add("idle", None)

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def payloads(self, name: str) -> list:
        return [payload for n, payload in self.events if n == name]

    def count(self, name: str) -> int:
        return self.names().count(name)


@pytest.fixture
def make_host(app_paths, qtbot):
    hosts: list[EngineHost] = []

    def make(engine: FakeEngine) -> tuple[EngineHost, Recorder]:
        host = EngineHost(engine, app_paths.models_dir)
        hosts.append(host)
        return host, Recorder(host)

    yield make
    for host in hosts:
        assert host.shutdown(5000)


def load(qtbot, host: EngineHost, recorder: Recorder, path) -> int:
    request_id = host.load(str(path), LoadOptions())
    qtbot.waitUntil(lambda: recorder.count("idle") >= 1, timeout=2000)
    return request_id


def test_load_emits_progress_then_loaded_then_idle(qtbot, make_host, fake_engine, model_file):
    host, recorder = make_host(fake_engine)
    load(qtbot, host, recorder, model_file)
    qtbot.wait(20)  # nothing may follow idle

    assert recorder.names() == ["progress", "progress", "progress", "loaded", "idle"]
    stages = [(p.stage, p.fraction) for p in recorder.payloads("progress")]
    assert stages == list(fake_engine.progress_steps)
    (info,) = recorder.payloads("loaded")
    assert isinstance(info, ModelInfo)
    assert info.path == str(model_file)
    assert info.chat_template_name == "transcript"
    assert recorder.wrong_thread == []
    # the engine ran in the engine thread, never in the GUI thread
    assert fake_engine.threads_used
    assert threading.main_thread().name not in fake_engine.threads_used


@pytest.mark.parametrize(
    ("error", "title"),
    [
        (ModelLoadError("llama.cpp could not load this 'fakearch' model."),
         "The model could not be loaded"),
        (InvalidModelFileError("This is not a GGUF file (it starts with b'PK')."),
         "The model could not be loaded"),
        (PermissionError(13, "Permission denied"), "The model could not be loaded"),
    ],
    ids=["ModelLoadError", "InvalidModelFileError", "OSError"],
)
def test_failing_load_emits_failed_with_a_message(qtbot, make_host, model_file, error, title):
    host, recorder = make_host(FakeEngine(load_error=error))
    load_id = load(qtbot, host, recorder, model_file)

    assert recorder.names() == ["progress"] * 3 + ["load_failed", "idle"]
    (event,) = recorder.payloads("load_failed")
    assert event == ErrorEvent(load_id, title, str(error))
    assert "Traceback" not in event.message


def test_unexpected_load_exception_becomes_a_generic_error(qtbot, make_host, model_file,
                                                          caplog):
    host, recorder = make_host(FakeEngine(load_error=KeyError("n_vocab")))
    with caplog.at_level("ERROR", logger="chatdesk.worker"):
        load_id = load(qtbot, host, recorder, model_file)

    assert recorder.names()[-2:] == ["load_failed", "idle"]
    assert "loaded" not in recorder.names()
    (event,) = recorder.payloads("load_failed")
    assert event.request_id == load_id  # a load has its own request id, not 0
    assert event.title == "The model could not be loaded"
    assert "unexpected error" in event.message
    assert "KeyError" in event.message
    assert "Traceback" not in event.message
    # ... while the traceback itself goes to the log
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


def test_generate_streams_chunks_in_order_then_finished(qtbot, make_host, fake_engine,
                                                       model_file):
    host, recorder = make_host(fake_engine)
    load(qtbot, host, recorder, model_file)
    recorder.events.clear()

    first = host.generate(MESSAGES, SamplingParams())
    qtbot.waitUntil(lambda: recorder.count("idle") == 1, timeout=2000)
    second = host.generate([*MESSAGES, ChatMessage("assistant", "Paris."),
                            ChatMessage("user", "And Italy?")], SamplingParams())
    qtbot.waitUntil(lambda: recorder.count("idle") == 2, timeout=2000)

    assert second == first + 1
    pieces = list(fake_engine.pieces)
    names = recorder.names()
    assert names[-2:] == ["finished", "idle"] and names.count("finished") == 2
    between = names.index("finished")
    assert set(names[:between]) == {"text"}  # every chunk before its answer's end
    chunks = recorder.payloads("text")
    for request_id in (first, second):  # paced (core/text_pacing.py): joined, in order
        own = [c for c in chunks if c.request_id == request_id]
        assert own[0].text == pieces[0] and own[0].elapsed_s == 0.0  # the first at once
        assert "".join(c.text for c in own) == "".join(pieces)
        counts = [c.tokens_so_far for c in own]
        assert counts == sorted(counts) and counts[-1] == len(pieces)
        elapsed = [c.elapsed_s for c in own]
        assert elapsed == sorted(elapsed)
    results = recorder.payloads("finished")
    assert [r.request_id for r in results] == [first, second]
    assert all(r.text == "".join(pieces) and r.stop_reason is StopReason.EOS for r in results)
    assert recorder.wrong_thread == []
    # the worker passed the whole conversation and the request id to the engine
    assert fake_engine.chat_calls[0][0] == MESSAGES
    assert [call[2] for call in fake_engine.chat_calls] == [first, second]


def test_generation_error_emits_failed_for_that_request(qtbot, make_host, model_file):
    engine = FakeEngine(chat_error=PromptTooLongError("The message needs 5000 tokens."),
                        error_after_tokens=2)
    host, recorder = make_host(engine)
    load(qtbot, host, recorder, model_file)
    recorder.events.clear()

    request = host.generate(MESSAGES, SamplingParams())
    qtbot.waitUntil(lambda: recorder.count("idle") == 1, timeout=2000)

    assert recorder.names() == ["text", "text", "failed", "idle"]
    (event,) = recorder.payloads("failed")
    assert event == ErrorEvent(request, "The message is too long",
                               "The message needs 5000 tokens.")


def test_stop_during_a_slow_stream_keeps_the_partial_answer(qtbot, make_host, model_file):
    engine = FakeEngine(pieces=[f" w{i}" for i in range(200)], token_delay_s=0.02)
    host, recorder = make_host(engine)
    load(qtbot, host, recorder, model_file)
    recorder.events.clear()

    host.generate(MESSAGES, SamplingParams())
    qtbot.waitUntil(lambda: recorder.count("text") >= 3, timeout=2000)
    stopped_at = time.perf_counter()
    host.stop()
    qtbot.waitUntil(lambda: recorder.count("idle") == 1, timeout=1000)
    assert time.perf_counter() - stopped_at < 0.5  # 200 tokens would take 4 s

    assert recorder.names()[-2:] == ["finished", "idle"]
    (result,) = recorder.payloads("finished")
    assert result.stop_reason is StopReason.USER_STOP
    streamed = "".join(c.text for c in recorder.payloads("text"))
    assert result.text == streamed
    assert 3 <= result.generated_tokens < 200
    assert result.text.startswith(" w0 w1 w2")

    # the next request starts with the stop flag cleared and runs to the end
    engine.pieces = ["Done", "."]
    host.generate(MESSAGES, SamplingParams())
    qtbot.waitUntil(lambda: recorder.count("idle") == 2, timeout=2000)
    assert recorder.payloads("finished")[-1].stop_reason is StopReason.EOS
    assert recorder.payloads("finished")[-1].text == "Done."


def test_shutdown_closes_the_engine_and_ends_the_thread(qtbot, make_host, fake_engine,
                                                       model_file):
    host, recorder = make_host(fake_engine)
    load(qtbot, host, recorder, model_file)
    assert host.is_running()

    assert host.shutdown(5000) is True
    assert fake_engine.close_calls == 1
    assert not host.thread.isRunning()
    assert host.thread.isFinished()
    assert not host.is_running()
    assert host.shutdown(5000) is True  # a second shutdown is a no-op
    assert fake_engine.close_calls == 1


def test_shutdown_while_generating_still_completes(qtbot, make_host, model_file):
    engine = FakeEngine(pieces=[f" w{i}" for i in range(500)], token_delay_s=0.02)
    host, recorder = make_host(engine)
    load(qtbot, host, recorder, model_file)
    host.generate(MESSAGES, SamplingParams())
    qtbot.waitUntil(lambda: recorder.count("text") >= 2, timeout=2000)

    started = time.perf_counter()
    assert host.shutdown(5000) is True
    assert time.perf_counter() - started < 1.0  # 500 tokens would take 10 s
    assert engine.close_calls == 1
    assert not host.is_running()
    qtbot.waitUntil(lambda: recorder.count("finished") == 1, timeout=1000)
    (result,) = recorder.payloads("finished")
    assert result.stop_reason is StopReason.USER_STOP


def test_shutdown_while_loading_still_completes(qtbot, make_host, model_file):
    engine = FakeEngine(load_gate=threading.Event())  # never opened: loads until cancelled
    host, recorder = make_host(engine)
    host.load(str(model_file), LoadOptions())
    qtbot.waitUntil(lambda: recorder.count("progress") == 3, timeout=2000)

    started = time.perf_counter()
    assert host.shutdown(5000) is True
    assert time.perf_counter() - started < 1.0
    assert engine.close_calls == 1
    qtbot.waitUntil(lambda: recorder.count("idle") == 1, timeout=1000)
    assert "loaded" not in recorder.names()
    (event,) = recorder.payloads("load_failed")
    assert event.message == "Loading was cancelled."
