"""A model's card from its GGUF file alone, and the arithmetic of one token.

Everything here is read from the header and the tensor table (core/gguf_file.py): no
weights are loaded, so the card opens instantly for any model on disk.

The arithmetic is the textbook one for a decoder-only transformer at batch size 1:

* **weights read per token**: every weight matrix of every block, once, plus the output
  matrix; of the embedding table only one row (a lookup), unless the output reuses the
  embedding table (tied weights, as SmolLM2 does), when the whole table is read as the
  output matrix anyway.
* **FLOPs per token**: 2 per weight of those matrices (one multiply, one add), plus the
  attention over the context: 2 × 2 × layers × query heads × head size × context (scores
  and the weighted sum of values).
* **KV cache per token**: keys and values, per layer, per KV head, at 2 bytes (f16).

Decoding one token must read all those weight bytes from memory: bandwidth ÷ bytes per
token is the speed limit no software can pass on this machine (core/bandwidth.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatdesk.core.gguf_file import GGUFHeader, TensorInfo, read_gguf_header

KV_BYTES_PER_VALUE = 2  # llama.cpp's default KV cache type is f16


@dataclass(frozen=True)
class QuantShare:
    type_name: str
    size: int  # bytes
    share: float  # of all tensor bytes
    tensors: int


@dataclass(frozen=True)
class ModelCard:
    path: str
    name: str
    architecture: str
    layers: int
    heads: int  # query heads
    kv_heads: int
    embedding: int  # width of the residual stream
    feed_forward: int
    vocabulary: int
    trained_context: int
    head_size: int
    rope_base: float | None
    rope_dimensions: int | None
    rope_scaling: str | None
    parameters: int  # the sum of every tensor's element count
    tensor_bytes: int
    file_size: int
    quantization: str  # the file type people know it by (Q4_K_M)
    quant_shares: tuple[QuantShare, ...]  # largest share first
    tied_output: bool  # the output matrix is the embedding table
    weight_bytes_per_token: int
    matrix_weights_per_token: int  # weights that are multiplied for one token
    kv_bytes_per_token: int

    def flops_per_token(self, context: int = 0) -> int:
        """≈ 2 per weight used, plus attention over ``context`` earlier tokens."""
        attention = 4 * self.layers * self.heads * self.head_size * max(0, context)
        return 2 * self.matrix_weights_per_token + attention

    def to_dict(self, context: int = 0) -> dict[str, Any]:
        return {
            "path": self.path, "name": self.name, "architecture": self.architecture,
            "layers": self.layers, "heads": self.heads, "kv_heads": self.kv_heads,
            "embedding": self.embedding, "feed_forward": self.feed_forward,
            "vocabulary": self.vocabulary, "trained_context": self.trained_context,
            "head_size": self.head_size, "rope_base": self.rope_base,
            "rope_dimensions": self.rope_dimensions, "rope_scaling": self.rope_scaling,
            "parameters": self.parameters, "tensor_bytes": self.tensor_bytes,
            "file_size": self.file_size, "quantization": self.quantization,
            "quant_shares": [{"type": q.type_name, "bytes": q.size, "share": q.share,
                              "tensors": q.tensors} for q in self.quant_shares],
            "tied_output": self.tied_output,
            "context": context,
            "flops_per_token": self.flops_per_token(context),
            "weight_bytes_per_token": self.weight_bytes_per_token,
            "kv_bytes_per_token": self.kv_bytes_per_token,
        }


def _meta_int(header: GGUFHeader, key: str, default: int = 0) -> int:
    value = header.metadata.get(f"{header.architecture}.{key}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return int(value)


def _meta_float(header: GGUFHeader, key: str) -> float | None:
    value = header.metadata.get(f"{header.architecture}.{key}")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


def _shares(tensors: tuple[TensorInfo, ...]) -> tuple[QuantShare, ...]:
    sizes: dict[str, list[int]] = {}
    for tensor in tensors:
        entry = sizes.setdefault(tensor.type_name, [0, 0])
        entry[0] += tensor.size
        entry[1] += 1
    total = sum(size for size, _ in sizes.values()) or 1
    return tuple(sorted((QuantShare(name, size, size / total, count)
                         for name, (size, count) in sizes.items()),
                        key=lambda q: -q.size))


def _per_token(tensors: tuple[TensorInfo, ...], vocabulary: int) -> tuple[int, int, bool]:
    """(weight bytes read per token, weights multiplied per token, tied output)."""
    embedding = next((t for t in tensors if t.name == "token_embd.weight"), None)
    tied = embedding is not None and not any(t.name == "output.weight" for t in tensors)
    read = multiplied = 0
    for tensor in tensors:
        if tensor is embedding:
            rows = tensor.shape[-1] if len(tensor.shape) > 1 else max(1, vocabulary)
            read += tensor.size if tied else tensor.size // max(1, rows)
            multiplied += tensor.elements if tied else 0
            continue
        read += tensor.size
        if len(tensor.shape) >= 2:  # matrices are multiplied; norms and biases barely count
            multiplied += tensor.elements
    return read, multiplied, tied


def model_card(header: GGUFHeader) -> ModelCard:
    """The card of a model whose header was read already."""
    layers = _meta_int(header, "block_count")
    heads = _meta_int(header, "attention.head_count")
    kv_heads = _meta_int(header, "attention.head_count_kv", heads)
    embedding = _meta_int(header, "embedding_length")
    head_size = _meta_int(header, "attention.key_length", embedding // heads if heads else 0)
    value_size = _meta_int(header, "attention.value_length", head_size)
    embedding_tensor = next((t for t in header.tensors if t.name == "token_embd.weight"), None)
    vocabulary = _meta_int(header, "vocab_size") or (
        embedding_tensor.shape[-1] if embedding_tensor and embedding_tensor.shape else 0)
    read, multiplied, tied = _per_token(header.tensors, vocabulary)
    scaling = header.metadata.get(f"{header.architecture}.rope.scaling.type")
    rope_dims = _meta_int(header, "rope.dimension_count")
    return ModelCard(
        path=str(header.path), name=header.name, architecture=header.architecture,
        layers=layers, heads=heads, kv_heads=kv_heads, embedding=embedding,
        feed_forward=_meta_int(header, "feed_forward_length"), vocabulary=vocabulary,
        trained_context=header.trained_context, head_size=head_size,
        rope_base=_meta_float(header, "rope.freq_base"),
        rope_dimensions=rope_dims or None,
        rope_scaling=scaling if isinstance(scaling, str) else None,
        parameters=sum(t.elements for t in header.tensors),
        tensor_bytes=sum(t.size for t in header.tensors), file_size=header.file_size,
        quantization=header.quantization, quant_shares=_shares(header.tensors),
        tied_output=tied, weight_bytes_per_token=read, matrix_weights_per_token=multiplied,
        kv_bytes_per_token=layers * kv_heads * (head_size + value_size) * KV_BYTES_PER_VALUE)


def read_model_card(path: str | Path) -> ModelCard:
    """Raises InvalidModelFileError (a plain one-line reason) for a file that is no model."""
    return model_card(read_gguf_header(path))
