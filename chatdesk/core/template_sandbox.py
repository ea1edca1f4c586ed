"""The Jinja sandbox chat templates run in, with a time and a size budget.

A GGUF's chat template is Jinja source from the internet. Jinja's immutable sandbox keeps
it from running code (CVE-2024-34359), but not from spending time or memory: nested
``range()`` loops ran for minutes, ``{{ 'a' * 10**9 }}`` took 17 s and 4.7 GB already at
load, because Jinja folds constant expressions while compiling. So here:

* compiling folds nothing: the optimizer is off, and ``finalize`` takes the context, which
  makes Jinja evaluate even constant ``{{ ... }}`` output at render time, under a budget;
* every operation that can repeat or grow is a checkpoint: ``for`` loops (each iterable
  is wrapped), calls, attribute and item lookups, filters, the operators that build big
  values (``*``, ``**``, ``+``, ``%``; checked *before* they allocate), ``~`` joins, and
  each piece of output;
* a checkpoint raises :class:`TemplateBudgetError` past the deadline or the size limit,
  and :class:`TemplateStopped` once the caller's stop flag is set.

The budget of the render in progress lives in a context variable, so one compiled
template can be rendered from any thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

RENDER_SECONDS = 2.0  # a real template renders in milliseconds
MAX_PROMPT_CHARS = 4_000_000  # the prompt, and any one value a template builds
MAX_TEMPLATE_CHARS = 1_000_000  # real templates are a few KB; the biggest known ~50 KB
_MAX_INT_BITS = 4096  # ``**`` results past this are refused before they are computed
_FORMAT_WIDTH = re.compile(r"\d{7,}|%[-+ #0-9.]*\*")  # widths of millions, or "%*d"


class TemplateBudgetError(Exception):
    """The render ran out of time or built something too large; the text says which."""


class TemplateStopped(Exception):
    """The caller's stop flag was set while the template was rendering."""


@dataclass
class Budget:
    """What one render may spend; ``check()`` is called at every checkpoint."""

    deadline: float
    stop: Callable[[], bool] | None = None
    seconds: float = RENDER_SECONDS
    output_chars: int = 0  # everything printed so far, including into {% set %} blocks

    def check(self) -> None:
        if self.stop is not None and self.stop():
            raise TemplateStopped("stopped")
        if time.monotonic() > self.deadline:
            raise TemplateBudgetError(f"it ran for more than {self.seconds:g} s")


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "chatdesk_template_budget", default=None)


@contextlib.contextmanager
def budget(seconds: float = RENDER_SECONDS,
           stop: Callable[[], bool] | None = None) -> Iterator[Budget]:
    """Make every checkpoint of renders inside this block count against one budget."""
    spent = Budget(deadline=time.monotonic() + seconds, stop=stop, seconds=seconds)
    token = _current.set(spent)
    try:
        yield spent
    finally:
        _current.reset(token)


def checkpoint() -> None:
    spent = _current.get()
    if spent is not None:
        spent.check()


def check_size(size: int, what: str = "value") -> None:
    if size > MAX_PROMPT_CHARS:
        raise TemplateBudgetError(f"it built an absurdly long {what} ({size:,} characters; "
                                  f"the limit is {MAX_PROMPT_CHARS:,})")


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 0


def _check_numbers(values: Iterable[Any]) -> None:
    """Widths, counts and fill sizes: a number past the size limit can only blow up."""
    for value in values:
        if isinstance(value, (tuple, list)):
            _check_numbers(value)
        elif isinstance(value, int) and abs(value) > MAX_PROMPT_CHARS:
            raise TemplateBudgetError(f"it asked for a size of {value:,}")


def _check_format(text: Any) -> None:
    """A format string whose width alone would allocate millions of characters."""
    if isinstance(text, str) and _FORMAT_WIDTH.search(text):
        raise TemplateBudgetError("it asked for a format width of millions of characters")


def _binop(operator: str, left: Any, right: Any) -> None:
    """Refuse the operations that would allocate past the limit, before they run."""
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(count, int) and _sized(seq):
                check_size(_sized(seq) * max(count, 0), f"repeated {type(seq).__name__}")
    elif operator == "+":
        if _sized(left) and _sized(right):
            check_size(_sized(left) + _sized(right))
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            bits = right * math.log2(abs(left))
            if bits > _MAX_INT_BITS:
                raise TemplateBudgetError(f"it computed a number of {bits:,.0f} bits")
    elif operator == "%" and isinstance(left, str):
        _check_format(left)
        _check_numbers([right])


def _joined_size(values: Iterable[Any], separator: str) -> tuple[list[str], int]:
    texts = [str(v) for v in values]
    return texts, sum(map(len, texts)) + len(separator) * max(0, len(texts) - 1)


def _check_replace(text: str, old: Any, new: Any) -> None:
    old, new = str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    check_size(len(text) + hits * max(0, len(new) - len(old)), "replaced text")


