"""The package's layout as a specification: rooms import one way, the CLI stays thin, modules
and functions stay short, and the wheel lists every folder. An ``ast`` walk, no imports."""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "dsrn_cli"

# A room imports only rooms of a lower rank (and itself); rooms of one rank do not import
# each other. The order is the way an image goes: what a file is, the network, how it runs,
# arrays, one file (api), many files / measurement, training, the command line.
RANK = {
    "files": 0, "cache": 0,
    "pixels": 1,
    "model": 2,
    "runtime": 3,
    "api": 4,
    "run": 5, "evaluation": 5,
    "train": 6,
    "cli": 7,
}
# The package's own entry points sit above every room.
TOP = {"__init__": 8, "__main__": 8}
RANKS = {**RANK, **TOP}
CLI_THIRD_PARTY = {"typer", "rich", "click"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80  # the body, without the signature and docstring


def _room(parts: tuple[str, ...]) -> str | None:
    """The room of a module given its dotted parts below ``dsrn_cli``; None: not a room."""
    if not parts:
        return "__init__"
    head = parts[0]
    return head if head in RANK or head in TOP else None


def _imports(path: Path, pkg: Path) -> list[tuple[int, tuple[str, ...], list[str]]]:
    """(line, imported module's parts below ``dsrn_cli``, names imported) for every import of
    the package in ``path``, in any scope (function bodies and TYPE_CHECKING blocks too)."""
    # ``.`` is the folder the file is in, for a package's __init__.py as for a module
    here = path.relative_to(pkg).parts[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                mod = (*base, *(node.module.split(".") if node.module else ()))
            elif node.module and node.module.split(".")[0] == "dsrn_cli":
                mod = tuple(node.module.split(".")[1:])
            else:
                continue
            names = [a.name for a in node.names]
            if not node.module:
                # ``from . import x``: each name may be a module of its own
                for n in names:
                    out.append((node.lineno, (*mod, n), [n]))
                continue
            out.append((node.lineno, mod, names))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "dsrn_cli":
                    out.append((node.lineno, tuple(a.name.split(".")[1:]), []))
    return out


def backward_imports(pkg: Path = PKG) -> list[str]:
    """Every import from a room into a room it may not use, as ``file:line: a -> b``."""
    bad = []
    for path in sorted(pkg.rglob("*.py")):
        src = _room(path.relative_to(pkg).with_suffix("").parts)
        if src is None:
            continue
        for line, mod, _ in _imports(path, pkg):
            dst = _room(mod)
            if dst is None or dst == src:
                continue
            if RANKS[dst] >= RANKS[src]:
                bad.append(f"{path.relative_to(pkg.parent)}:{line}: {src} -> {dst}")
    return bad


def test_rooms_import_one_way() -> None:
    assert backward_imports() == []


def test_a_backward_import_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "dsrn_cli"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert backward_imports(copy) == []
    target = copy / "pixels" / "resize.py"
    target.write_text(target.read_text() + "\n\ndef _late():\n    from ..run import batch\n")
    assert backward_imports(copy) == [f"dsrn_cli/pixels/resize.py:{_last_line(target)}: "
                                      "pixels -> run"]


def _last_line(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_every_folder_is_a_room_or_data() -> None:
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and p.name != "__pycache__"}
    modules = {p.stem for p in PKG.glob("*.py")}
    assert folders - {"data"} <= set(RANK), folders
    assert modules - set(TOP) <= set(RANK), modules


def test_the_wheel_lists_every_package() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in PKG.rglob("__init__.py")}
    assert found | {"dsrn_cli.bundled"} == listed


def test_the_cli_imports_only_public_names_typer_and_rich() -> None:
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in sorted((PKG / "cli").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                tops = [(node.module or "").split(".")[0]]
            else:
                tops = []
            bad += [f"{path.name}:{node.lineno}: {t}" for t in tops
                    if t not in stdlib and t not in CLI_THIRD_PARTY and t != "dsrn_cli"]
        for line, mod, names in _imports(path, PKG):
            private = [n for n in (*mod, *names) if n.startswith("_") and n != "__version__"]
            if private:
                bad.append(f"{path.name}:{line}: {'.'.join(mod)} {private}")
    assert bad == []


def test_rich_is_imported_only_by_the_report_and_the_cli() -> None:
    users = set()
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(m.split(".")[0] == "rich" for m in mods):
                users.add(path.relative_to(PKG).as_posix())
    assert {u for u in users if not u.startswith("cli/")} <= {"run/report.py"}


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_modules_and_functions_are_short(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:] or body
            lines = body[-1].end_lineno - body[0].lineno + 1
            if lines > MAX_FUNCTION_LINES:
                long.append(f"{node.name} ({lines} lines)")
    assert long == []
