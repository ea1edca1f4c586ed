"""Who is streaming an answer: each answer in progress carries its writer's stamp.

On open, an answer left 'streaming' by a process that is gone becomes 'incomplete'; one
whose writer still runs (this process's other store, another instance) is left alone,
or its next appends would be refused.
"""

from __future__ import annotations

import functools
import os

import psutil


@functools.cache
def writer_id() -> str:
    """This process, as 'pid:start time', stamped on the answers it streams."""
    pid = os.getpid()
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        started = 0.0
    return f"{pid}:{started!r}"


def writer_alive(writer: str | None) -> bool:
    """Whether the process that began a streaming answer still runs (so it may finish it).

    The start time guards against a recycled pid. An unreadable stamp counts as dead.
    """
    if not writer:
        return False
    if writer == writer_id():
        return True
    try:
        pid_text, started_text = writer.split(":", 1)
        process = psutil.Process(int(pid_text))
        return abs(process.create_time() - float(started_text)) < 1.0
    except (ValueError, psutil.Error):
        return False
