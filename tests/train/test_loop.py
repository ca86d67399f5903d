import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from dsrn_cli.model.config import get_config
from dsrn_cli.model.network import DSRN
from dsrn_cli.model.weights import (
    load_model,
    read_manifest,
    read_metadata,
    record,
    save_weights,
    sha256,
)
from dsrn_cli.train.args import TrainArgs
from dsrn_cli.train.loop import run_training as train
from tests.util import run_cli

TINY = {"c_lr": 8, "c_hr": 4, "c_first": 8}


@pytest.fixture
def data(tmp_path) -> Path:
    """Three smooth synthetic photos: learnable, unlike noise."""
    d = tmp_path / "hr"
    d.mkdir()
    yy, xx = np.mgrid[0:72, 0:72] / 72.0
    for i in range(3):
        img = 127 + 100 * np.sin(6 * xx * (i + 1) + 4 * yy) * np.cos(5 * yy)
        Image.fromarray(np.repeat(img[..., None], 3, -1).astype(np.uint8)).save(d / f"{i}.png")
    return d


def _args(data: Path, out: Path, **kw) -> TrainArgs:
    base = dict(scale=2, data=[str(data)], out=str(out), steps=16, batch=4, patch=32,
                val_every=1000, steps_t=2, cache=str(out.parent / "cache"), lr=3e-3)
    base.update(kw)
    return TrainArgs(**base)


@pytest.fixture(autouse=True)
def _tiny_config(monkeypatch):
    import dsrn_cli.train.loop as tr

    monkeypatch.setattr(tr, "get_config", lambda n, s, **o: get_config(n, s, **TINY, **o))


@pytest.mark.slow  # a 60-step training run
def test_training_lowers_loss(data, tmp_path):
    train(_args(data, tmp_path / "run", steps=60, val_every=20))
    rows = list(__import__("csv").DictReader(open(tmp_path / "run" / "log.csv")))
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert (tmp_path / "run" / "last.safetensors").exists()


@pytest.mark.slow  # three training runs
def test_resume_continues_exactly(data, tmp_path):
    torch.set_num_threads(1)
    full = train(_args(data, tmp_path / "a"))
    train(_args(data, tmp_path / "b", stop_step=7))
    ck = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)
    assert ck["step"] == 7
    resumed = train(_args(data, tmp_path / "b", resume=True))
    for k, v in full.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=1e-6)


def test_init_from_other_scale(data, tmp_path):
    x2 = DSRN(get_config("lite", 2, **TINY))
    save_weights(x2, tmp_path / "x2.safetensors", {})
    m = train(_args(data, tmp_path / "x4", scale=4, steps=1, init=str(tmp_path / "x2.safetensors"),
                    lr=1e-12))
    # every tensor but the scale-shaped f_up/f_down comes from the x2 model
    assert torch.allclose(m.state_dict()["head1.weight"], x2.state_dict()["head1.weight"],
                          atol=1e-6)


def test_export_round_trip_and_manifest(tmp_path):
    m = DSRN(get_config("lite", 3, **TINY))
    path = tmp_path / "dsrn_lite_x3.safetensors"
    digest = save_weights(m, path, {"train_steps": 5})
    record(path, digest, {"train_steps": 5})
    assert read_manifest(tmp_path)[path.name]["sha256"] == sha256(path) == digest
    loaded = load_model(path)
    assert loaded.cfg == m.cfg
    for k, v in load_file(str(path)).items():
        assert torch.equal(v, m.state_dict()[k])
    path.write_bytes(path.read_bytes()[:-8] + b"corrupt!")
    with pytest.raises(Exception, match="sha256"):
        load_model(path)


DDP_SCRIPT = """
import json, os, sys, torch
sys.path.insert(0, {root!r})
import dsrn_cli.train.loop as tr
from dsrn_cli.model.config import get_config
from dsrn_cli.train.args import TrainArgs
tr.get_config = lambda n, s, **o: get_config(n, s, **{tiny!r}, **o)
args = TrainArgs(**json.loads({args!r}))
model = tr.run_training(args)
torch.save(model.state_dict(), os.path.join(args.out, f"rank{{os.environ['RANK']}}.pt"))
"""


