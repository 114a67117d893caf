#!/usr/bin/env python3
"""Writes an HF model directory with random weights for benchmarks (no download).

Presets: small (a Llama-style CPU model), llama-3.2-1b and gemma-2-2b (the real shapes)."""
import argparse

import torch
import transformers

PRESETS = {
    "small": ("LlamaConfig", dict(vocab_size=8192, hidden_size=512, intermediate_size=1376, num_hidden_layers=6,
                                  num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=2048)),
    # The small model with Llama 3's 128,256-token vocabulary: where the logits, not the trunk,
    # dominate a preference step's memory (the lean-step benchmark, docs/BENCHMARKS.md).
    "small-128k": ("LlamaConfig", dict(vocab_size=128256, hidden_size=512, intermediate_size=1376,
                                       num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=4,
                                       max_position_embeddings=2048)),
    "llama-3.2-1b": ("LlamaConfig", dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192,
                                         num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                                         head_dim=64, max_position_embeddings=131072, tie_word_embeddings=True,
                                         rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=32.0,
                                                              low_freq_factor=1.0, high_freq_factor=4.0,
                                                              original_max_position_embeddings=8192))),
    "gemma-2-2b": ("Gemma2Config", dict(vocab_size=256000, hidden_size=2304, intermediate_size=9216,
                                        num_hidden_layers=26, num_attention_heads=8, num_key_value_heads=4,
                                        head_dim=256, query_pre_attn_scalar=256, sliding_window=4096,
                                        attn_logit_softcapping=50.0, final_logit_softcapping=30.0)),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu",
                    help="where the random weights are drawn: cuda makes a 2B-parameter model in seconds instead "
                         "of a minute on the CPU (the values differ, the shapes do not)")
    args = ap.parse_args()
    cls, kwargs = PRESETS[args.preset]
    config = getattr(transformers, cls)(**kwargs)
    torch.manual_seed(0)
    with torch.device(args.device):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=getattr(torch, args.dtype))
    model.save_pretrained(args.out, safe_serialization=True)
    print(args.out)


if __name__ == "__main__":
    main()
