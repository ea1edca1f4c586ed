"""An answer's figures and their words (chatdesk.core.figures): records that survive any
import, formatters that show '–' for what is missing, money for people, model names."""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

import pytest
from gguf_builder import STRING, small_model

from chatdesk.core.catalog import Catalog, CatalogEntry
from chatdesk.core.events import GenerationResult, StopReason
from chatdesk.core.exchange import import_file, render
from chatdesk.core.figures import (
    MISSING,
    AnswerStats,
    EnergyFigures,
    answer_chips,
    answer_details,
    answer_title,
    energy_line,
    format_money,
    sampling_summary,
    significant,
    stats_line,
)
from chatdesk.core.history import HistoryStore, NewMessage
from chatdesk.core.model_store import record_catalog_id
from chatdesk.core.sampling import SamplingParams
from chatdesk.core.units import decode_rate, format_bytes

FULL_STATS = {"prompt_tokens": 40, "prompt_eval_tokens": 10, "prompt_eval_s": 0.05,
              "generated_tokens": 21, "generation_s": 0.25, "ttft_s": 0.12, "total_s": 0.4,
              "tokens_per_s": 80.0, "prompt_tokens_per_s": 200.0, "dropped_turns": 0,
              "context_used": 61, "context_length": 4096}
FULL_ENERGY = {"source": "rapl", "measured": True, "joules": 0.92, "wh": 0.92 / 3600,
               "avg_watts": 30.1, "joules_per_token": 0.092, "cost": 5.3e-08,
               "currency": "EUR", "co2_g": 0.00012}
JUNK = [None, "12", True, float("nan"), float("inf"), [], {"x": 1}, -1.5]


def result(**changes) -> GenerationResult:
    values = dict(request_id=1, text="hi", stop_reason=StopReason.EOS, prompt_tokens=40,
                  prompt_eval_tokens=10, prompt_eval_s=0.05, generated_tokens=21,
                  generation_s=0.25, ttft_s=0.12, total_s=0.4, dropped_turns=0,
                  context_used=61, context_length=4096)
    values.update(changes)
    return GenerationResult(**values)


# -- records ------------------------------------------------------------------------------
def test_stats_from_a_result_round_trip_through_a_dict():
    stats = AnswerStats.from_result(result())
    assert stats.tokens_per_s == pytest.approx(80.0)  # 20 intervals in 0.25 s
    assert stats.prompt_tokens_per_s == pytest.approx(200.0)
    assert AnswerStats.from_dict(stats.to_dict()) == stats
    assert set(stats.to_dict()) == set(FULL_STATS)  # the keys the history stores


@pytest.mark.parametrize("junk", JUNK)
def test_a_wrong_typed_or_missing_field_becomes_none(junk):
    stats = AnswerStats.from_dict({**FULL_STATS, "generated_tokens": junk, "ttft_s": junk})
    assert stats.ttft_s is None or stats.ttft_s == junk == -1.5
    assert stats.generated_tokens is None  # never a bool, a string, a fraction or NaN
    assert stats.context_length == 4096  # the other fields are kept
    energy = EnergyFigures.from_dict({**FULL_ENERGY, "joules": junk, "wh": junk,
                                      "currency": 7, "measured": "yes"})
    assert energy.currency is None and energy.measured is None and energy.avg_watts == 30.1
    assert energy.joules is None or energy.joules == -1.5


@pytest.mark.parametrize("data", [None, [], "stats", 42, {}])
def test_anything_that_is_not_a_dict_gives_an_empty_record(data):
    assert AnswerStats.from_dict(data).is_empty
    assert EnergyFigures.from_dict(data).is_empty
    assert AnswerStats.from_dict(data).to_dict() == {}


def test_a_partial_record_stays_partial_and_derives_only_what_it_can():
    stats = AnswerStats.from_dict({"generated_tokens": 11, "generation_s": 0.5})
    assert stats.tokens_per_s == pytest.approx(20.0)  # the one formula, not a guess
    assert stats.to_dict() == {"generated_tokens": 11, "generation_s": 0.5,
                               "tokens_per_s": pytest.approx(20.0)}
    assert EnergyFigures.from_dict({"joules": 36.0}).wh == pytest.approx(0.01)
    assert EnergyFigures.from_dict({"wh": 0.01}).joules == pytest.approx(36.0)


