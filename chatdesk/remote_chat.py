"""`chatdesk chat --server URL MESSAGE`: one answer from a model on an OpenAI-compatible
server, headless, stored in the history like the window's answers.

The exchange goes through core/conversation (question stored, answer begun before the
first token, finished with its statistics) and core/energy/record (energy "not measured
(remote)", cost from the connection's price when the server is a saved connection), so
a remote answer reads the same in the window, the exports and ``--json``. Failures are one
line on stderr; text streamed before a failure is kept in the history, marked as an error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from typing import Any

from chatdesk.core.conversation import AnswerRecorder, headless_exchange
from chatdesk.core.energy.record import answer_energy_record
from chatdesk.core.engine import EngineError, LoadOptions
from chatdesk.core.events import ChatMessage, GenerationResult
from chatdesk.core.figures import REMOTE_ENERGY
from chatdesk.core.history import HistoryError
from chatdesk.core.logs import setup_logging
from chatdesk.core.model_ref import normalize_base_url
from chatdesk.core.paths import resolve_paths
from chatdesk.core.remote_engine import RemoteEngine, choose_server_model
from chatdesk.core.sampling import InvalidParameterError
from chatdesk.core.servers import key_from_environment
from chatdesk.core.settings import Settings, load_settings
from chatdesk.core.stop_flag import StopFlag

EXIT_FAILED, EXIT_USAGE = 1, 2


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """--server and --api-key-env, shared by `chat` and `bench`."""
    parser.add_argument("--server", help="an OpenAI-compatible server's base URL (vLLM, "
                        "llama-server, Ollama's /v1, a hosted API), e.g. "
                        "http://gpu-box:8000/v1; --model then names the server's model "
                        "(default: the first it lists)")
    parser.add_argument("--api-key-env", metavar="VAR", help="read the server's API key from "
                        "this environment variable (never from the command line)")


def fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"chatdesk: {message}", file=sys.stderr)
    return code


def connect(args: argparse.Namespace, engine: RemoteEngine) -> str:
    """Check the server and model and load it into ``engine``; returns the model reference.
    Raises ValueError (bad usage) or EngineError (the server's refusal)."""
    base_url = normalize_base_url(args.server)
    key = key_from_environment(getattr(args, "api_key_env", None))
    remote, _models = choose_server_model(base_url, key, getattr(args, "model", None))
    engine.load(remote.ref, LoadOptions(api_key=key))
    return remote.ref


def run_remote_chat(args: argparse.Namespace) -> int:
    if not args.message.strip():
        return fail("the message is empty", EXIT_USAGE)
    paths = resolve_paths(args.data_dir).ensure()
    setup_logging(paths.logs_dir)
    settings = load_settings(paths.settings_file)
    changes = {name: getattr(args, name, None) for name in ("max_tokens", "temperature", "seed")}
    try:
        sampling = dataclasses.replace(
            settings.sampling, **{k: v for k, v in changes.items() if v is not None}).validated()
    except InvalidParameterError as error:
        return fail(f"invalid option: {error}", EXIT_USAGE)
    system = getattr(args, "system", None)
    system_prompt = settings.system_prompt if system is None else system
    engine = RemoteEngine()
    try:
        try:
            model = connect(args, engine)
        except ValueError as error:
            return fail(str(error), EXIT_USAGE)
        stop = StopFlag()  # Ctrl+C stops the answer (kept, marked stopped), not the process
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            return _answer(args, engine, model, system_prompt, sampling, settings, stop,
                           paths.database)
        finally:
            signal.signal(signal.SIGINT, previous)
    except EngineError as error:
        return fail(f"{error.title}: {error}")
    finally:
        engine.close()


def _answer(args: argparse.Namespace, engine: RemoteEngine, model: str, system_prompt: str,
            sampling: Any, settings: Settings, stop: StopFlag, database: Any) -> int:
    try:
        with headless_exchange(None if getattr(args, "no_save", False) else database,
                               args.message, system_prompt=system_prompt, sampling=sampling,
                               model=model) as (messages, recorder):
            return _stream(args, engine, messages, model, sampling, settings, stop, recorder)
    except HistoryError as error:
        return fail(getattr(error, "reason", None) or str(error))


def _stream(args: argparse.Namespace, engine: RemoteEngine, messages: list[ChatMessage],
            model: str, sampling: Any, settings: Settings, stop: StopFlag,
            recorder: AnswerRecorder | None) -> int:
    live = sys.stdout.isatty() and not args.json

    def on_text(piece: str, _tokens: int, _context: int) -> None:
        if recorder is not None:
            recorder.add(piece)
        if live:
            sys.stdout.write(piece)
            sys.stdout.flush()

    try:
        result = engine.chat(messages, sampling, stop, on_text)
    except BaseException:
        if recorder is not None:
            recorder.fail()  # keep what was streamed, marked as an error
        raise
    finally:
        if live:
            sys.stdout.write("\n")
            sys.stdout.flush()
    energy = answer_energy_record(None, result, settings.price(), settings.grid_g_per_kwh,
                                  settings.servers)
    conversation_id = None
    if recorder is not None:
        recorder.finish(result, energy)
        conversation_id = recorder.conversation_id
    for note in result.notes:
        print(f"chatdesk: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(answer_json(result, model, energy, conversation_id),
                         ensure_ascii=False, indent=2))
    elif not live:
        print(result.text)
    if result.stop_reason.value == "user_stop":
        print("chatdesk: the answer stopped: interrupted", file=sys.stderr)
    return 0


def answer_json(result: GenerationResult, model: str, energy: dict[str, Any] | None,
                conversation_id: int | None) -> dict[str, Any]:
    """The answer and its figures, each with where it came from."""
    from chatdesk.core.figures import AnswerStats

    stats = AnswerStats.from_result(result)
    return {
        "answer": result.text, "engine": result.engine, "server": result.server,
        "model": model, "stop_reason": result.stop_reason.value,
        "prompt_tokens": stats.prompt_tokens, "prompt_tokens_source": stats.prompt_source,
        "generated_tokens": result.generated_tokens, "tokens_source": stats.tokens_source,
        "tokens_per_s": round(result.generation_tokens_per_s, 3),
        "ttft_s": round(result.ttft_s, 4), "timing_source": stats.timing_source,
        "server_figures": result.server_figures, "server_source": stats.server_source,
        "energy": REMOTE_ENERGY,
        "cost": (energy or {}).get("cost"), "currency": (energy or {}).get("currency"),
        "cost_source": (energy or {}).get("cost_source"),
        "notes": list(result.notes),
        **({"conversation_id": conversation_id} if conversation_id is not None else {}),
    }
