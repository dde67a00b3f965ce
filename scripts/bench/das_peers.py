"""PyTorch side of scripts/bench/das: the same DAS step as scripts/bench/das.lua (1-D Householder
subspace at the input of decoder layer L, interchange at base_pos from the source's source_pos,
loss -log p(target) at the last position, Adam) on the HF conversion of the same SmolLM2 GGUF,
with plain forward hooks and with nnsight.  Usage: python das_peers.py IDS_JSON STEPS HF_DIR
Prints one JSON line per tool."""
import json
import sys
import time

import torch
from transformers import AutoModelForCausalLM

# BENCH_CLOCK=cpu: process CPU time (one thread on a busy host), else wall-clock time
CLOCK = time.process_time if __import__("os").environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
ids = json.load(open(sys.argv[1]))
steps = int(sys.argv[2])
torch.set_num_threads(int(__import__("os").environ.get("THREADS", "2")))
model = AutoModelForCausalLM.from_pretrained(sys.argv[3], dtype=torch.float32)
model.eval()
for p in model.parameters():
    p.requires_grad_(False)
layer = model.model.layers[ids["layer"]]
base = torch.tensor([ids["base"]])
source = torch.tensor([ids["source"]])
bp, sp, target = ids["base_pos"], ids["source_pos"], ids["target"]
d = model.config.hidden_size


def weight(v):
    x = torch.eye(d)[:, :1]
    u = v[0]
    return x - 2 * torch.outer(u, u @ x) / (u @ u)


with torch.no_grad():
    cap = {}
    h = layer.register_forward_pre_hook(lambda m, a, kw: cap.__setitem__("s", (a[0] if a else kw["hidden_states"])[0, sp].clone()), with_kwargs=True)
    model(source)
    h.remove()
src = cap["s"]


def start():
    """The Householder vector fp started from (so the first losses agree)."""
    return torch.tensor([ids["v0"]], dtype=torch.float32).requires_grad_()


def bench_plain():
    v = start()
    opt = torch.optim.Adam([v], lr=0.1)

    def pre(m, args, kwargs):
        x = args[0] if args else kwargs["hidden_states"]
        W = weight(v)
        x = x.clone()
        b = x[0, bp].clone()
        x[0, bp] = b + W @ ((src - b) @ W)
        if args:
            return (x,) + tuple(args[1:]), kwargs
        kwargs["hidden_states"] = x
        return args, kwargs
    h = layer.register_forward_pre_hook(pre, with_kwargs=True)

    def step():
        opt.zero_grad()
        logits = model(base, logits_to_keep=1).logits
        loss = -torch.log_softmax(logits[0, -1], -1)[target]
        loss.backward()
        opt.step()
        return loss.item()
    first = step()
    step()
    v.data.copy_(start().data)   # measured run from the start again (the first loss is the check)
    opt.state.clear()
    t0 = CLOCK()
    for _ in range(steps):
        step()
    h.remove()
    return (CLOCK() - t0) / steps, first


def bench_nnsight():
    from nnsight import NNsight
    nn_model = NNsight(model)
    v = start()
    opt = torch.optim.Adam([v], lr=0.1)

    def step():
        opt.zero_grad()
        with nn_model.trace(base):
            x = nn_model.model.layers[ids["layer"]].input
            W = weight(v)
            b = x[0, bp].clone()
            x[0, bp] = b + W @ ((src - b) @ W)
            logits = nn_model.lm_head.output
            loss = -torch.log_softmax(logits[0, -1], -1)[target]
            loss.backward()
            out = loss.save()
        opt.step()
        return float(out)
    first = step()
    step()
    v.data.copy_(start().data)
    opt.state.clear()
    t0 = CLOCK()
    for _ in range(steps):
        step()
    return (CLOCK() - t0) / steps, first


sec, first = bench_plain()
print(json.dumps({"tool": "torch_hooks", "sec_per_step": sec, "first_loss": first}))
try:
    sec, first = bench_nnsight()
    print(json.dumps({"tool": "nnsight", "sec_per_step": sec, "first_loss": first}))
except Exception as e:  # report, do not hide
    print(json.dumps({"tool": "nnsight", "error": repr(e)[:300]}))
