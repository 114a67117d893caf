#!/usr/bin/env python3
"""fpokit on a GPU host in one call: build, `ctest -L cuda`, and the benchmarks against the peers.

Run through bench/gpu/run.sh (docs/BENCHMARKS.md, "GPU run"). Steps run in order, each timed and each
under its own time limit, all under one budget (--budget-s, default 540 s: the device tool allows 600 s
a command). A step that fails is recorded and the next one runs where it can (the benchmarks need the
build). Every measurement is appended to results.jsonl the moment it exists and results.md (the tables)
is rewritten after it, so a run cut off by the budget or the tool's limit still returns everything done
so far; run.log holds every command's output.

--dry-run runs the same steps on the CPU at tiny sizes against the existing build (build/): CI runs it,
so that a change cannot break the GPU run unnoticed. It fails (exit 1) when any step fails; the GPU run
exits 0 when it got as far as writing its results, whatever a step did, since the results say it.
"""
import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The sizes: the (GPU) and a tiny CPU stand-in for --dry-run. Only these differ between the two.
GPU_SIZES = dict(
    device="cuda", dtype="bfloat16",
    sae=dict(d_in=2304, width=16384, k=64, batch_tokens=32768, steps=20, warmup=3),
    ceiling=dict(n=8192, reps=20, copy_mib=2048),
    harvest=dict(preset="gemma-2-2b", batch=8, context=1024, batches=12),
    forward=[dict(preset="llama-3.2-1b", batch=4, seq=1024, warmup=2, iters=6),
             dict(preset="gemma-2-2b", batch=4, seq=1024, warmup=2, iters=6)],
    # FPO reads layer 25 of Gemma-2-2B, as the paper's Fig. 4 (16k-latent random TopK SAE, k 64).
    preference=dict(preset="gemma-2-2b", pairs=1, prompt=512, completion=512, warmup=1, steps=3, fpo_layer=25,
                    methods=["dpo", "simpo", "fpo", "tdpo1"]),
    # Online SAE training (issue 19): harvest only, train only, online without and with the prefetch.
    online=dict(preset="gemma-2-2b", width=16384, k=64, batch_tokens=32768, buffer_tokens=131072, windows=2,
                context=1024, batch=8),
)
DRY_SIZES = dict(
    device="cpu", dtype="float32",
    sae=dict(d_in=64, width=256, k=8, batch_tokens=256, steps=3, warmup=1),
    ceiling=dict(n=256, reps=3, copy_mib=16),
    harvest=dict(preset="small", batch=2, context=64, batches=3),
    forward=[dict(preset="small", batch=1, seq=32, warmup=1, iters=2)],
    preference=dict(preset="small", pairs=1, prompt=16, completion=16, warmup=1, steps=1,
                    methods=["dpo", "simpo", "fpo", "tdpo1"]),
    online=dict(preset="small", width=256, k=8, batch_tokens=256, buffer_tokens=1024, windows=1, context=64, batch=2),
)
BUILD_TARGETS = ["test_cuda", "bench_sae_train", "bench_harvest", "bench_forward", "bench_train", "bench_sae_online"]

# Each step: (name, time limit in seconds, least time worth starting it with).
# Planned on an H100/H200 host with 16 cores: build ~3 min, each random model ~30 s to make (once),
# each preference run ~25 s (loading a 2B model, the reference pass, 4 steps); the budget guard cuts
# the last step short when the earlier ones run long, and every finished measurement is kept.
STEPS = [("environment", 20, 5), ("dependencies", 90, 10), ("build", 330, 60), ("ctest_cuda", 90, 20),
         ("ceiling", 45, 10), ("sae", 150, 30), ("harvest", 120, 30), ("forward", 150, 30),
         ("online", 90, 40), ("preference", 300, 45)]


def default_models_dir():
    # Random models are written once and read by every benchmark run: RAM-backed /dev/shm when it has
    # room for the 2B models (7.5 GB in bf16, with margin), else /tmp.
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 24 * 2**30:
        return str(shm / "fpokit-gpu-models")
    return "/tmp/fpokit-gpu-models"


class Budget:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()