def _free_port() -> int:
    """A port no one listens on now: two test runs side by side need not share one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # two torchrun child processes
def test_ddp_gloo_two_processes_agree(data, tmp_path):
    out = tmp_path / "ddp"
    args = json.dumps({"scale": 2, "data": [str(data)], "out": str(out), "steps": 3, "batch": 2,
                       "patch": 32, "steps_t": 2, "device": "cpu", "val_every": 1000,
                       "cache": str(tmp_path / "cache")})
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(root=str(Path(__file__).parents[2]), tiny=TINY, args=args))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                    "--master-port", str(_free_port()), str(script)],
                   check=True, env=env, timeout=300)
    a = torch.load(out / "rank0.pt")
    b = torch.load(out / "rank1.pt")
    init = DSRN(get_config("lite", 2, steps=2, **TINY)).state_dict()
    for k in a:
        assert torch.equal(a[k], b[k])
    assert any(not torch.equal(a[k], init[k]) for k in a)  # it did train


@pytest.mark.slow  # three training runs
def test_jpeg_patches_differ_and_resume_exactly(data, tmp_path):
    from dsrn_cli.train.data import PatchSampler, parse_jpeg_range, prepare_pairs

    pairs = prepare_pairs([data], 2, tmp_path / "cache")
    clean = PatchSampler(pairs, 2, 16, 6, torch.device("cpu"), seed=3)
    comp = PatchSampler(pairs, 2, 16, 6, torch.device("cpu"), seed=3, jpeg=(20, 40))
    (lr_c, hr_c), (lr_j, hr_j) = clean(), comp()
    assert torch.equal(hr_c, hr_j)  # same patches drawn, only the LR side is compressed
    assert (lr_c - lr_j).abs().amax(dim=(1, 2, 3)).min() > 0  # every patch changed
    assert parse_jpeg_range("30-95") == (30, 95)
    with pytest.raises(ValueError):
        parse_jpeg_range("95-30")

    torch.set_num_threads(1)
    kw = dict(jpeg="30-60", jpeg_clean_share=0.3)
    full = train(_args(data, tmp_path / "a", **kw))
    train(_args(data, tmp_path / "b", stop_step=7, **kw))
    resumed = train(_args(data, tmp_path / "b", resume=True, **kw))
    for k, v in full.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v, rtol=0, atol=1e-6)
    meta = read_metadata(tmp_path / "b" / "last.safetensors")
    assert meta["jpeg"] == "30-60" and json.loads(meta["jpeg_clean_share"]) == 0.3



def test_context_patches_are_the_mirrored_window_around_the_core(tmp_path):
    """With context m, an LR patch is the image mirrored past its border (numpy's
    'symmetric', as tiles are at inference) around the scored core; the HR patch is the
    core's. An image one patch large pins the core at (0, 0): every window must be one of
    the 8 flips/rotations of np.pad(lr, m, 'symmetric'), its HR the same one of hr."""
    from dsrn_cli.train.data import PatchSampler, crop_context

    rng = np.random.default_rng(5)
    lr = rng.integers(0, 256, (12, 12), dtype=np.uint8)
    hr = rng.integers(0, 256, (24, 24), dtype=np.uint8)
    m = 5
    sampler = PatchSampler([(lr, hr)], 2, 12, 16, torch.device("cpu"), seed=1, context=m)
    lr_b, hr_b = sampler()
    assert lr_b.shape == (16, 1, 12 + 2 * m, 12 + 2 * m) and hr_b.shape == (16, 1, 24, 24)
    padded = np.pad(lr, m, mode="symmetric")

    def views(a):
        return [np.rot90(b, k) for b in (a, a.T) for k in range(4)]

    for win, target in zip(lr_b[:, 0].numpy(), hr_b[:, 0].numpy(), strict=True):
        win, target = np.rint(win * 255), np.rint(target * 255)
        hits = [k for k, v in enumerate(views(padded)) if np.array_equal(v, win)]
        assert len(hits) == 1
        assert np.array_equal(views(hr)[hits[0]], target)
    out = torch.zeros(2, 1, (12 + 2 * m) * 2, (12 + 2 * m) * 2)
    assert crop_context(out, m, 2).shape == (2, 1, 24, 24)


def test_training_with_context_runs_and_records_it(data, tmp_path):
    torch.set_num_threads(1)
    train(_args(data, tmp_path / "c", context=3))
    meta = read_metadata(tmp_path / "c" / "last.safetensors")
    assert json.loads(meta["context"]) == 3


# ----------------------------------------------------------------- the command, as users run it


def _cli(*args: str, cwd: Path | None = None):
    """``dsrn ARGS`` as the entry point reads it (``--data A B`` is two --data values)."""
    from dsrn_cli.cli.app import expand_multi

    if cwd is not None:
        old = os.getcwd()
        os.chdir(cwd)
    try:
        return run_cli(*expand_multi(list(args)))
    finally:
        if cwd is not None:
            os.chdir(old)


def test_cli_refuses_training_set_names_in_one_line_before_creating_anything(tmp_path):
    """The README's line with names: T91/BSD200 are not downloadable, so one line, exit 2,
    and no run or cache folder left behind."""
    res = _cli("train", "--scale", "2", "--data", "T91", "BSD200", "--out", "runs/x2",
               "--minutes", "60", "--val", "Set5", cwd=tmp_path)
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output
    assert "--data T91: no such folder" in res.output and "../shared/data/train/T91" in res.output
    assert list(tmp_path.iterdir()) == []


def test_cli_val_benchmark_name_offline_is_one_line(data, tmp_path, monkeypatch):
    """--val Set5 is a benchmark name, fetched like bench's; offline with nothing cached it
    is one line (exit 1) before any run file exists."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DSRN_CACHE", str(tmp_path / "empty-cache"))
    res = _cli("train", "-s", "2", "--data", str(data), "--out", str(tmp_path / "run"),
               "--steps", "2", "--patch", "32", "--val", "Set5")
    assert res.exit_code == 1, res.output
    assert res.output.count("\n") == 1 and "could not download Set5" in res.output
    assert "--val ../shared/data/test/Set5" in res.output
    assert not (tmp_path / "run").exists()


