#!/usr/bin/env python3
"""Peer side of the SAE-training benchmark: training-step throughput of SAELens, EleutherAI sparsify
and a plain PyTorch TopK SAE on random activations, to set against fpokit's C++ trainer on the same
machine. Prints ONE JSON line on stdout (everything the peers print goes to stderr).

Run it with the peers' venv (bench/setup_peers.sh prints its python), e.g.
  $(bench/setup_peers.sh | tail -n 1) bench/peer_sae_train.py --peer saelens --device cuda --dtype bfloat16

What is timed: `--steps` optimisation steps after `--warmup` untimed ones, each the peer's own
per-step training code (forward, its loss, backward, its gradient handling, its optimizer step, its
dead-latent bookkeeping), with a device synchronisation before the clock starts and before it stops.
What is not: data loading. The activations are a few seeded torch.randn batches generated on the
device up front and cycled, so the number is the trainer's compute, not an input pipeline.

Precision: parameters are always float32 (every peer keeps fp32 master weights); --dtype bfloat16
runs the step under torch.autocast(bf16), which is what SAELens's `autocast=True` does and what
sparsify does unconditionally on CUDA (see the notes in the JSON).
"""
import argparse
import contextlib
import importlib.metadata as md
import json
import os
import sys
import time

import torch


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer", required=True, choices=["saelens", "sparsify", "torch-naive"])
    ap.add_argument("--arch", default="topk", choices=["topk", "batchtopk"],
                    help="batchtopk: SAELens and torch-naive only (sparsify has no BatchTopK)")
    ap.add_argument("--d-in", type=int, default=2304)
    ap.add_argument("--width", type=int, default=16384, help="number of latents (d_sae)")
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--batch-tokens", type=int, default=32768)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--n-batches", type=int, default=2,
                    help="pre-generated batches cycled through (all stay resident on the device)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0 leaves torch's default")
    ap.add_argument("--dead-frac", type=float, default=0.0,
                    help="force this fraction of latents to count as dead before every step, so the "
                         "AuxK path (which a short run from init never reaches) is exercised and timed")
    ap.add_argument("--sparsify-optimizer", default="signum", choices=["signum", "adam"],
                    help="sparsify's TrainConfig.optimizer: signum (its default: ScheduleFree-wrapped "
                         "SignSGD) or adam (torch Adam + linear warmup, as its Trainer sets them up)")
    ap.add_argument("--sparsify-auxk-alpha", type=float, default=1 / 32,
                    help="sparsify's TrainConfig.auxk_alpha (its default 0.0 skips dead tracking in the "
                         "loss entirely; 1/32 is the OpenAI TopK paper's value, so the AuxK bookkeeping "
                         "and its per-step host sync are paid, as in SAELens and fpokit)")
    ap.add_argument("--matmul-precision", default="peer", choices=["peer", "highest", "high", "medium"],
                    help="torch.set_float32_matmul_precision; 'peer' = what the peer's trainer sets "
                         "(sparsify's fit() sets 'high', i.e. TF32 on CUDA; the others leave 'highest')")
    ap.add_argument("--compile", action="store_true",
                    help="SAELens only: torch.compile(training_forward_pass), as its runner's compile_sae=True")
    return ap.parse_args()


def make_batches(args, device):
    # Seeded on the device itself so that a big batch never crosses PCIe and generation is cheap.
    g = torch.Generator(device=device).manual_seed(args.seed)
    return [torch.randn(args.batch_tokens, args.d_in, device=device, generator=g)
            for _ in range(max(1, args.n_batches))]


def autocast_ctx(args, device):
    if args.dtype == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------------------------------
