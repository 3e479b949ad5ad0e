"""Parameters and FLOPs of the VUNet per part (F_phi, E_theta + D_theta, prior) at 128 and 256.

Checks the implementation against the reference table in shared/reference/vunet.md
(F_phi ≈1.7 / 3.8 GFLOP, E+D ≈8.3 / 33 GFLOP, ≈12.6 M parameters to re-pose, ≈47 M in
all with ≈34 M in the prior). FLOPs are counted by torch.utils.flop_counter (2 per
multiply-add, convolutions and matmuls only) for one sample, on the meta device, so this
runs in a second on any machine. Exits non-zero when a number is more than 10% off.

    python benchmarks/model_cost.py [--sizes 128 256] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vunet_studio.model import VUNet, VUNetConfig

# Reference values from vunet.md: (F_phi GFLOP, E+D GFLOP) per size; parameters in millions.
REFERENCE_GFLOP = {128: (1.7, 8.3), 256: (3.8, 33.0)}
REFERENCE_PARAMS_M = {"reposing": 12.6, "total": 47.0, "prior": 34.0}
TOLERANCE = 0.10


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def measure(size: int) -> dict[str, float]:
    cfg = VUNetConfig.for_size(size)
    with torch.device("meta"):
        model = VUNet(cfg).eval()
        parts = torch.zeros(1, cfg.appearance_channels, cfg.part_size, cfg.part_size)
        stickman = torch.zeros(1, cfg.shape_channels, size, size)
    groups = {k: sum(p.numel() for p in v) for k, v in model.parameter_groups().items()}
    with torch.no_grad():
        latents = [torch.zeros(1, *s, device="meta") for s in cfg.latent_shapes]
        f_phi = _flops(lambda: model.encode_appearance(parts))
        e_d = _flops(lambda: model.decode(stickman, latents))
        with_prior = _flops(lambda: model.sample(stickman))
    return {
        "size": size,
        "part_size": cfg.part_size,
        "n_scales": cfg.n_scales,
        "F_phi_GFLOP": f_phi / 1e9,
        "E+D_GFLOP": e_d / 1e9,
        "prior_GFLOP": (with_prior - e_d) / 1e9,
        "F_phi_Mparams": groups["F_phi"] / 1e6,
        "E+D_Mparams": groups["E_theta+D_theta"] / 1e6,
        "prior_Mparams": groups["prior"] / 1e6,
        "reposing_Mparams": (groups["F_phi"] + groups["E_theta+D_theta"]) / 1e6,
        "total_Mparams": sum(groups.values()) / 1e6,
    }


def _check(name: str, got: float, want: float, problems: list[str]) -> str:
    rel = got / want - 1.0
    ok = abs(rel) <= TOLERANCE
    if not ok:
        problems.append(f"{name}: {got:.2f} vs reference {want:.2f} ({rel:+.1%})")
    return f"{rel:+.1%}{'' if ok else ' !!'}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)

    rows = [measure(s) for s in args.sizes]
    problems: list[str] = []
    print(
        f"{'size':>5} {'part':>5} | {'F_phi GFLOP':>12} {'E+D GFLOP':>10} {'prior GFLOP':>11} | "
        f"{'F_phi M':>8} {'E+D M':>6} {'prior M':>8} {'re-pose M':>9} {'total M':>8}"
    )
    for r in rows:
        print(
            f"{r['size']:>5} {r['part_size']:>5} | {r['F_phi_GFLOP']:>12.2f} {r['E+D_GFLOP']:>10.2f} "
            f"{r['prior_GFLOP']:>11.3f} | {r['F_phi_Mparams']:>8.2f} {r['E+D_Mparams']:>6.2f} "
            f"{r['prior_Mparams']:>8.2f} {r['reposing_Mparams']:>9.2f} {r['total_Mparams']:>8.2f}"
        )
    print("\nagainst vunet.md (tolerance 10%):")
    for r in rows:
        s = r["size"]
        if s in REFERENCE_GFLOP:
            ref_f, ref_ed = REFERENCE_GFLOP[s]
            print(
                f"  {s}: F_phi {_check(f'{s} F_phi', r['F_phi_GFLOP'], ref_f, problems)}, "
                f"E+D {_check(f'{s} E+D', r['E+D_GFLOP'], ref_ed, problems)}, "
                f"re-pose params {_check(f'{s} re-pose params', r['reposing_Mparams'], REFERENCE_PARAMS_M['reposing'], problems)}, "
                f"total params {_check(f'{s} total params', r['total_Mparams'], REFERENCE_PARAMS_M['total'], problems)}, "
                f"prior params {_check(f'{s} prior params', r['prior_Mparams'], REFERENCE_PARAMS_M['prior'], problems)}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if problems:
        print("\nOFF BY MORE THAN 10%:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
