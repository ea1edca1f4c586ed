"""What this chatdesk is built from: its version, llama-cpp-python's, and the backend.

`chatdesk --version` prints it and the About dialog shows it, so a bug report says which
llama.cpp build (CPU, CUDA, Metal...) ran. Reading it loads llama.cpp's shared libraries,
which is also the quickest proof that a frozen bundle found them.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatdesk import __version__


@dataclass(frozen=True)
class RuntimeInfo:
    chatdesk: str
    llama_cpp: str
    backend: str

    def lines(self) -> list[str]:
        return [f"chatdesk {self.chatdesk}",
                f"llama-cpp-python {self.llama_cpp}",
                f"backend {self.backend}"]


def runtime_info() -> RuntimeInfo:
    import llama_cpp

    from chatdesk.core.llama_runtime import detect_backend

    return RuntimeInfo(chatdesk=__version__, llama_cpp=str(llama_cpp.__version__),
                       backend=detect_backend())
