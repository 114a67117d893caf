#!/usr/bin/env bash
# Preference-training benchmark (issue 4): fpokit's PreferenceTrainer (bench_train.cpp) against HF
# transformers + plain PyTorch implementing the same losses (peer_train.py), on the same model,
# data shape and machine, for DPO, SimPO, TDPO1 and FPO. Runs alternate fpokit / PyTorch (RUNS
# times each per method) so machine noise hits both; prints every JSON line, then a table of
# medians with the fpokit/PyTorch ratios and FPO/SimPO. On CPU, runs disturbed by other processes
# (> 10 % of the CPUs busy outside the run) are repeated (see WAIT_IDLE).
#   bench/run_train.sh [PRESET] [DEVICE] [DTYPE] [PAIRS] [PROMPT] [COMPLETION]
#   bench/run_train.sh small cpu float32 2 64 64            # CPU
#   FPO_LAYER=25 bench/run_train.sh gemma-2-2b cuda bfloat16 2 256 256   # GPU (the paper's Fig. 4)
# Environment: STEPS (timed steps; 5), WARMUP (2), RUNS (3), THREADS (intra-op threads; CPU:
# nproc, CUDA: library default), METHODS ("dpo simpo tdpo1 fpo"), SAE_WIDTH (0: 16384 on CUDA,
# 1024 on CPU), SAE_K (64), FPO_LAYER (decoder layer the SAE reads; default the middle one),
# PEER_OPTIM (the peer's HF optim: adamw_torch_fused, HF Trainer's default, or adamw_torch),
# With DTYPE bfloat16/float16 both sides train as `fpokit train --dtype bfloat16` does: float32
# weights, gradients and optimizer state, forwards under autocast to DTYPE (bench_train does it by
# itself; the peer gets --mixed-precision).
# WAIT_IDLE (CPU: before each run, wait up to this many seconds for the machine's CPUs to be 90 %
# idle, so that a compiler running beside the benchmark does not land in one side's timing; 120 on
# CPU, 0 on CUDA), FPOKIT_PYTHON, FPOKIT_BUILD_DIR, FPOKIT_BENCH_MODEL_DIR, FPOKIT_BENCH_LOG (the
# JSON lines; default /tmp/fpokit-bench-train-<preset>-<device>-<dtype>.jsonl).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
preset=${1:-small} device=${2:-cpu} dtype=${3:-float32} pairs=${4:-2} prompt=${5:-64} completion=${6:-64}
steps=${STEPS:-5} warmup=${WARMUP:-2} runs=${RUNS:-3} methods=${METHODS:-dpo simpo tdpo1 fpo}
if [ -z "${THREADS:-}" ]; then
  case $device in cpu) THREADS=$(nproc) ;; *) THREADS=0 ;; esac
fi
if [ -z "${WAIT_IDLE:-}" ]; then
  case $device in cpu) WAIT_IDLE=120 ;; *) WAIT_IDLE=0 ;; esac
fi
python=${FPOKIT_PYTHON:-$("$root/scripts/setup.sh" | tail -n 1)}
build=${FPOKIT_BUILD_DIR:-$root/build}
model=${FPOKIT_BENCH_MODEL_DIR:-/tmp/fpokit-bench-$preset-$dtype}
log=${FPOKIT_BENCH_LOG:-/tmp/fpokit-bench-train-$preset-$device-$dtype.jsonl}
[ -x "$build/bench/bench_train" ] || { echo "run_train.sh: build bench_train first: cmake --build $build --target bench_train" >&2; exit 2; }
[ -f "$model/config.json" ] || "$python" "$root/bench/make_random_model.py" --preset "$preset" --dtype "$dtype" --out "$model" >&2

args=(--model "$model" --device "$device" --dtype "$dtype" --pairs "$pairs" --prompt "$prompt"
      --completion "$completion" --warmup "$warmup" --steps "$steps" --threads "$THREADS" --seed 0)
[ -n "${SAE_WIDTH:-}" ] && args+=(--sae-width "$SAE_WIDTH")
[ -n "${SAE_K:-}" ] && args+=(--sae-k "$SAE_K")
peer_args=()
[ "$dtype" != float32 ] && peer_args+=(--mixed-precision)
export PEER_EXTRA_ARGS="${peer_args[*]}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
"$python" - "$log" "$runs" "$WAIT_IDLE" "${FPO_LAYER:-}" "$build/bench/bench_train" "$python" \
  "$root/bench/peer_train.py" "$methods" "${args[@]}" <<'PY'
import json, os, resource, statistics, subprocess, sys, time

log, runs, wait_idle_s, fpo_layer, bench, python, peer, methods = sys.argv[1:9]
runs, wait_idle_s, methods, common = int(runs), float(wait_idle_s), methods.split(), sys.argv[9:]
ncpu = os.cpu_count()