# SAELens (v6): the real SAETrainer, driven one step at a time through its public `step()` seam
# (the one fit() and MultiSAETrainer call), so the timed code is exactly its training step:
#   TopKTrainingSAE.training_forward_pass under its autocast context (MSE summed over d_in, mean over
#   tokens, + TopK AuxK loss when any latent is dead), its firing/dead-latent bookkeeping,
#   loss.backward(), clip_grad_norm_(1.0), Adam step, zero_grad, LR-scheduler step.
# Decoder handling: SAELens does NOT renormalise W_dec or project its gradient. Instead TopK's
# rescale_acts_by_decoder_norm=True (the training default) multiplies the pre-activations by
# ||W_dec row|| before the top-k and divides the activations by it before decoding, i.e. it
# recomputes the decoder row norms in every forward pass.
# --------------------------------------------------------------------------------------------------
def build_saelens(args, device):
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    cfg_cls, sae_cls = ((TopKTrainingSAEConfig, TopKTrainingSAE) if args.arch == "topk"
                        else (BatchTopKTrainingSAEConfig, BatchTopKTrainingSAE))
    # Everything else left at the training defaults (apply_b_dec_to_input=True, decoder_init_norm=0.1,
    # aux_loss_coefficient=1.0, normalize_activations="none", dense activations).
    sae = sae_cls(cfg_cls(d_in=args.d_in, d_sae=args.width, k=args.k, dtype="float32", device=str(device)))
    total_steps = args.warmup + args.steps
    trainer_cfg = SAETrainerConfig(
        total_training_samples=total_steps * args.batch_tokens,
        train_batch_size_samples=args.batch_tokens,
        device=str(device),
        autocast=args.dtype == "bfloat16",  # SAETrainer's own bf16 autocast around the forward pass
        # SAETrainer asserts lr_end is set; the runner config's __post_init__ fills in lr / 10.
        lr_end=3e-4 / 10,
        # Defaults kept: lr 3e-4, Adam(0.9, 0.999), constant LR, dead_feature_window=1000 steps,
        # no wandb (LoggingConfig(log_to_wandb=False)), no checkpoints.
    )
    # data_provider is only read by fit() and the evaluator; step() takes the batch directly.
    trainer = SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=iter(()))
    trainer.sae.to(device)  # what fit() does first
    if args.compile:
        # Mirrors LanguageModelSAETrainingRunner._compile_sae_if_needed.
        sae.training_forward_pass = torch.compile(sae.training_forward_pass, backend="inductor")
    n_dead = int(args.dead_frac * args.width)

    def step(batch):
        if n_dead:
            # dead = n_forward_passes_since_fired > dead_feature_window (steps since last firing)
            trainer.n_forward_passes_since_fired[:n_dead] = trainer.cfg.dead_feature_window + 1
        trainer.step(batch)
        trainer.n_training_steps += 1  # fit() advances this after step(); the LR scheduler already did

    notes = ("SAELens SAETrainer.step(): training_forward_pass (MSE sum/mean + TopK AuxK when dead "
             "latents exist; dead = not fired for >1000 steps, so none in a short run unless "
             "--dead-frac) + backward + clip_grad_norm_(1.0) + Adam(lr 3e-4) + constant LR scheduler; "
             "no decoder renorm/grad projection: rescale_acts_by_decoder_norm=True recomputes "
             "||W_dec|| rows every forward; dense topk->scatter activations and dense decode "
             "(use_sparse_activations=False default); per-step host sync from int(dead_mask.sum())")
    if args.arch == "batchtopk":
        notes += "; BatchTopK: global top k*B over the batch + EMA threshold update each step"
    if args.compile:
        notes += "; training_forward_pass torch.compile'd (inductor)"
    return step, md.version("sae-lens"), "adam", notes


