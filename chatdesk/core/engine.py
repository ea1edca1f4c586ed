"""The local model engine: one llama.cpp model, loaded, chatted with, closed.

Qt-free and single-threaded by design: the worker thread is its only caller. The one thing
another thread may touch is the :class:`StopFlag` passed to :meth:`LlamaEngine.chat`,
which the UI sets to stop. The flag is read between tokens *and* by llama.cpp's abort
callback inside a decode, so even a long prompt evaluation stops within milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from chatdesk.core.chat_template import (
    ChatTemplate,
    TemplateStoppedError,
    choose_template,
    render_prompt,
)
from chatdesk.core.events import (
    ChatMessage,
    GenerationResult,
    ModelInfo,
    PromptCount,
    StopReason,
)
from chatdesk.core.gguf_file import GGUFHeader, read_gguf_header
from chatdesk.core.llama_runtime import (
    auto_gpu_layers,
    cached_prefix,
    default_threads,
    detect_backend,
    free_vram_bytes,
    llama_errors,
    load_progress,
    route_llama_logs,
    skip_llama_chat_formatters,
    warm_up,
)
from chatdesk.core.loop_guard import LoopGuard
from chatdesk.core.prompt_cache import PromptCache, SavedState, fingerprint
from chatdesk.core.sampling import MAX_SEED, InvalidParameterError, SamplingParams
from chatdesk.core.stop_flag import StopFlag
from chatdesk.core.stop_strings import StopStringFilter
from chatdesk.core.token_probs import TokenProbe
from chatdesk.core.token_text import TokenText
from chatdesk.core.typed_text import SpecialTexts, protect, split_rendered

log = logging.getLogger(__name__)


ProgressFn = Callable[[str, float | None], None]
TextFn = Callable[[str, int, int], None]  # (new text, tokens generated, context used)


class EngineError(RuntimeError):
    """A failure to show the user as a message; ``title`` is a short heading for it."""

    title = "The model failed"


class ModelLoadError(EngineError):
    title = "The model could not be loaded"


class NoModelLoadedError(EngineError):
    title = "No model is loaded"


class PromptTooLongError(EngineError):
    title = "The message is too long"


def _is_int(value: object) -> bool:
    """A whole number; bools are ints to Python but never a layer or thread count."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model. ``None`` means "choose for this machine"."""

    context_length: int = 4096  # 0: the model's trained context length
    gpu_layers: int | None = None  # None: auto (all when the backend offloads), 0: CPU only
    threads: int | None = None  # None: the number of physical cores
    template_hint: str | None = None  # a built-in template to use when the file has none
    api_key: str | None = field(default=None, repr=False)  # a remote server's; never logged

    def validated(self) -> LoadOptions:
        if not _is_int(self.context_length) or not 0 <= self.context_length <= 1 << 20:
            raise InvalidParameterError("context_length", "must be between 0 and 1048576")
        if self.context_length and self.context_length < 256:
            raise InvalidParameterError("context_length", "must be at least 256 (or 0 for auto)")
        if self.gpu_layers is not None and (not _is_int(self.gpu_layers)
                                            or self.gpu_layers < -1):
            raise InvalidParameterError("gpu_layers", "must be -1 (all), 0 or more, or auto")
        if self.threads is not None and (not _is_int(self.threads)
                                         or not 1 <= self.threads <= 512):
            raise InvalidParameterError("threads", "must be between 1 and 512")
        return self


@dataclass(frozen=True)
class Prompt:
    """Tokens ready to be continued, and how their answer is to be read."""

    tokens: list[int]
    dropped_turns: int  # older turns left out so that it fits the context
    stop_strings: tuple[str, ...]  # the chat template's own (none for raw text)
    strip_leading: bool  # an answer after "Assistant:" loses its leading space
    started: float  # perf_counter when preparing began: time to first token counts from it


class ChatEngine(Protocol):
    """What the worker needs from an engine; tests may stand a fake behind it."""

    @property
    def info(self) -> ModelInfo | None: ...

    def load(self, path: Path | str, options: LoadOptions,
             on_progress: ProgressFn | None = None,
             cancel: threading.Event | None = None) -> ModelInfo: ...

    def chat(self, messages: Sequence[ChatMessage], params: SamplingParams,
             stop: StopFlag, on_text: TextFn | None = None,
             request_id: int = 0, *, loop_guard: bool = True) -> GenerationResult: ...

    def close(self) -> None: ...

    def use_conversation(self, key: str | None, messages: Sequence[ChatMessage]) -> int: ...

    def save_state(self, key: str | None = None) -> bool: ...

    def count_prompt(self, messages: Sequence[ChatMessage], max_tokens: int) -> PromptCount: ...


