"""What a model brings with it when it loads: its catalog entry and recommended sampling.

The catalog's ``default_sampling`` holds the values a model's authors publish (Qwen2.5:
temperature 0.7, top-p 0.8, top-k 20). They apply when that model loads for a chat that
has no sampling of its own; a conversation that has its own keeps it, whatever model
answers it next.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chatdesk.core.catalog import Catalog, CatalogEntry
from chatdesk.core.model_store import catalog_id_for
from chatdesk.core.sampling import InvalidParameterError, SamplingParams

log = logging.getLogger(__name__)


def catalog_entry_for(catalog: Catalog, models_dir: Path, path: str | Path) -> CatalogEntry | None:
    """The catalog entry a model file came from: the id recorded when it was downloaded,
    else the first entry that installs a file of that name; None for other files."""
    name = Path(path).name
    catalog_id = catalog_id_for(models_dir, name)
    entry = catalog.get(catalog_id) if catalog_id else None
    return entry or catalog.by_filename(name)


def stored_sampling(conversation_settings: Mapping[str, Any] | None) -> SamplingParams | None:
    """A conversation's own sampling, from its stored settings; None when it has none, or
    when what is stored is unusable (logged: the caller then uses the defaults)."""
    stored = (conversation_settings or {}).get("sampling")
    if not stored:
        return None
    try:
        return SamplingParams.from_dict(dict(stored)).validated()
    except (InvalidParameterError, TypeError, ValueError) as error:
        log.warning("ignoring a conversation's stored sampling (%s)", error)
        return None


def sampling_for_load(entry: CatalogEntry | None, conversation_sampling: SamplingParams | None,
                      default: SamplingParams) -> SamplingParams:
    """The sampling to answer with after a model load.

    The conversation's own sampling when it has one; else ``default`` (the user's default
    sampling) with the catalog entry's recommended values on top; else ``default``.
    """
    if conversation_sampling is not None:
        return conversation_sampling
    if entry is not None and entry.default_sampling:
        return entry.sampling_params(default)
    return default