def cpu_busy():  # (busy, total) jiffies of the whole machine
    f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(f) - f[3] - f[4], sum(f)


def wait_idle():  # until the CPUs were >= 90 % idle over one second, or wait_idle_s have passed
    deadline = time.monotonic() + wait_idle_s
    while time.monotonic() < deadline:
        b0, t0 = cpu_busy(); time.sleep(1); b1, t1 = cpu_busy()
        if (b1 - b0) * 10 <= t1 - t0:
            return


def run(cmd):
    # On CPU a run during which other processes used > 10 % of the machine (a compiler, say) is
    # logged and repeated, at most 5 times; the CPU time the run itself used is not counted.
    for attempt in range(6):
        wait_idle()
        b0, _ = cpu_busy(); r0 = resource.getrusage(resource.RUSAGE_CHILDREN); w0 = time.monotonic()
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
        b1, _ = cpu_busy(); r1 = resource.getrusage(resource.RUSAGE_CHILDREN); wall = time.monotonic() - w0
        own = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        foreign = max(0.0, (b1 - b0) / os.sysconf("SC_CLK_TCK") - own) / (wall * ncpu)
        row = json.loads(out.strip().splitlines()[-1])
        row["foreign_cpu_fraction"] = round(foreign, 3)
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")
        if wait_idle_s == 0 or foreign <= 0.10 or attempt == 5:
            print(json.dumps(row), flush=True)
            return row
        print(f"run_train.sh: other processes used {foreign:.0%} of the CPUs during this {row['impl']} "
              f"{row['method']} run ({row['tokens_per_s']:.0f} tok/s); repeating it", file=sys.stderr, flush=True)


open(log, "w").close()
rows = []
for m in methods:
    ours, theirs = [bench, "--method", m], [python, peer, "--method", m]
    if m == "fpo" and fpo_layer:
        ours += ["--fpo-hook", f"blocks.{fpo_layer}.hook_resid_post"]
        theirs += ["--fpo-layer", fpo_layer]
    if os.environ.get("PEER_OPTIM"):
        theirs += ["--optim", os.environ["PEER_OPTIM"]]
    theirs += os.environ.get("PEER_EXTRA_ARGS", "").split()
    for _ in range(runs):
        rows.append(run(ours + common))
        rows.append(run(theirs + common))

med = lambda impl, m, key: statistics.median(r[key] for r in rows if r["impl"] == impl and r["method"] == m)
best = lambda impl, m: max(r["tokens_per_s"] for r in rows if r["impl"] == impl and r["method"] == m)
cuda = any("peak_cuda_allocated_bytes" in r for r in rows)
mem = "peak_cuda_allocated_bytes" if cuda else "peak_rss_bytes"
mem_name = "peak CUDA allocated" if cuda else "peak RSS"
r0 = rows[0]
print(f"\nmedians of {runs} runs each; {r0['device']} {r0['dtype']}, {r0['pairs']} pairs x (prompt {r0['prompt']} + "
      f"completion {r0['completion']}) = {2 * r0['pairs'] * r0['seq']} tokens/step, {r0['steps']} timed steps after "
      f"{r0['warmup']}, {r0['threads']} threads")
print(f"| method | fpokit tok/s | PyTorch tok/s | ratio | ratio of the best runs | fpokit steps/s | PyTorch steps/s | "
      f"fpokit {mem_name} | PyTorch {mem_name} | memory ratio | fpokit ref. pass | PyTorch ref. pass |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for m in methods:
    a, b = med("fpokit", m, "tokens_per_s"), med("pytorch", m, "tokens_per_s")
    ma, mb = med("fpokit", m, mem), med("pytorch", m, mem)
    print(f"| {m} | {a:,.0f} | {b:,.0f} | **{a / b:.2f}x** | {best('fpokit', m) / best('pytorch', m):.2f}x | "
          f"{med('fpokit', m, 'steps_per_s'):.3f} | {med('pytorch', m, 'steps_per_s'):.3f} | {ma / 2**20:,.0f} MiB | "
          f"{mb / 2**20:,.0f} MiB | {ma / mb:.2f} | {med('fpokit', m, 'reference_seconds'):.2f} s | "
          f"{med('pytorch', m, 'reference_seconds'):.2f} s |")
if "fpo" in methods and "simpo" in methods:
    for impl in ("fpokit", "pytorch"):
        t = med(impl, "simpo", "tokens_per_s") / med(impl, "fpo", "tokens_per_s")
        print(f"FPO/SimPO ({impl}): step time {t:.3f}x, {mem_name} {med(impl, 'fpo', mem) / med(impl, 'simpo', mem):.3f}x")
print(f"(every run, repeated ones included, with foreign_cpu_fraction: {log})")
PY