# --------------------------------------------------------------------------------------------------
# sparsify (EleutherAI, PyPI: eai-sparsify): its Trainer only runs hooked into a HF model over a
# tokenised dataset, so its per-step code for loss_fn="fvu", grad_acc_steps=micro_acc_steps=1 is
# reproduced here line for line (sparsify/trainer.py: the forward hook and the fit() loop):
#   step 0 only: b_dec <- batch mean;  every step: set_decoder_norm_to_unit_norm();
#   dead_mask = num_tokens_since_fired > dead_feature_threshold (if auxk_alpha > 0);
#   total_variance; SparseCoder.forward (FusedEncoder: linear+ReLU+topk with an index_add backward;
#   decoder: embedding_bag (eager, on CPU) or the Triton kernel (CUDA)); did_fire update;
#   float(fvu) (and float(auxk)) for logging = a host sync each step, as in the Trainer;
#   loss = fvu + auxk_alpha * auxk (+ multi_topk term, off); backward;
#   remove_gradient_parallel_to_decoder_directions(); optimizer step; zero_grad; scheduler step;
#   num_tokens_since_fired bookkeeping.
# --------------------------------------------------------------------------------------------------
def build_sparsify(args, device):
    if args.arch != "topk":
        raise SystemExit("sparsify has no BatchTopK; use --arch topk")
    from sparsify.config import SparseCoderConfig, TrainConfig
    from sparsify.sparse_coder import SparseCoder
    from sparsify.utils import decoder_impl

    cfg = TrainConfig(sae=SparseCoderConfig(num_latents=args.width, k=args.k),
                      optimizer=args.sparsify_optimizer, auxk_alpha=args.sparsify_auxk_alpha,
                      log_to_wandb=False)
    torch.manual_seed(cfg.init_seeds[0])
    sae = SparseCoder(args.d_in, cfg.sae, device, dtype=torch.float32)  # the Trainer's exact call

    # Optimizer set-up copied from Trainer.__init__ for one SAE.
    total_steps = args.warmup + args.steps
    if cfg.optimizer == "signum":
        from schedulefree import ScheduleFreeWrapper
        from sparsify.sign_sgd import SignSGD
        lr = cfg.lr or 5e-3 / (sae.num_latents / (2**14)) ** 0.5
        opt = ScheduleFreeWrapper(SignSGD([dict(params=sae.parameters(), lr=lr)]), momentum=0.95)
        opt.train()
        schedulers = []
        opt_desc = f"signum (ScheduleFreeWrapper(SignSGD, momentum=0.95), lr {lr:.2e})"
    else:
        from transformers import get_linear_schedule_with_warmup
        try:  # the Trainer prefers bitsandbytes' 8-bit Adam when it is importable
            from bitsandbytes.optim import Adam8bit as Adam
            adam_name = "bitsandbytes Adam8bit"
        except ImportError:
            from torch.optim import Adam
            adam_name = "torch Adam"
        lr = cfg.lr or 2e-4 / (sae.num_latents / (2**14)) ** 0.5
        opt = Adam([dict(params=sae.parameters(), lr=lr)])
        schedulers = [get_linear_schedule_with_warmup(opt, cfg.lr_warmup_steps, total_steps)]
        opt_desc = f"adam ({adam_name}, lr {lr:.2e}, linear warmup {cfg.lr_warmup_steps})"

    num_tokens_since_fired = torch.zeros(sae.num_latents, device=device, dtype=torch.long)
    did_fire = torch.zeros(sae.num_latents, device=device, dtype=torch.bool)
    n_dead = int(args.dead_frac * args.width)
    state = {"global_step": 0}
    logged = {"fvu": 0.0, "auxk": 0.0}  # stands in for the Trainer's avg_fvu / avg_auxk_loss

    def step(batch):
        outputs = inputs = batch
        if state["global_step"] == 0:
            sae.b_dec.data = outputs.mean(0).to(sae.dtype)
        if sae.cfg.normalize_decoder:
            sae.set_decoder_norm_to_unit_norm()
        if n_dead:
            num_tokens_since_fired[:n_dead] = cfg.dead_feature_threshold + 1
        dead_mask = num_tokens_since_fired > cfg.dead_feature_threshold if cfg.auxk_alpha > 0 else None
        total_variance = (outputs - outputs.mean(0)).pow(2).sum()
        out = sae(x=inputs, y=outputs, dead_mask=dead_mask, total_variance=total_variance)
        did_fire[out.latent_indices.flatten()] = True
        logged["fvu"] += float(out.fvu.detach())
        if cfg.auxk_alpha > 0:
            logged["auxk"] += float(out.auxk_loss.detach())
        loss = out.fvu + cfg.auxk_alpha * out.auxk_loss + out.multi_topk_fvu / 8
        loss.div(1).backward()  # acc_steps = 1
        if sae.cfg.normalize_decoder and not sae.cfg.transcode:
            sae.remove_gradient_parallel_to_decoder_directions()
        opt.step()
        opt.zero_grad()
        for s in schedulers:
            s.step()
        with torch.no_grad():
            num_tokens_since_fired.add_(batch.shape[0])
            num_tokens_since_fired[did_fire] = 0
            did_fire.zero_()
        state["global_step"] += 1

    decoder = getattr(decoder_impl, "__name__", str(decoder_impl))
    notes = (f"sparsify Trainer step reproduced (loss_fn=fvu): optimizer {opt_desc}; loss FVU + "
             f"auxk_alpha={cfg.auxk_alpha:g} * AuxK (dead = no firing for >{cfg.dead_feature_threshold} "
             f"tokens, so none in a short run unless --dead-frac); W_dec renormalised to unit rows "
             f"before every forward + gradient parallel to decoder rows removed before every step; "
             f"FusedEncoder (dense linear+ReLU+topk, sparse index_add backward); sparse decoder "
             f"{decoder}; no grad clipping; float(fvu)/float(auxk) host syncs each step")
    if device.type == "cuda":
        notes += ("; SparseCoder.forward is decorated with torch.autocast('cuda', bf16) whenever "
                  "the GPU supports bf16, so on CUDA it runs bf16 even with --dtype float32")
    return step, md.version("eai-sparsify"), cfg.optimizer, notes


