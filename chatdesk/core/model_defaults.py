"""What a model brings with it when it loads: its catalog entry's recommended sampling.

The catalog's ``default_sampling`` holds the values a model's authors publish (Qwen2.5:
temperature 0.7, top-p 0.8, top-k 20). They apply when that model loads for a chat that
has no sampling of its own; a conversation that has its own keeps it, whatever model
answers it next.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from chatdesk.core.catalog import CatalogEntry
from chatdesk.core.sampling import InvalidParameterError, SamplingParams

log = logging.getLogger(__name__)


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