def test_cli_val_without_images_is_refused_up_front(data, tmp_path):
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "notes.txt").write_text("no images here")
    res = _cli("train", "-s", "2", "--data", str(data), "--out", str(tmp_path / "run"),
               "--steps", "2", "--patch", "32", "--val", str(tmp_path / "val"))
    assert res.exit_code == 2, res.output
    assert "no images" in res.output and "nan" not in res.output
    assert not (tmp_path / "run").exists()
    res = _cli("train", "-s", "2", "--data", str(data), "--out", str(tmp_path / "run"),
               "--steps", "2", "--patch", "32", "--val", str(tmp_path / "nowhere"))
    assert res.exit_code == 2 and "no such folder" in res.output
    (tmp_path / "val" / "broken.png").write_bytes(b"not a png")
    res = _cli("train", "-s", "2", "--data", str(data), "--out", str(tmp_path / "run"),
               "--steps", "2", "--patch", "32", "--val", str(tmp_path / "val"))
    assert res.exit_code == 2 and "broken.png: not a readable image" in res.output
    assert res.output.count("\n") == 1 and not (tmp_path / "run").exists()


@pytest.mark.slow  # three training runs
def test_cli_existing_run_needs_resume_or_overwrite(data, tmp_path):
    out = tmp_path / "runs" / "x2"
    common = ["train", "-s", "2", "--data", str(data), "--out", str(out), "--steps", "3",
              "--batch", "2", "--patch", "32", "--unroll", "2", "--val", str(data),
              "--val-every", "1", "--device", "cpu"]
    res = _cli(*common)
    assert res.exit_code == 0, res.output
    # where the prepared pairs go, and their size (computed here from the files)
    cache = tmp_path / "runs" / ".cache"
    mb = sum(f.stat().st_size for f in cache.glob("*.npz")) / 1e6
    assert f"cached in {cache}" in res.output and f"holds {mb:.0f} MB" in res.output
    best, log = (out / "best.safetensors").read_bytes(), (out / "log.csv").read_text()

    res = _cli(*common)
    assert res.exit_code == 2, res.output
    assert "already holds a run" in res.output and "--resume" in res.output
    assert (out / "best.safetensors").read_bytes() == best  # the earlier best is kept
    assert (out / "log.csv").read_text() == log

    res = _cli(*common, "--overwrite", "--seed", "1")
    assert res.exit_code == 0, res.output
    rows = (out / "log.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # header + one row per step of the new run only
    assert _cli(*common, "--resume", "--overwrite").exit_code == 2


def test_logged_loss_is_the_mean_of_every_step(data, tmp_path):
    """A run shorter than 10 steps logged loss 0.0 (it was sampled every 10 steps)."""
    train(_args(data, tmp_path / "run", steps=5))
    (row,) = list(__import__("csv").DictReader(open(tmp_path / "run" / "log.csv")))
    assert float(row["loss"]) > 0.01  # an L1 loss of a barely trained net on [0, 1] images


def test_progress_events_cover_preparation_and_training(data, tmp_path):
    events = []
    train(_args(data, tmp_path / "run", steps=6, val=str(data), val_every=3),
          on_progress=events.append)
    prep = [e for e in events if e["stage"] == "prepare"]
    assert [e["done"] for e in prep] == [1, 2, 3] and prep[-1]["total"] == 3
    last = [e for e in events if e["stage"] == "train"][-1]
    assert last["step"] == 6 and last["progress"] == 1.0
    assert last["loss"] > 0.01 and 5 < last["val_psnr"] < 60


def test_cli_errors_are_one_line_and_debug_shows_the_traceback(data, tmp_path, monkeypatch):
    import dsrn_cli.train.loop as tr

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(tr, "run_training", boom)
    common = ["train", "-s", "2", "--data", str(data), "--out", str(tmp_path / "run"),
              "--steps", "2", "--patch", "32"]
    res = _cli(*common)
    assert res.exit_code == 1 and "training failed: boom" in res.output
    assert "Traceback" not in res.output and res.output.count("\n") == 1
    res = _cli(*common, "--debug")
    assert res.exit_code == 1 and "Traceback" in res.output

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tr, "run_training", interrupted)
    assert _cli(*common).exit_code == 130


def test_a_run_leaves_only_its_files_and_a_failed_write_none(data, tmp_path, monkeypatch):
    """Checkpoint, weights, manifest and cached pairs are written beside their names and
    renamed into place: no temp file stays, also when the writer fails."""
    import dsrn_cli.train.data as td

    train(_args(data, tmp_path / "run", steps=2))
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "args.json", "ckpt.pt", "last.safetensors", "log.csv"]
    assert all(not p.name.startswith(".") for p in (tmp_path / "cache").iterdir())

    def broken_savez(path, **arrays):
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(td.np, "savez", broken_savez)
    with pytest.raises(OSError):
        td.prepare_pairs([data], 3, tmp_path / "cache3")
    assert list((tmp_path / "cache3").iterdir()) == []