class Run:
    """The run's state: options, paths, environment for the commands, and the results written so far."""

    def __init__(self, args):
        self.args = args
        self.dry = args.dry_run
        self.sizes = DRY_SIZES if self.dry else GPU_SIZES
        self.out = Path(args.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.out / "results.jsonl"
        self.md = self.out / "results.md"
        self.log = open(self.out / "run.log", "a", buffering=1)
        self.jsonl.write_text("")
        self.records = []
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", PYTHONUNBUFFERED="1",
                        TOKENIZERS_PARALLELISM="false")
        self.native_env = dict(self.env)  # + the sysroot's loader and pkg-config paths (dependencies step)
        self.python = sys.executable
        self.peers_path = None  # PYTHONPATH entry holding the peers' packages (carried wheels), if any
        self.peers_python = args.peers_python
        self.build = Path(args.build_dir).resolve() if args.build_dir else (
            ROOT / "build" if self.dry and not args.fresh_build else ROOT / "build-gpu")
        self.models = Path(args.models_dir)
        self.sysroot = None  # the unpacked .devdeps sysroot (dependencies step), if any
        self.ceiling_flops = None  # the matmul rate measured by the ceiling step, if it ran
        self.failed = []
        self.step = None
        self.step_deadline = None

    # ---- recording -------------------------------------------------------------------------------
    def say(self, msg):
        line = f"[gpu-run {time.strftime('%H:%M:%S')}] {msg}"
        print(line, file=sys.stderr, flush=True)
        self.log.write(line + "\n")

    def record(self, **row):
        row = dict(step=self.step, **row)
        self.records.append(row)
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        self.write_markdown()

    def write_markdown(self):
        tmp = self.md.with_suffix(".md.tmp")
        tmp.write_text(render_markdown(self))
        tmp.replace(self.md)

    # ---- commands --------------------------------------------------------------------------------
    def time_left(self):
        return self.step_deadline - time.monotonic()

    def sh(self, cmd, env=None, check=True):
        """Runs cmd (a list) with the step's remaining time as its limit; returns (rc, stdout). Without env,
        CMake, ctest and the build's executables get native_env, everything else (Python) env."""
        if env is None:
            native = Path(str(cmd[0])).name in ("cmake", "ctest") or str(cmd[0]).startswith(str(self.build))
            env = self.native_env if native else self.env
        limit = self.time_left()
        if limit <= 1:
            raise StepTimeout(f"no time left in step {self.step} for {shlex.join(map(str, cmd[:3]))} ...")
        self.log.write(f"$ {shlex.join(map(str, cmd))}\n")
        # A process group of its own, so that a timeout kills the whole tree (cmake's compilers, say).
        p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=self.log, text=True,
                             env=env, cwd=ROOT, start_new_session=True)
        try:
            out, _ = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise StepTimeout(f"{shlex.join(map(str, cmd[:3]))} ... did not finish in {limit:.0f} s")
        self.log.write(out)
        if check and p.returncode != 0:
            raise StepFailed(f"{shlex.join(map(str, cmd[:4]))} ... exited with {p.returncode} (run.log)")
        return p.returncode, out

    def json_line(self, cmd, env=None):
        """Runs a benchmark that prints one JSON object as its last stdout line."""
        _, out = self.sh(cmd, env=env)
        lines = [l for l in out.strip().splitlines() if l.startswith("{")]
        if not lines:
            raise StepFailed(f"{shlex.join(map(str, cmd[:3]))} ... printed no JSON line")
        return json.loads(lines[-1])

    def peer_env(self):
        env = dict(self.env)
        if self.peers_path:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.peers_path), env.get("PYTHONPATH")]))
        return env

    def random_model(self, preset):
        """The random-weight model of a bench/make_random_model.py preset, made once per run machine."""
        # Named by the generator's hash too: a changed preset never reuses an old model.
        maker = ROOT / "bench/make_random_model.py"
        tag = hashlib.sha256(maker.read_bytes()).hexdigest()[:8]
        path = self.models / f"{preset}-{self.sizes['dtype']}-{tag}"
        if not (path / "config.json").exists():
            t0 = time.monotonic()
            tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            self.sh([self.python, maker, "--preset", preset, "--dtype",
                     self.sizes["dtype"], "--device", self.sizes["device"], "--out", tmp])
            # bench_harvest tokenises a corpus: the bundled tiny tokenizer's ids fit every preset.
            for f in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(ROOT / "models/tiny-llama" / f, tmp / f)
            try:
                tmp.replace(path)
            except OSError:  # another run made it meanwhile
                shutil.rmtree(tmp, ignore_errors=True)
            self.say(f"made the random {preset} model in {time.monotonic() - t0:.0f} s")
        return path

    def bench(self, name):
        return self.build / "bench" / name


class StepFailed(Exception):
    pass


class StepTimeout(Exception):
    pass