def test_decode_rate_is_the_results_rate():
    assert decode_rate(21, 0.25) == result().generation_tokens_per_s == pytest.approx(80.0)
    assert decode_rate(1, 5.0) == decode_rate(10, 0.0) == 0.0


# -- the lines under an answer ------------------------------------------------------------
def test_full_stats_read_as_before():
    assert stats_line(FULL_STATS, "user_stop") == (
        "21 tokens · 80.0 tok/s · first token 0.12 s · prompt 10/40 tokens evaluated "
        "(200 tok/s) · context 61/4096 · stopped by you")
    assert stats_line({**FULL_STATS, "dropped_turns": 2}, "eos").endswith(
        "2 older messages left out to fit the context")


@pytest.mark.parametrize("stats", [{"generated_tokens": 5}, {"ttft_s": "soon", "total_s": 1},
                                   {"context_used": float("nan"), "generated_tokens": 5}])
def test_partial_stats_show_a_dash_and_never_raise(stats):
    line = stats_line(stats, None)
    assert MISSING in line and "tok/s" in line
    chips = answer_chips(stats, None, None)
    assert len(chips) == 3 and any(MISSING in chip for chip in chips)


def test_no_stats_and_no_energy_say_nothing():
    for empty in (None, {}, [], "x"):
        assert stats_line(empty) == energy_line(empty) == ""
        assert answer_chips(empty, empty) == ()
        assert answer_details(empty, empty) == ""


def test_energy_line_says_where_each_figure_came_from():
    text = energy_line(FULL_ENERGY)
    assert text == ("0.92 J (0.00026 Wh) · 30.1 W · 0.092 J/token · < 0.0001 EUR · "
                    "0.00012 g CO2 · measured by rapl")
    assert "e-" not in text  # no scientific notation anywhere
    assert energy_line({**FULL_ENERGY, "measured": False}).endswith("estimated")
    assert energy_line({"joules": 3.0}) == f"3 J (0.00083 Wh) · {MISSING} W · {MISSING} cost · " \
                                            f"{MISSING} g CO2"


def test_chips_are_short_and_say_why_the_answer_ended():
    assert answer_chips(FULL_STATS, FULL_ENERGY, "length") == (
        "21 tokens", "80.0 tok/s", "first token 0.12 s", "max tokens reached",
        "0.92 J (measured by rapl)")  # energy says where it came from, even in a chip
    assert answer_chips(None, None, "eos") == ("finished",)
    assert answer_chips(None, None, "something_new") == ("something new",)
    details = answer_details(FULL_STATS, FULL_ENERGY, "eos")
    assert details.count("\n") == 1 and "measured by rapl" in details


# -- numbers for people -------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text"), [
    (2.94e-05, "< 0.0001 USD"),
    (1.7e-06, "< 0.0001 USD"),
    (0.0001, "0.0001 USD"),
    (0.000294, "0.00029 USD"),
    (0.0123, "0.012 USD"),
    (0.5, "0.5 USD"),
    (1.0, "1.00 USD"),
    (1234.5, "1,234.50 USD"),
    (0.0, "0 USD"),
])
def test_money_is_fixed_decimals_never_scientific(value, text):
    assert format_money(value, "USD") == text


def test_money_without_a_figure_or_a_currency():
    assert format_money(None, "EUR") == f"{MISSING} EUR"
    assert format_money(0.5, None) == "0.5 (mixed currencies)"


def test_money_follows_the_locale_decimal_point(monkeypatch):
    import locale

    monkeypatch.setattr(locale, "localeconv",
                        lambda: {"decimal_point": ",", "thousands_sep": "."})
    assert format_money(1234.5, "EUR") == "1.234,50 EUR"
    assert format_money(0.0029, "EUR") == "0,0029 EUR"
    assert format_money(1e-7, "EUR") == "< 0,0001 EUR"


def test_significant_never_uses_scientific_notation():
    assert [significant(v) for v in (12.5, 1234.5, 0.000294, 0.5, 0.0)] == [
        "12.5", "1234", "0.000294", "0.5", "0"]
    assert significant(1e-12) == "< 0.00000001"
    assert significant(None) == MISSING
    assert all("e" not in significant(10.0 ** k) for k in range(-8, 12))


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(253 * 2**20) == "253.0 MiB"
    assert format_bytes(5 * 2**40) == "5120.0 GiB"


