#!/usr/bin/env python3
"""Checks that transformers and PEFT read what fpokit writes, with the same numbers.

Run by the `interop` test suite (tests/interop/test_interop.cpp) with the project venv
(FPOKIT_PYTHON: torch, transformers, peft):
    python tests/interop/check_hf_loads.py MANIFEST.json

MANIFEST.json: {"cases": [CASE, ...]}, each CASE an object with
    name           what the case is, for the messages
    model          a model directory (config.json, safetensors, tokenizer files)
    fpokit_logits  the output of `fpokit forward` on it (input_ids, attention_mask, logits)
    adapter        optional: a PEFT adapter folder fpokit wrote; the logits are then base + adapter
    source         optional: the model directory the checked one was made from (the starting
                   model of a training run); the checked logits must differ from its logits, so
                   that a match cannot be inherited from a model transformers already reads, and
                   its tokenizer must give the same ids as the saved copy
    tolerance      optional: max |logit difference| allowed (default 1e-4, fp32)

For each case:
  * the folder fpokit wrote loads: AutoConfig, AutoModelForCausalLM with no missing, unexpected or
    mis-shaped tensor, GenerationConfig and AutoTokenizer where those files exist; config.json's
    dtype names the dtype of the weights in the safetensors files;
  * with an adapter, PeftModel.from_pretrained loads it and PEFT's adapter state dict holds
    exactly the tensors of adapter_model.safetensors;
  * the logits transformers (and PEFT) compute on fpokit_logits' input_ids equal fpokit's within
    the tolerance on unpadded positions.
Prints one line per case ("ok ..." or "FAIL ...: why") and exits 1 if any case failed, 2 on bad
usage or when the venv lacks a package.
"""
import json
import os
import sys
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

try:
    import torch
    import transformers
    import peft
    from safetensors import safe_open
    from safetensors.torch import load_file
except ImportError as e:
    print(f"check_hf_loads.py: {sys.executable} cannot import {e.name}: configure CMake with "
          "-DFPOKIT_PYTHON=<the venv of scripts/setup.sh> (scripts/requirements.txt)", file=sys.stderr)
    sys.exit(2)

transformers.utils.logging.disable_progress_bar()
warnings.filterwarnings("ignore", category=FutureWarning)  # deprecations inside PEFT, not ours

SAMPLE_TEXTS = ["The fox runs to the river.", "  two spaces, digits 12345 and ünïcödé\n"]
# The checked logits must differ from the source model's by more than this (far above tolerance).
MIN_CHANGE = 1e-3


class CheckFailed(Exception):
    pass


def fail_unless(condition, message):
    if not condition:
        raise CheckFailed(message)


def load_model(model_dir):
    """The model in float32 with eager attention (as the model fixtures' references), strictly."""
    model, info = transformers.AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    problems = {k: sorted(v) for k, v in info.items() if v}
    fail_unless(not problems, f"transformers loads {model_dir} with {problems}")
    return model.eval()


