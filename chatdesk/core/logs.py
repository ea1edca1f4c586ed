"""Logging to a rotating file in the logs dir, so a user can attach it to a bug report."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_FILE = "chatdesk.log"


def setup_logging(logs_dir: Path, level: int = logging.INFO) -> Path:
    logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = logs_dir / LOG_FILE
    root = logging.getLogger()
    if not any(getattr(h, "chatdesk", False) for h in root.handlers):
        handler = logging.handlers.RotatingFileHandler(log_path, maxBytes=2_000_000,
                                                       backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
        handler.chatdesk = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    return log_path
