#!/usr/bin/env python3
"""Makes models/tiny-llama: the small bundled model that `scripts/demo.sh` runs.

A Llama-3-style byte-level BPE tokenizer (vocab 512) and a 2-layer Llama (hidden 128), both
trained for a minute on CPU on the short text below, so that `fpokit generate` has something
readable to say. It is a demo and a smoke test, not a language model.

    ~/.cache/fpokit/venv-torch-2.11.0/bin/python models/make_tiny_llama.py
"""
import os
import shutil

import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-llama")
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

TEXT = """The quick brown fox jumps over the lazy dog. The lazy dog sleeps in the sun, and the fox runs into the woods.
In the woods the fox meets an old owl. The owl asks the fox where it is going, and the fox says that it is looking for the river.
The owl tells the fox to follow the path past the tall oak tree until it hears the water.
The fox thanks the owl and walks along the path. Soon it hears the river and sees the water shining in the light.
At the river the fox drinks, rests on the warm stones, and watches the fish swim by.
When the sun goes down, the fox walks back through the woods, past the tall oak tree and the old owl, to the field where the dog still sleeps.
The dog wakes up and asks the fox where it has been. The fox tells the dog about the owl, the path and the river.
The next morning the dog and the fox walk to the river together, and the owl watches them from the tall oak tree.
A language model reads text one token at a time and learns to predict the next token.
Preference optimisation teaches a model which of two answers people prefer, and sparse autoencoders show which features change inside the model.
"""


def train_llama3_tokenizer(texts, vocab_size, path):
    """A Llama-3-style tokenizer (byte-level BPE, the Llama-3 pre-tokenizer regex, BOS
    <|begin_of_text|> added, EOS <|end_of_text|>) trained on `texts`, saved in HF format to `path`.
    examples/demo/make_demo_init.py makes the demo model's tokenizer with it too."""
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>",
                                                eos_token="<|end_of_text|>")
    fast.save_pretrained(path)
    return fast


def train_tokenizer(path):
    return train_llama3_tokenizer([TEXT] * 4, 512, path)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    tokenizer = train_tokenizer(OUT)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=344, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = transformers.LlamaForCausalLM(config)
    ids = tokenizer(TEXT)["input_ids"] + [tokenizer.eos_token_id]
    data = torch.tensor(ids)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    seq, batch = 64, 16
    g = torch.Generator().manual_seed(0)
    for step in range(400):
        starts = torch.randint(0, len(data) - seq - 1, (batch,), generator=g)
        x = torch.stack([data[s:s + seq] for s in starts])
        loss = model(input_ids=x, labels=x).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == 399:
            print(f"step {step}: loss {loss.item():.3f}")
    model.eval()
    # Stored in bfloat16 (half the bytes); fpokit loads it as float32 on CPU by default.
    model.to(torch.bfloat16).save_pretrained(OUT, safe_serialization=True)
    model.float()
    prompt = tokenizer("The quick brown fox", return_tensors="pt")
    out = model.generate(**prompt, max_new_tokens=30, do_sample=False)
    print(tokenizer.decode(out[0]))


if __name__ == "__main__":
    main()
