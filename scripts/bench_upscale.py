"""Benchmark ``dsrn upscale`` end to end per backend, against an older commit, in one run.

Input: a mosaic of the Set14 photos (built at run time from ../shared or $DSRN_SHARED,
never committed), 2000x1500 LR for lite x2, smaller crops of it where the old code would
take too long. For each config x scale it runs the real command, each in its own process
(peak RSS from ``wait4``, output MP/s from the wall time of the whole command, model load
and PNG write included, CPU seconds of the process) for: the old commit (``--base``,
checked out with ``git worktree`` and run with the same venv), every installed backend at
each of ``--precisions`` (bf16 on OpenVINO only), and with ``--default-runner`` the plain
command. Outputs are compared pixel by pixel with ``--backend torch`` (else with the
base). Model-only rows time one tile per backend and precision. The tables start with
the CPU's name, its bf16/AMX flags and the load average before and after.
``--tiles`` instead measures model-only MP/s per LR tile side (the overlap of
``receptive_radius`` pixels is paid per tile), which set the defaults.

    python scripts/bench_upscale.py --base 627427d --json docs/results/bench_upscale.json
    python scripts/bench_upscale.py --base eb2af9a --configs lite:2,paper:2 \
        --backends openvino --default-runner --rounds 2 --json docs/results/bench_cpu_bf16.json
    python scripts/bench_upscale.py --tiles 128,192,256,384,512 --configs lite:2
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SET14 = Path(os.environ.get("DSRN_SHARED", ROOT / ".." / "shared")) / "data" / "test" / "Set14"
# LR input size per config and scale: the full mosaic where the old code finishes in a few
# minutes, crops of it elsewhere (the output MP/s of a tiled pass hardly depends on size).
SIZES = {"lite:2": (2000, 1500), "lite:4": (1000, 750), "paper:2": (700, 525),
         "paper:4": (350, 263)}  # fmt: skip


def mosaic(w: int, h: int):
    """The Set14 photos laid row by row (cycled) into a ``w x h`` RGB canvas."""
    import numpy as np
    from PIL import Image

    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(SET14.glob("*.png"))]
    if not photos:
        raise SystemExit(f"no Set14 images in {SET14}")
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    y = x = row_h = 0
    i = 0
    while y < h:
        p = photos[i % len(photos)]
        i += 1
        ph, pw = min(p.shape[0], h - y), min(p.shape[1], w - x)
        canvas[y : y + ph, x : x + pw] = p[:ph, :pw]
        x += pw
        row_h = max(row_h, ph)
        if x >= w:
            x, y, row_h = 0, y + row_h, 0
    return canvas


def run(cmd: list[str], env: dict[str, str], cpu: list[float] | None = None
        ) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MiB) of one command; its stdout; CPU seconds into ``cpu``.

    It runs in the folder of the code it imports (``python -m`` puts the working folder
    first on sys.path, ahead of PYTHONPATH).
    """
    t0 = time.perf_counter()
    cwd = env["PYTHONPATH"].split(os.pathsep)[0]
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)  # fmt: skip
    _, status, usage = os.wait4(p.pid, 0)
    sec = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(usage.ru_utime + usage.ru_stime)
    out, err = p.stdout.read(), p.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}): {err.strip()[-500:]}")
    return sec, usage.ru_maxrss / 1024, out


def max_diff(a: Path, b: Path) -> int:
    import numpy as np
    from PIL import Image

    x = np.asarray(Image.open(a), dtype=np.int16)
    y = np.asarray(Image.open(b), dtype=np.int16)
    return int(np.abs(x - y).max())


def cpu_info() -> dict:
    """The CPU's name and the flags that decide its fast path (native bf16, AMX)."""
    from dsrn_cli.runtime.precision import cpu_has_native_bf16

    name, flags = "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        import platform

        name = platform.processor() or platform.machine()
    return {"name": name, "cores": os.cpu_count(), "openvino_bf16": cpu_has_native_bf16(),
            "avx512_bf16": "avx512_bf16" in flags, "amx": "amx_bf16" in flags}  # fmt: skip


