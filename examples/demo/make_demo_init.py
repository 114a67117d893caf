#!/usr/bin/env python3
"""Makes the demo model's starting point: a tokenizer trained on the demo corpus and a Llama with
random weights, in HF format. fpokit then trains it (`fpokit train --method sft`, the exact command
in examples/demo/README.md); this script only does what fpokit does not: train a tokenizer and
draw an initialisation.

The tokenizer is Llama-3's kind (byte-level BPE, the Llama-3 pre-tokenizer regex, BOS
<|begin_of_text|> added, EOS <|end_of_text|>), trained by HF `tokenizers` on corpus.jsonl. The
model is a 4-layer Llama, hidden 256, 8 heads of 32 with 4 key/value heads (GQA), tied
embeddings: 3.1 M parameters, HF's initialisation (normal, std 0.02) with seed 0.

    ~/.cache/fpokit/venv-torch-2.11.0/bin/python examples/demo/make_demo_init.py OUT_DIR
"""
import json
import os
import sys

import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "models"))
from make_tiny_llama import train_llama3_tokenizer  # noqa: E402  (the bundled tiny model's, shared)

VOCAB = 768


def corpus_texts():
    with open(os.path.join(HERE, "corpus.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tokenizer = train_llama3_tokenizer(corpus_texts(), VOCAB, out)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=8,
        num_key_value_heads=4, max_position_embeddings=256, tie_word_embeddings=True, rope_theta=10000.0,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    lengths = [len(tokenizer(t)["input_ids"]) for t in corpus_texts()]
    print(f"{out}: vocab {len(tokenizer)}, {n / 1e6:.2f} M parameters; corpus {sum(lengths)} tokens, "
          f"longest row {max(lengths)}")


if __name__ == "__main__":
    main()
