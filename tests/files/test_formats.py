"""The table of output formats (files/formats.py) against everything else that states it:
the README's "What is kept" table, the CLI's ``--format`` choices and the planner's
extension map."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from dsrn_cli.files.formats import (
    FORMATS,
    OUTPUT_FORMATS,
    OutputFormat,
    by_extension,
    by_name,
    by_pillow,
    format_names,
    output_extension,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_table() -> dict[str, dict[str, str]]:
    """The README's table of output formats: {row name: {column: cell}}."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| output |"))
    head = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(head, cells, strict=True))
    return rows


def _yes(cell: str) -> bool:
    assert cell == "yes" or cell in ("–", "-"), cell
    return cell == "yes"


def test_the_readme_table_agrees_with_the_formats() -> None:
    rows = _readme_table()
    assert {name.upper() for name in rows} == {f.pillow for f in OUTPUT_FORMATS if f.names}
    for name, row in rows.items():
        f = by_pillow(name.upper())
        depth = row["bit depth"].split(";")[0]
        said = {"uint8"} | ({"uint16"} if "16" in depth.split(", ") else set())
        said |= {"float32"} if "float" in depth else set()
        assert said == set(f.depths) & {"uint8", "uint16", "float32"}, name
        assert ("integers" in row["bit depth"]) == ("int32" in f.depths), name
        alpha = row["alpha"]
        kind = "none" if alpha == "composited" else "on-off" if alpha == "1-bit" else "full"
        assert alpha.startswith("yes") or kind != "full", (name, alpha)
        assert f.alpha == kind, name
        for column in ("ICC", "EXIF", "XMP", "DPI"):
            assert getattr(f, column.lower()) == _yes(row[column]), (name, column)
        text = row["text"]
        assert f.text == (text == "yes"), name
        assert f.comment == (text == "one"), name
        frames = row["frames"]
        kind = None if frames.startswith("first only") else "pages" if frames == "pages" else (
            "animation")  # fmt: skip
        assert f.frames == kind, name


def test_the_readme_names_the_formats_without_grey() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    no_grey = {f.pillow for f in OUTPUT_FORMATS if not f.grey}
    said = {m.upper() for m in re.findall(r"(\w+), which holds no grey", text)}
    assert said == no_grey


def test_every_format_choice_has_a_record() -> None:
    from dsrn_cli.cli.upscale import Format

    assert [c for c in get_args(Format) if c != "same"] == format_names()
    assert format_names() == ["png", "jpg", "jpeg", "webp", "tiff", "gif", "bmp"]
    for name in format_names():
        f = by_name(name)
        assert output_extension(name) == f.extensions[0]
        assert FORMATS[output_extension(name)] == f.pillow


def test_the_planner_extensions_agree() -> None:
    from dsrn_cli.run import plan

    assert set(plan.FORMAT_EXT) == set(format_names())
    for name, ext in plan.FORMAT_EXT.items():
        assert ext == output_extension(name), name
    assert plan.FORMATS is FORMATS


def test_lookups() -> None:
    assert output_extension("tiff") == ".tif"
    assert output_extension("JPEG") == ".jpg"
    assert by_extension(".TIFF") is by_pillow("TIFF")
    assert by_extension(".apng") is by_pillow("PNG")
    assert by_extension(".xyz") is None
    with pytest.raises(KeyError):
        by_name("same")
    unknown = by_pillow("ICO")
    assert unknown == OutputFormat("ICO")
    assert (unknown.depths, unknown.alpha, unknown.frames) == (("uint8",), "none", None)
    assert all(ext == ext.lower() and ext.startswith(".") for ext in FORMATS)
    assert len({f.pillow for f in OUTPUT_FORMATS}) == len(OUTPUT_FORMATS)
