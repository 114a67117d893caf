#!/usr/bin/env python3
"""HF transformers side of the forward benchmark: same model, same shapes, same timing rules as
bench_forward (median of --iters after --warmup, synchronised), one JSON line."""
import argparse
import json
import time

import torch
import transformers


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--attn", default="auto",
                    help="HF attn_implementation; auto: sdpa, or eager for soft-capped attention (Gemma-2), "
                         "which transformers 5.23 refuses to run through sdpa")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    sync = (lambda: torch.cuda.synchronize()) if args.device.startswith("cuda") else (lambda: None)
    attn = args.attn
    if attn == "auto":
        softcap = getattr(transformers.AutoConfig.from_pretrained(args.model), "attn_logit_softcapping", None)
        attn = "eager" if softcap else "sdpa"
    t0 = time.perf_counter()
    model = transformers.AutoModelForCausalLM.from_pretrained(
        args.model, dtype=getattr(torch, args.dtype), attn_implementation=attn).to(args.device).eval()
    sync()
    load_s = time.perf_counter() - t0
    ids = torch.randint(0, model.config.vocab_size, (args.batch, args.seq), device=args.device)
    times = []
    with torch.no_grad():
        for _ in range(args.warmup):
            model(input_ids=ids, use_cache=False)
        sync()
        for _ in range(args.iters):
            t0 = time.perf_counter()
            model(input_ids=ids, use_cache=False)
            sync()
            times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps(dict(impl="transformers " + transformers.__version__, model=args.model, device=args.device,
                          dtype=args.dtype, batch=args.batch, seq=args.seq, threads=torch.get_num_threads(),
                          load_s=load_s, forward_median_s=median, tokens_per_s=args.batch * args.seq / median)))


if __name__ == "__main__":
    main()
