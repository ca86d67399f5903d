"""The ``dsrn`` command line: one module per command, found through :data:`COMMANDS`.

A command's module imports only Typer, rich and the light parts of the library at the top;
torch and the runtimes load inside the command, so ``dsrn --help`` stays fast. Errors and
exit codes: :mod:`dsrn_cli.cli.errors`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Annotated

import typer

from .. import __version__
from .options import PlainFlagsGroup, examples

# Command name -> its module in this package and the function Typer builds it from; each
# module's EXAMPLES are the lines its --help ends with. Listed in the order --help shows.
COMMANDS: dict[str, tuple[str, str]] = {
    "upscale": ("upscale", "upscale_command"),
    "models": ("models", "models_command"),
    "bench": ("bench", "bench_command"),
    "export": ("export", "export_command"),
    "train": ("train", "train_command"),
}

app = typer.Typer(add_completion=False, no_args_is_help=True, cls=PlainFlagsGroup,
                  help="Upscale images with DSRN; measure it the way SR papers do.")


def _version(value: bool) -> None:
    if value:
        print(f"dsrn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """Upscale images with DSRN; measure it the way SR papers do."""


for _name, (_module, _function) in COMMANDS.items():
    _mod = import_module(f"{__package__}.{_module}")
    app.command(_name, epilog=examples(*_mod.EXAMPLES))(getattr(_mod, _function))


def expand_multi(argv: list[str], option: str = "--data") -> list[str]:
    """Let ``--data A B C`` mean ``--data A --data B --data C`` (click options take one value)."""
    out, taking = [], False
    for arg in argv:
        if arg == option:
            taking = False
            out.append(arg)
            continue
        if taking and not arg.startswith("-"):
            out.append(option)
        out.append(arg)
        taking = out[-2:-1] == [option] or (taking and not arg.startswith("-"))
    return out


def main() -> None:
    import sys

    app(args=expand_multi(sys.argv[1:]), prog_name="dsrn")