# ---- the steps ---------------------------------------------------------------------------------------
def step_environment(r):
    # In a child process: a CUDA context in this driver would hold GPU memory for the whole run.
    row = r.json_line([r.python, "-c", """
import json, os, platform, torch
row = dict(python=platform.python_version(), torch=torch.__version__, cuda=torch.version.cuda,
           cuda_available=torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    row.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), sms=p.multi_processor_count,
               capability=f"{p.major}.{p.minor}")
print(json.dumps(row))
"""])
    row.update(kind="environment", dry_run=r.dry, host=platform.node(), cpus=os.cpu_count())
    try:
        row["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                       capture_output=True).stdout.strip() or "unknown"
    except OSError:
        row["commit"] = "unknown"
    if shutil.which("nvidia-smi"):
        _, smi = r.sh(["nvidia-smi", "--query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm",
                       "--format=csv,noheader"], check=False)
        row["nvidia_smi"] = smi.strip()
    elif not r.dry:
        raise StepFailed("no nvidia-smi: this is not a GPU host (use --dry-run on a CPU machine)")
    if not r.dry and not row["cuda_available"]:
        raise StepFailed(f"torch {row['torch']} sees no CUDA device")
    r.record(**row)


def step_dependencies(r):
    """Unpacks the carried Debian sysroot and installs the carried peer wheels, all under /tmp."""
    carried = ROOT / ".devdeps"
    archive = carried / "sysroot.tar.xz"
    if archive.exists() and (not r.dry or r.args.fresh_build):
        sysroot = Path(r.args.sysroot)
        stamp = sysroot / ".fpokit-sysroot"
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
        if not stamp.exists() or stamp.read_text() != digest:
            shutil.rmtree(sysroot, ignore_errors=True)
            sysroot.mkdir(parents=True)
            # Python's tarfile, not tar(1): the host's image need not have xz.
            with tarfile.open(archive, "r:xz") as tar:
                tar.extractall(sysroot, **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
            stamp.write_text(digest)
        lib = sysroot / "usr/lib/x86_64-linux-gnu"
        # Only for CMake, ctest and fpokit's executables (Run.sh chooses): the sysroot's Debian 12 libraries
        # (zlib, OpenSSL, libffi, ...) must not shadow the host's own for its Python and torch.
        r.native_env["LD_LIBRARY_PATH"] = os.pathsep.join(
            filter(None, [str(lib), str(lib / "hdf5/serial"), str(sysroot / "lib/x86_64-linux-gnu"),
                          r.env.get("LD_LIBRARY_PATH")]))
        # pkgconf reads only the sysroot's .pc files and prefixes their -I/-L paths with the sysroot.
        r.native_env["PKG_CONFIG_LIBDIR"] = os.pathsep.join([str(lib / "pkgconfig"),
                                                             str(sysroot / "usr/share/pkgconfig")])
        r.native_env["PKG_CONFIG_SYSROOT_DIR"] = str(sysroot)
        r.sysroot = sysroot
        r.record(kind="dependency", what="Debian sysroot", path=str(sysroot),
                 archive_mib=round(archive.stat().st_size / 2**20, 1))
    else:
        if not r.dry:
            raise StepFailed(".devdeps/sysroot.tar.xz was not carried: run bench/gpu/prepare.sh here and carry .devdeps")
        r.record(kind="dependency", what="Debian sysroot",
                 path="the system's (--dry-run" + (" without .devdeps)" if r.args.fresh_build else ")"))

    wheels = sorted((carried / "wheels").glob("*.whl"))
    if r.peers_python:
        r.record(kind="dependency", what="peers", path=f"--peers-python {r.peers_python}")
    elif wheels and sys.version_info[:2] == (3, 12):
        target = Path(r.args.peers_site)
        r.sh([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
              "--no-cache-dir", "--upgrade", "--target", target, *wheels])
        r.peers_path = target
        r.peers_python = sys.executable
        _, versions = r.sh([sys.executable, "-c", "import importlib.metadata as m, sae_lens, sparsify; "
                            "print(m.version('sae-lens'), m.version('eai-sparsify'))"], env=r.peer_env(), check=False)
        r.record(kind="dependency", what="peers", path=str(target), wheels=len(wheels),
                 versions=versions.strip() or "import failed (run.log)")
    else:
        # The CPU dry run: the venv of bench/setup_peers.sh when it exists (the carried wheels are for
        # the GPU host's CPython 3.12).
        reqs = ROOT / "bench/requirements-peers.txt"
        venv = Path(os.environ.get("FPOKIT_PEERS_VENV") or Path.home() / ".cache/fpokit" /
                    ("venv-peers-" + hashlib.sha256(reqs.read_bytes()).hexdigest()[:12]))
        if (venv / "bin/python").exists():
            r.peers_python = str(venv / "bin/python")
            r.record(kind="dependency", what="peers", path=r.peers_python)
        else:
            r.record(kind="dependency", what="peers", path="none: SAELens and sparsify are skipped "
                     "(bench/setup_peers.sh, or carried .devdeps/wheels on the GPU host)")


def check_cuda_sources_compile(r):
    """The code under #ifdef FPOKIT_WITH_CUDA compiles only in a CUDA build, which CI never makes: compile
    those translation units once more with the macro defined (syntax only; LibTorch's CUDA-independent
    headers declare what they use), so that such code cannot break only on the GPU host."""
    db = json.loads((r.build / "compile_commands.json").read_text())
    checked = []
    for entry in db:
        src = Path(entry["file"])
        if src.suffix != ".cpp" or "FPOKIT_WITH_CUDA" not in src.read_text(errors="replace"):
            continue
        args = shlex.split(entry["command"])
        if args and Path(args[0]).name == "ccache":
            args = args[1:]
        out = []
        skip = False
        for a in args:  # drop the output and dependency-file arguments
            if skip:
                skip = False
            elif a in ("-o", "-MF", "-MT", "-MQ"):
                skip = True
            elif a not in ("-MD", "-MMD"):
                out.append(a)
        rc, _ = r.sh([*out, "-fsyntax-only", "-DFPOKIT_WITH_CUDA=1"], env=r.native_env, check=False)
        if rc != 0:
            raise StepFailed(f"{src.relative_to(ROOT)} does not compile with FPOKIT_WITH_CUDA defined (run.log)")
        checked.append(str(src.relative_to(ROOT)))
    if not checked:
        raise StepFailed("no source with FPOKIT_WITH_CUDA in compile_commands.json (is the build configured?)")
    return checked


def step_build(r):
    if r.dry and not r.args.fresh_build:
        # The existing CPU build (CI has just built everything): only the benchmark targets.
        if not (r.build / "CMakeCache.txt").exists():
            raise StepFailed(f"--dry-run needs a configured build in {r.build} (scripts/build.sh)")
        cmd = ["cmake", "--build", r.build, "-j", str(os.cpu_count()), "--target", *BUILD_TARGETS]
        t0 = time.monotonic()
        r.sh(cmd)
        checked = check_cuda_sources_compile(r)
        r.record(kind="build", build_dir=str(r.build), seconds=round(time.monotonic() - t0, 1), cuda=False,
                 cuda_only_sources_checked=checked)
        return
    cfg = ["cmake", "-S", ROOT, "-B", r.build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
           f"-DFPOKIT_PYTHON={sys.executable}", f"-DFPOKIT_CUDA={'OFF' if r.dry else 'ON'}",
           # The host's pyarrow (if any) is untested with fpokit, and no GPU step reads Parquet.
           "-DFPOKIT_PARQUET=OFF"]
    if r.sysroot:
        usr = r.sysroot / "usr"
        lib = usr / "lib/x86_64-linux-gnu"
        pkgconf = usr / "bin/pkgconf"
        cfg += [f"-DCMAKE_PREFIX_PATH={usr}", f"-DCMAKE_LIBRARY_PATH={lib}", f"-DPKG_CONFIG_EXECUTABLE={pkgconf}"]
    t0 = time.monotonic()
    r.sh(cfg)
    t1 = time.monotonic()
    r.sh(["cmake", "--build", r.build, "-j", str(os.cpu_count()), "--target", *BUILD_TARGETS])
    r.record(kind="build", build_dir=str(r.build), configure_s=round(t1 - t0, 1),
             build_s=round(time.monotonic() - t1, 1), jobs=os.cpu_count(), cuda=not r.dry,
             sysroot=str(r.sysroot) if r.sysroot else None)


def step_ctest_cuda(r):
    if r.dry:
        # Without a GPU the cuda tests can only be listed (each REQUIREs a CUDA device).
        _, out = r.sh(["ctest", "--test-dir", r.build, "-L", "cuda", "-N"])
        n = sum(1 for l in out.splitlines() if l.strip().startswith("Test "))
        if n == 0:
            raise StepFailed("ctest -L cuda lists no test")
        r.record(kind="ctest", listed=n, ran=False, note="dry run: listed, not run (no GPU)")
        return
    rc, out = r.sh(["ctest", "--test-dir", r.build, "-L", "cuda", "--output-on-failure", "--timeout", "120"],
                   check=False)
    summary = next((l.strip() for l in out.splitlines() if "tests passed" in l), "no summary (run.log)")
    failed = [l.strip() for l in out.splitlines() if "***Failed" in l or "(Failed)" in l or "Exception" in l]
    r.record(kind="ctest", rc=rc, summary=summary, failed=failed)
    if rc != 0:
        raise StepFailed(f"ctest -L cuda: {summary}")


def step_ceiling(r):
    """The matmul and copy ceilings of this machine, measured now (the roofline's denominator)."""
    c = r.sizes["ceiling"]
    code = f"""
import json, torch
dev, n, reps, mib = {r.sizes['device']!r}, {c['n']}, {c['reps']}, {c['copy_mib']}
dt = torch.bfloat16 if dev == "cuda" else torch.float32
a, b = torch.randn(n, n, device=dev, dtype=dt), torch.randn(n, n, device=dev, dtype=dt)
src = torch.randn(mib * 2**20 // 4, device=dev); dst = torch.empty_like(src)
def timed(f):
    ts = []
    for i in range(reps + 3):
        if dev == "cuda":
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record(); f(); e.record(); torch.cuda.synchronize(); t = s.elapsed_time(e) / 1e3
        else:
            import time; t0 = time.perf_counter(); f(); t = time.perf_counter() - t0
        if i >= 3: ts.append(t)
    ts.sort(); return ts[len(ts) // 2]
mm = timed(lambda: torch.mm(a, b)); cp = timed(lambda: dst.copy_(src))
print(json.dumps(dict(matmul_dtype=str(dt).split(".")[1], matmul_n=n, matmul_tflops=2 * n**3 / mm / 1e12,
                      copy_gbps=2 * src.numel() * 4 / cp / 1e9)))
"""
    row = r.json_line([r.python, "-c", code])
    r.ceiling_flops = row["matmul_tflops"] * 1e12
    r.record(kind="ceiling", **row)


def step_sae(r):
    s, dev, dt = r.sizes["sae"], r.sizes["device"], r.sizes["dtype"]
    common = ["--d-in", s["d_in"], "--width", s["width"], "--k", s["k"], "--batch-tokens", s["batch_tokens"],
              "--steps", s["steps"], "--warmup", s["warmup"], "--device", dev, "--dtype", dt]
    flop_per_token = 2 * s["d_in"] * s["width"] + 8 * s["k"] * s["d_in"]
    runs = [("fpokit", [r.bench("bench_sae_train"), "--arch", "topk", *common], r.native_env)]
    for peer in ("torch-naive", "saelens", "sparsify"):
        py = r.python if peer == "torch-naive" else r.peers_python
        if py is None:
            r.record(kind="sae", impl=peer, skipped="no peers (see the dependencies step)")
            continue
        runs.append((peer, [py, ROOT / "bench/peer_sae_train.py", "--peer", peer, *common], r.peer_env()))
    for impl, cmd, env in runs:
        try:
            row = r.json_line(cmd, env=env)
        except StepFailed as e:
            r.record(kind="sae", impl=impl, error=str(e))
            r.failed.append(f"sae/{impl}")
            continue
        row.pop("step", None)
        ceiling = r.ceiling_flops
        r.record(kind="sae", impl=impl, flop_per_token=flop_per_token,
                 roofline_fraction=row["tokens_per_s"] * flop_per_token / ceiling if ceiling else None,
                 **{k: v for k, v in row.items() if k not in ("peer",)})


def step_harvest(r):
    h = r.sizes["harvest"]
    model = r.random_model(h["preset"])
    row = r.json_line([r.bench("bench_harvest"), "--model", model, "--data", ROOT / "models/tiny-corpus.jsonl",
                       "--device", r.sizes["device"], "--dtype", r.sizes["dtype"], "--model-batch-size", h["batch"],
                       "--context-size", h["context"], "--batches", h["batches"]])
    r.record(kind="harvest", preset=h["preset"], **{k: v for k, v in row.items() if k != "model"})


def step_forward(r):
    for f in r.sizes["forward"]:
        model = r.random_model(f["preset"])
        args = ["--model", model, "--device", r.sizes["device"], "--dtype", r.sizes["dtype"], "--batch", f["batch"],
                "--seq", f["seq"], "--warmup", f["warmup"], "--iters", f["iters"]]
        for impl, cmd in (("fpokit", [r.bench("bench_forward"), *args]),
                          ("transformers", [r.python, ROOT / "bench/peer_forward.py", *args])):
            row = r.json_line(cmd)
            r.record(kind="forward", preset=f["preset"], impl=impl, version=row["impl"],
                     **{k: v for k, v in row.items() if k not in ("impl", "model")})


def step_preference(r):
    p = r.sizes["preference"]
    model = r.random_model(p["preset"])
    common = ["--model", model, "--device", r.sizes["device"], "--dtype", r.sizes["dtype"], "--pairs", p["pairs"],
              "--prompt", p["prompt"], "--completion", p["completion"], "--warmup", p["warmup"],
              "--steps", p["steps"], "--seed", 0]
    peer_extra = ["--mixed-precision"] if r.sizes["dtype"] != "float32" else []
    for method in p["methods"]:
        ours, theirs = [], list(peer_extra)
        if method == "fpo" and p.get("fpo_layer") is not None:
            ours += ["--fpo-hook", f"blocks.{p['fpo_layer']}.hook_resid_post"]
            theirs += ["--fpo-layer", p["fpo_layer"]]
        for impl, cmd in (("fpokit", [r.bench("bench_train"), "--method", method, *common, *ours]),
                          ("pytorch", [r.python, ROOT / "bench/peer_train.py", "--method", method, *common,
                                       *theirs])):
            try:
                row = r.json_line(cmd)
            except StepFailed as e:
                # A peer that runs out of GPU memory where fpokit does not is a result, not a failure.
                r.record(kind="preference", impl=impl, method=method, error=str(e))
                r.failed.append(f"preference/{method}/{impl}")
                continue
            r.record(kind="preference", preset=p["preset"], **{k: v for k, v in row.items() if k != "model"})


def step_online(r):
    o = r.sizes["online"]
    model = r.random_model(o["preset"])
    row = r.json_line([r.bench("bench_sae_online"), "--model", model, "--data", ROOT / "models/tiny-corpus.jsonl",
                       "--device", r.sizes["device"], "--model-dtype", r.sizes["dtype"], "--dtype", r.sizes["dtype"],
                       "--width", o["width"], "--k", o["k"], "--batch-tokens", o["batch_tokens"],
                       "--buffer-tokens", o["buffer_tokens"], "--windows", o["windows"], "--context-size",
                       o["context"], "--model-batch-size", o["batch"]])
    r.record(kind="online", preset=o["preset"], **{k: v for k, v in row.items() if k != "model"})


# ---- the tables --------------------------------------------------------------------------------------
def fmt(x, digits=0):
    return "–" if x is None else f"{x:,.{digits}f}"


def render_markdown(r):
    rec = r.records
    by = lambda kind: [x for x in rec if x.get("kind") == kind]
    lines = [f"# fpokit GPU run ({'CPU dry run' if r.dry else 'GPU'}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    for e in by("environment"):
        smi = f" ({e['nvidia_smi']})" if e.get("nvidia_smi") else ""
        lines.append(f"{e.get('gpu', 'no GPU')}{smi}; torch {e['torch']}, CUDA {e['cuda']}, "
                     f"{e['cpus']} CPUs, python {e['python']}, commit {e.get('commit')}")
    lines += ["", "| step | status | seconds | detail |", "|---|---|---|---|"]
    for x in by("step"):
        lines.append(f"| {x['step']} | {x['status']} | {x.get('seconds', 0):.0f} | {x.get('detail') or ''} |")
    for c in by("ceiling"):
        lines += ["", f"Ceilings measured in this run: {c['matmul_dtype']} {c['matmul_n']}³ matmul "
                      f"{c['matmul_tflops']:.1f} TFLOP/s; device copy {c['copy_gbps']:.0f} GB/s (read + write)."]
    sae = [x for x in by("sae") if "tokens_per_s" in x]
    if sae:
        fp = next((x for x in sae if x["impl"] == "fpokit"), None)
        x0 = sae[0]
        lines += ["", f"## SAE training step (TopK, d={x0['d_in']}, F={x0['width']}, k={x0['k']}, "
                      f"{x0['batch_tokens']} tokens/batch, {x0['dtype']}; FLOP/token = 2dF + 8kd = "
                      f"{x0['flop_per_token']:,})", "",
                  "| impl | tokens/s | step ms | roofline fraction | peak memory | fpokit / this |", "|---|---|---|---|---|---|"]
        for x in sae:
            ratio = fp["tokens_per_s"] / x["tokens_per_s"] if fp else None
            frac = x.get("roofline_fraction")
            mem = x.get("peak_mem_bytes")
            frac_s = "–" if frac is None else f"{frac:.3f}"
            mem_s = "–" if mem is None else f"{mem / 2**30:.2f} GiB"
            ratio_s = "–" if ratio is None else f"{ratio:.2f}x"
            lines.append(f"| {x['impl']} | {fmt(x['tokens_per_s'])} | {x['step_ms']:.2f} | {frac_s} | {mem_s} | {ratio_s} |")
    for x in by("harvest"):
        lines += ["", f"## Online harvesting ({x['preset']}, batch {x['batch']} x {x['context']})", "",
                  f"overhead over the stopped forward: **{100 * x['overhead_vs_stopped_forward']:.1f} %** "
                  f"(stopped forward {fmt(x['stopped_forward_tokens_per_s'])} tok/s, harvesting "
                  f"{fmt(x['harvest_tokens_per_s'])} tok/s, full forward {fmt(x['plain_forward_tokens_per_s'])} tok/s)"]
    for x in by("online"):
        lines += ["", f"## Online SAE training ({x['preset']}, {x['hook']}, F={x['width']}, k={x['k']}, "
                      f"{x['batch_tokens']} tokens/batch, buffer {x['buffer_tokens']})", "",
                  "| harvest only | train only | online, in turn | online, prefetch | prefetch / slower half | "
                  "prefetch / in turn |", "|---|---|---|---|---|---|",
                  f"| {fmt(x['harvest_tokens_per_s'])} | {fmt(x['train_tokens_per_s'])} | "
                  f"{fmt(x['online_sequential_tokens_per_s'])} | {fmt(x['online_overlapped_tokens_per_s'])} | "
                  f"**{x['overlapped_over_slower']:.2f}x** | {x['overlapped_over_sequential']:.2f}x |"]
    fw = by("forward")
    if fw:
        lines += ["", "## Forward", "", "| model | batch x seq | fpokit tok/s | transformers tok/s | ratio |", "|---|---|---|---|---|"]
        for preset in dict.fromkeys(x["preset"] for x in fw):
            a = next((x for x in fw if x["preset"] == preset and x["impl"] == "fpokit"), None)
            b = next((x for x in fw if x["preset"] == preset and x["impl"] == "transformers"), None)
            ref = a or b
            ratio = f"**{a['tokens_per_s'] / b['tokens_per_s']:.2f}x**" if a and b else "–"
            lines.append(f"| {preset} | {ref['batch']} x {ref['seq']} | {fmt(a and a['tokens_per_s'])} | "
                         f"{fmt(b and b['tokens_per_s'])} | {ratio} |")
    pr = by("preference")
    if pr:
        ok = [x for x in pr if "tokens_per_s" in x]
        mem_key = "peak_cuda_allocated_bytes" if any("peak_cuda_allocated_bytes" in x for x in ok) else "peak_rss_bytes"
        x0 = ok[0] if ok else {}
        lines += ["", f"## Preference step ({x0.get('preset', '')}, {x0.get('pairs', '?')} pair(s) x (prompt "
                      f"{x0.get('prompt', '?')} + completion {x0.get('completion', '?')}), {x0.get('dtype', '')}; "
                      f"memory: {mem_key})", "",
                  "| method | fpokit tok/s | PyTorch tok/s | ratio | fpokit memory | PyTorch memory | memory ratio |",
                  "|---|---|---|---|---|---|---|"]
        for m in dict.fromkeys(x["method"] for x in pr):
            a = next((x for x in ok if x["method"] == m and x["impl"] == "fpokit"), None)
            b = next((x for x in ok if x["method"] == m and x["impl"] == "pytorch"), None)
            gib = lambda x: f"{x[mem_key] / 2**30:.2f} GiB" if x and mem_key in x else "–"
            ratio = f"**{a['tokens_per_s'] / b['tokens_per_s']:.2f}x**" if a and b else "–"
            mem_ratio = f"{a[mem_key] / b[mem_key]:.2f}" if a and b and mem_key in a and mem_key in b else "–"
            lines.append(f"| {m} | {fmt(a and a['tokens_per_s'])} | {fmt(b and b['tokens_per_s'])} | {ratio} | "
                         f"{gib(a)} | {gib(b)} | {mem_ratio} |")
        sim = next((x for x in ok if x["method"] == "simpo" and x["impl"] == "fpokit"), None)
        fpo = next((x for x in ok if x["method"] == "fpo" and x["impl"] == "fpokit"), None)
        if sim and fpo:
            lines.append(f"\nFPO / SimPO (fpokit): step time {sim['tokens_per_s'] / fpo['tokens_per_s']:.3f}x"
                         + (f", memory {fpo[mem_key] / sim[mem_key]:.3f}x" if mem_key in fpo and mem_key in sim else ""))
    errors = [x for x in rec if "error" in x]
    if errors:
        lines += ["", "## Failures", ""]
        lines += ["- " + "/".join(filter(None, (x["step"], x.get("method"), x.get("impl")))) + f": {x['error']}"
                  for x in errors]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, the existing build/ (CI)")
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "bench-gpu-out"),
                    help="results.jsonl, results.md and run.log go here (default: $OUT, else bench-gpu-out/)")
    ap.add_argument("--budget-s", type=float, default=540, help="the whole run's time limit (default 540)")
    ap.add_argument("--build-dir", help="default: build-gpu/ (GPU, --fresh-build), build/ (--dry-run)")
    ap.add_argument("--fresh-build", action="store_true",
                    help="--dry-run: configure and build as the GPU run does (with .devdeps/sysroot.tar.xz when "
                         "present, CUDA off) instead of reusing build/: checks the carried sysroot here")
    ap.add_argument("--build-limit-s", type=float, default=330,
                    help="the build step's limit (default 330: 16 cores; a --fresh-build on a small machine needs more)")
    ap.add_argument("--steps", help="comma-separated subset of: " + ",".join(s for s, _, _ in STEPS))
    ap.add_argument("--models-dir", default=default_models_dir(),
                    help="random-weight models, made once (default /dev/shm/fpokit-gpu-models when it has 24 GB "
                         "free, else /tmp/fpokit-gpu-models)")
    ap.add_argument("--sysroot", default="/tmp/fpokit-sysroot", help="where .devdeps/sysroot.tar.xz is unpacked")
    ap.add_argument("--peers-site", default="/tmp/fpokit-peers-site", help="where the carried wheels are installed")
    ap.add_argument("--peers-python", help="a python with sae_lens and sparsify (default: carried wheels, "
                                           "else bench/setup_peers.sh's venv when it exists)")
    args = ap.parse_args()
    names = [s for s, _, _ in STEPS]
    wanted = names if not args.steps else args.steps.split(",")
    for w in wanted:
        if w not in names:
            ap.error(f"--steps: unknown step {w!r}; the steps are {', '.join(names)}")

    r = Run(args)
    budget = Budget(args.budget_s)
    r.say(f"{'dry run (CPU)' if r.dry else 'GPU run'}; budget {args.budget_s:.0f} s; results in {r.out}")
    needs_build = {"ctest_cuda", "sae", "harvest", "forward", "preference", "online"}
    build_ok = True
    for name, limit, least in STEPS:
        if name == "build":
            limit = args.build_limit_s
        if name not in wanted and name not in ("environment", "dependencies"):
            continue
        r.step = name
        left = budget.left()
        if name in needs_build and not build_ok:
            r.record(kind="step", status="skipped", detail="needs the build, which did not finish", seconds=0)
            continue
        if left < least:
            r.record(kind="step", status="skipped", detail=f"budget: {left:.0f} s left, the step needs {least}", seconds=0)
            r.failed.append(name)
            if name == "build":
                build_ok = False
            continue
        r.step_deadline = time.monotonic() + min(limit, left)
        r.say(f"step {name}: up to {min(limit, left):.0f} s")
        t0 = time.monotonic()
        status, detail = "ok", None
        failures_before = len(r.failed)
        try:
            globals()[f"step_{name}"](r)
            if len(r.failed) > failures_before:
                status, detail = "partial", "some runs failed: see Failures"
        except StepTimeout as e:
            status, detail = "timed out", str(e)
        except StepFailed as e:
            status, detail = "failed", str(e)
        except Exception as e:  # a bug in this script: record it and go on with the next step
            status, detail = "failed", f"{type(e).__name__}: {e}"
        seconds = time.monotonic() - t0
        if status not in ("ok", "partial"):
            r.failed.append(name)
            if name == "build":
                build_ok = False
        r.record(kind="step", status=status, detail=detail, seconds=round(seconds, 1))
        r.say(f"step {name}: {status} in {seconds:.0f} s" + (f": {detail}" if detail else ""))
    print(render_markdown(r))
    if r.dry and r.failed:
        r.say("dry run failed: " + ", ".join(dict.fromkeys(r.failed)) + f" (details: {r.out}/run.log)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
