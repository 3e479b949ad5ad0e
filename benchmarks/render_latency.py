"""Render latency of the engine: pose edits and appearance swaps, per size and precision.

For each size (official widths, `VUNetConfig.for_size`) and precision this measures, through
the real `RenderEngine` (stickman drawing, crops and uint8 conversion included):
  edit   one pose edit, `engine.render` with a cached appearance (E_theta + D_theta),
  net    the network part of an edit alone (`FastVUNet.decode`),
  swap   an appearance swap, `engine.encode` of a new photo + `engine.render` (F_phi + E + D),
with p50 / p95 / min wall milliseconds, CPU milliseconds per edit (all threads), FLOPs per
edit and per swap (torch.utils.flop_counter on the reference forward, 2 per multiply-add),
the achieved GFLOP/s of `net`, and that as a share of this machine's measured convolution
peak (best of a few large 3x3 convs, fp32 and bf16, channels_last). Each fast path's PSNR
against the fp32 reference forward (`VUNet.transfer`) is reported on held-out synthetic
re-posing pairs (`training.synth`), min and mean.

Without --checkpoint the model is random but given the weight-norm data-dependent init on
synthetic people, so its activations have trained-like scales and PSNR measures numerical
agreement realistically. Timings on a shared machine are noisy: the load average is printed
before and after each block; compare min and CPU time when the machine is busy.

    python benchmarks/render_latency.py [--json OUT] [--sizes 128 256] [--checkpoint F]
        [--precisions fp32 bf16] [--repeats 60] [--threads N] [--device auto|cpu|cuda]
    python benchmarks/render_latency.py --peak-only   # conv peak only (needs just torch)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _load() -> str:
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(
    fn: Callable[[], object],
    repeats: int,
    device: str,
    warmup: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """ms per call by `clock` (p50, p95, min, mean; default wall) and CPU ms (all threads)."""
    for _ in range(warmup):
        fn()
    _sync(device)
    walls: list[float] = []
    cpu0 = time.process_time()
    for _ in range(repeats):
        t = clock()
        fn()
        _sync(device)
        walls.append((clock() - t) * 1e3)
    cpu = (time.process_time() - cpu0) * 1e3 / repeats
    walls.sort()
    return {
        "p50": statistics.median(walls),
        "p95": walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))],
        "min": walls[0],
        "mean": statistics.fmean(walls),
        "cpu": cpu,
    }


# --- convolution peak ------------------------------------------------------------------------------
PEAK_SHAPES = ((128, 128, 64), (128, 128, 32), (256, 256, 32), (64, 64, 128))  # (C_in, C_out, side)


def conv_peak(dtype: torch.dtype, device: str, threads: int, repeats: int = 15) -> dict[str, Any]:
    """Best GFLOP/s of a few big batch-1 3x3 convs (channels_last): the machine's practical peak.

    With 1 CPU thread the time is that thread's CPU time, which other processes on a shared
    machine cannot inflate; with more, wall time (best of `repeats`).
    """
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    clock = time.thread_time if (device == "cpu" and threads == 1) else time.perf_counter
    best = (0.0, None)
    for cin, cout, side in PEAK_SHAPES:
        x = torch.randn(1, cin, side, side, device=device, dtype=dtype).contiguous(
            memory_format=torch.channels_last
        )
        w = torch.randn(cout, cin, 3, 3, device=device, dtype=dtype).contiguous(
            memory_format=torch.channels_last
        )
        flops = 2 * 9 * cin * cout * side * side
        with torch.inference_mode():
            t = _time(lambda x=x, w=w: F.conv2d(x, w, padding=1), repeats, device, clock=clock)
        gflops = flops / (t["min"] * 1e-3) / 1e9
        if gflops > best[0]:
            best = (gflops, f"{cin}->{cout} 3x3 @ {side}x{side}")
    torch.set_num_threads(saved)
    return {"gflops": best[0], "shape": best[1], "threads": threads}


# --- the engine ------------------------------------------------------------------------------------
def _flops(fn: Callable[[], object]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def count_flops(cfg: Any) -> tuple[int, int]:
    """(E_theta + D_theta, F_phi) FLOPs of one sample on the meta device."""
    from vunet_studio.model import VUNet

    with torch.device("meta"):
        model = VUNet(cfg).eval()
        parts = torch.zeros(1, cfg.appearance_channels, cfg.part_size, cfg.part_size)
        stick = torch.zeros(1, cfg.shape_channels, cfg.image_size, cfg.image_size)
        latents = [torch.zeros(1, *s) for s in cfg.latent_shapes]
    with torch.no_grad():
        return _flops(lambda: model.decode(stick, latents)), _flops(lambda: model.encode_appearance(parts))


def build_model(size: int, checkpoint: str | None) -> tuple[Any, str]:
    from vunet_studio.model import VUNet, VUNetConfig, load_checkpoint
    from vunet_studio.model_inputs import appearance_input, shape_input

    if checkpoint:
        model, info = load_checkpoint(checkpoint)
        return model, f"checkpoint {checkpoint} (step {info.step})"
    from training.synth import sample_pair

    cfg = VUNetConfig.for_size(size)
    torch.manual_seed(0)
    model = VUNet(cfg)
    batches = []
    for seed in range(4):
        a, b = sample_pair(seed, size)
        parts = appearance_input(a.image, a.pose, cfg)
        batches.append((parts[None], shape_input(b.pose, parts, cfg)[None]))
    model.data_dependent_init(batches)
    return model.eval(), "random init + data-dependent init on 4 synthetic pairs"


def held_out_pairs(size: int, n: int) -> list[tuple[Any, Any]]:
    """Synthetic (appearance sample, target sample) pairs not used for the init (seeds 10000+)."""
    from training.synth import sample_pair

    return [sample_pair(10_000 + k, size) for k in range(n)]


def bench_engine(
    model: Any, precision: str, device: str, pairs: list[tuple[Any, Any]], repeats: int, threads: int | None
) -> dict[str, Any]:
    from vunet_studio.engine import AppearanceImage, RenderEngine
    from vunet_studio.fastpath import psnr
    from vunet_studio.framing import pose_box, pose_in_box
    from vunet_studio.model_inputs import shape_input

    t0 = time.perf_counter()
    eng = RenderEngine(model=model, device=device, precision=precision, threads=threads, warmup=True)
    load_s = time.perf_counter() - t0
    size = eng.image_size
    sources = [AppearanceImage(a.image, a.pose) for a, _ in pairs]
    targets = [b.pose for _, b in pairs]
    app = eng.encode(sources[0])
    k = iter(range(10**9))

    def edit() -> None:
        eng.render(app, targets[next(k) % len(targets)])

    sticks = [shape_input(pose_in_box(p, pose_box(p), size), app.latents.parts, eng.config)[None] for p in targets]
    prepared = app.latents.prepared

    def net() -> None:
        eng.net.decode(sticks[next(k) % len(sticks)], prepared)

    def swap() -> None:
        i = next(k)
        eng.clear_cache()
        eng.render(eng.encode(sources[i % len(sources)]), targets[(i + 1) % len(targets)])

    res: dict[str, Any] = {"load_s": load_s, "threads": eng.threads, "load_before": _load()}
    res["edit"] = _time(edit, repeats, device)
    res["net"] = _time(net, repeats, device)
    res["swap"] = _time(swap, max(10, repeats // 3), device)
    res["load_after"] = _load()
    # Accuracy against the fp32 reference forward of the unfolded-equivalent model.
    scores = []
    ref_model = eng.model  # folded fp32 on the engine's device
    for src, target in zip(sources, targets, strict=True):
        parts = eng.appearance_input(src)[None]  # (1, C, P, P)
        stick = shape_input(pose_in_box(target, pose_box(target), size), parts[0], eng.config)[None]
        with torch.inference_mode():
            ref = ref_model.transfer(parts.to(eng.device), stick.to(eng.device)).float().cpu()
            out = eng.net.decode(stick, eng.net.prepare(eng.net.encode(parts))).cpu()
        scores.append(psnr(out, ref))
    res["psnr_min"] = min(scores)
    res["psnr_mean"] = statistics.fmean(scores)
    return res


def _precisions(device: str, asked: list[str] | None) -> list[str]:
    from vunet_studio.devices import cpu_can_run_bf16

    wanted = asked or (["fp32", "bf16"] if device == "cpu" else ["fp32", "fp16", "bf16"])
    if device == "cpu" and "bf16" in wanted and not cpu_can_run_bf16():
        print("bf16 skipped: this CPU cannot run it (it needs AVX512 or AVX-NE-CONVERT)")
        wanted = [p for p in wanted if p != "bf16"]
    return wanted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument(
        "--checkpoint", help="measure this model (its size) instead of random official-width ones"
    )
    ap.add_argument("--precisions", nargs="+", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--repeats", type=int, default=60)
    ap.add_argument(
        "--threads", type=int, help="torch threads (default: the engine's choice, physical cores)"
    )
    ap.add_argument("--device", default="auto", help="auto (CPU, and CUDA too when present), cpu or cuda")
    ap.add_argument("--pairs", type=int, default=8, help="held-out synthetic pairs for PSNR")
    ap.add_argument("--peak-only", action="store_true", help="only measure the conv peak (needs only torch)")
    args = ap.parse_args(argv)

    try:
        from vunet_studio.devices import cpu_has_native_bf16, cpu_summary
        from vunet_studio.fastpath import physical_cores
    except ImportError:  # --peak-only in a bare environment (e.g. another torch build)
        physical_cores, cpu_has_native_bf16 = (lambda: torch.get_num_threads()), (lambda: None)
        cpu_summary = lambda: platform.processor() or platform.machine()  # noqa: E731
    threads = args.threads or physical_cores()
    torch.set_num_threads(threads)
    devices = (
        ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.device == "auto" else [args.device]
    )
    out: dict[str, Any] = {
        "torch": torch.__version__,
        "cpu": cpu_summary(),
        "threads": threads,
        "native_bf16": cpu_has_native_bf16(),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "peak": {},
        "results": [],
    }
    print(f"torch {torch.__version__}, {threads} threads, {out['cpu']}, load {_load()}")
    for dev in devices:
        for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)) + (
            (("fp16", torch.float16),) if dev == "cuda" else ()
        ):
            for n in sorted({1, threads}) if dev == "cpu" else [threads]:
                peak = conv_peak(dt, dev, n)
                out["peak"][f"{dev}/{name}/{n}"] = peak
                print(
                    f"conv peak {dev} {name}, {n} thread(s): {peak['gflops']:.0f} GFLOP/s ({peak['shape']})"
                )
    if args.peak_only:
        _write(args.json, out)
        return 0

    sizes = args.sizes
    if args.checkpoint:
        from vunet_studio.model import read_checkpoint_info

        sizes = [read_checkpoint_info(args.checkpoint).image_size]
    header = (
        f"{'dev':4} {'size':>4} {'prec':5} {'thr':>3} | {'edit p50':>8} {'p95':>6} {'min':>6} {'cpu':>6} | "
        f"{'net p50':>7} {'cpu':>6} {'GFLOP/s':>7} {'%peak':>5} {'GF/cpu-s':>8} | {'swap p50':>8} {'p95':>6} | {'GF/edit':>7} | PSNR min/mean"
    )
    for size in sizes:
        model, what = build_model(size, args.checkpoint)
        ed_flops, f_flops = count_flops(model.config)
        pairs = held_out_pairs(size, args.pairs)
        print(
            f"\n{size}x{size}: {what}; {ed_flops / 1e9:.2f} GFLOP per edit, {f_flops / 1e9:.2f} GFLOP F_phi"
        )
        print(header)
        for dev in devices:
            for prec in _precisions(dev, args.precisions):
                r = bench_engine(model, prec, dev, pairs, args.repeats, args.threads)
                n = r["threads"] if dev == "cpu" else threads
                peak = out["peak"].get(f"{dev}/{prec}/{n}", {}).get("gflops", float("nan"))
                gfs = ed_flops / (r["net"]["p50"] * 1e-3) / 1e9
                # Per CPU-second of all threads: what an idle machine would give (x threads, at
                # best), immune to other processes taking the cores.
                gfs_cpu = ed_flops / (r["net"]["cpu"] * 1e-3) / 1e9 if dev == "cpu" else float("nan")
                r.update(
                    device=dev,
                    size=size,
                    precision=prec,
                    gflop_per_edit=ed_flops / 1e9,
                    gflop_per_swap=(ed_flops + f_flops) / 1e9,
                    net_gflops=gfs,
                    net_gflops_per_cpu_s=gfs_cpu,
                    peak_share=gfs / peak,
                )
                out["results"].append(r)
                e, n, s = r["edit"], r["net"], r["swap"]
                print(
                    f"{dev:4} {size:4d} {prec:5} {r['threads']:3d} | {e['p50']:8.1f} {e['p95']:6.1f} {e['min']:6.1f} {e['cpu']:6.1f} | "
                    f"{n['p50']:7.1f} {n['cpu']:6.1f} {gfs:7.0f} {100 * gfs / peak:4.0f}% {gfs_cpu:8.0f} | {s['p50']:8.1f} {s['p95']:6.1f} | "
                    f"{ed_flops / 1e9:7.2f} | {r['psnr_min']:.1f}/{r['psnr_mean']:.1f} dB   "
                    f"(load {r['load_before']} -> {r['load_after']})",
                    flush=True,
                )
    _write(args.json, out)
    return 0


def _write(path: str | None, out: dict[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.exit(main())
