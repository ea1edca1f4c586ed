"""Real generation: streaming, determinism, multi-byte text, stop strings, bad parameters."""

from __future__ import annotations

import dataclasses

import pytest
from real_model import CAPITAL_QUESTION, greedy

from chatdesk.core import token_text as token_text_module
from chatdesk.core.engine import LlamaEngine
from chatdesk.core.events import ChatMessage, GenerationResult, StopReason
from chatdesk.core.sampling import InvalidParameterError, SamplingParams
from chatdesk.core.stop_flag import StopFlag

pytestmark = pytest.mark.integration

QUESTION = [ChatMessage("user", CAPITAL_QUESTION)]


class Stream:
    """Collects what ``on_text`` receives."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.counts: list[int] = []
        self.contexts: list[int] = []

    def __call__(self, piece: str, tokens_so_far: int, context_used: int) -> None:
        assert isinstance(piece, str)
        self.pieces.append(piece)
        self.counts.append(tokens_so_far)
        self.contexts.append(context_used)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def chat(engine: LlamaEngine, messages: list[ChatMessage], params: SamplingParams,
         fresh: bool = True) -> tuple[GenerationResult, Stream]:
    """One answer; ``fresh`` clears the KV cache first so that runs are comparable."""
    if fresh:
        engine.reset_cache()
    stream = Stream()
    result = engine.chat(messages, params, StopFlag(), stream)
    assert stream.text == result.text, "streamed pieces differ from the final text"
    return result, stream


# -- streaming and timings --------------------------------------------------------------
def test_greedy_answer_streams_and_reports_consistent_timings(engine: LlamaEngine):
    result, stream = chat(engine, QUESTION, SamplingParams(
        temperature=0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, seed=0,
        max_tokens=32))
    print(f"\nanswer: {result.text!r} ({result.stop_reason.value})")
    assert result.text.strip(), "the answer is empty"
    assert "Paris" in result.text
    assert len(stream.pieces) >= 2, "the answer arrived in one piece: it did not stream"
    assert all(stream.pieces), "an empty piece was streamed"
    assert isinstance(result.stop_reason, StopReason)
    assert result.stop_reason in (StopReason.EOS, StopReason.STOP_STRING, StopReason.LENGTH)
    assert stream.counts == sorted(stream.counts)
    assert stream.counts[0] >= 1 and stream.counts[-1] <= result.generated_tokens
    # live context use: the prompt plus the answer so far, growing, within the final figure
    assert stream.contexts == sorted(stream.contexts)
    assert result.prompt_tokens < stream.contexts[0] <= stream.contexts[-1]
    assert stream.contexts[-1] <= result.context_used + 1

    assert result.request_id == 0
    assert 0 < result.generated_tokens <= 32
    assert 0 < result.prompt_eval_tokens <= result.prompt_tokens
    assert result.prompt_eval_tokens == result.prompt_tokens  # the cache was cleared
    assert result.ttft_s > 0 and result.prompt_eval_s > 0
    assert result.prompt_eval_s <= result.ttft_s <= result.total_s
    assert result.generation_s >= 0
    assert result.prompt_eval_s + result.generation_s <= result.total_s
    if result.generated_tokens >= 2:
        assert result.generation_s > 0 and result.generation_tokens_per_s > 0
    assert result.prompt_tokens_per_s > 0
    assert result.total_s < 60  # a sanity bound, not a performance test
    assert result.dropped_turns == 0
    assert result.context_length == engine.info.context_length
    assert result.prompt_tokens <= result.context_used
    assert result.context_used <= result.prompt_tokens + result.generated_tokens


def test_the_same_seed_gives_the_same_text(engine: LlamaEngine):
    params = SamplingParams(temperature=0.9, seed=1234, max_tokens=40)
    first, _ = chat(engine, QUESTION, params)
    second, _ = chat(engine, QUESTION, params)
    assert first.text == second.text
    assert first.generated_tokens == second.generated_tokens
    # Other seeds usually answer differently; that is not asserted (it may legitimately
    # coincide), only shown.
    others = {chat(engine, QUESTION, dataclasses.replace(params, seed=s))[0].text
              for s in (1, 2, 3)}
    print(f"\nseed 1234: {first.text!r}; seeds 1-3 gave {len(others | {first.text})} distinct")


def test_greedy_is_the_same_from_a_cold_and_a_warm_cache(engine: LlamaEngine):
    cold, _ = chat(engine, QUESTION, greedy(max_tokens=24))
    warm, _ = chat(engine, QUESTION, greedy(max_tokens=24), fresh=False)
    assert warm.prompt_eval_tokens <= 1  # the prompt came from the KV cache
    assert warm.text == cold.text


# -- multi-byte characters --------------------------------------------------------------
# These characters are not in Gemma 3's vocabulary: the tokenizer spells each with byte
# tokens (🦩 = <0xF0><0x9F><0xA6><0xA9>), so a model writing them emits tokens whose bytes
# alone are not valid UTF-8. Checked below, so the test cannot silently stop testing that.
SPLIT_CHARS = "🦩🪿🧌龘ꙮ"
COPY_CONVERSATION = [
    ChatMessage("user", "Repeat exactly: 🦩🪿 龘ꙮ"), ChatMessage("assistant", "🦩🪿 龘ꙮ"),
    ChatMessage("user", "Repeat exactly: 🧌🦩 ꙮ龘"), ChatMessage("assistant", "🧌🦩 ꙮ龘"),
    ChatMessage("user", "Repeat exactly: 🪿🧌 龘🦩ꙮ"),
]


class TokenRecorder:
    """Wraps the engine's token-to-text decoder: records each token's own bytes and the
    text that the decoder released for it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[bytes, str]] = []
        original = token_text_module.TokenText.decode
        recorder = self

        def decode(self: token_text_module.TokenText, token: int) -> str:
            out = original(self, token)
            recorder.calls.append((self.piece(token), out))
            return out

        monkeypatch.setattr(token_text_module.TokenText, "decode", decode)

    @property
    def raw(self) -> bytes:
        return b"".join(piece for piece, _ in self.calls)

    def split_tokens(self) -> list[tuple[bytes, str]]:
        """Tokens whose bytes on their own are not valid UTF-8 (part of a character)."""
        return [(piece, out) for piece, out in self.calls if not _valid_utf8(piece)]


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _assert_clean_pieces(stream: Stream) -> None:
    for piece in stream.pieces:
        # Every piece is whole text: it encodes strictly (no lone surrogate, no half of a
        # character) and survives a round trip.
        assert piece.encode("utf-8").decode("utf-8") == piece
        assert not ("\ud800" <= piece[-1] <= "\udbff"), f"piece ends in a surrogate: {piece!r}"


