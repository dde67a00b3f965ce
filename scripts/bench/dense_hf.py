#!/usr/bin/env python3
"""Hugging Face transformers' forward pass (the peer of scripts/bench/dense.lua) on one HF folder:
1x16, 8x64 and 1x512 token ids, timed like fp (median after warm-up), with the FLOPs of each task.

    THREADS=2 python3 scripts/bench/dense_hf.py FOLDER [--runs N]

The ids are written once to FOLDER/dense_inputs.json (fp reads the same file). Each task prints one
JSON line: tool, task, seconds, n, shape, threads, flops (2 x tokens x the weights of every linear
layer incl. the unembedding, plus the attention products QK^T and PV at full P x P), result (sum of
log p(next token), the cross-check fp must reproduce); then a "load" line: from_pretrained's seconds
and the process's peak RSS after every task. Run by scripts/bench/dense; needs torch (CPU) and
transformers (e.g. the venv that scripts/bench/forward describes).
"""
import argparse
import json
import os
import resource
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import torch  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

THREADS = int(os.environ.get("THREADS", "2"))
MIN_SECONDS = float(os.environ.get("BENCH_MIN_SECONDS", "1"))
# BENCH_CLOCK=cpu: process CPU time (one thread on a busy host), else wall-clock time
CLOCK = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
IOI_CLEAN_IDS = [3260, 1757, 290, 5335, 1816, 284, 262, 3650, 11, 5335, 2921, 257, 9294, 286, 7545, 284]


def inputs(folder):
    path = os.path.join(folder, "dense_inputs.json")
    if not os.path.exists(path):
        g = torch.Generator().manual_seed(0)
        ids = {"fwd1x16": [IOI_CLEAN_IDS],
               "fwd8x64": torch.randint(0, 32000, (8, 64), generator=g).tolist(),
               "fwd1x512": torch.randint(0, 32000, (1, 512), generator=g).tolist()}
        with open(path, "w") as f:
            json.dump(ids, f)
    with open(path) as f:
        return {k: torch.tensor(v, dtype=torch.long) for k, v in json.load(f).items()}


def linear_weights(model):
    n = 0
    for m in model.modules():
        w = getattr(m, "weight", None)
        if w is not None and w.dim() == 2 and not isinstance(m, torch.nn.Embedding):
            n += w.numel()
    return n


def task_flops(model, shape):
    b, p = shape
    cfg = model.config
    layers = getattr(cfg, "num_hidden_layers", None) or cfg.n_layer
    d = getattr(cfg, "hidden_size", None) or cfg.n_embd
    return 2 * b * p * linear_weights(model) + layers * b * 4 * p * p * d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(THREADS)
    t0 = CLOCK()
    model = AutoModelForCausalLM.from_pretrained(a.folder, dtype=torch.float32).eval()
    load_seconds = CLOCK() - t0
    for task, x in inputs(a.folder).items():
        with torch.no_grad():
            for _ in range(a.warmup):
                logits = model(input_ids=x, use_cache=False).logits
            times = []
            # at least `runs` samples and a second of them (short tasks are noisy on a shared host)
            while len(times) < a.runs or (sum(times) < MIN_SECONDS and len(times) < 200):
                t0 = CLOCK()
                logits = model(input_ids=x, use_cache=False).logits
                times.append(CLOCK() - t0)
        lp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
        print(json.dumps({"tool": "hf", "task": task, "seconds": statistics.median(times), "n": len(times),
                          "shape": list(x.shape), "threads": THREADS, "flops": task_flops(model, x.shape),
                          "result": round(float(lp.gather(-1, x[:, 1:, None]).sum()), 4)}), flush=True)
    # the process's peak resident set after every task (ru_maxrss is in KiB on Linux), as fp's VmHWM
    print(json.dumps({"tool": "hf", "task": "load", "seconds": load_seconds, "threads": THREADS,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


if __name__ == "__main__":
    main()
