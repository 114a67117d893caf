#!/usr/bin/env python3
"""HF transformers + plain PyTorch side of the preference-training benchmark (bench_train.cpp).

Same model directory, same synthetic data, same per-step work and the same timing rules as
bench_train, printed as one JSON line with the same keys (impl "pytorch"):

* data: `--pairs` pairs of [prompt | completion] sequences, a shared random prompt and two random
  completions, drawn in bench_train's order from torch's CPU generator seeded with `--seed` (so the
  token ids are the same as bench_train's); one batch of 2·pairs rows [chosen ; rejected], no padding;
* a step: policy forward (attn_implementation="sdpa"; "eager" for Gemma-2's soft-capped attention,
  which fpokit also computes explicitly; use_cache=False), log_softmax in float32 and a
  gather over the completion tokens, the method's loss, TRL's metrics (rewards/*, logps/*, and
  logits/chosen|rejected: the mean logit over the vocabulary and the completion positions), backward,
  the gradient norm (read every step, as HF Trainer logs it) and clipping at --max-grad-norm, AdamW
  (lr 1e-6, betas 0.9/0.999, eps 1e-8, no weight decay; fpokit's PreferenceTrainerOptions defaults;
  fused=True as HF Trainer's default optim "adamw_torch_fused" with torch >= 2.8, --optim
  adamw_torch for the per-parameter loop) with the linear decay to 0 of HF's
  get_linear_schedule_with_warmup, zero_grad, and a host read of the loss and metrics;
* precision: the model in --dtype (pure bf16 training for bfloat16, as bench_train loads it), or
  with --mixed-precision float32 weights, gradients and AdamW state and the forward passes (policy,
  reference, log-probs, SAE) under torch.autocast(--dtype), as `fpokit train --dtype bfloat16` and
  HF Trainer's bf16=True do;
* the reference: a second copy of the model, one no-grad pass over the data before training (TRL's
  precompute_ref_log_probs=True), then dropped; its time is reported as reference_seconds. TDPO
  keeps it and runs it under no_grad every step for the per-token KL (as TDPO's released code and
  fpokit do); its summed log-probs still come from the offline pass, as in fpokit;
* FPO: a random TopK SAE of --sae-width latents and k=--sae-k (SAELens convention: W_enc = W_dec^T,
  unit-norm decoder rows, b_dec subtracted from the input; drawn as fpokit's initialize_weights, so
  the same --seed gives bench_train's SAE) reads the output of the middle decoder
  layer (fpokit's blocks.L.hook_resid_post) through a forward hook; features are average-pooled
  over the completion tokens; the feature MSE runs on the union of the policy's and the reference's
  top --fpo-top-k features (the paper's variant, fpokit's default), reference features precomputed.

Parity: with the same arguments and seed, the per-step losses agree with fpokit's PreferenceTrainer
(--print-losses; checked to ~1e-6 over 4 steps at --learning-rate 1e-4 for all four methods, on the
Llama-shaped small preset and a tiny Gemma-2 with soft-capping).

Losses (fpokit's defaults, fpo/src/preference_losses.cpp):
  dpo   -logσ(0.1·((π_w−ref_w) − (π_l−ref_l)))                                 summed log-probs
  simpo -logσ(2·(mean π_w − mean π_l − 0.5))                                   mean log-probs
  tdpo1 -logσ(0.1·((π_w−ref_w) − (π_l−ref_l) − (KL_l − KL_w)))                 KL = Σ_t KL(ref‖π)
  fpo   -logσ(0.1·(mean π_w − mean π_l) − 0.1·(mean ref_w − mean ref_l) − 0.5·(0.1·D_l − sg(0.1·D_w)))
"""
import argparse
import json
import resource
import time

import torch
import torch.nn.functional as F
import transformers

METHODS = ("dpo", "simpo", "tdpo1", "fpo", "kto")


def synthetic_batch(pairs, prompt, completion, vocab, seed):
    """bench_train's synthetic_pairs, drawn in the same order from the same generator."""
    torch.manual_seed(seed)
    chosen, rejected = [], []
    for _ in range(pairs):
        p = torch.randint(0, vocab, (prompt,), dtype=torch.int64)
        chosen.append(torch.cat([p, torch.randint(0, vocab, (completion,), dtype=torch.int64)]))
        rejected.append(torch.cat([p, torch.randint(0, vocab, (completion,), dtype=torch.int64)]))
    ids = torch.stack(chosen + rejected)  # [2B, T]: [chosen ; rejected]
    completion_mask = torch.zeros_like(ids)
    completion_mask[:, prompt:] = 1
    return ids, torch.ones_like(ids), completion_mask


