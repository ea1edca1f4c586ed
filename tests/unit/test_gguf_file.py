"""The GGUF header reader, against synthetic files written byte by byte."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import pytest
from gguf_builder import (
    ARRAY,
    BOOL,
    F32,
    FLOAT32,
    FLOAT64,
    INT32,
    STRING,
    UINT8,
    UINT32,
    UINT64,
    Array,
    GGUFBuilder,
    encode_kv,
    gguf_string,
    small_model,
    u32,
    u64,
)

from chatdesk.core.gguf_file import ArrayInfo, InvalidModelFileError, read_gguf_header


def write(tmp_path: Path, data: bytes, name: str = "model.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rejected(path: Path) -> str:
    """The reader's message for a file it must refuse; fails if it accepts the file."""
    with pytest.raises(InvalidModelFileError) as info:
        read_gguf_header(path)
    message = str(info.value)
    assert message and message[0].isupper() and message.endswith("."), message
    return message


# --- a valid file -----------------------------------------------------------------------


def test_valid_synthetic_file_parses(tmp_path):
    data = small_model(chat_template="{% for m in messages %}{{ m.content }}{% endfor %}").build()
    path = write(tmp_path, data)

    header = read_gguf_header(path)

    assert header.path == path
    assert header.version == 3
    assert header.file_size == len(data)
    assert header.tensor_count == 3
    assert header.architecture == "llama"
    assert header.name == "Tiny Test Model"
    assert header.quantization == "Q4_K_M"
    assert header.trained_context == 4096
    assert header.block_count == 2
    assert header.chat_template == "{% for m in messages %}{{ m.content }}{% endfor %}"
    meta = header.metadata
    assert meta["llama.rope.freq_base"] == 10000.0
    assert meta["tokenizer.ggml.add_bos_token"] is True
    assert meta["tokenizer.ggml.tokens"] == ArrayInfo(element_type=STRING, length=4)
    assert meta["tokenizer.ggml.scores"] == ArrayInfo(element_type=FLOAT32, length=4)
    assert meta["test.nested"] == ArrayInfo(element_type=ARRAY, length=2)
    assert len(meta) == 11


def test_file_of_exactly_the_needed_size_parses_and_one_byte_less_is_truncated(tmp_path):
    data = small_model().build()
    read_gguf_header(write(tmp_path, data))
    message = rejected(write(tmp_path, data[:-1], "short.gguf"))
    assert "truncated" in message
    assert f"{len(data):,}" in message and f"{len(data) - 1:,}" in message


def test_general_alignment_is_honoured(tmp_path):
    builder = small_model(alignment=256)
    builder.kv("general.alignment", UINT32, 256)
    data = builder.build()
    # With the default 32 the data would start earlier, and this file would look complete
    # even without its last bytes; with 256 it needs every one of them.
    assert (len(builder.header()) + (-len(builder.header())) % 32) % 256 != 0
    read_gguf_header(write(tmp_path, data))
    assert "truncated" in rejected(write(tmp_path, data[:-1], "short.gguf"))


def test_version_2_is_accepted(tmp_path):
    header = read_gguf_header(write(tmp_path, small_model(version=2).build()))
    assert header.version == 2


def test_names_and_fallbacks_from_sparse_metadata(tmp_path):
    builder = GGUFBuilder().tensor("w", (8,), F32)
    builder.kv("general.file_type", UINT32, 99)
    builder.kv("tokenizer.chat_template", STRING, "  \n ")
    header = read_gguf_header(write(tmp_path, builder.build(), "my-model.Q4.gguf"))
    assert header.architecture == "unknown"
    assert header.name == "my-model.Q4"  # the file's stem
    assert header.quantization == "file_type 99"
    assert header.trained_context == 0
    assert header.block_count == 0
    assert header.chat_template is None  # blank is no template


def test_no_file_type_means_unknown_quantization(tmp_path):
    builder = small_model()
    builder.kvs = [kv for kv in builder.kvs if kv[0] != "general.file_type"]
    assert read_gguf_header(write(tmp_path, builder.build())).quantization == "unknown"


