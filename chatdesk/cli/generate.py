"""`chatdesk generate`: continue a prompt and show how each token was chosen.

For scripts and for checking the token view: ``--raw`` continues the text itself (no
chat template); without it the prompt is asked as a user message through the model's
template, as `chatdesk chat` does, but nothing is stored. ``--json`` prints every
generated token with its id, text and log-probability (the model's own, a softmax over
its raw logits) and its top-K alternatives (core/token_probs.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from chatdesk.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, fail, local_setup
from chatdesk.core.token_records import MAX_TOP_LOGPROBS, TokenTrace


def add_generate_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    generate = commands.add_parser(
        "generate", parents=[common],
        help="continue a prompt, with each token's probability and alternatives (--json)",
        description="Loads the model and continues PROMPT, printing the text or (--json) "
                    "each token with its id, log-probability and top alternatives. "
                    "No repeat penalty: the model's own continuation. Nothing is stored.")
    generate.add_argument("prompt", help="the text to continue (or to ask, without --raw)")
    generate.add_argument("--raw", action="store_true",
                          help="continue the text itself: no chat template")
    generate.add_argument("--model", help="a .gguf file (default: the bundled offline model)")
    generate.add_argument("--max-tokens", type=int, default=64,
                          help="tokens to generate at most (default 64)")
    generate.add_argument("--top-logprobs", type=int, default=5,
                          help=f"alternatives per token in --json, 0 to {MAX_TOP_LOGPROBS} "
                               "(default 5)")
    generate.add_argument("--temperature", type=float, default=0.0,
                          help="0 (the default) is greedy")
    generate.add_argument("--seed", type=int, default=0, help="the sampler's seed (default 0)")
    generate.add_argument("--json", action="store_true", help="print one JSON object")


def trace_json(trace: TokenTrace | None, top: int) -> list[dict[str, Any]]:
    """Each token as --json prints it: text, id, logprob and its ``top`` alternatives."""
    if trace is None:
        return []
    return [{"text": t.text, "id": t.token, "logprob": t.logprob,
             "top_logprobs": [{"text": a.text, "id": a.token, "logprob": a.logprob}
                              for a in t.top[:top]]} for t in trace.tokens]


def run_generate_command(args: argparse.Namespace) -> int:
    from chatdesk.core.chat_template import ChatTemplateError
    from chatdesk.core.engine import EngineError, LlamaEngine, LoadOptions
    from chatdesk.core.events import ChatMessage
    from chatdesk.core.gguf_file import InvalidModelFileError
    from chatdesk.core.sampling import InvalidParameterError, SamplingParams
    from chatdesk.core.stop_flag import StopFlag

    if not args.prompt:
        return fail("the prompt is empty", EXIT_USAGE)
    if not 0 <= args.top_logprobs <= MAX_TOP_LOGPROBS:
        return fail(f"invalid option: --top-logprobs must be between 0 and "
                     f"{MAX_TOP_LOGPROBS}", EXIT_USAGE)
    try:  # at least 1 recorded: every token's own logprob is printed
        params = SamplingParams(temperature=args.temperature, seed=args.seed,
                                max_tokens=args.max_tokens, repeat_penalty=1.0,
                                top_logprobs=max(1, args.top_logprobs)).validated()
    except InvalidParameterError as error:
        return fail(f"invalid option: {error}", EXIT_USAGE)
    setup = local_setup(args)
    if isinstance(setup, int):
        return setup
    _paths, settings, model = setup
    engine = LlamaEngine()
    try:
        engine.load(model, LoadOptions(context_length=settings.context_length,
                                       gpu_layers=settings.gpu_layers,
                                       threads=settings.threads))
        prompt = (engine.prepare_text(args.prompt, params.max_tokens) if args.raw else
                  engine.prepare_chat([ChatMessage("user", args.prompt)], params.max_tokens))
        result = engine.generate(prompt, params, StopFlag(), loop_guard=False)
    except (EngineError, InvalidModelFileError) as error:
        what = "cannot load" if engine.info is None else "cannot generate with"
        return fail(f"{what} {model}: {error}")
    except ChatTemplateError as error:
        return fail(str(error))
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    finally:
        engine.close()
    if not args.json:
        print(result.text)
        return 0
    trace = result.trace
    print(json.dumps({
        "model": str(model), "raw": args.raw, "prompt": args.prompt,
        "text": result.text, "stop_reason": result.stop_reason.value,
        "prompt_tokens": result.prompt_tokens, "generated_tokens": result.generated_tokens,
        "tokens_per_s": round(result.generation_tokens_per_s, 3),
        "sampling": dataclasses.asdict(params) | {"stop": list(params.stop)},
        "tokens": trace_json(trace, args.top_logprobs),
    }, ensure_ascii=False, indent=2))
    return 0
