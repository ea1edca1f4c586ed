"""Token ids to text while streaming: a token can hold half a UTF-8 character (an emoji
split over two tokens), which must never reach the window as a broken glyph."""

from __future__ import annotations

import codecs
import ctypes
from typing import Any


class TokenText:
    """Token ids to text, never splitting a UTF-8 character across two chunks."""

    def __init__(self, vocab: Any) -> None:
        import llama_cpp

        self._llama_cpp = llama_cpp
        self._vocab = vocab
        self._pieces: dict[int, bytes] = {}
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def piece(self, token: int) -> bytes:
        cached = self._pieces.get(token)
        if cached is None:
            size = 64
            while True:
                buffer = ctypes.create_string_buffer(size)
                n = self._llama_cpp.llama_token_to_piece(self._vocab, token, buffer, size, 0,
                                                         False)
                if n >= 0:
                    break
                size = -n
            cached = self._pieces[token] = buffer.raw[:n]
        return cached

    def decode(self, token: int) -> str:
        return self._decoder.decode(self.piece(token))

    def finish(self) -> str:
        return self._decoder.decode(b"", final=True)
