"""Peers' side of scripts/bench/scale: HF transformers with plain torch hooks (TransformerLens-style
loops: one forward per patched cell, as get_act_patch_* does) and nnsight (one trace per cell, the
nnsight tutorial's loop: its multi-invoke batch holds every cell's full-vocabulary logits at once,
too much at 1-3 B), on the fp bench's model folder and token ids, f32 on the CPU.

  python scale_peers.py ids MODEL_DIR OUT_JSON          # the token ids every tool gets
  python scale_peers.py run MODEL_DIR IDS_JSON LABEL    # one JSON line per measurement

Env: THREADS (2), RUNS (3), SINGLE_IF_OVER (60), DAS_STEPS (3), TOOLS ("hf nnsight"),
     SWEEP_LAYERS (sweep only the first N layers and report seconds per cell and the projected
     full-sweep time = per cell x all cells; unset: every layer),
     TASKS (which measurements after the load; default all: fwd_1x64 fwd_8x128 sweep_resid_pre
     sweep_head das_step)."""
import json
import os
import random
import sys
import time

import torch

THREADS = int(os.environ.get("THREADS", "2"))
torch.set_num_threads(THREADS)
RUNS = int(os.environ.get("RUNS", "3"))
TASKS = os.environ.get("TASKS", "fwd_1x64 fwd_8x128 sweep_resid_pre sweep_head das_step").split()
SINGLE_IF_OVER = float(os.environ.get("SINGLE_IF_OVER", "60"))


def status_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024


def write_ids(model_dir, out):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    rng = random.Random(0)
    v = cfg["vocab_size"]

    def toks(n):
        return [rng.randrange(1000, v) for _ in range(n)]
    clean = toks(16)
    john, mary = clean[2], clean[4]
    corrupt = list(clean)
    corrupt[2], corrupt[4] = mary, john    # IOI-style: the two names swapped
    g = torch.Generator().manual_seed(0)
    v0 = torch.randn(cfg["hidden_size"], generator=g)
    rec = {"fwd_1x64": [toks(64)], "fwd_8x128": [toks(128) for _ in range(8)],
           "clean": clean, "corrupt": corrupt, "john": john, "mary": mary,
           "das_layer": cfg["num_hidden_layers"] // 2, "das_base": toks(12), "das_source": toks(12),
           "das_base_pos": 5, "das_source_pos": 6, "das_target": rng.randrange(1000, v),
           "v0": (v0 / v0.norm()).tolist()}
    json.dump(rec, open(out, "w"))


CPU = {}   # the last timeit's CPU seconds (all threads; on a loaded machine the fairer figure)


