"""The Python API as the README shows it: ``dsrn_cli.upscale`` works on every call, and
``help()`` shows real signatures with documented shapes, dtypes, ranges and errors."""

from __future__ import annotations

import inspect
import os
import pydoc
import subprocess
import sys
from pathlib import Path

import pytest

import dsrn_cli.api as pipeline
from dsrn_cli.runtime import render

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_upscale_twice_in_a_fresh_process() -> None:
    code = """
import inspect
import numpy as np
import dsrn_cli
a = np.arange(9 * 7 * 3, dtype=np.uint8).reshape(9, 7, 3)
r1 = dsrn_cli.upscale(a, 2, model="lite", device="cpu", backend="torch")
r2 = dsrn_cli.upscale(a, 2, model="lite", device="cpu", backend="torch")
assert callable(dsrn_cli.upscale)
print(r1.shape, r2.shape, bool((r1 == r2).all()))
print(list(inspect.signature(dsrn_cli.upscale).parameters))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    shapes, params = p.stdout.splitlines()[-2:]
    assert shapes == "(18, 14, 3) (18, 14, 3) True", p.stdout
    names = eval(params)  # a printed list of names
    assert names[:2] == ["image", "scale"] and "outscale" in names and "size" in names, names


def _public_functions() -> list:
    return [f for module in (pipeline, render)
            for name, f in inspect.getmembers(module, inspect.isfunction)
            if not name.startswith("_") and f.__module__ == module.__name__]  # fmt: skip


def test_every_public_function_is_documented() -> None:
    funcs = _public_functions()
    assert {"upscale", "upscale_file", "upscale_array", "render"} <= {f.__name__ for f in funcs}
    for f in funcs:
        text = pydoc.render_doc(f, renderer=pydoc.plaintext)
        doc = inspect.getdoc(f) or ""
        assert len(doc.split()) >= 15, (f.__name__, doc)
        assert doc.split()[0] in text and "*args" not in text, (f.__name__, text)
    for f in (pipeline.upscale, render.upscale_array):  # shapes, dtypes, ranges, errors
        doc = inspect.getdoc(f) or ""
        for word in ("uint8", "uint16", "H x W", "0-255", "Raises"):
            assert word in doc, (f.__name__, word)
    doc = inspect.getdoc(pipeline.upscale_file) or ""
    for word in ("Raises UpscaleError", "size_out", "quality"):
        assert word in doc, ("upscale_file", word)