# -- names for people ---------------------------------------------------------------------
def test_sampling_in_peoples_words_without_what_is_off():
    text = sampling_summary(SamplingParams(stop=("</s>",)).to_dict())
    assert text.startswith("Temperature 0.7, Top-k 40, Top-p 0.95, Min-p 0.05, "
                           "Repeat penalty 1.1")
    assert "top_k" not in text and "ignore_eos" not in text.lower().replace(" ", "_")
    assert "Presence penalty" not in text and "Seed" not in text  # 0 / random: off
    assert "Stop strings '</s>'" in text
    assert "Ignore end of text yes" in sampling_summary({"ignore_eos": True})
    assert sampling_summary({"typical_p": 0.9}) == "Typical p 0.9"
    assert sampling_summary(None) == sampling_summary("junk") == ""


def _gguf(path: Path, name: str | None) -> Path:
    """A small valid GGUF file, with ``name`` as its general.name (None: without one)."""
    builder = small_model()
    builder.kvs = [kv for kv in builder.kvs if kv[0] != "general.name"]
    if name is not None:
        builder.kv("general.name", STRING, name)
    path.write_bytes(builder.build())
    return path


def entry(**changes) -> CatalogEntry:
    values = dict(id="gemma", name="Gemma 3 270M", repo_id="org/repo",
                  filename="gemma-3-270m-q4_k_m.gguf", revision="main", parameters="270M",
                  quantization="Q4_K_M", size_bytes=1, sha256=None, context_length=32768,
                  license="gemma", ram_required_bytes=1, description="d",
                  chat_template_hint=None)
    values.update(changes)
    return CatalogEntry(**values)


def test_answer_title_prefers_the_catalog_then_the_gguf_then_the_stem(tmp_path):
    catalog = Catalog(entries=(entry(filename="tiny-q4_k_m.gguf"),))
    path = _gguf(tmp_path / "tiny-q4_k_m.gguf", "Gemma From Header")
    assert answer_title(str(path), catalog) == "Gemma 3 270M"
    assert answer_title(str(path)) == "Gemma From Header"
    nameless = _gguf(tmp_path / "other-q8_0.gguf", None)
    assert answer_title(str(nameless), catalog) == "other-q8_0"
    assert answer_title("/gone/elsewhere/Qwen2.5-0.5B.Q4.gguf") == "Qwen2.5-0.5B.Q4"
    assert answer_title("C:\\models\\Phi-3.GGUF") == "Phi-3"
    assert answer_title(None) == answer_title("  ") == ""


def test_the_bundled_models_have_names_for_people(tmp_path):
    """Their own general.name is a training run's label ("Smollm2 135M 8k Lc100K Mix1
    Ep2"); the answer heading and the status line say what the model is."""
    from chatdesk.core.bundled_model import SMOLLM2_FILENAME

    path = _gguf(tmp_path / SMOLLM2_FILENAME, "Smollm2 135M 8k Lc100K Mix1 Ep2")
    assert answer_title(str(path)) == "SmolLM2 135M Instruct"
    from chatdesk.core.events import ModelInfo
    from chatdesk.core.figures import describe_model

    info = ModelInfo(path=str(path), name="Smollm2 135M 8k Lc100K Mix1 Ep2",
                     architecture="llama", parameters=134_515_008, quantization="Q4_1",
                     trained_context=8192, context_length=4096, backend="CPU",
                     gpu_layers_offloaded=0, total_layers=30, threads=2,
                     chat_template_name="gguf", chat_template_source="the model's own",
                     file_size=1)
    assert describe_model(info).startswith("SmolLM2 135M Instruct · llama 135M Q4_1 · CPU")


def test_answer_title_uses_the_recorded_catalog_entry(tmp_path):
    catalog = Catalog(entries=(entry(), entry(id="renamed", name="Renamed Model",
                                              filename="x.gguf")))
    path = _gguf(tmp_path / "local-copy.gguf", None)
    record_catalog_id(tmp_path, "local-copy.gguf", "renamed")
    assert answer_title(str(path), catalog) == "Renamed Model"


