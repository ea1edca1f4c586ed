"""A stop request that llama.cpp can read inside a decode without taking Python's GIL.

llama.cpp calls its abort callback once per graph node: hundreds of times per token. A
Python callback there must take the GIL each time, and whenever the GUI thread holds the
GIL (painting, receiving a token) the decode stalls: measured here, it cut generation
speed by a third. So the callback is a C function reading a one-byte flag: libc's
``strlen`` on a two-byte buffer returns 0 while the flag is clear and 1 once it is set.
llama.cpp reads the result as a ``bool``, which every ABI we ship on (x86-64 System V and
Windows, AArch64) takes from the low byte of the integer return register that holds
strlen's result. Where no libc ``strlen`` can be found we fall back to a Python callback.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
import sys
from typing import Any

log = logging.getLogger(__name__)

_SUPPORTED_MACHINES = {"x86_64", "amd64", "aarch64", "arm64"}


def _c_strlen_address() -> int | None:
    if platform.machine().lower() not in _SUPPORTED_MACHINES:
        return None
    try:
        if sys.platform == "win32":
            libc = ctypes.CDLL("ucrtbase")
        else:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        return ctypes.cast(libc.strlen, ctypes.c_void_p).value
    except (OSError, AttributeError):
        log.info("no C strlen found; stop requests inside a decode use a Python callback")
        return None


_STRLEN = _c_strlen_address()


class StopFlag:
    """Thread-safe: ``set()`` from any thread; the engine checks it between tokens and
    llama.cpp checks it between graph nodes of a decode."""

    def __init__(self) -> None:
        self._buffer = ctypes.create_string_buffer(2)  # b"\0\0": clear

    def set(self) -> None:
        self._buffer[0] = b"x"

    def clear(self) -> None:
        self._buffer[0] = b"\0"

    def is_set(self) -> bool:
        return self._buffer[0] != b"\0"

    def abort_callback(self) -> tuple[Any, Any]:
        """(ggml_abort_callback, user data) for ``llama_set_abort_callback``; keep both alive
        while they are installed."""
        import llama_cpp

        if _STRLEN is not None:
            return (llama_cpp.ggml_abort_callback(_STRLEN),
                    ctypes.cast(self._buffer, ctypes.c_void_p))
        return llama_cpp.ggml_abort_callback(lambda _data: self.is_set()), None
