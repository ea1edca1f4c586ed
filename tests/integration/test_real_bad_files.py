"""Broken model files through the real LlamaEngine.load: a readable error, never a crash.

Some are caught by chatdesk's own header check (InvalidModelFileError); others have a
header that parses and are refused by llama.cpp itself (ModelLoadError). Either way the
process survives and the good model loads and chats afterwards on the same engine.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from real_model import CAPITAL_QUESTION, greedy

from chatdesk.core.engine import LlamaEngine, LoadOptions, ModelLoadError
from chatdesk.core.events import ChatMessage
from chatdesk.core.gguf_file import InvalidModelFileError
from chatdesk.core.stop_flag import StopFlag

pytestmark = pytest.mark.integration

MB = 1024 * 1024


# -- where things are in the real file's header (from the GGUF spec, ggml/docs/gguf.md) -
@dataclass(frozen=True)
class Layout:
    key_offsets: dict[str, int]  # key -> offset of the key's u64 length
    value_offsets: dict[str, int]  # key -> offset of the value (after its u32 type)
    tensor_name_offsets: dict[str, int]  # tensor name -> offset of the name's u64 length
    tensor_type_offsets: dict[str, int]  # tensor name -> offset of its u32 ggml type


def read_layout(path: Path) -> Layout:
    scalar_sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    with path.open("rb") as f:
        def u32() -> int:
            return struct.unpack("<I", f.read(4))[0]

        def u64() -> int:
            return struct.unpack("<Q", f.read(8))[0]

        def string() -> str:
            return f.read(u64()).decode("utf-8")

        def skip_value(value_type: int) -> None:
            if value_type in scalar_sizes:
                f.seek(scalar_sizes[value_type], 1)
            elif value_type == 8:
                f.seek(u64(), 1)
            elif value_type == 9:
                element_type, count = u32(), u64()
                if element_type in scalar_sizes:
                    f.seek(count * scalar_sizes[element_type], 1)
                else:
                    for _ in range(count):
                        skip_value(element_type)
            else:
                raise AssertionError(f"unknown GGUF value type {value_type}")

        assert f.read(4) == b"GGUF"
        _version, n_tensors, n_kv = u32(), u64(), u64()
        keys, values, names, types = {}, {}, {}, {}
        for _ in range(n_kv):
            at = f.tell()
            key = string()
            keys[key] = at
            value_type = u32()
            values[key] = f.tell()
            skip_value(value_type)
        for _ in range(n_tensors):
            at = f.tell()
            name = string()
            names[name] = at
            f.seek(8 * u32(), 1)  # dims
            types[name] = f.tell()
            f.seek(4 + 8, 1)  # type, offset
    return Layout(keys, values, names, types)


@pytest.fixture(scope="module")
def layout(model_path: Path) -> Layout:
    return read_layout(model_path)


@pytest.fixture(scope="module")
def scratch_copy(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full copy of the model that cases patch in place and restore afterwards."""
    copy = tmp_path_factory.mktemp("bad-models") / "patched.gguf"
    shutil.copyfile(model_path, copy)
    return copy


@contextlib.contextmanager
def patched(path: Path, offset: int, data: bytes) -> Iterator[Path]:
    with path.open("r+b") as f:
        f.seek(offset)
        original = f.read(len(data))
        f.seek(offset)
        f.write(data)
    try:
        yield path
    finally:
        with path.open("r+b") as f:
            f.seek(offset)
            f.write(original)


# -- the cases ----------------------------------------------------------------------------
# Each maker gets (tmp dir, good model, header layout, scratch copy) and yields a bad file.
Maker = Callable[[Path, Path, Layout, Path], contextlib.AbstractContextManager[Path]]


@contextlib.contextmanager
def zero_bytes(tmp: Path, good: Path, layout: Layout, scratch: Path) -> Iterator[Path]:
    path = tmp / "empty.gguf"
    path.write_bytes(b"")
    yield path


@contextlib.contextmanager
def random_bytes(tmp: Path, good: Path, layout: Layout, scratch: Path) -> Iterator[Path]:
    path = tmp / "random.gguf"
    path.write_bytes(random.Random(1234).randbytes(MB))
    yield path


@contextlib.contextmanager
def magic_then_random(tmp: Path, good: Path, layout: Layout, scratch: Path) -> Iterator[Path]:
    path = tmp / "magic-random.gguf"
    path.write_bytes(b"GGUF" + random.Random(99).randbytes(MB))
    yield path


@contextlib.contextmanager
def text_file(tmp: Path, good: Path, layout: Layout, scratch: Path) -> Iterator[Path]:
    path = tmp / "notes.gguf"
    path.write_text("These are my shopping notes, not a model.\nMilk, eggs, bread.\n")
    yield path


def _head(good: Path, path: Path, size: int) -> Path:
    with good.open("rb") as source:
        path.write_bytes(source.read(size))
    return path


@contextlib.contextmanager
def truncated_50mb(tmp: Path, good: Path, layout: Layout, scratch: Path) -> Iterator[Path]:
    yield _head(good, tmp / "truncated.gguf", 50 * MB)


