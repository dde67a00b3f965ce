"""The peers' side of scripts/bench/patching: TransformerLens / nnsight IOI patching sweeps, run with the
peers' own code (PEERS_DIR, default /work/shared/peers: common.py, bench_tl.py, bench_nnsight.py) so
the numbers are the peers' numbers, but only the variants that scripts/bench/patching compares.

  python patching_peers.py ids  --model MK --out FILE        # the IOI token ids every tool gets
  python patching_peers.py run  --tool tl3|tl4|nnsight --model MK [--tasks resid,attn_head] [--all-variants]

Variants (the peers' task names; resid_pre site only, so checksums cross-check with fp and TL):
  tl3      patch_resid_pre_get_act_patch        (bench_tl.py --impl hooked, task patch_resid: the faster of
                                                 its two resid_pre variants in the peers' results)
           patch_attn_head_all_pos_get_act_patch
  tl4      both resid_pre variants (get_act_patch, run_with_hooks_loop; neither is consistently faster)
           patch_attn_head_all_pos_get_act_patch
  nnsight  patch_resid_pre_multi_invoke         (the peers' block_out variants patch a different site)
           patch_attn_head_all_pos_multi_invoke
--all-variants runs the peers' whole task instead (every variant they define, incl. block_out / trace loop).
One JSON line per measurement (common.emit), with the 1-minute load average added as load1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

PEERS_DIR = os.environ.get("PEERS_DIR", "/work/shared/peers")
sys.path.insert(0, PEERS_DIR)
os.environ.setdefault("PEERS_RESULTS", "-")  # the peers' default is a file next to their scripts

import common as C  # noqa: E402  (first: sets the offline / thread env before torch is used)

_emit = C.emit


def _emit_with_load(*a, **k):
    k.setdefault("load1", round(os.getloadavg()[0], 2))
    return _emit(*a, **k)


C.emit = _emit_with_load  # bench_tl / bench_nnsight call C.emit at run time


def write_ids(mk: str, out: str) -> None:
    io = C.ioi_setup(mk)
    rec = {"model": mk, "clean": io["clean"][0].tolist(), "corrupt": io["corrupt"][0].tolist(),
           "john": io["john"], "mary": io["mary"], "clean_text": C.IOI_CLEAN, "corrupt_text": C.IOI_CORRUPT}
    with open(out, "w") as f:
        json.dump(rec, f)
    print(json.dumps({"ids": rec}))


def run_tl(impl: str, mk: str, tasks: list[str], all_variants: bool) -> None:
    import torch
    import bench_tl as BT

    path = C.MODELS[mk]
    m = BT.load(impl, path)
    for task in tasks:
        if task == "resid":
            if all_variants or impl == "bridge":
                C.run_guarded(BT.tool_name(impl), mk, "patch_resid",
                              lambda: BT.task_patch_resid(impl, m, mk, False))
                continue

            def one():  # bench_tl.task_patch_resid's first variant, alone
                import transformer_lens.patching as patching

                io = C.ioi_setup(mk)

                def via_patching():
                    with torch.no_grad():
                        cache, metric = BT._ioi_metric(m, io)
                        return patching.get_act_patch_resid_pre(m, io["corrupt"], cache, metric)

                with C.Task() as t:
                    med, times, res, nt = C.timeit_sweep(via_patching, n=3)
                ck = C.matrix_checks(res)
                C.emit(BT.tool_name(impl), mk, "patch_resid_pre_get_act_patch", med, t.peak, ck.pop("result"),
                       **ck, n=nt, times=times, rss_before_mb=round(t.rss_before, 1))

            C.run_guarded(BT.tool_name(impl), mk, "patch_resid", one)
        elif task == "attn_head":
            C.run_guarded(BT.tool_name(impl), mk, "attn_head", lambda: BT.task_attn_head(impl, m, mk, False))
        else:
            raise SystemExit(f"unknown task {task}")


def run_nnsight(mk: str, tasks: list[str], all_variants: bool) -> None:
    import bench_nnsight as BN

    model = BN.load(C.MODELS[mk])
    for task in tasks:
        if task == "resid":
            if all_variants:
                C.run_guarded(BN.TOOL, mk, "patch_resid", lambda: BN.task_patch_resid(model, mk, False))
                continue

            def one():  # bench_nnsight.task_patch_resid's resid_pre variant, alone
                io = C.ioi_setup(mk)
                with C.Task() as t:
                    med, times, res, nt = C.timeit_sweep(lambda: BN.sweep_multi_invoke(model, io, "resid_pre"), n=3)
                ck = C.matrix_checks(res)
                C.emit(BN.TOOL, mk, "patch_resid_pre_multi_invoke", med, t.peak, ck.pop("result"), **ck, n=nt,
                       times=times, rss_before_mb=round(t.rss_before, 1))

            C.run_guarded(BN.TOOL, mk, "patch_resid", one)
        elif task == "attn_head":
            C.run_guarded(BN.TOOL, mk, "attn_head", lambda: BN.task_attn_head(model, mk, False))
        else:
            raise SystemExit(f"unknown task {task}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["ids", "run"])
    p.add_argument("--model", choices=list(C.MODELS), required=True)
    p.add_argument("--out")
    p.add_argument("--tool", choices=["tl3", "tl4", "nnsight"])
    p.add_argument("--tasks", default="resid,attn_head")
    p.add_argument("--all-variants", action="store_true")
    a = p.parse_args()
    if a.mode == "ids":
        write_ids(a.model, a.out)
        return
    tasks = [t for t in a.tasks.split(",") if t]
    if a.tool == "nnsight":
        run_nnsight(a.model, tasks, a.all_variants)
    else:
        run_tl("hooked" if a.tool == "tl3" else "bridge", a.model, tasks, a.all_variants)


if __name__ == "__main__":
    main()
