"""Train several runs at once on one GPU (used for the released weights; see docs/training.md).

    python scripts/device_train.py PLAN.json

PLAN.json: {"data": [...], "val": DIR, "root": DIR, "runs": {name: {TrainArgs fields}}}.
Each run is its own process; a run whose folder has a checkpoint resumes from it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

from dsrn_cli.train.data import AUG_FACTORS, list_training_files, prepare_one


def _prep(job) -> None:
    prepare_one(*job)


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    root = Path(plan["root"])
    cache = root / ".cache"
    scales = sorted({r["scale"] for r in plan["runs"].values()})
    t0 = time.monotonic()
    # Prepare every scale's pairs once, on all cores, before any trainer reads the cache.
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(p, lum, s, cache, AUG_FACTORS) for s in scales
            for p, lum in list_training_files(plan["data"])]
    with Pool() as pool:
        pool.map(_prep, jobs, chunksize=4)
    print(f"prepared {len(jobs)} in {time.monotonic() - t0:.0f} s", flush=True)
    # All runs end by the plan's wall-clock deadline (seconds from now), however shared.
    deadline = plan.get("deadline_s")
    procs = {}
    for name, run in plan["runs"].items():
        out = root / name
        args = {"data": plan["data"], "val": plan["val"], "out": str(out), "cache": str(cache),
                **run}
        if deadline:
            args["stop_after"] = (deadline - (time.monotonic() - t0)) / 60
        args["resume"] = (out / "ckpt.pt").exists()
        if args["resume"]:
            args.pop("init", None)
        out.mkdir(parents=True, exist_ok=True)
        code = ("import sys, json, torch; sys.path.insert(0, '.'); torch.set_num_threads(2);"
                "from dsrn_cli.train.args import TrainArgs;"
                "from dsrn_cli.train.loop import run_training;"
                f"run_training(TrainArgs(**json.loads({json.dumps(json.dumps(args))})))")
        log = open(out / "stdout.txt", "a")
        procs[name] = subprocess.Popen([sys.executable, "-u", "-c", code], stdout=log,
                                       stderr=subprocess.STDOUT)
    for name, p in procs.items():
        print(name, "exit", p.wait(), flush=True)
        print((root / name / "stdout.txt").read_text()[-600:], flush=True)


if __name__ == "__main__":
    main()