def model_only(config: str, scale: int, backend: str, tile: int, repeat: int = 2) -> dict:
    """In this process: best-of-``repeat`` seconds of one tile (core + overlap) residual.

    ``backend``: a backend name, ``torch-nchw`` (no channels_last), or a name with a
    precision after a dash (``openvino-bf16``, ``torch-bf16``: CPU autocast)."""
    import numpy as np

    from dsrn_cli.runtime.engines import TorchBackend
    from dsrn_cli.runtime.selection import get_model, pick_backend, with_precision

    net = get_model(scale, config, device="cpu")
    if backend == "torch-nchw":
        be = TorchBackend(net, channels_last=False)
    else:
        name, _, prec = backend.partition("-")
        be = with_precision(pick_backend(name, net, "cpu"), prec or "fp32")
    side = tile + 2 * be.radius  # an interior tile: its core plus the overlap both sides
    x = np.random.default_rng(0).random((side, side), dtype=np.float32)
    be.residual(x[:64, :64])  # first-call setup outside the timing
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        be.residual(x)
        best = min(best, time.perf_counter() - t0)
    return {"config": config, "scale": scale, "backend": backend, "tile": tile,
            "seconds": round(best, 3),
            "core_mp_out_per_s": round((tile * scale) ** 2 / best / 1e6, 4),
            "tile_mp_out_per_s": round((side * scale) ** 2 / best / 1e6, 4)}  # fmt: skip


def model_only_child(env: dict[str, str], *args: str) -> dict:
    cmd = [sys.executable, __file__, "--model-only", *args]
    return json.loads(run(cmd, env)[2].strip().splitlines()[-1])


