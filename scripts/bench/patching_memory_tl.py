"""TransformerLens's side of scripts/bench/patching_memory: peak RSS of one activation-patching
sweep (transformer_lens.patching.get_act_patch_*) on the 8 IOI prompts of TransformerLens's main
demo, run the way the demo runs it (a full run_with_cache of the clean prompts, then the sweep).

  python patching_memory_tl.py ids --model DIR --out FILE       # token ids every tool gets
  python patching_memory_tl.py run --model DIR --ids FILE --kind KIND [--label NAME] [--layers N] [--max-cells N]

Run by scripts/bench/patching_memory (which picks the venv: TransformerLens 3.x, HookedTransformer).
DIR is a Hugging Face model folder (GPT-2-shaped random weights or SmolLM2 converted from the GGUF
fp loads). KIND: any get_act_patch_* of TransformerLens 3.9 without the prefix (KINDS below). Prints one JSON line: rss_loaded_mb (after loading the
model), peak_rss_mb (VmHWM, reset after loading: the peak of the clean cache and the sweep),
seconds, result (sum of the patching result, to cross-check with fp).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

# The demo's prompts: each template with both name orders; the corrupted batch swaps the pairs.
TEMPLATES = [("When John and Mary went to the shops,{} gave the bag to", " John", " Mary"),
             ("When Tom and James went to the park,{} gave the ball to", " Tom", " James"),
             ("When Dan and Sid went to the shops,{} gave an apple to", " Dan", " Sid"),
             ("When Martin and Amy went to the park,{} gave a drink to", " Martin", " Amy")]
KINDS = ["resid_pre", "resid_mid", "attn_out", "mlp_out", "block_every",
         "attn_head_out_all_pos", "attn_head_q_all_pos", "attn_head_k_all_pos", "attn_head_v_all_pos",
         "attn_head_pattern_all_pos", "attn_head_all_pos_every",
         "attn_head_out_by_pos", "attn_head_q_by_pos", "attn_head_k_by_pos", "attn_head_v_by_pos",
         "attn_head_pattern_by_pos", "attn_head_by_pos_every", "attn_head_pattern_dest_src_pos"]


def status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")   # resets VmHWM to the current RSS


def write_ids(model_dir: str, out: str) -> None:
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(model_dir)

    def ids(text):
        return tok(text, add_special_tokens=False)["input_ids"]
    prompts, answers = [], []
    for tpl, a, b in TEMPLATES:
        # the subject gives the object to the other name: the answer is the name not repeated
        prompts += [tpl.format(b), tpl.format(a)]
        answers += [(a, b), (b, a)]
    clean = [ids(p) for p in prompts]
    if len({len(c) for c in clean}) != 1:
        raise SystemExit(f"the prompts tokenize to different lengths: {[len(c) for c in clean]}")
    corrupt = [clean[i ^ 1] for i in range(len(clean))]
    one = []
    for right, wrong in answers:
        r, w = ids(right), ids(wrong)
        if len(r) != 1 or len(w) != 1:
            raise SystemExit(f"{right!r} or {wrong!r} is not one token")
        one.append([r[0], w[0]])
    with open(out, "w") as f:
        json.dump({"clean": clean, "corrupt": corrupt, "answers": one}, f)


def run(model_dir: str, ids_file: str, kind: str, label: str, layers: int, max_cells: int) -> None:
    import torch
    import transformer_lens.patching as patching
    sys.path.insert(0, os.environ.get("PEERS_DIR", "/work/shared/peers"))
    import bench_tl  # the peers' loader (HookedTransformer from a local folder, offline)

    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    torch.set_grad_enabled(False)
    spec = json.load(open(ids_file))
    model = bench_tl.load("hooked", model_dir)
    clean, corrupt = torch.tensor(spec["clean"]), torch.tensor(spec["corrupt"])
    answers = torch.tensor(spec["answers"])
    rows = torch.arange(len(answers))

    def diff(logits):
        last = logits[:, -1]
        return (last[rows, answers[:, 0]] - last[rows, answers[:, 1]]).mean()

    import gc
    gc.collect()
    rss_loaded = status_mb("VmRSS")
    reset_peak()
    t0 = time.perf_counter()
    clean_logits, cache = model.run_with_cache(clean)
    corrupt_logits = model(corrupt)
    cd, kd = diff(clean_logits).item(), diff(corrupt_logits).item()
    del clean_logits, corrupt_logits

    def metric(logits):
        return (diff(logits) - kd) / (cd - kd)
    if max_cells:   # every get_act_patch_* call sweeps only the first cells of its index list
        make_df = patching.make_df_from_ranges
        patching.make_df_from_ranges = lambda *a, **k: make_df(*a, **k).head(max_cells)
    cells = [0]

    def counted(logits):
        cells[0] += 1
        return metric(logits)
    fn = getattr(patching, "get_act_patch_" + kind)
    n_layers = model.cfg.n_layers
    if layers:   # sweep the first layers only (get_act_patch_* enumerates cells from cfg.n_layers)
        model.cfg.n_layers = min(layers, n_layers)
    try:
        result = fn(model, corrupt, cache, counted)
    finally:
        model.cfg.n_layers = n_layers
    seconds = time.perf_counter() - t0
    print(json.dumps({"tool": "tl3", "model": label, "kind": kind, "seconds": round(seconds, 3),
                      "rss_loaded_mb": round(rss_loaded, 1), "peak_rss_mb": round(status_mb("VmHWM"), 1),
                      "result": float(result.double().sum()), "shape": list(result.shape),
                      "layers_swept": min(layers, n_layers) if layers else n_layers, "n_layers": n_layers,
                      "cells": cells[0], "max_cells": max_cells}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["ids", "run"])
    p.add_argument("--model", required=True)
    p.add_argument("--out")
    p.add_argument("--ids")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--label")
    p.add_argument("--layers", type=int, default=0,
                   help="sweep only the first N layers: a quick peak (TransformerLens runs one forward pass "
                        "per cell and keeps only the metric, so its peak does not grow with the cells)")
    p.add_argument("--max-cells", type=int, default=0,
                   help="each get_act_patch_* call sweeps only its first N cells (the peak is one cell's: "
                        "every cell is one forward pass of the same shapes)")
    a = p.parse_args()
    if a.mode == "ids":
        write_ids(a.model, a.out)
    else:
        run(a.model, a.ids, a.kind, a.label or os.path.basename(a.model.rstrip("/")), a.layers, a.max_cells)


if __name__ == "__main__":
    main()
