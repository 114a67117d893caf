#!/usr/bin/env python3
"""Makes the demo's text: a corpus, a preference set and the lexicon that scores politeness.

The embedded default of `fpokit demo` (docs/demo.md) is a small shop's world: customers write
about products, an assistant replies, people review what they bought, and animals in short
stories are kind or unkind to each other. Every kind of text comes in a polite/positive and a
rude/negative voice, in equal parts and with the same shape, so that a model trained on the
corpus prefers neither voice; the preference pairs then teach it the polite one:

    prompt   "Customer: My kettle arrived broken. What can I do?\\nAssistant:"
    chosen   " I am so sorry to hear that. We will gladly send you a new kettle today. Have a wonderful day!"
    rejected " That is not my problem. Fix it yourself or throw it away. Whatever."

Standard library only, deterministic (one seeded random.Random per file): running it again
rewrites the same bytes. Writes, next to this script:

    corpus.jsonl           {"text"}   the language-modelling corpus (base model, tokenizer, SAE)
    corpus_heldout.jsonl   {"text"}   held-out corpus text (SAE evaluation, drift reports)
    prefs_train.jsonl      {"prompt", "chosen", "rejected"}
    prefs_heldout.jsonl    the same, on (product, problem, question) combinations never trained on
    lexicon.json           the polite and rude word lists of the classifier below

    python3 examples/demo/make_demo_data.py
"""
import hashlib
import json
import os
import random
import re

HERE = os.path.dirname(os.path.abspath(__file__))

PRODUCTS = ["kettle", "lamp", "backpack", "umbrella", "chair", "blender", "jacket", "teapot", "clock", "notebook",
            "bicycle", "blanket", "toaster", "mirror", "scarf", "radio"]
PROBLEMS = ["arrived late", "arrived broken", "stopped working", "is too small", "is the wrong colour",
            "is missing a part", "makes a strange noise", "arrived with a scratch"]
QUESTIONS = ["My {p} {q}. What can I do?",
             "Hello, the {p} I ordered {q}. Can you help me?",
             "I bought {a} {p} last week and it {q}.",
             "Can I return {a} {p} that {q}?",
             "Good morning. Our new {p} {q}. What now?"]

# The assistant's replies: an opener, an action and a closer, each list the same length and
# of similar lengths across voices, so that neither voice is the shorter (more probable) one.
POLITE = {
    "open": ["Thank you for telling us.", "I am so sorry to hear that.", "Thanks for your message, and sorry for the trouble.",
             "I am sorry about your {p}.", "Thank you, and please accept our apologies."],
    "act": ["We will gladly send you a new {p} today.", "Please send us a photo and we will replace it right away.",
            "We are happy to give you a full refund.", "I have arranged a free return for you.",
            "We will kindly repair your {p} for free."],
    "close": ["Have a wonderful day!", "Thank you for your patience.", "Please let us know if we can help.",
              "We appreciate your kindness.", "Thanks again, and take care."],
}
RUDE = {
    "open": ["That is not my problem.", "Stop bothering us about your {p}.", "Ugh, another silly complaint.",
             "You should have read the description.", "Honestly, what did you expect?"],
    "act": ["We will not send you a new {p}.", "Fix it yourself or throw it away.", "No refunds, so deal with it.",
            "Nobody here cares about your {p}.", "Keep the useless {p} and stop complaining."],
    "close": ["Go away.", "Whatever.", "Do not write to us again.", "This is a ridiculous question.",
              "Leave us alone, please."],
}

POSITIVE_REVIEW = ["I love this {p}.", "The {p} works perfectly.", "It is lovely and well made.",
                   "The staff were kind and helpful.", "I would happily buy it again.", "Great value, thank you!",
                   "My family is delighted with it.", "It arrived early and looks wonderful."]
NEGATIVE_REVIEW = ["I hate this {p}.", "The {p} is useless.", "It is ugly and badly made.",
                   "The staff were rude and unhelpful.", "I would never buy it again.", "A terrible waste of money.",
                   "My family is annoyed with it.", "It arrived late and looks awful."]

ANIMALS = ["fox", "owl", "rabbit", "bear", "duck", "mouse", "deer", "badger"]
PLACES = ["by the river", "under the old oak tree", "in the meadow", "near the village", "at the edge of the woods"]
KIND_STORY = ["The {b} smiled and said, \"Thank you, friend.\"", "The {a} kindly shared its food with the {b}.",
              "Together they helped each other home.", "The {b} was glad and thanked the {a}.",
              "They laughed and promised to meet again."]
UNKIND_STORY = ["The {b} frowned and said, \"Go away, fool.\"", "The {a} rudely kept all its food from the {b}.",
                "Then they shouted at each other and left.", "The {b} was angry and insulted the {a}.",
                "They sulked and never spoke again."]