def render(results: dict) -> str:
    """The results as the markdown tables of docs/performance.md."""
    lines = []
    if results.get("cpu"):
        c = results["cpu"]
        lines += [f"CPU: {c['name']}, {c['cores']} cores; native bf16 (OpenVINO): "
                  f"{'yes' if c['openvino_bf16'] else 'no'}; AVX512_BF16: "
                  f"{'yes' if c['avx512_bf16'] else 'no'}; AMX: {'yes' if c['amx'] else 'no'}; "
                  f"load average before / after: {results.get('load_before', '-')} / "
                  f"{results.get('load_after', '-')}", ""]  # fmt: skip
    if results["end_to_end"]:
        ref = "torch" if any("max_diff_vs_torch" in r for r in results["end_to_end"]) else "base"
        lines += ["| model | LR input | runner | wall s | out MP/s | vs torch | vs base | CPU s "
                  f"| CPU vs base | peak RSS MiB | max diff vs {ref} |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results["end_to_end"]:
        diff = r.get("max_diff_vs_torch", r.get("max_diff_vs_base", "-"))
        lines.append(f"| {r['config']} x{r['scale']} | {r['size_in']} | {r['runner']} | "
                     f"{r['seconds']} | {r['mp_out_per_s']} | {r.get('speedup_vs_torch', '-')}x | "
                     f"{r.get('speedup_vs_base', '-')}x | {r.get('cpu_s', '-')} | "
                     f"{r.get('cpu_speedup_vs_base', '-')}x | {r['peak_rss_mib']} | "
                     f"{diff} |")  # fmt: skip
    if results["model_only"]:
        lines += ["", "| model | backend | tile (LR, + overlap) | s | out MP/s | vs torch NCHW |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for r in results["model_only"]:
            ref = next(q for q in results["model_only"] if q["backend"] == "torch-nchw"
                       and (q["config"], q["scale"]) == (r["config"], r["scale"]))
            lines.append(f"| {r['config']} x{r['scale']} | {r['backend']} | {r['tile']} | "
                         f"{r['seconds']} | {r['tile_mp_out_per_s']} | "
                         f"{ref['seconds'] / r['seconds']:.2f}x |")  # fmt: skip
    if results["conversion"]:
        lines += ["", "| model | backend | first run (convert + compile) s | second run s |",
                  "|---|---|---|---|"]
        lines += [f"| {r['config']} x{r['scale']} | {r['backend']} | {r['cold_s']} | "
                  f"{r['warm_s']} |" for r in results["conversion"]]  # fmt: skip
    if results["tiles"]:
        lines += ["", "| model | backend | LR tile | s per tile | kept out MP/s |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['config']} x{r['scale']} | {r['backend']} | {r['tile']} | "
                  f"{r['seconds']} | {r['core_mp_out_per_s']} |" for r in results["tiles"]]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="lite:2,paper:2,lite:4,paper:4")
    ap.add_argument("--base", default=None, help="git commit to compare with (e.g. 627427d)")
    ap.add_argument("--backends", default=None,
                    help="default: every installed one; none: only --base/--default-runner")
    ap.add_argument("--model-only-backends", default=None, help="default: --backends")
    ap.add_argument("--precisions", default="auto,fp32",
                    help="end-to-end runs per backend at these --precision values (bf16 only "
                         "with openvino); model-only rows add openvino-bf16 and torch-bf16")
    ap.add_argument("--default-runner", action="store_true",
                    help="also run the command without --backend/--precision (what users get)")
    ap.add_argument("--tiles", default=None, help="only model-only MP/s for these tile sides")
    ap.add_argument("--tile", type=int, default=None,
                    help="LR tile side of the model-only rows (default: 256 lite, 128 paper)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the end-to-end set this many times, interleaved; keep the best")
    ap.add_argument("--skip-model-only", action="store_true")
    ap.add_argument("--shrink", type=int, default=1, help="divide the input sizes (smoke runs)")
    ap.add_argument("--render", type=Path, default=None, help="print a --json file as tables")
    ap.add_argument("--model-only", nargs=4, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up on kill
    if a.render:
        print(render(json.loads(a.render.read_text())))
        return
    if a.model_only:
        config, scale, backend, tile = a.model_only
        print(json.dumps(model_only(config, int(scale), backend, int(tile))))
        return

    sys.path.insert(0, str(ROOT))
    from dsrn_cli.runtime.engines import installed

    names = a.backends.split(",") if a.backends else [
        b for b in ("torch", "openvino", "onnxruntime") if installed(b)]  # fmt: skip
    names = [] if names == ["none"] else names  # only --base and --default-runner
    mo_names = a.model_only_backends.split(",") if a.model_only_backends else names
    work = Path(tempfile.mkdtemp(prefix="dsrn-bench-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), DSRN_CACHE=str(work / "cache"))
    results: dict = {"tiles": [], "model_only": [], "end_to_end": [], "conversion": [],
                     "cpu": cpu_info(), "command": " ".join(sys.argv),
                     "load_before": " ".join(f"{v:.2f}" for v in os.getloadavg())}  # fmt: skip

    def save() -> None:
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(json.dumps(results, indent=1) + "\n")

    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in a.configs.split(",")]
    if a.tiles:
        for config, scale in configs:
            for b in names:
                for t in (int(v) for v in a.tiles.split(",")):
                    r = model_only_child(env, config, str(scale), b, str(t))
                    results["tiles"].append(r)
                    print(f"tile {config} x{scale} {b:12s} {t:4d}: {r['seconds']:7.3f} s, "
                          f"{r['core_mp_out_per_s']:.4f} MP/s of kept output", flush=True)
                    save()
        return

    base_env = None
    if a.base:
        base_dir = work / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                        str(base_dir), a.base], check=True)  # fmt: skip
        base_env = dict(env, PYTHONPATH=str(base_dir))
    try:
        for config, scale in [] if a.skip_model_only else configs:
            tile = a.tile or (256 if config == "lite" else 128)
            extra_mo = [f"{b}-bf16" for b in ("openvino", "torch") if b in mo_names]
            for b in ["torch-nchw", *mo_names, *extra_mo]:
                r = model_only_child(env, config, str(scale), b, str(tile))
                results["model_only"].append(r)
                print(f"model-only {config} x{scale} {b:12s} tile {tile}: "
                      f"{r['tile_mp_out_per_s']:.4f} MP/s", flush=True)
            save()
        for config, scale in configs:
            w, h = (v // a.shrink for v in SIZES[f"{config}:{scale}"])
            src = work / f"mosaic_{w}x{h}.png"
            from PIL import Image

            if not src.exists():
                Image.fromarray(mosaic(w, h)).save(src)
            precs = a.precisions.split(",")
            runs = []
            for b in names:
                for p in precs:
                    if b != "openvino" and (p == "bf16" or (p == "auto" and "fp32" in precs)):
                        continue  # bf16 runs on OpenVINO only; auto is fp32 elsewhere
                    label = f"{b} {p}"
                    runs.append((label, env, ["--backend", b, "--precision", p]))
            if a.default_runner:
                runs.insert(0, ("default", env, []))
            if base_env is not None:
                runs.insert(0, (f"base {a.base}", base_env, []))
            outs: dict[str, Path] = {}
            tiny = work / "warm.png"  # each runner converts/compiles into the cache untimed
            Image.fromarray(mosaic(48, 40)).save(tiny)
            for _label, e, extra in runs:
                run([sys.executable, "-m", "dsrn_cli", "upscale", str(tiny), "-s", str(scale),
                     "--model", config, "--device", "cpu", "-o", str(work / "warm_out.png"),
                     "--overwrite", "-q", *extra], e)  # fmt: skip
            for label, e, extra in [r for _ in range(a.rounds) for r in runs]:
                done = {(r["config"], r["scale"], r["backend"]) for r in results["conversion"]}
                if extra and extra[1] != "torch" and (config, scale, extra[1]) not in done:
                    # convert into an empty cache, then again from the cache
                    code = (f"import time, {extra[1]}; "
                            "from dsrn_cli.runtime.selection import get_model; "
                            f"get_model({scale}, {config!r}, device='cpu'); t=time.time(); "
                            f"get_model({scale}, {config!r}, device='cpu', backend={extra[1]!r});"
                            " print(time.time()-t)")  # fmt: skip
                    e_cold = dict(e, DSRN_CACHE=str(work / f"cold-{config}{scale}{extra[1]}"))
                    cold = float(run([sys.executable, "-c", code], e_cold)[2].split()[-1])
                    warm = float(run([sys.executable, "-c", code], e_cold)[2].split()[-1])
                    results["conversion"].append({"config": config, "scale": scale,
                                                  "backend": extra[1], "cold_s": round(cold, 2),
                                                  "warm_s": round(warm, 2)})  # fmt: skip
                dst = work / f"out_{config}_{scale}_{label.replace(' ', '_')}.png"
                cmd = [sys.executable, "-m", "dsrn_cli", "upscale", str(src), "-s", str(scale),
                       "--model", config, "--device", "cpu", "-o", str(dst), "--overwrite",
                       "-q", *extra]  # fmt: skip
                cpu: list[float] = []
                sec, rss, _ = run(cmd, e, cpu)
                outs[label] = dst
                mp = w * h * scale * scale / 1e6
                print(f"e2e {config} x{scale} {w}x{h} {label:16s}: {sec:7.1f} s, "
                      f"{mp / sec:.4f} MP/s, CPU {cpu[0]:.1f} s, peak RSS {rss:.0f} MiB",
                      flush=True)  # fmt: skip
                old = next((r for r in results["end_to_end"] if r["runner"] == label
                            and (r["config"], r["scale"]) == (config, scale)), None)
                row = {"config": config, "scale": scale, "runner": label,
                       "size_in": f"{w}x{h}", "seconds": round(sec, 2),
                       "mp_out_per_s": round(mp / sec, 4), "cpu_s": round(cpu[0], 2),
                       "peak_rss_mib": round(rss)}  # fmt: skip
                if old is None:
                    results["end_to_end"].append(row)
                else:  # best of the rounds, each measure on its own
                    for k in ("seconds", "cpu_s"):
                        old[k] = min(old[k], row[k])
                    old["mp_out_per_s"] = round(mp / old["seconds"], 4)
                    old["peak_rss_mib"] = max(old["peak_rss_mib"], row["peak_rss_mib"])
                save()
            ref = next((outs[k] for k in outs if k.split()[0] == "torch"), None)
            base_out = next((outs[k] for k in outs if k.startswith("base")), None)
            for row in results["end_to_end"]:
                if (row["config"], row["scale"]) == (config, scale) and base_out is not None:
                    row["max_diff_vs_base"] = max_diff(outs[row["runner"]], base_out)
                    base_row = next(r for r in results["end_to_end"]
                                    if r["runner"].startswith("base")
                                    and (r["config"], r["scale"]) == (config, scale))
                    row["speedup_vs_base"] = round(base_row["seconds"] / row["seconds"], 2)
                    row["cpu_speedup_vs_base"] = round(base_row["cpu_s"] / row["cpu_s"], 2)
                if (row["config"], row["scale"]) == (config, scale) and ref is not None:
                    row["max_diff_vs_torch"] = max_diff(outs[row["runner"]], ref)
                    torch_row = next(r for r in results["end_to_end"]
                                     if r["runner"].split()[0] == "torch"
                                     and (r["config"], r["scale"]) == (config, scale))
                    row["speedup_vs_torch"] = round(torch_row["seconds"] / row["seconds"], 2)
                    row["cpu_speedup_vs_torch"] = round(torch_row["cpu_s"] / row["cpu_s"], 2)
            for p in outs.values():
                p.unlink(missing_ok=True)
            save()
    finally:
        results["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
        save()
        if base_env is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(work / "base")], check=False)  # fmt: skip
    print(render(results))


if __name__ == "__main__":
    main()