class TopKSae(torch.nn.Module):
    """A frozen TopK SAE with random weights (the cost does not depend on the values)."""

    def __init__(self, d_in, width, k, seed):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        bound = 1.0 / d_in ** 0.5
        w = torch.empty(width, d_in).uniform_(-bound, bound, generator=gen)
        w = w / w.norm(dim=1, keepdim=True)
        self.W_dec = torch.nn.Parameter(w, requires_grad=False)
        self.W_enc = torch.nn.Parameter(w.t().contiguous(), requires_grad=False)
        self.b_enc = torch.nn.Parameter(torch.zeros(width), requires_grad=False)
        self.b_dec = torch.nn.Parameter(torch.zeros(d_in), requires_grad=False)
        self.k = k

    def encode(self, x):
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        top = torch.relu(pre).topk(self.k, dim=-1, sorted=False)
        return torch.zeros_like(pre).scatter(-1, top.indices, top.values)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--method", choices=METHODS, default="dpo")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--completion", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--sae-width", type=int, default=0, help="0: 16384 on CUDA, 1024 on CPU (as bench_train)")
    ap.add_argument("--sae-k", type=int, default=64)
    ap.add_argument("--fpo-top-k", type=int, default=50)
    ap.add_argument("--fpo-layer", type=int, default=-1, help="decoder layer whose output the SAE reads (-1: middle)")
    ap.add_argument("--learning-rate", type=float, default=1e-6)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--optim", choices=["adamw_torch_fused", "adamw_torch"], default="adamw_torch_fused",
                    help="HF TrainingArguments' optim (its default with torch >= 2.8: adamw_torch_fused)")
    ap.add_argument("--attn", default="auto",
                    help="HF attn_implementation; auto: sdpa, or eager for soft-capped attention (Gemma-2), which "
                         "transformers' sdpa refuses and fpokit computes explicitly")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mixed-precision", action="store_true",
                    help="float32 weights, forward passes under autocast to --dtype")
    ap.add_argument("--print-losses", action="store_true", help="add every step's loss to the JSON line")
    ap.add_argument("--loss-layer", choices=["torch", "liger"], default="torch",
                    help="liger: the LM head and loss through Liger-Kernel's chunked fused-linear losses "
                         "(LigerFusedLinearDPOLoss / SimPOLoss, as TRL's use_liger_loss; dpo and simpo only). "
                         "Liger takes no precomputed reference: DPO runs the reference trunk every step and "
                         "passes its hidden states (ref_input). Needs liger-kernel (bench/setup_peers.sh)")
    args = ap.parse_args()
    if args.loss_layer == "liger" and args.method not in ("dpo", "simpo"):
        ap.error("--loss-layer liger: Liger-Kernel has no fused loss for " + args.method + " (dpo and simpo only)")
    if min(args.pairs, args.prompt, args.completion, args.steps) < 1 or args.warmup < 0:
        ap.error("--pairs, --prompt, --completion and --steps must be positive")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    dtype = getattr(torch, args.dtype)
    method = args.method
    autocast = args.mixed_precision and dtype != torch.float32
    weights_dtype = torch.float32 if autocast else dtype

    def autocast_scope():
        return torch.autocast(device.type, dtype=dtype, enabled=autocast)

    attn_impl = args.attn
    if attn_impl == "auto":
        softcap = getattr(transformers.AutoConfig.from_pretrained(args.model), "attn_logit_softcapping", None)
        attn_impl = "eager" if softcap else "sdpa"

    def load():
        m = transformers.AutoModelForCausalLM.from_pretrained(args.model, dtype=weights_dtype,
                                                              attn_implementation=attn_impl)
        m.config.use_cache = False
        return m.to(device)

    policy = load()
    config = policy.config
    ids, attn, cmask = (t.to(device) for t in synthetic_batch(args.pairs, args.prompt, args.completion,
                                                               config.vocab_size, args.seed))
    B, T = args.pairs, args.prompt + args.completion
    mask = cmask[:, 1:].float()  # the shifted completion mask [2B, T-1]
    targets = ids[:, 1:]
    n_tokens = mask.sum(1)

    # FPO: the SAE on the policy's device in float32, frozen; a forward hook keeps the layer output.
    sae, captured, fpo_layer, sae_width = None, {}, None, args.sae_width
    if method == "fpo":
        sae_width = sae_width or (16384 if cuda else 1024)
        fpo_layer = args.fpo_layer if args.fpo_layer >= 0 else config.num_hidden_layers // 2
        sae = TopKSae(config.hidden_size, sae_width, args.sae_k, args.seed).to(device)

    def attach_hook(model):
        def hook(_module, _inputs, output):
            captured["h"] = output[0] if isinstance(output, tuple) else output
        return model.model.layers[fpo_layer].register_forward_hook(hook)

    def forward(model, ref_logits=None):
        """Per-sequence summed/mean completion log-probs, and the KL or pooled features when asked."""
        logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits
        logp = logits[:, :-1].float().log_softmax(-1)
        token_logps = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1) * mask
        out = {"sum": token_logps.sum(1)}
        with torch.no_grad():  # TRL's logits/chosen|rejected, summed over the vocabulary in float32
            per_position = torch.sum(logits[:, :-1], -1, dtype=torch.float32) * mask
            out["mean_logits"] = torch.stack([per_position[:B].sum() / mask[:B].sum(),
                                              per_position[B:].sum() / mask[B:].sum()]) / logits.size(-1)
        out["mean"] = out["sum"] / n_tokens.clamp_min(1.0)
        if ref_logits is not None:  # TDPO: Σ_t KL(ref ‖ π) over the completion
            ref_logp = ref_logits[:, :-1].float().log_softmax(-1)
            out["kl"] = ((ref_logp.exp() * (ref_logp - logp)).sum(-1) * mask).sum(1)
        if sae is not None:
            feats = sae.encode(captured.pop("h").float())  # [2B, T, F]
            out["pooled"] = torch.einsum("btf,bt->bf", feats[:, :-1], mask) / n_tokens.clamp_min(1.0)[:, None]
        return out

    liger = None
    if args.loss_layer == "liger":
        from liger_kernel.chunked_loss import LigerFusedLinearDPOLoss, LigerFusedLinearSimPOLoss
        # Chunks of one pair (Liger's default chunk_size=1), torch.compile'd (compiled=True), as TRL uses them.
        liger = (LigerFusedLinearDPOLoss(beta=0.1, use_ref_model=True) if method == "dpo" else
                 LigerFusedLinearSimPOLoss(beta=2.0, gamma=1.0, compute_nll_loss=False))
        liger_targets = torch.where(mask.bool(), targets, torch.full_like(targets, -100))

    # Offline reference pass (TRL precompute_ref_log_probs=True; fpokit's precompute_reference).
    ref, reference_seconds, ref_model = None, 0.0, None
    if liger is not None and method == "dpo":
        ref_model = load().eval()  # online: Liger needs the reference's hidden states every step
    elif method != "simpo":
        t0 = time.perf_counter()
        ref_model = load().eval()
        handle = attach_hook(ref_model) if sae is not None else None
        with torch.no_grad(), autocast_scope():
            ref = {k: v.detach() for k, v in forward(ref_model).items()}
        if handle is not None:
            handle.remove()
        if method != "tdpo1":
            ref_model = None
        sync()
        reference_seconds = time.perf_counter() - t0
    if sae is not None:
        attach_hook(policy)

    policy.train()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-8,
                                  weight_decay=0.0, fused=args.optim == "adamw_torch_fused")
    total = args.warmup + args.steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1.0 - s / total))

    def feature_mse(p, r, k):
        sel = torch.zeros_like(p, dtype=torch.bool)
        sel.scatter_(1, p.detach().topk(k, 1).indices, True)
        sel.scatter_(1, r.topk(k, 1).indices, True)
        return ((p - r).square() * sel).sum(1) / k

    def liger_loss_and_metrics():
        with autocast_scope():
            hidden = policy.model(input_ids=ids, attention_mask=attn, use_cache=False).last_hidden_state
            kwargs = {}
            if ref_model is not None:
                with torch.no_grad():
                    ref_hidden = ref_model.model(input_ids=ids, attention_mask=attn,
                                                 use_cache=False).last_hidden_state
                kwargs = dict(ref_input=ref_hidden[:, :-1], ref_weight=ref_model.lm_head.weight)
            loss, aux = liger(policy.lm_head.weight, hidden[:, :-1], liger_targets, **kwargs)
        cw, cl = aux[0].detach(), aux[1].detach()
        metrics = torch.stack([cw.mean(), cl.mean(), (cw > cl).float().mean(), (cw - cl).mean(),
                               aux[2].detach().float().mean(), aux[3].detach().float().mean()])
        return loss, metrics

    def loss_and_metrics():
        if liger is not None:
            return liger_loss_and_metrics()
        ref_logits = None
        with autocast_scope():
            if ref_model is not None:
                with torch.no_grad():
                    ref_logits = ref_model(input_ids=ids, attention_mask=attn, use_cache=False).logits
            pi = forward(policy, ref_logits)
        w, l = slice(0, B), slice(B, 2 * B)
        if method == "dpo":
            beta = 0.1
            rw, rl = pi["sum"][w] - ref["sum"][w], pi["sum"][l] - ref["sum"][l]
            loss = -F.logsigmoid(beta * (rw - rl)).mean()
            cr, rr = beta * rw, beta * rl
        elif method == "simpo":
            beta = 2.0
            loss = -F.logsigmoid(beta * (pi["mean"][w] - pi["mean"][l] - 0.5)).mean()
            cr, rr = beta * pi["mean"][w], beta * pi["mean"][l]
        elif method == "tdpo1":
            beta = 0.1
            mw, ml = pi["sum"][w] - ref["sum"][w], pi["sum"][l] - ref["sum"][l]
            kw, kl = pi["kl"][w], pi["kl"][l]
            loss = -F.logsigmoid(beta * ((mw - ml) - (kl - kw))).mean()
            cr, rr = beta * (mw + kw), beta * (ml + kl)
        elif method == "kto":
            # TRL's KTO (λ_D = λ_U = 1): the first half holds the examples, the second their KL
            # sequences (fpokit's kto_training_pairs layout); even rows desirable, odd undesirable.
            beta = 0.1
            z0 = (pi["sum"][l] - ref["sum"][l]).mean().clamp(min=0).detach()
            ratio = pi["sum"][w] - ref["sum"][w]
            desirable = torch.arange(B, device=ratio.device) % 2 == 0
            loss = torch.where(desirable, 1 - torch.sigmoid(beta * (ratio - z0)),
                               1 - torch.sigmoid(beta * (z0 - ratio))).mean()
            cr, rr = beta * ratio, beta * (pi["sum"][l] - ref["sum"][l])
        else:  # fpo
            beta, alpha = 0.1, 0.5
            d_w = feature_mse(pi["pooled"][w], ref["pooled"][w], args.fpo_top_k)
            d_l = feature_mse(pi["pooled"][l], ref["pooled"][l], args.fpo_top_k)
            gamma = beta * ref["mean"][w] - beta * ref["mean"][l]
            delta = alpha * (beta * d_l - (beta * d_w).detach())
            loss = -F.logsigmoid(beta * pi["mean"][w] - beta * pi["mean"][l] - gamma - delta).mean()
            cr = beta * (pi["mean"][w] - ref["mean"][w] + d_w)
            rr = beta * (pi["mean"][l] - ref["mean"][l] + d_l)
        cr, rr = cr.detach(), rr.detach()
        metrics = torch.stack([cr.mean(), rr.mean(), (cr > rr).float().mean(), (cr - rr).mean(),
                               pi["sum"][w].detach().mean(), pi["sum"][l].detach().mean(), *pi["mean_logits"]])
        return loss, metrics

    losses = []

    def step():
        loss, metrics = loss_and_metrics()
        loss_value = loss.item()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm) \
            if args.max_grad_norm > 0 else torch.zeros(())
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        grad_norm.item(), metrics.tolist()  # the per-step host reads of the logger
        losses.append(loss_value)

    # Peak over the training steps (warm-up included, as bench_train), after the reference pass.
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    seconds = time.perf_counter() - t0

    peer = f"transformers {transformers.__version__}, torch {torch.__version__}"
    if liger is not None:
        import importlib.metadata
        peer += f", liger-kernel {importlib.metadata.version('liger-kernel')}"
    out = dict(impl="pytorch" if liger is None else "pytorch+liger", peer=peer,
               method=method, model=args.model, device=args.device, dtype=args.dtype,
               precision=f"float32 weights, autocast {args.dtype}" if autocast else args.dtype, optim=args.optim, attn=attn_impl,
               threads=torch.get_num_threads(), pairs=B, prompt=args.prompt, completion=args.completion, seq=T,
               warmup=args.warmup, steps=args.steps, seconds=seconds, steps_per_s=args.steps / seconds,
               tokens_per_s=2 * B * T * args.steps / seconds,
               reference="online (Liger takes no precomputed reference)" if liger is not None and method == "dpo" else
               {"simpo": "none", "tdpo1": "offline sums + online forward (per-token KL)"}.get(method, "offline"),
               reference_seconds=reference_seconds)
    if method == "fpo":
        out.update(sae_width=sae_width, sae_k=args.sae_k, fpo_hook=f"blocks.{fpo_layer}.hook_resid_post")
    # ru_maxrss is in KiB on Linux: the process's peak resident set, model loading included.
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if cuda:
        out["peak_cuda_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        out["peak_cuda_reserved_bytes"] = torch.cuda.max_memory_reserved(device)
    if args.print_losses:
        out["losses"] = losses
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