def safetensors_dtypes(model_dir):
    """The dtypes of a model directory's weights: model.safetensors, or the shards its index names."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    dtypes = set()
    for name in files:
        with safe_open(os.path.join(model_dir, name), "pt") as f:
            dtypes.update(str(f.get_slice(k).get_dtype()) for k in f.keys())
    return dtypes


def check_written_model_dir(model_dir, source):
    """config.json, generation_config.json and the tokenizer files of a folder fpokit wrote."""
    config = transformers.AutoConfig.from_pretrained(model_dir)
    with open(os.path.join(model_dir, "config.json")) as f:
        raw = json.load(f)
    declared = raw.get("dtype", raw.get("torch_dtype"))
    stored = {{"F32": "float32", "BF16": "bfloat16", "F16": "float16"}.get(d, d) for d in safetensors_dtypes(model_dir)}
    fail_unless(stored == {declared}, f"config.json declares dtype {declared!r} but the weights are {sorted(stored)}")
    fail_unless(str(config.dtype).removeprefix("torch.") == declared, f"AutoConfig reads dtype {config.dtype}")
    if os.path.exists(os.path.join(model_dir, "generation_config.json")):
        transformers.GenerationConfig.from_pretrained(model_dir)
    has_tokenizer = any(os.path.exists(os.path.join(model_dir, f)) for f in ("tokenizer.json", "tokenizer.model"))
    source_has_tokenizer = source and any(
        os.path.exists(os.path.join(source, f)) for f in ("tokenizer.json", "tokenizer.model"))
    fail_unless(has_tokenizer or not source_has_tokenizer, f"{model_dir} lacks the tokenizer files of {source}")
    if not has_tokenizer:
        return "no tokenizer"
    saved = transformers.AutoTokenizer.from_pretrained(model_dir)
    if source_has_tokenizer:
        original = transformers.AutoTokenizer.from_pretrained(source)
        for text in SAMPLE_TEXTS:
            fail_unless(saved(text)["input_ids"] == original(text)["input_ids"],
                        f"the saved tokenizer encodes {text!r} differently from {source}'s")
        fail_unless((saved.bos_token_id, saved.eos_token_id, saved.pad_token_id) ==
                    (original.bos_token_id, original.eos_token_id, original.pad_token_id),
                    "the saved tokenizer's special token ids differ from the source's")
    return "tokenizer loads"


def check_adapter_state(model, adapter_dir):
    """PEFT's adapter tensors after loading are exactly those fpokit wrote (same names, values)."""
    written = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    loaded = peft.get_peft_model_state_dict(model)
    fail_unless(set(loaded) == set(written),
                f"PEFT's adapter tensors differ from the file's: only in PEFT {sorted(set(loaded) - set(written))[:4]}, "
                f"only in the file {sorted(set(written) - set(loaded))[:4]}")
    for name, tensor in written.items():
        fail_unless(torch.equal(loaded[name].float().cpu(), tensor.float()), f"PEFT holds another {name}")
    return len(written)


def max_diff_on(a, b, mask):
    keep = mask.bool()
    return (a[keep].float() - b[keep].float()).abs().max().item()


def check_case(case):
    model_dir = case["model"]
    adapter = case.get("adapter")
    source = case.get("source")
    tolerance = case.get("tolerance", 1e-4)
    with safe_open(case["fpokit_logits"], "pt") as f:
        ids = f.get_tensor("input_ids").long()
        mask = f.get_tensor("attention_mask").long()
        fpokit_logits = f.get_tensor("logits")

    notes = []
    if adapter is None:
        notes.append(check_written_model_dir(model_dir, source))
    model = load_model(model_dir)
    if adapter is not None:
        model = peft.PeftModel.from_pretrained(model, adapter).eval()
        notes.append(f"PEFT loads {check_adapter_state(model, adapter)} adapter tensors")

    with torch.no_grad():
        hf_logits = model(input_ids=ids, attention_mask=mask).logits
        fail_unless(hf_logits.shape == fpokit_logits.shape,
                    f"logits shape {tuple(hf_logits.shape)} (transformers) vs {tuple(fpokit_logits.shape)} (fpokit)")
        diff = max_diff_on(hf_logits, fpokit_logits, mask)
        fail_unless(diff <= tolerance, f"max |logits(transformers) - logits(fpokit)| = {diff:.3g} > {tolerance:g}")
        if adapter is not None:
            with model.disable_adapter():
                change = max_diff_on(model(input_ids=ids, attention_mask=mask).logits, hf_logits, mask)
            fail_unless(change > MIN_CHANGE, f"the adapter moves the logits by only {change:.3g}: a vacuous check")
            notes.append(f"the adapter moves them by {change:.3g}")
        if source is not None:
            change = max_diff_on(load_model(source)(input_ids=ids, attention_mask=mask).logits, hf_logits, mask)
            fail_unless(change > MIN_CHANGE, f"the logits differ from {source}'s by only {change:.3g}: a vacuous check")
            notes.append(f"{change:.3g} away from the source's")
    return f"max |Δlogits| = {diff:.2g}; " + "; ".join(notes)


def main():
    if len(sys.argv) != 2:
        print(__doc__.splitlines()[0] + "\nusage: check_hf_loads.py MANIFEST.json", file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        cases = json.load(f)["cases"]
    torch.manual_seed(0)
    failed = 0
    for case in cases:
        try:
            print(f"ok {case['name']}: {check_case(case)}")
        except Exception as e:  # every failure is reported, the other cases still run
            failed += 1
            print(f"FAIL {case['name']}: {type(e).__name__ + ': ' if not isinstance(e, CheckFailed) else ''}{e}")
    print(f"check_hf_loads.py: {len(cases) - failed} of {len(cases)} cases passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
