#!/usr/bin/env python3
"""Greedy decoding by llama.cpp (through llama-cpp-python): the reference modelvet's native forward pass is
checked against (tests/native_moe.rs).

Why token ids in and out rather than text: the check is of the forward pass, not of either tokenizer, so
nothing is tokenized or detokenized here.

Usage: llama-cpp-greedy.py MODEL.gguf --prompt 1,2,3 --tokens 32 [--cache f32|f16] [--logits]

Prints one JSON object: `ids` (the greedy continuation), `logprobs` (per step, the log-probability of
the chosen token, a log-softmax in float64 of llama.cpp's float32 logits), `prompt_logprobs` (the same for
each prompt token after the first, scored from the logits of the position before it), and with --logits
the raw logits of every position evaluated (the prompt, then each generated token but the last). One thread and a fixed batch so the result is deterministic. The KV
cache is f32 unless --cache f16 (llama.cpp's default, which rounds every key, value and query to f16).
"""

import argparse
import json
import math
import sys


def log_softmax_at(row, i):
    """log-softmax of a row of python floats (float64) at `i`."""
    m = max(row)
    return row[i] - (m + math.log(sum(math.exp(v - m) for v in row)))


def logits(llm, pos, n_vocab):
    """The float32 logits of position `pos`, as python floats."""
    return [float(v) for v in llm.scores[pos][:n_vocab]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--prompt", required=True, help="comma-separated token ids")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--cache", choices=["f32", "f16"], default="f32")
    ap.add_argument("--logits", action="store_true")
    args = ap.parse_args()

    import llama_cpp

    prompt = [int(t) for t in args.prompt.split(",") if t.strip()]
    if not prompt:
        sys.exit("llama-cpp-greedy: the prompt is empty")
    ggml_type = {"f32": 0, "f16": 1}[args.cache]  # GGML_TYPE_F32, GGML_TYPE_F16
    kwargs = dict(
        model_path=args.model,
        n_ctx=max(64, len(prompt) + args.tokens + 1),
        n_batch=512,
        n_threads=1,
        n_threads_batch=1,
        logits_all=True,
        verbose=False,
        seed=0,
        type_k=ggml_type,
        type_v=ggml_type,
    )
    llm = llama_cpp.Llama(**kwargs)
    n_vocab = llm.n_vocab()

    llm.reset()
    llm.eval(prompt)
    rows = [logits(llm, i, n_vocab) for i in range(len(prompt))]
    prompt_logprobs = [log_softmax_at(rows[i - 1], prompt[i]) for i in range(1, len(prompt))]
    ids, logprobs = [], []
    for step in range(args.tokens):
        if step > 0:
            llm.eval([ids[-1]])
        row = logits(llm, llm.n_tokens - 1, n_vocab)
        # The highest logit, the lower id on a tie.
        tok = max(range(n_vocab), key=lambda i: (row[i], -i))
        ids.append(tok)
        logprobs.append(log_softmax_at(row, tok))

    out = {
        "llama_cpp": llama_cpp.__version__,
        "cache": args.cache,
        "prompt": prompt,
        "ids": ids,
        "logprobs": logprobs,
        "prompt_logprobs": prompt_logprobs,
    }
    if args.logits:
        out["logits"] = [logits(llm, i, n_vocab) for i in range(llm.n_tokens)]
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