def test_arrays_nested_four_deep_parse(tmp_path):
    value = Array(UINT8, [7])
    for _ in range(3):
        value = Array(ARRAY, [value])
    builder = small_model().kv("deep", ARRAY, value)
    assert read_gguf_header(write(tmp_path, builder.build())).metadata["deep"] == ArrayInfo(
        ARRAY, 1)


# --- files that are not models ------------------------------------------------------------


def test_nonexistent_path(tmp_path):
    assert "No model file" in rejected(tmp_path / "missing.gguf")


def test_directory_is_not_a_model_file(tmp_path):
    (tmp_path / "dir.gguf").mkdir()
    assert "No model file" in rejected(tmp_path / "dir.gguf")


def test_zero_byte_file(tmp_path):
    assert "empty" in rejected(write(tmp_path, b""))


def test_random_bytes(tmp_path):
    data = random.Random(1234).randbytes(4096)
    assert not data.startswith(b"GGUF")
    assert "not a GGUF" in rejected(write(tmp_path, data))


@pytest.mark.parametrize("magic", [b"GGML", b"gguf", b"FUGG", b"\0\0\0\0"])
def test_wrong_magic(tmp_path, magic):
    assert "not a GGUF" in rejected(write(tmp_path, small_model(magic=magic).build()))


def test_file_shorter_than_the_magic(tmp_path):
    assert "not a GGUF" in rejected(write(tmp_path, b"GG"))


@pytest.mark.parametrize("version", [0, 1, 4, 2**32 - 1])
def test_unsupported_version(tmp_path, version):
    message = rejected(write(tmp_path, small_model(version=version).build()))
    assert f"version {version}" in message


def test_tensor_count_zero(tmp_path):
    builder = small_model()
    builder.tensors.clear()
    assert "no tensors" in rejected(write(tmp_path, builder.build()))


# --- truncation ---------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [5, 8, 12, 20, 24, 30, 60])
def test_truncated_in_header(tmp_path, keep):
    data = small_model().header()
    assert keep < len(data)
    assert "truncated" in rejected(write(tmp_path, data[:keep]))


def test_every_prefix_is_rejected_with_our_error(tmp_path):
    """Cut anywhere, the file is refused with InvalidModelFileError, never a struct.error."""
    data = small_model().build()
    path = tmp_path / "cut.gguf"
    for keep in range(1, len(data)):
        path.write_bytes(data[:keep])
        with pytest.raises(InvalidModelFileError):
            read_gguf_header(path)


def test_truncated_tensor_data(tmp_path):
    builder = small_model()
    builder.tensor("big.weight", (4096, 256))  # 4 MiB of F32 that the file will not hold
    data = builder.build()
    cut = data[: len(builder.header()) + 1000]
    message = rejected(write(tmp_path, cut))
    assert "truncated" in message
    assert f"{len(cut):,}" in message


def test_header_complete_but_no_tensor_data(tmp_path):
    builder = small_model()
    assert "truncated" in rejected(write(tmp_path, builder.header()))


# --- hostile or damaged headers -----------------------------------------------------------


def _raw_header(tensor_count: int, kv_count: int, body: bytes = b"") -> bytes:
    return b"GGUF" + u32(3) + u64(tensor_count) + u64(kv_count) + body