def test_characters_split_across_tokens_arrive_whole(engine: LlamaEngine,
                                                     monkeypatch: pytest.MonkeyPatch):
    tokens = TokenRecorder(monkeypatch)
    result, stream = chat(engine, COPY_CONVERSATION, greedy(max_tokens=40))
    print(f"\ncopied: {result.text!r} in pieces {stream.pieces!r}")
    split = tokens.split_tokens()
    assert split, "no token carried part of a character: the test no longer tests that"
    # The decoder holds back an incomplete character instead of emitting U+FFFD.
    assert any(out == "" for _, out in split)
    assert "\ufffd" not in result.text
    assert not any("\ufffd" in out for _, out in tokens.calls)
    assert any(ch in result.text for ch in SPLIT_CHARS)
    _assert_clean_pieces(stream)
    assert result.text.encode("utf-8") in tokens.raw.lstrip()


def test_sampled_multibyte_output_is_never_mangled(engine: LlamaEngine,
                                                   monkeypatch: pytest.MonkeyPatch):
    tokens = TokenRecorder(monkeypatch)
    seeds_with_split_chars = []
    for seed in (0, 1, 2, 3):
        tokens.calls.clear()
        result, stream = chat(engine, COPY_CONVERSATION,
                              SamplingParams(temperature=1.0, seed=seed, max_tokens=60))
        print(f"\nseed {seed}: {result.text!r}")
        _assert_clean_pieces(stream)
        # A replacement character appears only where the model's own bytes were invalid
        # UTF-8 (a sampled byte token that nothing completes), never from how we split them.
        expected = tokens.raw.decode("utf-8", errors="replace")
        assert result.text.count("\ufffd") <= expected.count("\ufffd")
        if _valid_utf8(tokens.raw):
            assert "\ufffd" not in result.text
        if tokens.split_tokens():
            seeds_with_split_chars.append(seed)
    # Sampling is seeded, but which seeds write byte-level characters may vary between
    # llama.cpp builds; that most do is all the test needs to be exercising something.
    assert len(seeds_with_split_chars) >= 2, seeds_with_split_chars


# -- stop strings -----------------------------------------------------------------------
def _stop_candidates(text: str) -> list[str]:
    """A whole word from the middle of ``text``, and a phrase spanning the end of the word
    before it, the space and the word's start (so it spans two tokens)."""
    words = text.split()
    assert len(words) >= 3, f"answer too short to pick stop strings from: {text!r}"
    word = words[len(words) // 2]
    at = text.index(" " + word)
    return [word, text[max(0, at - 2): at + 3]]


def test_user_stop_strings_cut_the_answer_before_them(engine: LlamaEngine):
    base, _ = chat(engine, QUESTION, greedy(max_tokens=32))
    for stop in _stop_candidates(base.text):
        assert stop in base.text
        result, stream = chat(engine, QUESTION, greedy(max_tokens=32, stop=(stop,)))
        print(f"\nstop {stop!r}: {result.text!r} from pieces {stream.pieces!r}")
        assert result.stop_reason is StopReason.STOP_STRING
        assert result.text == base.text[: base.text.index(stop)]
        assert stop not in stream.text
        assert not any(stop in piece for piece in stream.pieces)


def test_the_template_stop_string_never_reaches_the_screen(engine: LlamaEngine):
    # The base model continues the transcript with a new "User:" line; that is cut.
    result, stream = chat(engine, QUESTION, greedy(max_tokens=64))
    assert result.stop_reason is StopReason.STOP_STRING
    assert "User:" not in result.text
    assert not any("User:" in piece for piece in stream.pieces)


# -- parameter validation ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", -0.5), ("temperature", float("nan")), ("top_k", -1), ("top_p", 0.0),
     ("top_p", 1.5), ("min_p", 2.0), ("repeat_penalty", 0.0), ("repeat_last_n", -1),
     ("presence_penalty", 3.0), ("frequency_penalty", -3.0), ("seed", -1), ("seed", 2**32),
     ("max_tokens", 0), ("stop", ("",)), ("stop", ["x"])],
)
def test_invalid_sampling_is_refused_before_generating(engine: LlamaEngine, field: str,
                                                       value: object):
    chat(engine, QUESTION, greedy(max_tokens=4))  # something in the cache
    llama = engine._llama
    cached = llama.input_ids[: llama.n_tokens].tolist()
    stream = Stream()
    with pytest.raises(InvalidParameterError) as caught:
        engine.chat(QUESTION, dataclasses.replace(greedy(), **{field: value}), StopFlag(),
                    stream)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert stream.pieces == []
    assert llama.input_ids[: llama.n_tokens].tolist() == cached, "the cache was touched"
