"""ChatSession: one open conversation, its running answer, and what is saved.

The window shows and asks; the session decides and stores. It is the only GUI-thread
writer of the history, owns the request lifecycle (send, stop, regenerate, edit and
resend, model load and switch, the periodic save of a streaming answer), the state, and
the energy and cost bookkeeping. Widgets listen to its signals; tests drive it with a
fake engine and no widget at all.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from chatdesk.core.catalog import Catalog, CatalogEntry
from chatdesk.core.conversation import AnswerRecorder, prompt_messages, store_question
from chatdesk.core.documents.grounding import NO_GROUNDING, Grounding, unique_files, with_passages
from chatdesk.core.documents.library import DocumentLibrary
from chatdesk.core.energy.record import answer_energy_record
from chatdesk.core.engine import LoadOptions
from chatdesk.core.events import (
    AnswerDone,
    ChatMessage,
    ErrorEvent,
    LoadProgress,
    ModelInfo,
    PromptCount,
    StopReason,
    TokenChunk,
)
from chatdesk.core.figures import can_continue
from chatdesk.core.history import (
    FileRef,
    HistoryError,
    HistoryStore,
    SourceRef,
    StoredMessage,
    ThreadMessage,
)
from chatdesk.core.model_defaults import sampling_for_load
from chatdesk.core.model_ref import parse_remote
from chatdesk.core.model_store import catalog_entry_for
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.servers import ApiKeys
from chatdesk.core.settings_store import SettingsStore
from chatdesk.core.token_records import TOP_ALTERNATIVES, TokenTrace
from chatdesk.documents_host import DocumentsHost
from chatdesk.session.documents import DocumentActions, stored_folders
from chatdesk.session.history_guard import reports_history_errors
from chatdesk.session.records import (
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    ContextCount,
    RunningAnswer,
    SessionState,
)
from chatdesk.session.tokens import StepRelay, TokenActions
from chatdesk.worker import EngineHost

log = logging.getLogger(__name__)

SAVE_STREAM_MS = 400  # how often a streaming answer's new text is written to the history
IDLE_SAVE_MS = 1500  # quiet time after an answer before its KV state is saved to disk


def _with_place(history: HistoryStore, message: StoredMessage) -> ThreadMessage:
    """A stored message with its place among its alternatives, without re-reading the
    whole thread."""
    siblings = history.sibling_ids(message.id)
    index = siblings.index(message.id) if message.id in siblings else 0
    return ThreadMessage(**vars(message), sibling_index=index,
                         sibling_count=max(1, len(siblings)))


class ChatSession(TokenActions, DocumentActions, QObject):
    state_changed = Signal(object)  # SessionState
    model_progress = Signal(object)  # LoadProgress
    model_loaded = Signal(object)  # ModelInfo
    thread_reset = Signal(object)  # list[ThreadMessage]: show exactly these
    thread_trimmed = Signal(int)  # keep the rows up to this message id, drop the rest
    message_added = Signal(object)  # ThreadMessage appended at the end (a question)
    answer_started = Signal(object)  # AnswerStarted
    answer_text = Signal(object)  # TokenChunk of the visible answer
    answer_done = Signal(object)  # AnswerFinished
    answer_failed = Signal(object)  # AnswerFailed
    answer_interrupted = Signal(int)  # answer id: kept as it was when the app closed
    conversations_changed = Signal()
    sampling_applied = Signal(object)  # SamplingParams a model load chose for a new chat
    conversation_opened = Signal(object)  # conversation id or None (a new chat)
    prompt_changed = Signal()  # the system prompt or sampling changed: recount the context
    context_counted = Signal(object)  # ContextCount, for the latest count_context()
    step_ready = Signal(object)  # StepLogits or StepFailed, for request_step()
    error = Signal(str, str)  # title, message

    def __init__(self, host: EngineHost, history: HistoryStore, store: SettingsStore,
                 catalog: Catalog | None, models_dir: Path,
                 parent: QObject | None = None, keys: ApiKeys | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.keys = keys if keys is not None else ApiKeys()  # servers' API keys
        self.history = history
        self.store = store
        self.catalog = catalog if catalog is not None else Catalog(entries=(), problems=())
        self.models_dir = models_dir
        self.state = SessionState.NO_MODEL
        self.model: ModelInfo | None = None
        self.conversation_id: int | None = None
        self.thread: list[ThreadMessage] = []
        self.sampling: SamplingParams = store.settings.sampling
        self.system_prompt: str = store.settings.system_prompt
        self.editing_id: int | None = None
        self.last_answer: AnswerFinished | None = None
        self._answer: RunningAnswer | None = None
        self._load_id: int | None = None
        self._save_timer = QTimer(self)
        self._save_timer.setInterval(SAVE_STREAM_MS)
        self._save_timer.timeout.connect(self.save_streamed_text)
        self._idle_save = QTimer(self)
        self._idle_save.setSingleShot(True)
        self._idle_save.setInterval(IDLE_SAVE_MS)
        self._idle_save.timeout.connect(self.save_conversation_state)
        self._count: tuple[int, list[ChatMessage], int] | None = None  # the count under way
        # Chat with your documents: the data folder's attachments and index, the files of
        # the shown messages, the passages each answer was given, the folders switched on.
        self.documents = DocumentsHost(DocumentLibrary(history.path.parent), self)
        self.files: dict[int, tuple[FileRef, ...]] = {}
        self.sources: dict[int, tuple[SourceRef, ...]] = {}
        self.folders: tuple[str, ...] = ()
        self._deleted: set[int] = set()  # conversations deleted here: purged at close
        self._count_wanted: str | None = None  # a draft to count once it returns
        self._relay = StepRelay(self)
        self._relay.ready.connect(self.step_ready)
        worker = host.worker
        worker.progress.connect(self._on_progress)
        worker.loaded.connect(self._on_loaded)
        worker.load_failed.connect(self._on_load_failed)
        worker.text.connect(self._on_text)
        worker.done.connect(self._on_done)
        worker.answer_failed.connect(self._on_answer_failed)
        worker.counted.connect(self._on_counted)

    # -- state --------------------------------------------------------------------------
    def _set_state(self, state: SessionState) -> None:
        if state is not self.state:
            self.state = state
            self.state_changed.emit(state)

    @property
    def busy(self) -> bool:
        """An answer is running (or winding down): no new request until it ends."""
        return self._answer is not None

    @property
    def active_request(self) -> int | None:
        return self._answer.request_id if self._answer is not None else None

    @property
    def ready(self) -> bool:
        return self.model is not None and self.state is not SessionState.LOADING

    def conversation(self) -> list:
        """The visible conversation as the engine sees it (the system prompt aside)."""
        return [m.to_chat_message() for m in self.thread if m.role != "system"]

    # -- models -------------------------------------------------------------------------
    def load_options(self, path: str | None = None) -> LoadOptions:
        """The user's load settings, plus the catalog's template hint for a catalog model
        (or, for a server's model, its API key)."""
        settings = self.store.settings
        remote = parse_remote(path)
        if remote is not None:
            return LoadOptions(api_key=self.keys.get(remote.base_url))
        entry = self.catalog_entry(path) if path is not None else None
        return LoadOptions(context_length=settings.context_length,
                           gpu_layers=settings.gpu_layers, threads=settings.threads,
                           template_hint=entry.chat_template_hint if entry else None)

    def catalog_entry(self, path: str) -> CatalogEntry | None:
        """The catalog entry a model file was downloaded as (or whose file name it has)."""
        return catalog_entry_for(self.catalog, self.models_dir, Path(path).name)

    def load_model(self, path: str | None) -> None:
        """Load ``path`` (None: the bundled default model) in the background; a running
        answer is stopped first (what it wrote is kept)."""
        if self._answer is not None:  # it stays shown and ends early, kept as it was
            self.host.stop()
        self.model = None
        self._set_state(SessionState.LOADING)
        self._load_id = self.host.load(path, self.load_options(path))

    def reload_model(self, context_length: int, gpu_layers: int | None,
                     threads: int | None) -> None:
        settings = self.store.update(context_length=context_length, gpu_layers=gpu_layers,
                                     threads=threads)
        self.load_model(settings.last_model)

    def cancel_load(self) -> None:
        if self.state is SessionState.LOADING:
            self.host.cancel_load()

    @Slot(object)
    def _on_progress(self, progress: LoadProgress) -> None:
        self.model_progress.emit(progress)

    @Slot(object)
    def _on_loaded(self, info: ModelInfo) -> None:
        self.model = info
        self.store.update(last_model=info.path)
        if self.conversation_id is None:  # a new chat has no sampling of its own yet
            self._apply_model_sampling()
        self.model_loaded.emit(info)
        self._set_state(SessionState.IDLE if self._answer is None else self.state)

    def _apply_model_sampling(self) -> None:
        """A new chat answers with the loaded catalog model's recommended sampling on top of
        the user's default (a stored conversation keeps its own)."""
        if self.model is None:
            return
        entry = self.catalog_entry(self.model.path)
        sampling = sampling_for_load(entry, None, self.store.settings.sampling)
        if sampling != self.sampling:
            self.sampling = sampling
            self.sampling_applied.emit(sampling)

    @Slot(object)
    def _on_load_failed(self, error: ErrorEvent) -> None:
        if error.request_id != self._load_id:
            return
        self._set_state(SessionState.NO_MODEL)
        self.error.emit(error.title, error.message)

    # -- conversations ------------------------------------------------------------------
    def open_conversation(self, conversation_id: int) -> bool:
        """Show a stored conversation with its own sampling and system prompt."""
        if conversation_id == self.conversation_id and self.thread:
            return True
        conversation = self.history.get_conversation(conversation_id)
        if conversation is None:
            return False
        self.save_conversation_state()
        self._leave_running_answer()
        self.conversation_id = conversation_id
        self.store.update(last_conversation_id=conversation_id)
        stored = conversation.settings.get("sampling") if conversation.settings else None
        self.sampling = (SamplingParams.from_dict(stored) if stored
                         else self.store.settings.sampling)
        self.system_prompt = conversation.system_prompt
        self.folders = stored_folders(conversation.settings)
        self.editing_id = None
        self.conversation_opened.emit(conversation_id)
        self.reload_thread()
        self.conversations_changed.emit()
        return True

    def new_chat(self) -> None:
        self.save_conversation_state()
        self._leave_running_answer()
        self.conversation_id = None
        self.thread = []
        self.editing_id = None
        self.sampling = self.store.settings.sampling
        self._apply_model_sampling()
        self.system_prompt = self.store.settings.system_prompt
        self.folders = ()
        self.files, self.sources = {}, {}
        self.conversation_opened.emit(None)
        self.thread_reset.emit([])
        self.conversations_changed.emit()

    def reload_thread(self) -> None:
        self.thread = (self.history.thread(self.conversation_id)
                       if self.conversation_id is not None else [])
        ids = [m.id for m in self.thread]
        self.files = self.history.message_files(ids)
        self.sources = self.history.message_sources(ids)
        self.thread_reset.emit(self.thread)

    def _leave_running_answer(self) -> None:
        """The answer being written belongs to the chat we are leaving: stop it; what it
        produced is still saved, but not shown in the next chat."""
        if self._answer is not None:
            self._answer.visible = False
            self._set_state(SessionState.STOPPING)
            self.host.stop()

    @reports_history_errors
    def rename(self, conversation_id: int, title: str) -> None:
        self.history.rename(conversation_id, title)
        self.conversations_changed.emit()

    @reports_history_errors
    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self.history.set_pinned(conversation_id, pinned)
        self.conversations_changed.emit()

    @reports_history_errors
    def delete_conversation(self, conversation_id: int) -> None:
        """Soft delete (``restore_conversation`` undoes it)."""
        if conversation_id == self.conversation_id:
            self.new_chat()
        self.history.delete_conversation(conversation_id)
        self._deleted.add(conversation_id)  # purged (and its files freed) at close
        self.conversations_changed.emit()

    @reports_history_errors
    def restore_conversation(self, conversation_id: int) -> None:
        self.history.restore_conversation(conversation_id)
        self._deleted.discard(conversation_id)
        self.conversations_changed.emit()
        self.open_conversation(conversation_id)

    def imported(self, ids: list[int]) -> None:
        self.conversations_changed.emit()
        if ids:
            self.open_conversation(ids[0])

    # -- per-conversation settings --------------------------------------------------------
    def _save_conversation_settings(self, **changes: Any) -> None:
        """Change some of the open conversation's settings, keeping the others."""
        if self.conversation_id is None:
            return
        conversation = self.history.get_conversation(self.conversation_id)
        stored = dict(conversation.settings) if conversation is not None else {}
        self.history.update_conversation_settings(self.conversation_id,
                                                  settings={**stored, **changes})

    @reports_history_errors
    def set_sampling(self, params: SamplingParams) -> None:
        self.sampling = params
        self.prompt_changed.emit()
        if self.conversation_id is not None:
            self._save_conversation_settings(sampling=params.to_dict())
        else:
            self.store.update(sampling=params)

    @reports_history_errors
    def set_system_prompt(self, text: str) -> None:
        self.system_prompt = text
        self.prompt_changed.emit()
        if self.conversation_id is not None:
            self.history.update_conversation_settings(self.conversation_id, system_prompt=text)
        else:
            self.store.update(system_prompt=text)

    # -- asking -------------------------------------------------------------------------
    @reports_history_errors
    def send(self, text: str) -> bool:
        """Store the question (an edit branches) and start its answer."""
        text = text.strip()
        if not text or not self.ready or self.busy:
            return False
        assert self.model is not None
        editing = self.editing_id
        files = unique_files([*self.files.get(editing, ()), *self.documents.pending]
                              if editing is not None else self.documents.pending)
        new = self.conversation_id is None
        with self.history.transaction():
            question = store_question(self.history, text,
                                      conversation_id=self.conversation_id,
                                      system_prompt=self.system_prompt,
                                      sampling=self.sampling, model=self.model.path,
                                      editing_id=editing)
            self.history.add_message_files(question.message.id, files)
        self.documents.take_pending()
        self.editing_id = None
        if question.conversation_id != self.conversation_id:
            self.conversation_id = question.conversation_id
            self.store.update(last_conversation_id=question.conversation_id)
        if new and self.folders:
            self._save_conversation_settings(folders=list(self.folders))
        user = _with_place(self.history, question.message)
        if files:
            self.files[user.id] = tuple(files)
        if editing is not None:
            self._trim_to(user.parent_id)
        self.thread.append(user)
        self.message_added.emit(user)
        self.conversations_changed.emit()
        self._start_answer(user.id)
        return True

    def begin_edit(self, message_id: int) -> str | None:
        """Start editing a question; returns its text (None: it cannot be edited now)."""
        message = self.history.message(message_id)
        if message is None or message.role != "user" or self.busy:
            return None
        self.editing_id = message_id
        return message.content

    def cancel_edit(self) -> None:
        self.editing_id = None

    @reports_history_errors
    def regenerate(self, message_id: int) -> None:
        """Another answer to the same question; the earlier ones stay as alternatives."""
        message = self.history.message(message_id)
        if message is None or self.busy or not self.ready:
            return
        parent = message.parent_id if message.role == "assistant" else message.id
        if parent is None or all(m.id != parent for m in self.thread):
            return
        self._trim_to(parent)
        self._start_answer(parent)

    def regenerate_last(self) -> None:
        answers = [m for m in self.thread if m.role == "assistant"]
        if answers:
            self.regenerate(answers[-1].id)

    def _trim_to(self, keep_id: int | None) -> None:
        """Drop the visible messages after ``keep_id`` (a new branch starts there)."""
        if keep_id is None:
            self.thread = []
            self.thread_reset.emit([])
            return
        end = next((i for i, m in enumerate(self.thread) if m.id == keep_id), None)
        if end is not None and end + 1 < len(self.thread):
            del self.thread[end + 1:]
            self.thread_trimmed.emit(keep_id)

    @reports_history_errors
    def continue_answer(self, message_id: int) -> bool:
        """Write on from where the last answer stopped (the loop guard, the token limit or
        Stop): the engine continues the same answer (it gets the text so far as the last,
        unfinished assistant turn) and the new text is appended to the same stored
        message. After the loop guard it is off for this part: the user asked for more."""
        if self.busy or not self.ready or not self.thread:
            return False
        last = self.thread[-1]
        if last.id != message_id or last.role != "assistant" or last.parent_id is None \
                or not can_continue(last.stop_reason):
            return False
        self._start_answer(last.parent_id, continuing=last)
        return True

    def _start_answer(self, parent_id: int, continuing: ThreadMessage | None = None,
                      branch: tuple[str, Callable[[TokenTrace], TokenTrace]] | None = None
                      ) -> None:
        """Ask for an answer to ``parent_id``. ``continuing``: write on that stopped answer
        (continue_answer); ``branch`` (head text, trace builder): the answer continues that
        head instead of starting afresh (branch_at_token)."""
        assert self.model is not None and self.conversation_id is not None
        messages = prompt_messages(self.thread, parent_id, self.system_prompt)
        end = next(i for i, m in enumerate(self.thread) if m.id == parent_id)
        grounding = self._grounding(self.thread[:end + 1], self.thread[end].content)
        messages = with_passages(messages, grounding)
        loop_guard = self.store.settings.loop_guard
        if continuing is not None:
            messages.append(continuing.to_chat_message())
            loop_guard = loop_guard and continuing.stop_reason != StopReason.REPETITION.value
        recorder = AnswerRecorder(self.history, self.conversation_id, parent_id,
                                  model=self.model.path, sampling=self.sampling,
                                  continuing=continuing)
        if grounding.passages:  # kept before the answer: what it was given, even if it fails
            self.history.set_message_sources(recorder.answer_id, grounding.passages)
            self.sources[recorder.answer_id] = grounding.passages
        if branch is not None:
            messages.append(ChatMessage("assistant", branch[0]))
            recorder.start_branch(*branch)
        record = TOP_ALTERNATIVES if self.store.settings.record_tokens else 0
        self._idle_save.stop()
        request_id = self.host.generate(messages,
                                        dataclasses.replace(self.sampling, top_logprobs=record),
                                        conversation_key=str(self.conversation_id),
                                        loop_guard=loop_guard)
        self._answer = RunningAnswer(request_id, recorder, self.model.path)
        self._set_state(SessionState.WAITING)
        self.answer_started.emit(AnswerStarted(
            recorder.answer_id, self.model.path, recorder.prefix,
            parent_id if continuing is not None else None))
        if branch is not None:  # the head shows at once; the engine's text follows it
            self.answer_text.emit(TokenChunk(request_id, branch[0], 0, 0.0))
        self._save_timer.start()

    def stop(self) -> None:
        if self._answer is not None:
            self._set_state(SessionState.STOPPING)
            self.host.stop()
        else:
            self.cancel_load()

    # -- the running answer ---------------------------------------------------------------
    @Slot(object)
    def _on_text(self, chunk: TokenChunk) -> None:
        answer = self._answer
        if answer is None or chunk.request_id != answer.request_id:
            return
        answer.recorder.add(chunk.text)
        if chunk.elapsed_s > 0 and chunk.tokens_so_far > 1:
            answer.token_rates.append((chunk.elapsed_s,
                                       (chunk.tokens_so_far - 1) / chunk.elapsed_s))
        if not answer.visible:
            return
        if self.state is SessionState.WAITING:
            self._set_state(SessionState.STREAMING)
        self.answer_text.emit(chunk)

    @Slot()
    def save_streamed_text(self) -> None:
        """Write what streamed since the last save (a crash keeps the partial answer)."""
        if self._answer is not None:
            try:
                self._answer.recorder.flush()
            except HistoryError as exc:
                log.error("could not save the streaming answer: %s", exc)

    def _end_answer(self) -> RunningAnswer | None:
        answer, self._answer = self._answer, None
        self._save_timer.stop()
        return answer

    @Slot(object)
    def _on_done(self, event: AnswerDone) -> None:
        if self._answer is None or event.request_id != self._answer.request_id:
            return
        answer = self._end_answer()
        assert answer is not None
        result = event.result
        settings = self.store.settings
        energy = answer_energy_record(event.energy, result, settings.price(),
                                      settings.grid_g_per_kwh, settings.servers)
        stored = answer.recorder.finish(result, energy)
        for note in result.notes:  # e.g. a sampling field the server refused: said once
            self.error.emit("The server refused a setting", note)
        self._idle_save.start()  # saved to disk once the user has been quiet a moment
        self._set_state(SessionState.IDLE if self.model is not None
                        else SessionState.LOADING)
        if answer.visible and stored.conversation_id == self.conversation_id:
            message = _with_place(self.history, stored)
            if self.thread and self.thread[-1].id == message.id:
                self.thread[-1] = message
            else:
                self.thread.append(message)
            finished = AnswerFinished(message, result, event.energy, tuple(answer.token_rates))
            if event.energy is not None:
                self.last_answer = finished
            self.answer_done.emit(finished)
        self.conversations_changed.emit()

    @Slot(object)
    def _on_answer_failed(self, error: ErrorEvent) -> None:
        if self._answer is None or error.request_id != self._answer.request_id:
            return
        answer = self._end_answer()
        assert answer is not None
        answer.recorder.fail()
        self._set_state(SessionState.IDLE if self.model is not None
                        else SessionState.LOADING)
        if answer.visible:
            self.reload_thread_tail(answer.recorder.answer_id)
            self.answer_failed.emit(AnswerFailed(answer.recorder.answer_id, answer.model,
                                                 error.title))
            self.error.emit(error.title, error.message)

    def reload_thread_tail(self, message_id: int) -> None:
        """Refresh one message of the visible thread from the history (after it changed)."""
        stored = self.history.message(message_id)
        if stored is None:
            return
        for i, message in enumerate(self.thread):
            if message.id == message_id:
                self.thread[i] = _with_place(self.history, stored)
                return
        self.thread.append(_with_place(self.history, stored))

    # -- the KV cache and the context meter ------------------------------------------------
    @Slot()
    def save_conversation_state(self) -> None:
        """Have the engine thread save this conversation's KV state (when the model holds
        it unsaved): after an answer once idle, and when the user leaves it. The worker
        skips it when an answer is already waiting."""
        self._idle_save.stop()
        if self.conversation_id is not None and self.model is not None:
            self.host.save_state(str(self.conversation_id))

    def count_context(self, draft: str) -> None:
        """Count, on the engine thread, what sending ``draft`` now would take of the
        context; ``context_counted`` brings it. One count at a time: a draft typed while one
        runs is counted when it returns."""
        if self.model is None or self.state is SessionState.LOADING:
            return
        if self._count is not None:
            self._count_wanted = draft
            return
        messages, grounding = self._draft_prompt(draft)
        self._count = (self.host.count(messages, self.sampling.max_tokens), messages,
                       grounding.tokens)

    def _draft_prompt(self, draft: str) -> tuple[list[ChatMessage], Grounding]:
        """The messages ``send(draft)`` would give the engine (an edit replaces the edited
        question and what followed it), with the documents' passages for it."""
        base = list(self.thread)
        edited: tuple[FileRef, ...] = ()
        if self.editing_id is not None:
            cut = next((i for i, m in enumerate(base) if m.id == self.editing_id), len(base))
            base = base[:cut]
            edited = self.files.get(self.editing_id, ())
        messages = [m.to_chat_message() for m in base if m.role != "system"]
        if self.system_prompt.strip():
            messages.insert(0, ChatMessage("system", self.system_prompt.strip()))
        grounding = NO_GROUNDING
        if draft.strip():
            messages.append(ChatMessage("user", draft.strip()))
            grounding = self._grounding(base, draft.strip(),
                                        [*edited, *self.documents.pending])
            messages = with_passages(messages, grounding)
        return messages, grounding

    @Slot(object)
    def _on_counted(self, count: PromptCount) -> None:
        if self._count is None or count.request_id != self._count[0]:
            return
        messages, document_tokens = self._count[1], self._count[2]
        self._count = None
        wanted, self._count_wanted = self._count_wanted, None
        if wanted is not None:
            self.count_context(wanted)
            return
        if not count.context_length:  # it could not be counted (no model, a bad template)
            return
        first = 1 if messages and messages[0].role == "system" else 0
        dropped = tuple(m.content for m in messages[first:first + count.dropped_messages])
        self.context_counted.emit(ContextCount(count, dropped, document_tokens))

    # -- messages -------------------------------------------------------------------------
    @reports_history_errors
    def switch_sibling(self, message_id: int, index: int) -> None:
        siblings = self.history.sibling_ids(message_id)
        if 0 <= index < len(siblings) and not self.busy:
            self.history.switch_to_sibling(siblings[index])
            self.reload_thread()

    @reports_history_errors
    def delete_message(self, message_id: int) -> None:
        """Delete a message and everything after it (the window asks first)."""
        if not self.busy:
            self.history.delete_message(message_id)
            self.reload_thread()
            self._free_unused_files()

    @reports_history_errors
    def open_hit(self, conversation_id: int, message_id: int) -> None:
        """A search hit: its branch becomes the visible one."""
        self.history.switch_to_sibling(message_id)
        if conversation_id == self.conversation_id:
            self.reload_thread()
        else:
            self.open_conversation(conversation_id)

    # -- closing --------------------------------------------------------------------------
    def close(self) -> None:
        """The app is closing: stop the answer and keep what it wrote, marked incomplete
        (a late result from the stopped worker is then ignored). The engine saves the
        conversation's KV state itself when the model is closed."""
        self._idle_save.stop()
        self.documents.close()
        self._purge_deleted()
        answer = self._end_answer()
        if answer is None:
            return
        self.host.stop()
        try:
            answer.recorder.flush()
            answer.recorder.interrupt()
        except HistoryError as exc:
            log.error("could not keep the interrupted answer: %s", exc)
        if answer.visible:
            self.answer_interrupted.emit(answer.recorder.answer_id)
