import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from dsrn_cli.model import DSRN, get_config
from dsrn_cli.train import TrainArgs
from dsrn_cli.train import run_training as train
from dsrn_cli.weights import (
    load_model,
    read_manifest,
    read_metadata,
    record,
    save_weights,
    sha256,
)

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
    import dsrn_cli.train as tr

    monkeypatch.setattr(tr, "get_config", lambda n, s, **o: get_config(n, s, **TINY, **o))


def test_training_lowers_loss(data, tmp_path):
    train(_args(data, tmp_path / "run", steps=60, val_every=20))
    rows = list(__import__("csv").DictReader(open(tmp_path / "run" / "log.csv")))
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert (tmp_path / "run" / "last.safetensors").exists()


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
import dsrn_cli.train as tr
from dsrn_cli.model import get_config
tr.get_config = lambda n, s, **o: get_config(n, s, **{tiny!r}, **o)
args = tr.TrainArgs(**json.loads({args!r}))
model = tr.run_training(args)
torch.save(model.state_dict(), os.path.join(args.out, f"rank{{os.environ['RANK']}}.pt"))
"""


def test_ddp_gloo_two_processes_agree(data, tmp_path):
    out = tmp_path / "ddp"
    args = json.dumps({"scale": 2, "data": [str(data)], "out": str(out), "steps": 3, "batch": 2,
                       "patch": 32, "steps_t": 2, "device": "cpu", "val_every": 1000,
                       "cache": str(tmp_path / "cache")})
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(root=str(Path(__file__).parents[1]), tiny=TINY, args=args))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                    "--master-port", "29533", str(script)], check=True, env=env, timeout=300)
    a = torch.load(out / "rank0.pt")
    b = torch.load(out / "rank1.pt")
    init = DSRN(get_config("lite", 2, steps=2, **TINY)).state_dict()
    for k in a:
        assert torch.equal(a[k], b[k])
    assert any(not torch.equal(a[k], init[k]) for k in a)  # it did train


def test_jpeg_patches_differ_and_resume_exactly(data, tmp_path):
    from dsrn_cli.trainset import PatchSampler, parse_jpeg_range, prepare_pairs

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
