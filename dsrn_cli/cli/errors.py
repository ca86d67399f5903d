"""How every command reports an error: one ``error:`` line on stderr and an exit code.

The exit codes are the same for every command: 0 done, 1 a failure (a file, the weights, a
download), 2 a usage error (an option, an input or output that cannot be planned, a backend
this machine cannot run), 130 interrupted. A library error type maps to its code in
:data:`EXIT_CODES`; the type names are strings so that building the map imports nothing
(``dsrn --help`` stays light). ``--debug`` adds the traceback.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

DONE, FAILURE, USAGE, INTERRUPTED = 0, 1, 2, 130

# Error type (``module.QualName``; a subclass takes its nearest listed base's code) -> exit code.
EXIT_CODES: dict[str, int] = {
    "dsrn_cli.cli.errors.UsageError": USAGE,
    "dsrn_cli.run.plan.PlanError": USAGE,
    "dsrn_cli.pixels.outsize.SizeError": USAGE,
    "dsrn_cli.files.video.VideoError": USAGE,  # raised before any work: codec, container
    "dsrn_cli.runtime.backend.BackendError": USAGE,  # not installed, or not on this device
    "dsrn_cli.model.export.ExportError": USAGE,
    "dsrn_cli.train.args.TrainInputError": USAGE,
    "dsrn_cli.model.weights.WeightsError": FAILURE,
    "dsrn_cli.evaluation.datasets.DatasetError": FAILURE,
    "dsrn_cli.files.picture.UpscaleError": FAILURE,
    "builtins.ValueError": FAILURE,  # from the library: a value it cannot work with
}

console = Console(stderr=True, soft_wrap=True)


class UsageError(Exception):
    """A command line the CLI's own checks refuse before any work (exit 2)."""


def say_error(message: str) -> None:
    """Print ``message`` as the one ``error:`` line (stderr, never wrapped)."""
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False)


def usage(message: str) -> typer.Exit:
    """Print ``message`` as an ``error:`` line; the Exit (code 2) for the caller to raise."""
    say_error(message)
    return typer.Exit(USAGE)


def exit_code(error: BaseException) -> int | None:
    """The exit code :data:`EXIT_CODES` gives ``error``'s type or its nearest listed base;
    None for a type it does not list."""
    for cls in type(error).__mro__:
        code = EXIT_CODES.get(f"{cls.__module__}.{cls.__qualname__}")
        if code is not None:
            return code
    return None


@contextmanager
def reported(debug: bool = False, others: str | None = None,
             hint: bool = False) -> Iterator[None]:
    """Run a command's work: an error :data:`EXIT_CODES` lists becomes its ``error:`` line
    and exit code; Ctrl-C prints ``interrupted`` and
    exits 130. ``others``: the words before any other exception's message (it then exits 1,
    and ``hint`` adds that ``--debug`` shows the traceback); None lets those propagate.
    ``debug`` prints the traceback first."""
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        console.print("interrupted", highlight=False)
        raise typer.Exit(INTERRUPTED) from None
    except Exception as e:
        code = exit_code(e)
        if code is None and others is None:
            raise
        if debug:
            traceback.print_exc()
        if code is None:
            say_error(f"{others}: {e}" + (" (--debug shows the traceback)" if hint and not debug
                                          else ""))
            raise typer.Exit(FAILURE) from None
        say_error(str(e))
        raise typer.Exit(code) from None
