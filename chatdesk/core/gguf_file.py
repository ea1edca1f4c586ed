"""Read and check a GGUF file's header before llama.cpp touches it.

llama.cpp's own checks turn most bad files into an exception, but the message it gives
("Failed to load model from file") does not tell a user *what* is wrong. Reading the header
here lets us say "not a GGUF file", "empty file" or "truncated download" plainly, and gives
the UI the model's metadata without loading any weights.

Every count and length read from the file is bounded by the file's size, so a hostile
header cannot make us allocate or loop without end.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_TENSORS = 1_000_000
MAX_KV = 100_000
MAX_ARRAY_NESTING = 4

# ggml type id -> (elements per block, bytes per block); from ggml.c's type_traits.
GGML_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
    14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98),
    19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1),
    25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2), 34: (256, 54),
    35: (256, 66), 39: (32, 17),
}

GGML_TYPE_NAMES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
    17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S",
    23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M",
    30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}

# llama_ftype (general.file_type) -> the name people know it by.
FILE_TYPE_NAMES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE",
}

_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f",
                            7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class InvalidModelFileError(ValueError):
    """The file cannot be a loadable GGUF model; the message says why in plain words."""


@dataclass(frozen=True)
class ArrayInfo:
    """An array value, summarised: big arrays (the vocabulary) are skipped, not kept."""

    element_type: int
    length: int


@dataclass(frozen=True)
class TensorInfo:
    """One entry of the tensor table: its shape in ggml's order (the row length first)."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    elements: int
    size: int  # bytes; 0 for a type this table does not know

    @property
    def type_name(self) -> str:
        return GGML_TYPE_NAMES.get(self.ggml_type, f"type {self.ggml_type}")


@dataclass(frozen=True)
class GGUFHeader:
    path: Path
    version: int
    file_size: int
    tensor_count: int
    metadata: dict[str, Any] = field(repr=False)
    tensors: tuple[TensorInfo, ...] = field(default=(), repr=False)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    @property
    def quantization(self) -> str:
        file_type = self.metadata.get("general.file_type")
        if isinstance(file_type, int):
            return FILE_TYPE_NAMES.get(file_type, f"file_type {file_type}")
        return "unknown"

    @property
    def trained_context(self) -> int:
        value = self.metadata.get(f"{self.architecture}.context_length", 0)
        return int(value) if isinstance(value, int) else 0

    @property
    def block_count(self) -> int:
        value = self.metadata.get(f"{self.architecture}.block_count", 0)
        return int(value) if isinstance(value, int) else 0

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None


class _Reader:
    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle = handle
        self.size = size

    def read(self, n: int) -> bytes:
        data = self.handle.read(n)
        if len(data) != n:
            raise InvalidModelFileError(
                "The file ends inside its header: it is truncated (an interrupted download?)."
            )
        return data

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def length(self, what: str) -> int:
        n = self.scalar("<Q")
        if n > self.size:
            raise InvalidModelFileError(f"The header is damaged: a {what} claims {n} bytes.")
        return n

    def string(self) -> str:
        return self.read(self.length("string")).decode("utf-8", errors="replace")

    def skip(self, n: int) -> None:
        if self.handle.tell() + n > self.size:
            self.read(self.size)  # raises the truncation error
        self.handle.seek(n, os.SEEK_CUR)

    def value(self, value_type: int, depth: int = 0) -> Any:
        if value_type in _SCALARS:
            return self.scalar(_SCALARS[value_type])
        if value_type == _STRING:
            return self.string()
        if value_type == _ARRAY:
            if depth >= MAX_ARRAY_NESTING:
                raise InvalidModelFileError("The header is damaged: arrays nested too deep.")
            element_type = self.scalar("<I")
            count = self.length("array")
            if element_type in _SCALARS:
                self.skip(count * struct.calcsize(_SCALARS[element_type]))
            else:
                for _ in range(count):
                    self.value(element_type, depth + 1)
            return ArrayInfo(element_type, count)
        raise InvalidModelFileError(f"The header is damaged: unknown value type {value_type}.")


def read_gguf_header(path: str | os.PathLike[str]) -> GGUFHeader:
    """Parse and sanity-check a GGUF file; raise InvalidModelFileError with a plain reason."""
    file_path = Path(path)
    if not file_path.is_file():
        raise InvalidModelFileError(f"No model file at {file_path}.")
    size = file_path.stat().st_size
    if size == 0:
        raise InvalidModelFileError("The model file is empty (0 bytes).")
    try:
        with file_path.open("rb") as handle:
            return _parse(_Reader(handle, size), file_path, size)
    except OSError as exc:
        raise InvalidModelFileError(f"The model file cannot be read: {exc.strerror}.") from exc


def _parse(reader: _Reader, path: Path, size: int) -> GGUFHeader:
    magic = reader.handle.read(4)
    if magic != GGUF_MAGIC:
        raise InvalidModelFileError(
            "This is not a GGUF model file (it does not start with 'GGUF'). "
            "chatdesk runs quantized GGUF models, such as those from Hugging Face."
        )
    version = reader.scalar("<I")
    if version not in SUPPORTED_VERSIONS:
        raise InvalidModelFileError(f"GGUF version {version} is not supported (need 2 or 3).")
    tensor_count = reader.scalar("<Q")
    kv_count = reader.scalar("<Q")
    if tensor_count > MAX_TENSORS or kv_count > MAX_KV:
        raise InvalidModelFileError("The header is damaged: impossible tensor or key counts.")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = reader.string()
        metadata[key] = reader.value(reader.scalar("<I"))
    needed, tensors = _tensor_table(reader, tensor_count, metadata)
    if needed > size:
        raise InvalidModelFileError(
            f"The file is truncated: its tensors need {needed:,} bytes but it has {size:,} "
            "(an interrupted download?)."
        )
    if tensor_count == 0:
        raise InvalidModelFileError("The file holds no tensors: it is not a model.")
    return GGUFHeader(path=path, version=version, file_size=size, tensor_count=tensor_count,
                      metadata=metadata, tensors=tuple(tensors))


def _tensor_table(reader: _Reader, tensor_count: int,
                  metadata: dict[str, Any]) -> tuple[int, list[TensorInfo]]:
    """Where the last tensor's bytes end (types we do not know count only by their
    offset), and the tensor table itself (the model card reads it)."""
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = 32
    end = 0
    tensors = []
    for _ in range(tensor_count):
        name = reader.string()
        n_dims = reader.scalar("<I")
        if n_dims > 8:
            raise InvalidModelFileError("The header is damaged: a tensor has too many dimensions.")
        shape = tuple(reader.scalar("<Q") for _ in range(n_dims))
        elements = 1
        for dim in shape:
            elements *= dim
        ggml_type = reader.scalar("<I")
        offset = reader.scalar("<Q")
        block, block_bytes = GGML_TYPE_SIZES.get(ggml_type, (1, 0))
        size = elements // block * block_bytes
        end = max(end, offset + size)
        tensors.append(TensorInfo(name, shape, ggml_type, elements, size))
    data_start = reader.handle.tell()
    data_start += (-data_start) % alignment
    return data_start + end, tensors