def timeit(fn, limit=float("inf")):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    first = time.perf_counter() - t0
    CPU["last"] = time.process_time() - c0
    if first > limit or RUNS <= 0:
        return first, out, 1
    times, cpus = [], []
    for _ in range(RUNS):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    times.sort()
    cpus.sort()
    CPU["last"] = cpus[len(cpus) // 2]
    return times[len(times) // 2], out, RUNS


def run(model_dir, ids_path, label):
    from transformers import AutoModelForCausalLM
    ids = json.load(open(ids_path))
    tools = os.environ.get("TOOLS", "hf nnsight").split()

    def emit(tool, task, **kw):
        print(json.dumps({"tool": tool, "model": label, "task": task, "threads": THREADS,
                          "peak_rss_mb": status_mb("VmHWM"), "rss_mb": status_mb("VmRSS"), **kw}), flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    emit("hf", "load", seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0,
         n_params=sum(p.numel() for p in model.parameters()))
    cfg = model.config
    nL, H = cfg.num_hidden_layers, cfg.num_attention_heads
    dh = getattr(cfg, "head_dim", None) or cfg.hidden_size // H
    layers = model.model.layers
    J, M = ids["john"], ids["mary"]
    clean, corrupt = torch.tensor([ids["clean"]]), torch.tensor([ids["corrupt"]])
    T = clean.shape[1]
    sweep_layers = int(os.environ.get("SWEEP_LAYERS") or nL)
    nn_model = None
    if "nnsight" in tools:
        from nnsight import NNsight
        nn_model = NNsight(model)

    def ld(logits):
        return (logits[0, -1, J] - logits[0, -1, M]).item()

    # ------------------------------------------------------------ forward
    for name in ("fwd_1x64", "fwd_8x128"):
        if name not in TASKS:
            continue
        toks = torch.tensor(ids[name])
        with torch.no_grad():
            if "hf" in tools:
                secs, logits, _ = timeit(lambda: model(toks, logits_to_keep=1).logits)   # fp: positions = {-1}
                emit("hf", name, seconds=secs, cpu_seconds=CPU["last"], check=logits[0, -1].sum().item(), check_abs=logits[0, -1].abs().sum().item())
                del logits
            if nn_model is not None:
                def fwd():
                    with nn_model.trace(toks, logits_to_keep=1):
                        out = nn_model.lm_head.output.save()
                    return out
                secs, logits, _ = timeit(fwd)
                emit("nnsight", name, seconds=secs, cpu_seconds=CPU["last"], check=logits[0, -1].sum().item())
                del logits

    # ------------------------------------------------------------ sweeps (hooks)
    def capture(site_of, n):
        """Clean activations at site_of(layer) (a module whose forward input is captured)."""
        got = {}
        hs = [site_of(i).register_forward_pre_hook(
            lambda m, a, kw, i=i: got.__setitem__(i, (a[0] if a else kw["hidden_states"]).clone()), with_kwargs=True)
            for i in range(n)]
        try:
            logits = model(clean).logits
        finally:
            for h in hs:
                h.remove()
        return got, logits

    def patched(site, fn):
        def pre(m, a, kw):
            if a:
                return (fn(a[0].clone()),) + tuple(a[1:]), kw
            kw["hidden_states"] = fn(kw["hidden_states"].clone())
            return a, kw
        h = site.register_forward_pre_hook(pre, with_kwargs=True)
        try:
            return ld(model(corrupt, logits_to_keep=1).logits)
        finally:
            h.remove()

    def put(x, idx, val):
        x[idx] = val
        return x

    def hf_sweep(kind):
        site_of = (lambda i: layers[i]) if kind == "resid" else (lambda i: layers[i].self_attn.o_proj)
        with torch.no_grad():
            got, cl = capture(site_of, sweep_layers)
            cd, kd = ld(cl), ld(model(corrupt).logits)
            out = torch.zeros(sweep_layers, T if kind == "resid" else H)
            for L in range(sweep_layers):
                for j in range(out.shape[1]):
                    idx = (slice(None), j) if kind == "resid" else (Ellipsis, slice(j * dh, (j + 1) * dh))
                    out[L, j] = (patched(site_of(L), lambda x: put(x, idx, got[L][idx])) - kd) / (cd - kd)
        return out

    def nn_sweep(kind):
        def site(L):
            return nn_model.model.layers[L] if kind == "resid" else nn_model.model.layers[L].self_attn.o_proj
        with torch.no_grad():
            got = []
            with nn_model.trace(clean):   # a loop, not a comprehension: nnsight runs the body in this frame
                for L in range(sweep_layers):
                    got.append(site(L).input.save())
                cl = nn_model.lm_head.output
                cd = (cl[0, -1, J] - cl[0, -1, M]).save()
            with nn_model.trace(corrupt):
                co = nn_model.lm_head.output
                kd = (co[0, -1, J] - co[0, -1, M]).save()
            out = torch.zeros(sweep_layers, T if kind == "resid" else H)
            for L in range(sweep_layers):
                for j in range(out.shape[1]):
                    with nn_model.trace(corrupt):
                        if kind == "resid":
                            site(L).input[:, j, :] = got[L][:, j, :]
                        else:
                            site(L).input[:, :, j * dh:(j + 1) * dh] = got[L][:, :, j * dh:(j + 1) * dh]
                        pl = nn_model.lm_head.output
                        r = ((pl[0, -1, J] - pl[0, -1, M]) - kd).save()
                    out[L, j] = float(r) / float(cd - kd)
        return out

    for kind in ("resid", "attn_head"):
        task = "sweep_resid_pre" if kind == "resid" else "sweep_head"
        if task not in TASKS:
            continue
        for tool, fn in (("hf", hf_sweep), ("nnsight", nn_sweep)):
            if tool not in tools:
                continue
            secs, r, n = timeit(lambda: fn(kind), SINGLE_IF_OVER)
            cells = sweep_layers * r.shape[1]
            full = nL * r.shape[1]
            emit(tool, task, seconds=secs * full / cells, cpu_seconds=CPU["last"] * full / cells, measured_seconds=secs, n=n, cells=cells,
                 full_cells=full, projected=cells != full, check=r.sum().item() if cells == full else None)

    # ------------------------------------------------------------ DAS step (das_peers.py's setup)
    if "das_step" not in TASKS:
        return
    layer = layers[ids["das_layer"]]
    base, source = torch.tensor([ids["das_base"]]), torch.tensor([ids["das_source"]])
    bp, sp, target = ids["das_base_pos"], ids["das_source_pos"], ids["das_target"]
    d = cfg.hidden_size
    with torch.no_grad():
        got = {}
        h = layer.register_forward_pre_hook(lambda m, a, kw: got.__setitem__("s", (a[0] if a else kw["hidden_states"])[0, sp].clone()), with_kwargs=True)
        model(source)
        h.remove()
    src = got["s"]
    eye = torch.eye(d)[:, :1]

    def weight(v):
        u = v[0]
        return eye - 2 * torch.outer(u, u @ eye) / (u @ u)

    def das(tool):
        v = torch.tensor([ids["v0"]], dtype=torch.float32).requires_grad_()
        opt = torch.optim.Adam([v], lr=0.1)
        if tool == "hf":
            def pre(m, a, kw):
                x = (a[0] if a else kw["hidden_states"]).clone()
                W = weight(v)
                b = x[0, bp].clone()
                x[0, bp] = b + W @ ((src - b) @ W)
                if a:
                    return (x,) + tuple(a[1:]), kw
                kw["hidden_states"] = x
                return a, kw
            hh = layer.register_forward_pre_hook(pre, with_kwargs=True)

            def step():
                opt.zero_grad()
                logits = model(base, logits_to_keep=1).logits
                loss = -torch.log_softmax(logits[0, -1], -1)[target]
                loss.backward()
                opt.step()
                return loss.item()
        else:
            hh = None

            def step():
                opt.zero_grad()
                with nn_model.trace(base):
                    x = nn_model.model.layers[ids["das_layer"]].input
                    W = weight(v)
                    b = x[0, bp].clone()
                    x[0, bp] = b + W @ ((src - b) @ W)
                    logits = nn_model.lm_head.output
                    loss = -torch.log_softmax(logits[0, -1], -1)[target]
                    loss.backward()
                    out = loss.save()
                opt.step()
                return float(out)
        try:
            first = step()   # warm-up; its loss is the cross-check (fp starts from the same v0)
            v.data.copy_(torch.tensor([ids["v0"]]))
            opt.state.clear()
            steps = int(os.environ.get("DAS_STEPS", "3"))
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(steps):
                step()
            emit(tool, "das_step", seconds=(time.perf_counter() - t0) / steps,
                 cpu_seconds=(time.process_time() - c0) / steps, first_loss=first)
        finally:
            if hh is not None:
                hh.remove()

    for tool in tools:
        try:
            das(tool)
        except Exception as e:   # report, do not hide
            emit(tool, "das_step", error=repr(e)[:300])


if __name__ == "__main__":
    if sys.argv[1] == "ids":
        write_ids(sys.argv[2], sys.argv[3])
    else:
        run(sys.argv[2], sys.argv[3], sys.argv[4])