@contextlib.contextmanager
def truncated_in_header(tmp: Path, good: Path, layout: Layout,
                        scratch: Path) -> Iterator[Path]:
    yield _head(good, tmp / "truncated-header.gguf", MB)  # the vocabulary alone is larger


@contextlib.contextmanager
def key_length_corrupted(tmp: Path, good: Path, layout: Layout,
                         scratch: Path) -> Iterator[Path]:
    """Magic and version intact; a key in the middle of the metadata claims 2**64-1 bytes."""
    keys = sorted(layout.key_offsets.values())
    with patched(scratch, keys[len(keys) // 2], b"\xff" * 8) as path:
        yield path


@contextlib.contextmanager
def tensor_type_corrupted(tmp: Path, good: Path, layout: Layout,
                          scratch: Path) -> Iterator[Path]:
    """The header parses, but a tensor has a ggml type that does not exist."""
    names = sorted(layout.tensor_type_offsets)
    offset = layout.tensor_type_offsets[names[len(names) // 2]]
    with patched(scratch, offset, struct.pack("<I", 0xBEEF)) as path:
        yield path


@contextlib.contextmanager
def tensor_renamed(tmp: Path, good: Path, layout: Layout, scratch: Path) -> Iterator[Path]:
    """The header parses, but a tensor the architecture needs is missing (renamed)."""
    offset = layout.tensor_name_offsets["output_norm.weight"] + 8
    with patched(scratch, offset, b"OUTPUT_NORM") as path:
        yield path


@contextlib.contextmanager
def unknown_architecture(tmp: Path, good: Path, layout: Layout,
                         scratch: Path) -> Iterator[Path]:
    offset = layout.value_offsets["general.architecture"] + 8  # after the string length
    with patched(scratch, offset, b"zorbl9") as path:  # as long as "gemma3"
        yield path


CASES: list[tuple[Maker, type[Exception], str]] = [
    (zero_bytes, InvalidModelFileError, "empty"),
    (random_bytes, InvalidModelFileError, "not a GGUF"),
    (magic_then_random, InvalidModelFileError, "not supported"),
    (text_file, InvalidModelFileError, "not a GGUF"),
    (truncated_50mb, InvalidModelFileError, "truncated"),
    (truncated_in_header, InvalidModelFileError, "truncated"),
    (key_length_corrupted, InvalidModelFileError, "damaged"),
    (tensor_type_corrupted, ModelLoadError, "could not load"),
    (tensor_renamed, ModelLoadError, "could not load"),
    (unknown_architecture, ModelLoadError, "'zorbl9'"),
]


@pytest.fixture(scope="module")
def victim(model_path: Path) -> Iterator[LlamaEngine]:
    """The engine that is fed bad files, then the good one again."""
    engine = LlamaEngine()
    yield engine
    engine.close()


@pytest.mark.parametrize(("maker", "error", "words"), CASES, ids=[c[0].__name__ for c in CASES])
def test_a_bad_file_gives_a_readable_error_and_the_good_model_still_works(
        victim: LlamaEngine, model_path: Path, layout: Layout, scratch_copy: Path,
        tmp_path: Path, maker: Maker, error: type[Exception], words: str):
    victim.load(model_path, LoadOptions(context_length=256))
    with maker(tmp_path, model_path, layout, scratch_copy) as bad, \
            pytest.raises((InvalidModelFileError, ModelLoadError)) as caught:
        victim.load(bad, LoadOptions(context_length=256))
    message = str(caught.value)
    print(f"\n{maker.__name__}: {type(caught.value).__name__}: {message}")
    assert type(caught.value) is error
    assert words in message
    assert 20 <= len(message) <= 500 and "Traceback" not in message
    assert message[0].isupper() or message.startswith("llama.cpp")
    if error is InvalidModelFileError:
        # Refused by the header check, before anything was unloaded: the user's model stays.
        assert victim.info is not None and victim.info.architecture == "gemma3"
        kept = victim.chat([ChatMessage("user", CAPITAL_QUESTION)], greedy(max_tokens=12),
                           StopFlag())
        assert "Paris" in kept.text
    else:
        # llama.cpp refused it: the previous model was freed first, and nothing half-loaded
        # is left behind. The message carries llama.cpp's own reason.
        assert victim.info is None and victim._llama is None
        assert "Failed to load model from file" not in message  # the specific reason is
        with pytest.raises(Exception, match="Load a model first"):
            victim.chat([ChatMessage("user", "hi")], greedy(max_tokens=4), StopFlag())

    info = victim.load(model_path, LoadOptions(context_length=256))
    assert info.architecture == "gemma3"
    result = victim.chat([ChatMessage("user", CAPITAL_QUESTION)], greedy(max_tokens=12),
                         StopFlag())
    assert "Paris" in result.text


def test_the_patched_copy_was_restored(scratch_copy: Path, model_path: Path):
    """The in-place patches above really were undone (else later cases test nothing)."""
    with scratch_copy.open("rb") as a, model_path.open("rb") as b:
        assert a.read(8 * MB) == b.read(8 * MB)