def test_answer_title_keeps_names_that_are_not_files_and_never_shows_a_path(tmp_path):
    assert answer_title("gpt-4.5") == "gpt-4.5"  # not a file: the dot is not a suffix
    assert answer_title("meta-llama/Llama-3-8B") == "meta-llama/Llama-3-8B"
    assert "/" not in answer_title("/home/someone/models/secret-dir/model.gguf")
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)  # reading it would block: the name comes from the file name
    assert answer_title(str(fifo)) == "pipe"
    long_name = _gguf(tmp_path / "long.gguf", "A" * 500 + "\n\tB")
    assert len(answer_title(str(long_name))) <= 80


def test_figures_of_a_json_imported_answer_are_plain_json_values():
    stats = AnswerStats.from_dict(json.loads(json.dumps(FULL_STATS)))
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in stats.to_dict().values())


# -- a chat imported with partial statistics: opens, exports, shows '–' --------------------
PARTIAL = [{"generated_tokens": 5},  # the issue's KeyError in describe_stats
           {"ttft_s": "fast", "tokens_per_s": None, "context_used": 12},
           None]  # no statistics at all


def imported_chat_with_partial_figures(history: HistoryStore, tmp_path: Path) -> int:
    """A chatdesk JSON export edited the way other tools (or people) leave it, imported."""
    messages = []
    for i in range(len(PARTIAL)):
        messages.append(NewMessage(2 * i, 2 * i - 1 if i else None, "user", f"Q{i}"))
        messages.append(NewMessage(2 * i + 1, 2 * i, "assistant", f"A{i}", model="m.gguf",
                                   stats={"generated_tokens": 1}))
    source = history.import_conversation("Partial figures", messages).id
    document = json.loads(render(history, source, "json"))
    answers = [m for m in document["messages"] if m["role"] == "assistant"]
    for answer, stats in zip(answers, PARTIAL, strict=True):
        answer["stats"] = stats
    answers[0]["energy"] = {"joules": "lots", "cost": 2.94e-05, "currency": "USD"}
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    (conversation_id,) = import_file(history, path)
    return conversation_id


def test_an_imported_chat_with_partial_figures_opens_and_exports_everywhere(tmp_path):
    with HistoryStore.open(tmp_path / "h.sqlite3") as history:
        cid = imported_chat_with_partial_figures(history, tmp_path)
        thread = history.thread(cid)
        answers = [m for m in thread if m.role == "assistant"]
        assert answers[0].stats == {"generated_tokens": 5}
        for message in thread:  # what the window shows for each: never raises
            stats_line(message.stats, message.stop_reason)
            energy_line(message.energy)
            answer_chips(message.stats, message.energy, message.stop_reason)
        texts = {fmt: render(history, cid, fmt).decode("utf-8")
                 for fmt in ("md", "json", "html", "txt")}
    for fmt in ("md", "html", "txt"):
        text = html.unescape(texts[fmt]) if fmt == "html" else texts[fmt]
        assert "5 tokens · – tok/s · first token – s" in text, fmt
        assert "– tokens · – tok/s" in text and "context 12/–" in text, fmt
        assert "< 0.0001 USD" in text and "e-05" not in text, fmt
        assert "A2" in text, fmt  # the answer without statistics is there, without figures
    stored = json.loads(texts["json"])["messages"]
    assert [m["stats"] for m in stored if m["role"] == "assistant"] == [
        {"generated_tokens": 5}, {"ttft_s": "fast", "tokens_per_s": None, "context_used": 12},
        None]  # JSON keeps what was imported, as it was


def test_an_early_stop_is_said_in_words_and_says_whether_it_can_continue():
    from chatdesk.core.figures import can_continue, stop_label

    assert stop_label("repetition") == "stopped: it began repeating itself"
    assert stop_label("length") == "stopped at the token limit"
    assert stop_label("user_stop") == "stopped by you"
    assert stop_label("context_full") == "stopped: the context window is full"
    assert stop_label("eos") == stop_label("stop_string") == stop_label(None) == ""
    assert [r for r in ("eos", "length", "stop_string", "user_stop", "context_full",
                        "repetition", None) if can_continue(r)] == [
        "length", "user_stop", "repetition"]
    assert answer_chips(None, None, "repetition") == ("repeating itself",)