def answer_room(n_ctx: int, max_tokens: int) -> int:
    """Tokens of the context kept free for the answer when older turns are dropped."""
    return max(16, min(max_tokens, n_ctx // 4))


@dataclass
class _ConversationState:
    """Whose conversation the KV cache holds, and what of it is saved already."""

    key: str | None = None
    system_prompt: str = ""
    saved_tokens: tuple[int, ...] | None = None  # what the cache has for ``key`` (clean)
    thread: int | None = None  # the engine thread: the one that loaded the model
    model_file: tuple[str, int, int] = ("", 0, 0)  # path, size, mtime_ns at load


def _pointer_to(data: bytes | memoryview) -> Any:
    """A C pointer to a saved state's bytes without copying them: ``bytes`` kept in
    memory, or a file mapping's pages (see PromptCache._read)."""
    if isinstance(data, bytes):
        return ctypes.cast(ctypes.c_char_p(data), ctypes.POINTER(ctypes.c_uint8))
    return (ctypes.c_uint8 * len(data)).from_buffer(data)


def _system_prompt(messages: Sequence[ChatMessage]) -> str:
    return messages[0].content if messages and messages[0].role == "system" else ""


class LlamaEngine:
    """A real llama.cpp model behind the ChatEngine interface."""

    def __init__(self, prompt_cache: PromptCache | None = None) -> None:
        self._llama: Any = None
        self._header: GGUFHeader | None = None
        self._info: ModelInfo | None = None
        self._template: ChatTemplate | None = None
        self._specials: SpecialTexts | None = None
        self.prompt_cache = prompt_cache  # None: KV states are never saved or restored
        self._state = _ConversationState()

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    @property
    def template(self) -> ChatTemplate | None:
        return self._template

    # -- loading ------------------------------------------------------------------------
    def load(self, path: Path, options: LoadOptions = LoadOptions(),
             on_progress: ProgressFn | None = None,
             cancel: threading.Event | None = None) -> ModelInfo:
        """Load ``path``, closing any model loaded before (its memory is freed first)."""
        options = options.validated()
        report = on_progress or (lambda _stage, _fraction: None)
        report("Checking the model file", None)
        header = read_gguf_header(path)  # a bad file must not unload the working model
        self.close()
        backend = detect_backend()
        total_layers = header.block_count
        if backend == "CPU":
            gpu_layers = 0
        elif options.gpu_layers is None:
            gpu_layers = auto_gpu_layers(total_layers, header.file_size, free_vram_bytes())
        else:
            gpu_layers = options.gpu_layers
        threads = options.threads or default_threads()

        def progress(fraction: float) -> bool:
            report("Loading the model weights", fraction)
            return not (cancel is not None and cancel.is_set())

        from llama_cpp import Llama

        route_llama_logs()
        llama_errors.clear()
        try:
            with load_progress(progress), skip_llama_chat_formatters():
                llama = Llama(
                    model_path=str(path),
                    n_ctx=options.context_length,
                    n_gpu_layers=gpu_layers,
                    n_threads=threads,
                    n_threads_batch=threads,
                    swa_full=True,  # lets sliding-window models (Gemma 3) reuse the KV cache
                    last_n_tokens_size=64,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            if cancel is not None and cancel.is_set():
                raise ModelLoadError("Loading was cancelled.") from exc
            raise ModelLoadError(self._load_failure_message(header, options, exc)) from exc
        warm_up(llama)
        self._llama = llama
        self._header = header
        self._special_texts()  # a scan of the vocabulary: part of loading, not of a TTFT
        stat = path.stat()
        self._state = _ConversationState(thread=threading.get_ident(),
                                         model_file=(str(path), stat.st_size, stat.st_mtime_ns))
        self._template = choose_template(header.chat_template, options.template_hint,
                                         model_name=header.name)
        offloaded = 0 if gpu_layers == 0 else (
            total_layers + 1 if gpu_layers < 0 else min(gpu_layers, total_layers + 1))
        self._info = ModelInfo(
            path=str(path),
            name=header.name,
            architecture=header.architecture,
            parameters=int(llama._model.n_params()),
            quantization=header.quantization,
            trained_context=int(llama._model.n_ctx_train()),
            context_length=int(llama.n_ctx()),
            backend=backend,
            gpu_layers_offloaded=offloaded,
            total_layers=total_layers + 1,  # + the output layer, as llama.cpp counts them
            threads=threads,
            chat_template_name=self._template.name,
            chat_template_source=self._template.source,
            file_size=header.file_size,
        )
        report("Ready", 1.0)
        log.info("loaded %s: %s", path, self._info)
        return self._info

    @staticmethod
    def _load_failure_message(header: GGUFHeader, options: LoadOptions,
                              exc: BaseException) -> str:
        reasons = [m.split("error loading model:", 1)[1].strip()
                   for m in llama_errors if "error loading model:" in m]
        text = reasons[0] if reasons else str(exc)
        if "context" in text.lower():
            size = options.context_length or "the trained number of"
            return (f"llama.cpp could not create a context of {size} tokens ({text}). "
                    "Try a smaller context length or fewer GPU layers.")
        import llama_cpp

        return (f"llama.cpp {llama_cpp.__version__} could not load this "
                f"'{header.architecture}' model ({text}). The file may be damaged, or the "
                "architecture may be newer than this llama.cpp.")

    def close(self) -> None:
        """Free the model's memory now, not whenever the garbage collector runs."""
        if self._llama is not None:
            self.save_state()  # the app quits or switches models: keep the conversation
            self._llama.close()
            log.info("closed %s", self._info.path if self._info else "model")
        self._llama = None
        self._header = None
        self._info = None
        self._template = None
        self._specials = None
        self._state = _ConversationState()

    def reset_cache(self) -> None:
        """Forget the KV cache, so the next answer evaluates its whole prompt (benchmarks)."""
        llama = self._loaded()
        llama.reset()
        llama._ctx.kv_cache_clear()

    # -- the KV cache across conversations and restarts (core/prompt_cache.py) ------------
    def state_fingerprint(self, system_prompt: str) -> str:
        """What a saved state depends on: the model file as loaded, the context settings,
        the template, the system prompt and this llama.cpp build."""
        import llama_cpp

        llama = self._loaded()
        assert self._template is not None
        params = llama.context_params
        return fingerprint({
            "model": self._state.model_file, "n_ctx": int(llama.n_ctx()),
            "type_k": int(params.type_k), "type_v": int(params.type_v), "swa_full": True,
            "template": [self._template.name, self._template.jinja,
                         list(self._template.stop_strings)],
            "system_prompt": system_prompt, "llama_cpp": llama_cpp.__version__})

    def _on_engine_thread(self, what: str) -> None:
        if self._state.thread is not None and self._state.thread != threading.get_ident():
            raise RuntimeError(f"{what} must run on the engine thread (the one that "
                               "loaded the model)")

    def use_conversation(self, key: str | None, messages: Sequence[ChatMessage]) -> int:
        """Before answering in conversation ``key``: when the KV cache holds another one,
        save that one (unless saved already) and restore ``key``'s saved state. Returns
        the number of tokens restored (0: none; the prompt is evaluated as usual)."""
        if self._llama is None:
            return 0
        self._on_engine_thread("use_conversation")
        state = self._state
        if key == state.key:
            if _system_prompt(messages) != state.system_prompt:
                state.system_prompt = _system_prompt(messages)
                state.saved_tokens = None
            return 0
        self.save_state()
        state.key, state.system_prompt = key, _system_prompt(messages)
        state.saved_tokens = None
        return self.restore_state() if key is not None else 0

    def save_state(self, key: str | None = None) -> bool:
        """Save the KV cache of the conversation it holds (when ``key`` is given, only if
        it is that one). Nothing is written when that state is saved already. True when
        the state was saved now."""
        state, cache, llama = self._state, self.prompt_cache, self._llama
        if cache is None or llama is None or state.key is None:
            return False
        if key is not None and key != state.key:
            return False
        self._on_engine_thread("save_state")
        n_tokens = int(llama.n_tokens)
        tokens = tuple(int(t) for t in llama.input_ids[:n_tokens])
        if not tokens or tokens == state.saved_tokens:
            return False
        import llama_cpp

        started = time.perf_counter()
        ctx = llama._ctx.ctx
        llama._ctx.kv_cache_seq_rm(0, n_tokens, -1)  # only what the tokens describe
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        if not 0 < written <= size:
            log.warning("prompt cache: llama.cpp returned no state for %s", state.key)
            return False
        data = bytes(memoryview(buffer)[:written])
        cache.put(state.key, SavedState(self.state_fingerprint(state.system_prompt), tokens,
                                        data))
        state.saved_tokens = tokens
        log.info("prompt cache: saved %s (%d tokens, %d bytes) in %.0f ms", state.key,
                 len(tokens), written, (time.perf_counter() - started) * 1000)
        return True

    def restore_state(self) -> int:
        """Load the saved state of the current conversation into the KV cache; the
        tokens restored (0 when there is none or it does not fit this context)."""
        state, cache, llama = self._state, self.prompt_cache, self._llama
        if cache is None or llama is None or state.key is None:
            return 0
        self._on_engine_thread("restore_state")
        started = time.perf_counter()
        saved = cache.get(state.key, self.state_fingerprint(state.system_prompt))
        if saved is None or not 0 < len(saved.tokens) < int(llama.n_ctx()):
            return 0
        import llama_cpp

        llama._ctx.kv_cache_clear()
        if llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, _pointer_to(saved.data),
                                              len(saved.data), 0) == 0:
            log.warning("prompt cache: llama.cpp refused the state of %s; ignored", state.key)
            llama._ctx.kv_cache_clear()
            llama.n_tokens = 0
            cache.discard(state.key)
            return 0
        n_tokens = len(saved.tokens)
        llama.input_ids[:n_tokens] = saved.tokens
        llama.n_tokens = n_tokens
        llama._requires_eval = True  # the logits are not restored: replay at least one token
        state.saved_tokens = saved.tokens
        log.info("prompt cache: restored %s (%d tokens) in %.0f ms", state.key, n_tokens,
                 (time.perf_counter() - started) * 1000)
        return n_tokens

    # -- chatting -----------------------------------------------------------------------
    def _loaded(self) -> Any:
        if self._llama is None:
            raise NoModelLoadedError("Load a model first.")
        return self._llama

    def _special_texts(self) -> SpecialTexts:
        """The texts of this vocabulary's control tokens (those ``special=True`` parses)."""
        if self._specials is None:
            import llama_cpp

            vocab = self._loaded()._model.vocab
            parsed_only_when_special = (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
                                        | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN)
            texts = []
            for token in range(llama_cpp.llama_vocab_n_tokens(vocab)):
                if llama_cpp.llama_vocab_get_attr(vocab, token) & parsed_only_when_special:
                    raw = llama_cpp.llama_vocab_get_text(vocab, token)
                    with contextlib.suppress(UnicodeDecodeError):
                        texts.append(raw.decode("utf-8"))
            self._specials = SpecialTexts(texts)
        return self._specials

    def _tokenize(self, messages: Sequence[ChatMessage],
                  stop: StopFlag | None = None) -> list[int]:
        """The prompt's tokens: the template's markup may form control tokens, message
        text never does (core/typed_text.py), and BOS appears once."""
        llama = self._loaded()
        assert self._template is not None
        vocab_model = llama._model
        bos_id, eos_id = vocab_model.token_bos(), vocab_model.token_eos()
        bos, eos = (llama.detokenize([t], special=True).decode(errors="replace") if t >= 0 else ""
                    for t in (bos_id, eos_id))
        protected = protect(messages, self._special_texts())
        prompt = render_prompt(self._template, protected.messages, bos, eos,
                               stop=stop.is_set if stop is not None else None)
        tokens = [bos_id] if vocab_model.add_bos_token() and bos_id >= 0 else []
        for text, markup in split_rendered(prompt, protected):
            tokens += llama.tokenize(text.encode("utf-8"), add_bos=False, special=markup)
        if len(tokens) >= 2 and tokens[0] == tokens[1] == bos_id:
            tokens = tokens[1:]  # the template wrote bos_token itself
        return tokens

    def _answer_budget(self, max_tokens: int) -> tuple[int, int]:
        """(context size, how many prompt tokens fit while leaving room to answer)."""
        n_ctx = int(self._loaded().n_ctx())
        return n_ctx, n_ctx - answer_room(n_ctx, max_tokens)

    def fit_to_context(self, messages: Sequence[ChatMessage], max_tokens: int,
                       stop: StopFlag | None = None, *,
                       drop_turns: bool = True) -> tuple[list[int], int]:
        """Tokens of the longest recent part of the conversation that leaves room to answer.

        Whole turns are dropped from the oldest; a leading system message always stays.
        ``drop_turns=False`` (the API, whose client sent exactly what it wants answered)
        refuses a conversation that does not fit instead. Returns (prompt tokens, number
        of messages dropped).
        """
        n_ctx, budget = self._answer_budget(max_tokens)
        kept = list(messages)
        system = [kept.pop(0)] if kept and kept[0].role == "system" else []
        dropped = 0
        while True:
            tokens = self._tokenize(system + kept, stop)
            if len(tokens) <= budget:
                return tokens, dropped
            if len(kept) <= 1 or not drop_turns:
                what = "conversation" if len(kept) > 1 else "conversation's last message"
                raise PromptTooLongError(
                    f"The {what} needs {len(tokens)} tokens, but this "
                    f"model's context holds {n_ctx} with room to answer. Shorten the message "
                    "or load the model with a longer context.")
            kept.pop(0)
            dropped += 1
            while len(kept) > 1 and kept[0].role != "user":
                kept.pop(0)
                dropped += 1

    def logits_after(self, tokens: list[int]) -> Any:
        """The model's raw logits after ``tokens`` (numpy, one row): the sampling-chain
        view explains a step with them (core/token_probs.py)."""
        from chatdesk.core.token_probs import logits_after

        return logits_after(self._loaded(), tokens)

    def token_text(self, token: int) -> str:
        """A token's text, control tokens spelled out (the token view's labels)."""
        from chatdesk.core.token_probs import piece_reader

        return piece_reader(self._loaded()._model.vocab)(token).decode("utf-8", "replace")

    def _stopped_before_start(self, request_id: int, started: float) -> GenerationResult:
        """The result of an answer stopped while its prompt was still being rendered."""
        llama = self._loaded()
        elapsed = time.perf_counter() - started
        return GenerationResult(
            request_id=request_id, text="", stop_reason=StopReason.USER_STOP,
            prompt_tokens=0, prompt_eval_tokens=0, prompt_eval_s=0.0, generated_tokens=0,
            generation_s=0.0, ttft_s=elapsed, total_s=elapsed, dropped_turns=0,
            context_used=int(llama.n_tokens), context_length=int(llama.n_ctx()))

    def count_prompt(self, messages: Sequence[ChatMessage], max_tokens: int) -> PromptCount:
        """What sending ``messages`` would take of the context: the same tokenization and
        the same dropping of older turns as :meth:`chat` (the context meter shows it)."""
        n_ctx = int(self._loaded().n_ctx())
        room = answer_room(n_ctx, max_tokens)
        try:
            tokens, dropped = self.fit_to_context(messages, max_tokens)
        except PromptTooLongError:
            return PromptCount(len(self._tokenize(messages)), n_ctx, room, 0, too_long=True)
        return PromptCount(len(tokens), n_ctx, room, dropped)

    def prepare_chat(self, messages: Sequence[ChatMessage], max_tokens: int,
                     stop: StopFlag | None = None, *, drop_turns: bool = True) -> Prompt:
        """The conversation rendered through the chat template (under its budget, checking
        ``stop``) and fitted to the context. A conversation ending with the assistant's
        message continues that answer: its leading space is then kept."""
        started = time.perf_counter()
        tokens, dropped = self.fit_to_context(messages, max_tokens, stop,
                                              drop_turns=drop_turns)
        assert self._template is not None
        continuing = bool(messages) and messages[-1].role == "assistant"
        return Prompt(tokens, dropped, self._template.stop_strings, not continuing, started)

    def prepare_text(self, text: str, max_tokens: int) -> Prompt:
        """Raw text to continue, no chat template (the API's /v1/completions)."""
        started = time.perf_counter()
        llama = self._loaded()
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=llama._model.add_bos_token(),
                                special=False)
        n_ctx, budget = self._answer_budget(max_tokens)
        if len(tokens) > budget:
            raise PromptTooLongError(
                f"The prompt needs {len(tokens)} tokens, but this model's context holds "
                f"{n_ctx} with room to answer.")
        return Prompt(tokens, 0, (), False, started)

    def chat(self, messages: Sequence[ChatMessage], params: SamplingParams,
             stop: StopFlag, on_text: TextFn | None = None,
             request_id: int = 0, *, loop_guard: bool = True) -> GenerationResult:
        """Stream one answer; ``on_text`` gets each new piece of text as it is decoded.

        When the last message is the assistant's, it is a partial answer to continue: the
        prompt ends with its text (no end of turn) and the result holds only the new text.
        ``loop_guard`` stops an answer that repeats one span over and over (stop reason
        "repetition"); ``params.ignore_eos`` asks for exactly max_tokens, so it is off then.
        """
        params = params.validated()
        started = time.perf_counter()
        try:  # the template renders under a budget and checks the stop flag as it goes
            prompt = self.prepare_chat(messages, params.max_tokens, stop)
        except TemplateStoppedError:
            return self._stopped_before_start(request_id, started)
        return self.generate(prompt, params, stop, on_text, request_id, loop_guard=loop_guard)

    def generate(self, prompt: Prompt, params: SamplingParams, stop: StopFlag,
                 on_text: TextFn | None = None, request_id: int = 0, *,
                 loop_guard: bool = True) -> GenerationResult:
        """Stream the continuation of a prepared prompt: the one generation loop."""
        params = params.validated()
        llama = self._loaded()
        started = prompt.started
        tokens, dropped = prompt.tokens, prompt.dropped_turns
        reused = cached_prefix(llama, tokens)
        seed = params.seed if params.seed is not None else random.randint(0, MAX_SEED)
        llama.set_seed(seed)
        n_ctx = int(llama.n_ctx())
        text = TokenText(llama._model.vocab)
        stops = StopStringFilter(params.stop + prompt.stop_strings)
        import llama_cpp

        vocab = llama._model.vocab
        probe = TokenProbe.for_generation(llama, params, seed, len(tokens))  # None: off
        pieces: list[str] = []
        answer_started = not prompt.strip_leading
        guard = LoopGuard() if loop_guard and not params.ignore_eos else None
        generated = 0
        first_token_at = last_token_at = None
        reason = StopReason.LENGTH
        eval_started = time.perf_counter()

        def emit(piece: str) -> None:
            nonlocal answer_started
            if not answer_started:
                piece = piece.lstrip()  # "Assistant: Paris" -> "Paris"
                answer_started = bool(piece)
            if piece:
                pieces.append(piece)
                if on_text is not None:
                    on_text(piece, generated, int(llama.n_tokens) + 1)

        abort_callback, abort_data = stop.abort_callback()
        llama_cpp.llama_set_abort_callback(llama._ctx.ctx, abort_callback, abort_data)
        llama.last_n_tokens_size = params.repeat_last_n  # read when the sampler is built
        generator = llama.generate(
            tokens, top_k=params.top_k, top_p=params.top_p, min_p=params.min_p,
            temp=params.temperature, repeat_penalty=params.repeat_penalty,
            frequency_penalty=params.frequency_penalty,
            presence_penalty=params.presence_penalty, reset=True)
        try:
            for token in generator:
                if probe is not None:
                    probe.take(token)
                last_token_at = time.perf_counter()
                if first_token_at is None:
                    first_token_at = last_token_at
                generated += 1
                if not params.ignore_eos and llama_cpp.llama_vocab_is_eog(vocab, token):
                    reason = StopReason.EOS
                    break
                piece = text.decode(token)
                if probe is not None:
                    probe.text(piece)
                safe, hit = stops.feed(piece)
                emit(safe)
                if hit:
                    reason = StopReason.STOP_STRING
                    break
                if guard is not None and guard.feed(token):
                    reason = StopReason.REPETITION
                    break
                if stop.is_set():
                    reason = StopReason.USER_STOP
                    break
                if generated >= params.max_tokens:
                    reason = StopReason.LENGTH
                    break
                if llama.n_tokens + 1 >= n_ctx:
                    reason = StopReason.CONTEXT_FULL
                    break
        except RuntimeError:
            if not stop.is_set():
                raise
            reason = StopReason.USER_STOP  # llama.cpp aborted a decode for us
            llama._ctx.kv_cache_seq_rm(-1, llama.n_tokens, -1)
        finally:
            generator.close()
            llama_cpp.llama_set_abort_callback(llama._ctx.ctx, llama_cpp.ggml_abort_callback(0),
                                               None)
        if reason is not StopReason.STOP_STRING:
            emit(stops.flush() + text.finish())
        finished = time.perf_counter()
        return GenerationResult(
            request_id=request_id,
            text="".join(pieces),
            stop_reason=reason,
            prompt_tokens=len(tokens),
            prompt_eval_tokens=len(tokens) - reused,
            prompt_eval_s=(first_token_at or finished) - eval_started,
            generated_tokens=generated,
            generation_s=(last_token_at - first_token_at) if first_token_at and last_token_at
            else 0.0,
            ttft_s=(first_token_at or finished) - started,
            total_s=finished - started,
            dropped_turns=dropped,
            context_used=int(llama.n_tokens),
            context_length=n_ctx,
            trace=probe.trace() if probe is not None else None,
        )
