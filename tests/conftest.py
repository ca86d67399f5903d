"""Shared fixtures: the ../shared data when present (tests skip cleanly without it)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads during tests
# OpenVINO's converter sends telemetry from a forked child unless it runs "in CI"; offline, such
# a child forked from a threaded pytest can hang the run at exit.
os.environ.setdefault("CI", "true")
# Converted backend graphs go to a throwaway cache, not the user's.
os.environ.setdefault("DSRN_CACHE", tempfile.mkdtemp(prefix="dsrn-test-cache-"))

SHARED = Path(os.environ.get("DSRN_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared"))
DATA = SHARED / "data"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture
def set5() -> Path:
    return need(DATA / "test" / "Set5")


@pytest.fixture
def set14() -> Path:
    return need(DATA / "test" / "Set14")


@pytest.fixture(scope="module")
def one_thread():
    """Many small forward passes: one thread avoids OpenMP spin-waits on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def lite():
    """The bundled lite x2 network (torch, on the CPU)."""
    from dsrn_cli.runtime.selection import get_model

    return get_model(2, "lite", device="cpu")


@pytest.fixture(scope="module")
def cli():
    """The ``dsrn`` app (run it with ``CliRunner().invoke(cli, ["upscale", ...])`` or
    ``tests.util.run_cli``)."""
    from dsrn_cli.cli.app import app

    return app
