"""One map from error types to exit codes: every command reports an error the same way."""

from __future__ import annotations

import subprocess
import sys
from importlib import import_module

import pytest

from dsrn_cli.cli.errors import EXIT_CODES, FAILURE, USAGE, UsageError, exit_code


@pytest.mark.parametrize("name", sorted(EXIT_CODES))
def test_every_listed_type_exists_and_is_an_exception(name: str) -> None:
    module, _, qualname = name.rpartition(".")
    cls = getattr(import_module(module), qualname)
    assert issubclass(cls, Exception)


def test_codes_follow_the_type_and_its_bases() -> None:
    from dsrn_cli.model.weights import WeightsError
    from dsrn_cli.pixels.outsize import SizeError
    from dsrn_cli.run.plan import PlanError
    from dsrn_cli.runtime.backend import BackendError
    from dsrn_cli.train.args import TrainInputError

    assert exit_code(UsageError("x")) == USAGE == 2
    assert exit_code(PlanError("x")) == USAGE
    assert exit_code(BackendError("x")) == USAGE
    assert exit_code(SizeError("x")) == USAGE  # a ValueError, but listed itself
    assert exit_code(TrainInputError("x")) == USAGE  # likewise
    assert exit_code(WeightsError("x")) == FAILURE == 1
    assert exit_code(ValueError("x")) == FAILURE
    assert exit_code(KeyError("x")) is None  # not a user-facing error: a traceback


@pytest.mark.slow
def test_help_loads_neither_torch_nor_pyav_nor_openvino() -> None:
    code = ("import sys\nfrom dsrn_cli.cli.app import main\nsys.argv = ['dsrn', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'av', 'openvino') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