def _assert_fast_and_small(path: Path) -> str:
    """Refused without allocating anything near the claimed sizes (tracemalloc peak)."""
    tracemalloc.start()
    try:
        message = rejected(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak
    return message


def test_absurd_string_length(tmp_path):
    body = u64(2**60) + b"general.architecture" + b"\0" * 64
    message = _assert_fast_and_small(write(tmp_path, _raw_header(1, 1, body)))
    assert "damaged" in message and str(2**60) in message


def test_absurd_key_string_length_just_past_file_size(tmp_path):
    body = u64(200) + b"x" * 50
    data = _raw_header(1, 1, body)
    assert len(data) < 200
    assert "damaged" in rejected(write(tmp_path, data))


def test_absurd_array_count(tmp_path):
    body = gguf_string("tokenizer.ggml.tokens") + u32(ARRAY) + u32(STRING) + u64(2**62)
    message = _assert_fast_and_small(write(tmp_path, _raw_header(1, 1, body + b"\0" * 64)))
    assert "damaged" in message


def test_array_of_scalars_longer_than_the_file(tmp_path):
    # The count alone fits under the file size; count * 4 bytes does not.
    body = gguf_string("scores") + u32(ARRAY) + u32(FLOAT32) + u64(100) + b"\0" * 100
    assert "truncated" in rejected(write(tmp_path, _raw_header(1, 1, body)))


@pytest.mark.parametrize(("tensors", "kvs"), [(2**63, 1), (1, 2**40), (1_000_001, 0),
                                               (0, 100_001)])
def test_absurd_counts(tmp_path, tensors, kvs):
    data = _raw_header(tensors, kvs, b"\0" * 64)
    assert "impossible" in _assert_fast_and_small(write(tmp_path, data))


def test_kv_count_larger_than_the_kvs_present(tmp_path):
    builder = small_model(kv_count_override=50, tensor_count_override=3)
    builder.tensors.clear()  # the file ends right after the real KVs
    assert "truncated" in rejected(write(tmp_path, builder.header()))


def test_tensor_count_larger_than_the_infos_present(tmp_path):
    builder = small_model(tensor_count_override=10)
    message = rejected(write(tmp_path, builder.build()))
    assert "truncated" in message or "damaged" in message


def test_arrays_nested_five_deep_are_refused(tmp_path):
    value = Array(UINT8, [7])
    for _ in range(4):
        value = Array(ARRAY, [value])
    builder = small_model().kv("deep", ARRAY, value)
    assert "nested too deep" in rejected(write(tmp_path, builder.build()))


def test_unknown_value_type(tmp_path):
    body = gguf_string("weird") + u32(13) + b"\0" * 64
    assert "unknown value type 13" in rejected(write(tmp_path, _raw_header(1, 1, body)))


def test_tensor_with_too_many_dimensions(tmp_path):
    info = gguf_string("w") + u32(9) + u64(1) * 9 + u32(F32) + u64(0)
    data = _raw_header(1, 0, info) + b"\0" * 64
    assert "dimensions" in rejected(write(tmp_path, data))


def test_tensor_with_absurd_dimensions_is_truncated_not_allocated(tmp_path):
    info = gguf_string("w") + u32(4) + u64(2**63) * 4 + u32(F32) + u64(0)
    data = _raw_header(1, 1, encode_kv("general.architecture", STRING, "llama") + info)
    assert "truncated" in _assert_fast_and_small(write(tmp_path, data + b"\0" * 64))


def test_random_corruption_never_escapes_as_another_exception(tmp_path):
    """Flip bytes in a valid header: the reader accepts or refuses, nothing else."""
    good = small_model().build()
    header_len = len(small_model().header())
    rng = random.Random(42)
    path = tmp_path / "fuzz.gguf"
    refused = 0
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(4, header_len)] = rng.randrange(256)
        path.write_bytes(bytes(data))
        try:
            read_gguf_header(path)
        except InvalidModelFileError:
            refused += 1
    assert refused > 50  # the fuzzing did reach the checks


def test_metadata_values_of_every_scalar_type(tmp_path):
    builder = small_model()
    builder.kv("i32", INT32, -5).kv("f32", FLOAT32, 0.5).kv("flag", BOOL, False)
    builder.kv("f64", FLOAT64, 2.25).kv("u64", UINT64, 2**64 - 1)
    meta = read_gguf_header(write(tmp_path, builder.build())).metadata
    assert (meta["i32"], meta["f32"], meta["flag"], meta["f64"], meta["u64"]) == (
        -5, 0.5, False, 2.25, 2**64 - 1)
