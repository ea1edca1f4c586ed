"""Write synthetic GGUF files byte by byte, for the header reader's tests.

Written from the GGUF spec (ggml/docs/gguf.md), not from chatdesk's reader, so the tests
check the reader against the format rather than against itself:

    magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
    kv:     string key | u32 value_type | value
    string: u64 length | utf-8 bytes
    array:  u32 element_type | u64 count | elements
    tensor: string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset
    padding to general.alignment (default 32) | tensor data (offsets relative to here)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

# GGUF metadata value types.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = range(10)
UINT64, INT64, FLOAT64 = 10, 11, 12

_FORMATS = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
            FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}

# ggml tensor types used here: id -> (elements per block, bytes per block), from ggml.c.
F32, F16, Q4_0, Q8_0, Q4_K, Q6_K = 0, 1, 2, 8, 12, 14
GGML_BLOCKS = {F32: (1, 4), F16: (1, 2), Q4_0: (32, 18), Q8_0: (32, 34), Q4_K: (256, 144),
               Q6_K: (256, 210)}


@dataclass(frozen=True)
class Array:
    """An array value; ``items`` may themselves be ``Array`` (then element_type is ARRAY)."""

    element_type: int
    items: list[Any]


@dataclass(frozen=True)
class Tensor:
    name: str
    dims: tuple[int, ...]
    ggml_type: int = F32

    @property
    def nbytes(self) -> int:
        elements = 1
        for d in self.dims:
            elements *= d
        block, block_bytes = GGML_BLOCKS[self.ggml_type]
        assert elements % block == 0, "a tensor must hold whole blocks"
        return elements // block * block_bytes


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def gguf_string(text: str | bytes) -> bytes:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return u64(len(raw)) + raw


def encode_value(value_type: int, value: Any) -> bytes:
    """The bytes of one value (without its type tag, as inside an array)."""
    if value_type == STRING:
        return gguf_string(value)
    if value_type == ARRAY:
        assert isinstance(value, Array)
        body = b"".join(encode_value(value.element_type, item) for item in value.items)
        return u32(value.element_type) + u64(len(value.items)) + body
    return struct.pack(_FORMATS[value_type], value)


def encode_kv(key: str, value_type: int, value: Any) -> bytes:
    return gguf_string(key) + u32(value_type) + encode_value(value_type, value)


@dataclass
class GGUFBuilder:
    """Collects KV pairs and tensors; ``build()`` returns the file's bytes.

    The ``*_override`` fields write a different count than the real one, for damaged files.
    """

    version: int = 3
    kvs: list[tuple[str, int, Any]] = field(default_factory=list)
    tensors: list[Tensor] = field(default_factory=list)
    alignment: int = 32  # the padding actually written; add general.alignment to change it
    magic: bytes = b"GGUF"
    tensor_count_override: int | None = None
    kv_count_override: int | None = None

    def kv(self, key: str, value_type: int, value: Any) -> GGUFBuilder:
        self.kvs.append((key, value_type, value))
        return self

    def tensor(self, name: str, dims: tuple[int, ...], ggml_type: int = F32) -> GGUFBuilder:
        self.tensors.append(Tensor(name, dims, ggml_type))
        return self

    def header(self) -> bytes:
        """Everything before the alignment padding: magic, counts, KVs, tensor infos."""
        tensor_count = (len(self.tensors) if self.tensor_count_override is None
                        else self.tensor_count_override)
        kv_count = len(self.kvs) if self.kv_count_override is None else self.kv_count_override
        out = bytearray(self.magic + u32(self.version) + u64(tensor_count) + u64(kv_count))
        for key, value_type, value in self.kvs:
            out += encode_kv(key, value_type, value)
        offset = 0
        for t in self.tensors:
            out += gguf_string(t.name) + u32(len(t.dims))
            for d in t.dims:
                out += u64(d)
            out += u32(t.ggml_type) + u64(offset)
            offset += t.nbytes
            offset += (-offset) % self.alignment
        return bytes(out)

    def build(self) -> bytes:
        """The whole file: header, padding, then each tensor's data (a byte pattern)."""
        out = bytearray(self.header())
        out += b"\0" * ((-len(out)) % self.alignment)
        for i, t in enumerate(self.tensors):
            out += bytes([(i + 1) & 0xFF]) * t.nbytes
            if i < len(self.tensors) - 1:
                out += b"\0" * ((-len(out)) % self.alignment)
        return bytes(out)


def small_model(arch: str = "llama", chat_template: str | None = "{{ messages }}",
                **kw: Any) -> GGUFBuilder:
    """A plausible little model: the metadata llama.cpp reads and three quantized tensors."""
    b = GGUFBuilder(**kw)
    b.kv("general.architecture", STRING, arch)
    b.kv("general.name", STRING, "Tiny Test Model")
    b.kv("general.file_type", UINT32, 15)
    b.kv(f"{arch}.context_length", UINT32, 4096)
    b.kv(f"{arch}.block_count", UINT32, 2)
    b.kv(f"{arch}.rope.freq_base", FLOAT32, 10000.0)
    b.kv("tokenizer.ggml.add_bos_token", BOOL, True)
    b.kv("tokenizer.ggml.tokens", ARRAY, Array(STRING, ["<unk>", "<s>", "</s>", "héllo"]))
    b.kv("tokenizer.ggml.scores", ARRAY, Array(FLOAT32, [0.0, -1.0, -2.0, -3.5]))
    b.kv("test.nested", ARRAY, Array(ARRAY, [Array(UINT8, [1, 2, 3]), Array(INT64, [-1])]))
    if chat_template is not None:
        b.kv("tokenizer.chat_template", STRING, chat_template)
    b.tensor("token_embd.weight", (256, 4), Q4_K)
    b.tensor("blk.0.attn_norm.weight", (7,), F32)  # 28 bytes: the next one needs padding
    b.tensor("output.weight", (64, 2), Q8_0)
    return b
