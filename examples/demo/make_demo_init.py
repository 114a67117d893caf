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
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
VOCAB = 768


def corpus_texts():
    with open(os.path.join(HERE, "corpus.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def train_tokenizer(out):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus_texts(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>",
                                                eos_token="<|end_of_text|>")
    fast.save_pretrained(out)
    return fast


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tokenizer = train_tokenizer(out)
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