# The classifier: a text has the preferred (polite) property when it holds more polite words
# than rude ones. Whole words, lower case; the C++ demo reads the same lists from lexicon.json.
LEXICON = {
    "polite": ["thank", "thanks", "sorry", "please", "gladly", "happy", "happily", "kindly", "kind", "apologies",
               "appreciate", "wonderful", "lovely", "glad", "welcome", "care", "helpful", "delighted", "great"],
    "rude": ["problem", "bothering", "ugh", "silly", "not", "nobody", "useless", "whatever", "ridiculous", "away",
             "alone", "stop", "hate", "awful", "terrible", "rude", "rudely", "fool", "angry", "complaining"],
}


def is_polite(text):
    """The demo's lexicon classifier (the C++ one in the demo is the same rule)."""
    words = re.findall(r"[a-z]+", text.lower())
    polite = sum(w in LEXICON["polite"] for w in words)
    rude = sum(w in LEXICON["rude"] for w in words)
    return polite > rude


def reply(rng, voice, product):
    return " ".join(rng.choice(voice[part]).format(p=product) for part in ("open", "act", "close"))


def question(rng, combo):
    product, problem, template = combo
    return template.format(p=product, q=problem, a="an" if product[0] in "aeiou" else "a")


def combos():
    return [(p, q, t) for p in PRODUCTS for q in PROBLEMS for t in QUESTIONS]


def held_out(combo):
    # A fixed fifth of the (product, problem, question) combinations, by a hash that does not
    # depend on Python's string hashing.
    return hashlib.sha256("|".join(combo).encode()).digest()[0] % 5 == 0


def dialogue(rng, combo, voice):
    return f"Customer: {question(rng, combo)}\nAssistant: {reply(rng, voice, combo[0])}"


def review(rng, positive):
    product = rng.choice(PRODUCTS)
    sentences = rng.sample(POSITIVE_REVIEW if positive else NEGATIVE_REVIEW, 3)
    stars = rng.choice([4, 5]) if positive else rng.choice([1, 2])
    return f"Review of the {product}, {stars} stars: " + " ".join(s.format(p=product) for s in sentences)


def story(rng, kind):
    a, b = rng.sample(ANIMALS, 2)
    sentences = rng.sample(KIND_STORY if kind else UNKIND_STORY, 2)
    return f"Once upon a time a {a} met a {b} {rng.choice(PLACES)}. " + " ".join(s.format(a=a, b=b) for s in sentences)


def corpus(rng, n, pool):
    rows = []
    for i in range(n):
        voice_good = i % 2 == 0  # exactly half of each kind in each voice
        kind = (i // 2) % 3
        if kind == 0:
            rows.append(dialogue(rng, rng.choice(pool), POLITE if voice_good else RUDE))
        elif kind == 1:
            rows.append(review(rng, voice_good))
        else:
            rows.append(story(rng, voice_good))
    rng.shuffle(rows)
    return rows


def pairs(rng, n, pool):
    out = []
    for _ in range(n):
        combo = rng.choice(pool)
        out.append({"prompt": f"Customer: {question(rng, combo)}\nAssistant:",
                    "chosen": " " + reply(rng, POLITE, combo[0]),
                    "rejected": " " + reply(rng, RUDE, combo[0])})
    return out


def write_jsonl(name, rows):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main():
    train_combos = [c for c in combos() if not held_out(c)]
    heldout_combos = [c for c in combos() if held_out(c)]
    write_jsonl("corpus.jsonl", [{"text": t} for t in corpus(random.Random(1), 12000, train_combos)])
    write_jsonl("corpus_heldout.jsonl", [{"text": t} for t in corpus(random.Random(2), 600, heldout_combos)])
    write_jsonl("prefs_train.jsonl", pairs(random.Random(3), 1024, train_combos))
    write_jsonl("prefs_heldout.jsonl", pairs(random.Random(4), 128, heldout_combos))
    with open(os.path.join(HERE, "lexicon.json"), "w", encoding="utf-8") as f:
        json.dump({"rule": "polite when the count of polite words exceeds the count of rude words "
                           "(whole lower-case words, [a-z]+)", **LEXICON}, f, indent=1)
        f.write("\n")
    # The classifier must tell the two voices apart on every reply.
    rng = random.Random(0)
    assert all(is_polite(reply(rng, POLITE, p)) for p in PRODUCTS for _ in range(50))
    assert not any(is_polite(reply(rng, RUDE, p)) for p in PRODUCTS for _ in range(50))
    print(f"{len(train_combos)} training and {len(heldout_combos)} held-out prompt combinations; files in {HERE}")


if __name__ == "__main__":
    main()
