"""The user cache folder and the Hugging Face Hub plumbing that weights, converted graphs and
benchmark datasets share: where downloads live, whether the Hub may be asked, its log kept quiet,
and a Hub error told in one line."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """Where downloads live: ``$DSRN_CACHE`` (tests, shared machines), else the user cache."""
    env = os.environ.get("DSRN_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir("dsrn"))


def one_line(exc: BaseException) -> str:
    """A short single-line reason for ``exc``; Hub errors can span many lines."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    if len(text) > 160:  # the first sentence only: never a message cut mid-sentence
        first = text.split(". ")[0].rstrip(".")
        text = first if len(first) <= 160 else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def offline() -> bool:
    """Read HF_HUB_OFFLINE at call time: huggingface_hub only reads it once, at import."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


@contextmanager
def quiet_hub(debug: bool = False) -> Iterator[None]:
    """Hide huggingface_hub's log (a warning per retry) unless ``debug``: the user gets our
    progress bar while it works and one line if it fails."""
    from huggingface_hub.utils import logging as hub_logging  # configures its logger on import

    level = hub_logging.get_verbosity()
    if not debug:
        hub_logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        hub_logging.set_verbosity(level)
