"""The output-naming rules, on the planner itself: no CLI, no network, no decoding.

Every expected name is written out from the rules (``NAME_TAG.EXT`` in a folder, a
folder's outputs in ``FOLDER_TAG/`` beside it, ``-o`` a folder when it ends with a
slash or exists), not computed by the code under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsrn_cli.run.plan import FORMAT_EXT, Job, PlanError, named, out_ext, pil_format, plan


def _touch(path: Path) -> Path:
    """An empty file (the planner goes by names; it never decodes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _dsts(p) -> list[Path | None]:
    return [j.dst for j in p.jobs]


def test_names_in_a_folder() -> None:
    assert named(Path("photo.png"), "x2", "same") == "photo_x2.png"
    assert named(Path("photo.JPG"), "x4", "same") == "photo_x4.JPG"  # the input's own case
    assert named(Path("photo.png"), "x3", "jpg") == "photo_x3.jpg"
    assert named(Path("photo.png"), "x2", "jpeg") == "photo_x2.jpg"
    assert named(Path("photo.png"), "x2", "tiff") == "photo_x2.tif"
    assert named(Path("scan.tar.png"), "1920w", "webp") == "scan.tar_1920w.webp"


def test_same_format_falls_back_to_png_for_what_is_not_written() -> None:
    assert out_ext(Path("layers.psd"), "same") == ".png"  # read, never written
    assert out_ext(Path("scan.pgm"), "same") == ".pgm"
    assert out_ext(Path("a.bmp"), "same") == ".bmp"


def test_every_format_has_one_extension() -> None:
    assert FORMAT_EXT == {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp",
                          "tiff": ".tif", "gif": ".gif", "bmp": ".bmp"}  # fmt: skip


def test_pillow_format_of_a_job(tmp_path: Path) -> None:
    assert pil_format(Job(tmp_path / "a.png", tmp_path / "a_x2.webp"), "same") == "WEBP"
    assert pil_format(Job(tmp_path / "a.png", tmp_path / "o.png"), "jpeg") == "JPEG"
    with pytest.raises(Exception, match="cannot tell the output format"):
        pil_format(Job(tmp_path / "a.png", tmp_path / "a.xyz"), "same")


def test_a_file_goes_beside_itself(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.png")
    assert _dsts(plan([a], None, 2, "same", False)) == [tmp_path / "a_x2.png"]
    assert _dsts(plan([a], None, "x2", "jpg", False)) == [tmp_path / "a_x2.jpg"]


def test_o_a_file_name_is_the_output(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.png")
    assert _dsts(plan([a], tmp_path / "big.jpg", 2, "same", False)) == [tmp_path / "big.jpg"]


def test_o_with_a_slash_or_an_existing_folder_is_a_folder(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.png")
    got = plan([a], str(tmp_path / "new") + "/", 2, "same", False)
    assert _dsts(got) == [tmp_path / "new" / "a_x2.png"]
    (tmp_path / "there").mkdir()
    assert _dsts(plan([a], tmp_path / "there", 3, "same", False)) == [
        tmp_path / "there" / "a_x3.png"
    ]


def test_a_folder_goes_to_its_sibling_and_mirrors_subfolders(tmp_path: Path) -> None:
    ph = tmp_path / "ph"
    _touch(ph / "b.png"), _touch(ph / "a.jpg"), _touch(ph / "sub" / "c.png")
    got = plan([ph], None, 2, "same", True)
    assert [j.src.name for j in got.jobs] == ["a.jpg", "b.png", "c.png"]
    assert _dsts(got) == [tmp_path / "ph_x2" / "a_x2.jpg", tmp_path / "ph_x2" / "b_x2.png",
                          tmp_path / "ph_x2" / "sub" / "c_x2.png"]  # fmt: skip


def test_the_walk_counts_hidden_and_left_out(tmp_path: Path) -> None:
    ph = tmp_path / "ph"
    _touch(ph / "a.png"), _touch(ph / ".b.png"), _touch(ph / "._c.png")
    _touch(ph / "sub" / "d.png"), _touch(ph / ".git" / "e.png")
    flat = plan([ph], None, 2, "same", False)
    assert _dsts(flat) == [tmp_path / "ph_x2" / "a_x2.png"]
    assert (flat.hidden, flat.left_out) == (2, 1)
    deep = plan([ph], None, 2, "same", True)
    assert (deep.hidden, deep.left_out) == (2, 0) and len(deep.jobs) == 2


def test_missing_input_and_empty_folder_fail_as_jobs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    got = plan([tmp_path / "nope.png", tmp_path / "empty"], f"{tmp_path}/out/", 2, "same", False)
    assert [(j.dst, j.error) for j in got.jobs] == [
        (None, "no such file"),
        (None, "is a directory with no images or videos in it"),
    ]


def test_one_file_named_twice_is_one_job(tmp_path: Path) -> None:
    a = _touch(tmp_path / "ph" / "a.png")
    got = plan([a, tmp_path / "ph", a], f"{tmp_path}/out/", 2, "same", False)
    assert _dsts(got) == [tmp_path / "out" / "a_x2.png"]


@pytest.mark.parametrize(
    ("inputs", "output", "fmt", "words"),
    [
        (["a.png"], "a.png", "same", "is the input itself"),
        (["a.png"], "big", "same", "end it with /"),
        (["a.png"], "big.png", "jpg", "names a PNG file, but --format is jpg"),
        (["ph"], "ph/", "same", "is the input folder"),
        (["ph"], "out.png", "same", "is an image file name"),
        (["ph", "a.png"], "a.png", "same", "is a file"),
        (["d1/a.png", "d2/a.png"], "out/", "same", "would both be written to"),
        (["a.png", "a_x2.png"], None, "same", "is also an input"),
        (["ph/a.png", "ph/a.jpg"], "out/", "png", "would both be written to"),
    ],
)
def test_plan_errors(tmp_path: Path, inputs, output, fmt, words) -> None:
    for name in ("a.png", "a_x2.png", "ph/a.png", "ph/a.jpg", "d1/a.png", "d2/a.png"):
        _touch(tmp_path / name)
    with pytest.raises(PlanError, match=words):
        plan([tmp_path / i for i in inputs], None if output is None else str(tmp_path / output),
             2, fmt, False)  # fmt: skip


def test_an_output_folder_inside_the_input_needs_no_recursion(tmp_path: Path) -> None:
    _touch(tmp_path / "ph" / "a.png")
    got = plan([tmp_path / "ph"], str(tmp_path / "ph" / "big") + "/", 2, "same", False)
    assert _dsts(got) == [tmp_path / "ph" / "big" / "a_x2.png"]
    with pytest.raises(PlanError, match="inside the input folder"):
        plan([tmp_path / "ph"], str(tmp_path / "ph" / "big") + "/", 2, "same", True)
