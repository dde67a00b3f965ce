#!/usr/bin/env python3
"""Hugging Face transformers' forward pass on a GPT-2-small-shaped model with RANDOM weights,
the peer number for fp's forward benchmark (B1: 1x16 and 8x64 tokens).

Writes the weights once as an HF folder (config.json + model.safetensors, plus inputs.json with
the exact token ids timed here), so fp can load the SAME weights and ids:

    python3 scripts/bench/forward_hf.py /tmp/fp-bench/gpt2-random
    fp run ... /tmp/fp-bench/gpt2-random          # same weights, same ids (inputs.json)

If the folder already holds model.safetensors it is loaded, not re-created (--force re-creates).
The weights are torch.manual_seed(0); GPT2LMHeadModel(GPT2Config()) -- transformers' defaults:
12 layers, d_model 768, 12 heads, 1024 positions, vocab 50257 -- the same as
shared/peers/make_gpt2_random.py, so its results are comparable with the peers' runs.

Prints one JSON line per task: {"tool", "task", "seconds" (median of N timed runs after warm-up),
"n", "shape", "threads", "result"}; result = sum over batch and positions of log p(next token)
(float64), a checksum fp's forward must reproduce on the same weights and ids (to ~1e-2).

Set-up (developers only; CI does not run this). pip here finds torch's CPU build:
    python3 -m venv /tmp/fp-bench/venv
    /tmp/fp-bench/venv/bin/pip install torch==2.13.0+cpu
    echo "torch==2.13.0+cpu" > /tmp/fp-bench/constraints.txt
    /tmp/fp-bench/venv/bin/pip install -c /tmp/fp-bench/constraints.txt transformers==5.23.0 safetensors
    THREADS=2 /tmp/fp-bench/venv/bin/python scripts/bench/forward_hf.py /tmp/fp-bench/gpt2-random
Options: --runs N (timed runs for 1x16; 8x64 uses N/2, at least 3), --warmup W, --force.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

THREADS = int(os.environ.get("THREADS", "2"))

# B1 inputs, as in shared/peers: the IOI clean prompt "After John and Mary went to the store, Mary
# gave a bottle of milk to" in GPT-2 ids (no BOS), and a deterministic [8, 64] batch of ids.
IOI_CLEAN_IDS = [3260, 1757, 290, 5335, 1816, 284, 262, 3650, 11, 5335, 2921, 257, 9294, 286, 7545, 284]


def inputs():
    one = torch.tensor([IOI_CLEAN_IDS], dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    batch = torch.randint(0, 32000, (8, 64), generator=g, dtype=torch.long)
    return {"fwd1x16": one, "fwd8x64": batch}


def ensure_model(folder, force):
    weights = os.path.join(folder, "model.safetensors")
    if force or not os.path.exists(weights):
        torch.manual_seed(0)
        cfg = GPT2Config()
        cfg.n_ctx = 1024  # classic GPT-2 config field (TransformerLens 3.x reads it); transformers 5 dropped it
        model = GPT2LMHeadModel(cfg).eval()
        model.save_pretrained(folder, safe_serialization=True)
        gen = os.path.join(folder, "generation_config.json")
        if os.path.exists(gen):
            os.remove(gen)
        with open(os.path.join(folder, "inputs.json"), "w") as f:
            json.dump({k: v.tolist() for k, v in inputs().items()}, f)
            f.write("\n")
        print(f"forward_hf: wrote random GPT-2 weights to {folder}", file=sys.stderr)
    model = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32).eval()
    return model


def sum_logprob(logits, tokens):
    lp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
    return float(lp.gather(-1, tokens[:, 1:, None]).sum())


def timeit(fn, n, warmup):
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", help="HF folder for the random weights (created if missing)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--force", action="store_true", help="re-create the weights")
    a = ap.parse_args()

    torch.set_num_threads(THREADS)
    model = ensure_model(a.folder, a.force)
    for task, x in inputs().items():
        n = a.runs if task == "fwd1x16" else max(3, a.runs // 2)
        with torch.no_grad():
            sec, logits = timeit(lambda: model(input_ids=x, use_cache=False).logits, n, a.warmup)
        print(json.dumps({"tool": "hf", "task": task, "seconds": round(sec, 6), "n": n,
                          "shape": list(x.shape), "threads": THREADS,
                          "attn_impl": model.config._attn_implementation,
                          "result": round(sum_logprob(logits, x), 4)}), flush=True)


if __name__ == "__main__":
    main()
