"""Logging set-up: stderr by default, or a file; never stdout."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_logging(level: str = "WARNING", log_file: str | None = None) -> None:
    handler: logging.Handler
    if log_file:
        Path(log_file).expanduser().parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(Path(log_file).expanduser(), encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.WARNING))
    # pygls logs every message body at INFO; that is noise (and user code) in our log.
    logging.getLogger("pygls").setLevel(max(root.level, logging.WARNING))
