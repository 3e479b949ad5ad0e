#!/usr/bin/env bash
# One device-tool session on a borrowed GPU machine (README, "Training on a GPU machine"):
#   1. the CUDA render path in fp16 through the engine (benchmarks/render_latency.py):
#      official widths at 128 and 256 (random weights: speed does not depend on them) and
#      the shipped 128 model -> $OUT/render.json, $OUT/render_app128.json;
#   2. gpu256.yaml (256 px, official widths) for a minute, for its images/s -> $OUT/gpu256.json
#      (its ~88 MiB of weights stay on the machine: more than the tool brings back);
#   3. gpu128.yaml for the rest of the time -> $OUT/train128/ (the checkpoint shards, progress.json).
# Everything it prints also goes to $OUT/session.log. At most 7 files come back, under the
# tool's 8. Each stage has its own time limit, and a failed stage does not stop the next.
#
# The device tool's run call (from the repository root; data/textures is carried when present):
#   command: bash scripts/gpu_session.sh    carry: ["data/textures"]    timeout_s: 600
# SESSION_SECONDS (default 570) is the whole script's budget, inside the call's 600 s.
set -u -o pipefail

OUT=${OUT:?"set OUT to the output folder (the device tool sets it)"}
BUDGET=${SESSION_SECONDS:-570}
PY=${PYTHON:-python3}
T0=$(date +%s)
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
mkdir -p "$OUT"
LOG=$OUT/session.log

say() { echo "[gpu_session +$(($(date +%s) - T0))s] $*" | tee -a "$LOG"; }
left() { echo $((BUDGET - ($(date +%s) - T0))); }
# stage SECONDS CMD...: run CMD with SIGTERM at SECONDS (SIGKILL 15 s later), output to the log.
stage() {
    local limit=$1
    shift
    say "start (limit ${limit}s): $*"
    timeout -k 15 -s TERM "$limit" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    say "exit $rc: ${*:1:3}"
    return 0
}

say "budget ${BUDGET}s; $(nproc) cores; $(nvidia-smi -L 2>/dev/null | head -1 || echo 'no nvidia-smi')"
# What the trainer needs beyond the standard library, said in one line if something is missing.
"$PY" - <<'EOF' 2>&1 | tee -a "$LOG"
import importlib.util, sys
need = ["torch", "numpy", "cv2", "yaml", "safetensors", "tqdm", "torchvision"]
missing = [m for m in need if importlib.util.find_spec(m) is None]
import torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"GPU {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}; "
      + (f"MISSING: {', '.join(missing)} (carry them as wheels, see the device README)" if missing else "all packages there"))
EOF
if [ -d data/textures ]; then
    say "textures: $(find data/textures -type f | wc -l) photos in data/textures"
else
    say "textures: no data/textures (not carried): procedural textures stand in"
fi

# 1. Render latency, fp16 on CUDA.
stage 150 "$PY" benchmarks/render_latency.py --device cuda --precisions fp16 --sizes 128 256 \
    --repeats 100 --json "$OUT/render.json"
stage 90 "$PY" benchmarks/render_latency.py --device cuda --precisions fp16 --repeats 100 \
    --checkpoint resources/models/vunet_synth128.safetensors --json "$OUT/render_app128.json"

# 2. The 256-px official-width model, one minute, for its images/s.
W256=$(mktemp -d /tmp/gpu256.XXXXXX)
stage 120 "$PY" -m training.gpu_run training/configs/gpu256.yaml --out "$W256" --max-files 16 \
    --minutes "${GPU256_MINUTES:-1}"
cp "$W256/progress.json" "$OUT/gpu256.json" 2>/dev/null || say "gpu256 left no progress.json"

# 3. The 128-px model for what is left: it stops itself inside its --minutes, start-up included;
# its stage limit (20 s more, then SIGTERM, then SIGKILL 15 s later) still ends before 600 s.
SECONDS128=$(($(left) - 20))
if [ "$SECONDS128" -gt 60 ]; then
    MIN128=$(awk "BEGIN { printf \"%.2f\", $SECONDS128 / 60 }")
    stage $((SECONDS128 + 10)) "$PY" -m training.gpu_run training/configs/gpu128.yaml \
        --out "$OUT/train128" --minutes "$MIN128"
else
    say "only ${SECONDS128}s left: no 128 run"
fi
say "done; files: $(cd "$OUT" && find . -type f | sort | tr '\n' ' ')"