# --------------------------------------------------------------------------------------------------
# torch-naive: the simplest dense TopK SAE step, as a floor for what "just PyTorch" gives:
# (x - b_dec) @ W_enc + b_enc -> topk -> ReLU -> scatter into a dense [B, width] tensor -> dense
# decode -> MSE (sum over d_in, mean over tokens) -> backward -> Adam. No AuxK, no decoder
# normalisation, no clipping, no dead-latent bookkeeping.
# --------------------------------------------------------------------------------------------------
def build_naive(args, device):
    g = torch.Generator(device="cpu").manual_seed(args.seed + 1)
    W_dec = torch.randn(args.width, args.d_in, generator=g)
    W_dec = (W_dec / W_dec.norm(dim=-1, keepdim=True) * 0.1).to(device)
    params = {
        "W_enc": torch.nn.Parameter(W_dec.T.contiguous()),
        "b_enc": torch.nn.Parameter(torch.zeros(args.width, device=device)),
        "W_dec": torch.nn.Parameter(W_dec),
        "b_dec": torch.nn.Parameter(torch.zeros(args.d_in, device=device)),
    }
    opt = torch.optim.Adam(params.values(), lr=3e-4)
    ac = lambda: autocast_ctx(args, device)  # noqa: E731

    def step(batch):
        with ac():
            pre = (batch - params["b_dec"]) @ params["W_enc"] + params["b_enc"]
            if args.arch == "topk":
                vals, idx = pre.topk(args.k, dim=-1, sorted=False)
                acts = torch.zeros_like(pre).scatter(-1, idx, vals.relu())
            else:  # batchtopk: the k*B largest ReLU'd pre-activations over the whole batch
                flat = pre.relu().flatten()
                vals, idx = flat.topk(args.k * pre.shape[0], sorted=False)
                acts = torch.zeros_like(flat).scatter(-1, idx, vals).view_as(pre)
            recon = acts @ params["W_dec"] + params["b_dec"]
            loss = (recon.float() - batch).pow(2).sum(-1).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    notes = ("plain dense PyTorch: encode, topk, ReLU, dense scatter + dense decode, MSE, Adam(lr 3e-4); "
             "no AuxK / decoder renorm / grad clipping / dead tracking")
    if args.dead_frac:
        notes += "; --dead-frac ignored (no AuxK)"
    return step, torch.__version__, "adam", notes


def main():
    args = parse_args()
    device = torch.device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if device.type == "cpu":
        # sparsify picks its Triton decoder at import time when triton is importable (it is, with the
        # CUDA torch wheel), and that kernel cannot run on CPU tensors.
        os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")
    precision = args.matmul_precision
    if precision == "peer":
        precision = "high" if args.peer == "sparsify" else "highest"
    torch.set_float32_matmul_precision(precision)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    # The peers print banners/progress on stdout; keep stdout for the one JSON line.
    with contextlib.redirect_stdout(sys.stderr):
        batches = make_batches(args, device)
        builder = {"saelens": build_saelens, "sparsify": build_sparsify, "torch-naive": build_naive}[args.peer]
        step, version, optimizer, notes = builder(args, device)
        # torch-naive wraps autocast itself; SAELens's trainer owns its autocast (cfg.autocast);
        # sparsify's Trainer has none of its own beyond the CUDA decorator, so add it for bf16 here.
        outer = autocast_ctx(args, device) if args.peer == "sparsify" else contextlib.nullcontext()

        i = 0
        with outer:
            for _ in range(args.warmup):
                step(batches[i % len(batches)])
                i += 1
            sync()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(batches[i % len(batches)])
                i += 1
            sync()
            seconds = time.perf_counter() - t0

    result = dict(peer=args.peer, version=version, torch=torch.__version__, device=args.device,
                  dtype=args.dtype, arch=args.arch, d_in=args.d_in, width=args.width, k=args.k,
                  batch_tokens=args.batch_tokens, steps=args.steps, warmup=args.warmup,
                  seconds=seconds, tokens_per_s=args.steps * args.batch_tokens / seconds,
                  step_ms=1e3 * seconds / args.steps, optimizer=optimizer,
                  threads=torch.get_num_threads(), matmul_precision=precision,
                  dead_frac=args.dead_frac)
    if device.type == "cuda":
        # Whole-run peak: parameters, optimizer state, the --n-batches resident batches, activations.
        result["peak_mem_bytes"] = torch.cuda.max_memory_allocated(device)
        result["gpu"] = torch.cuda.get_device_name(device)
    result["notes"] = notes + (f"; {args.n_batches} pre-generated randn batches cycled, "
                               f"autocast bf16: {args.dtype == 'bfloat16'}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