_INJECTED = (jinja2.runtime.Context, nodes.EvalContext, jinja2.Environment)


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter wrapped with checks before (its numbers, join/replace sizes) and after."""

    @functools.wraps(function)  # keeps jinja_pass_arg, so Jinja still passes the context
    def guarded(*args: Any, **kwargs: Any) -> Any:
        checkpoint()
        injected = sum(1 for a in args[:1] if isinstance(a, _INJECTED))
        head, plain = args[:injected], list(args[injected:])
        _check_numbers([*plain[1:], *kwargs.values()])
        if name == "format" and plain:
            _check_format(plain[0])
        elif name == "join" and plain and len(plain) < 3 and "attribute" not in kwargs:
            plain[0] = list(plain[0]) if isinstance(plain[0], Iterable) else plain[0]
            separator = str(plain[1]) if len(plain) > 1 else str(kwargs.get("d", ""))
            if isinstance(plain[0], list):
                check_size(_joined_size(plain[0], separator)[1], "joined text")
        elif name == "replace" and len(plain) >= 3 and isinstance(plain[0], str):
            _check_replace(plain[0], plain[1], plain[2])
        result = function(*head, *plain, **kwargs)
        check_size(_sized(result))
        return result

    return guarded


class _GuardLoops(NodeTransformer):
    """Route every ``for`` iterable and every ``~`` join through the sandbox's checks."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call_env("guarded_iter", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call_env("guarded_concat", list(node.nodes), node.lineno)


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with budgets, and no constant folding at compile time.

    The stock sandbox returns an undefined for ``x.__class__``; with ChainableUndefined that
    prints as '' and a hostile template would render silently instead of being refused, so
    an unsafe attribute stops the render at once.
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(trim_blocks=True, lstrip_blocks=True,
                         undefined=jinja2.ChainableUndefined, optimized=False,
                         finalize=_finalize)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.globals["range"] = _guarded_range
        self.globals["lipsum"] = _small_lipsum

    def unsafe_undefined(self, obj: object, attribute: str) -> jinja2.Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe.")

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any,
                   right: Any) -> Any:
        checkpoint()
        _binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        checkpoint()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        checkpoint()
        return super().getitem(obj, argument)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        checkpoint()
        if __obj is not _guarded_range:  # range() has the sandbox's own, clearer limit
            _check_numbers([*args, *kwargs.values()])
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name == "join" and args:
                items = list(args[0])
                check_size(_joined_size(items, owner)[1], "joined text")
                args = (items, *args[1:])
            elif name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1])
        result = super().call(__context, __obj, *args, **kwargs)
        check_size(_sized(result))
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``'{:>999999999}'.format(1)``: check the format string when it is looked up."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format(value.__self__)
        return wrapped

    def compile_guarded(self, source: str) -> jinja2.Template:
        """Compile ``source`` with every ``for`` iterable and ``~`` join guarded."""
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateBudgetError(f"it is {len(source):,} characters long (the limit is "
                                      f"{MAX_TEMPLATE_CHARS:,})")
        tree = _GuardLoops().visit(self.parse(source))
        return self.from_string(tree)

    @staticmethod
    def guarded_iter(iterable: Any) -> Iterator[Any]:
        for index, item in enumerate(iterable):
            if index % 64 == 0:
                checkpoint()
            yield item

    @staticmethod
    def guarded_concat(*parts: Any) -> str:
        checkpoint()
        texts, size = _joined_size(parts, "")
        check_size(size, "joined text")
        return "".join(texts)


def _call_env(name: str, args: list[nodes.Expr], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name, lineno=lineno), args, [], None, None,
                      lineno=lineno)


@jinja2.pass_context
def _finalize(_context: jinja2.runtime.Context, value: Any) -> Any:
    """Each ``{{ ... }}`` output; taking the context keeps Jinja from folding it at compile
    time, and the total printed (also into ``{% set %}`` blocks) is bounded."""
    spent = _current.get()
    if spent is not None:
        spent.check()
        spent.output_chars += len(value) if isinstance(value, str) else 0
        if spent.output_chars > 4 * MAX_PROMPT_CHARS:
            raise TemplateBudgetError(f"it printed more than {4 * MAX_PROMPT_CHARS:,} "
                                      "characters")
    return value


def _small_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's lorem ipsum, capped: ``lipsum(n=10**6)`` would write gigabytes."""
    from jinja2.utils import generate_lorem_ipsum

    if not (0 <= n <= 100 and 0 <= min <= max <= 1000):
        raise TemplateBudgetError("it asked for too much lorem ipsum")
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


def _guarded_range(*args: int) -> Any:
    from jinja2.sandbox import safe_range

    checkpoint()
    return safe_range(*args)


def render_guarded(template: jinja2.Template, spent: Budget, **variables: Any) -> str:
    """Render piece by piece, checking time, stop and the size between pieces."""
    pieces: list[str] = []
    size = 0
    for piece in template.generate(**variables):
        size += len(piece)
        check_size(size, "prompt")
        spent.check()
        pieces.append(piece)
    return "".join(pieces)
