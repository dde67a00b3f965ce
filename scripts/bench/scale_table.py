"""The table of scripts/bench/scale: seconds per tool and task, tool/fp ratios, fp's peak RSS over
the float32 weight bytes, and checksums.  Usage: python scale_table.py JSONL"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
TASKS = ["load", "fwd_1x64", "fwd_8x128", "sweep_resid_pre", "sweep_head", "das_step"]
for model in dict.fromkeys(r["model"] for r in rows):
    rs = [r for r in rows if r["model"] == model]
    env = next((r for r in rs if r["tool"] == "env"), {})
    wb = env.get("weight_bytes_f32")
    get = {(r["tool"], r["task"]): r for r in rs if "task" in r}
    print(f"\n{model}  (float32 weights {wb / 2**20:.0f} MB; load average {env.get('loadavg')})" if wb else f"\n{model}")
    print(f"{'task':18} {'fp s':>9} {'HF s':>9} {'nnsight s':>10} {'HF/fp':>7} {'nns/fp':>7}  "
          f"{'fp cpu':>8} {'HF cpu':>8} {'nns cpu':>8} {'HF/fp':>6} {'nns/fp':>6}   checks fp | HF | nnsight")
    for task in TASKS:
        f, h, n = get.get(("fp", task)), get.get(("hf", task)), get.get(("nnsight", task))
        if task == "load":
            n = None

        def s(r):
            return f"{r['seconds']:9.3f}" if r and r.get("seconds") is not None else f"{'-':>9}"

        def ratio(r):
            return f"{r['seconds'] / f['seconds']:7.2f}" if r and f and r.get("seconds") else f"{'-':>7}"
        def c(r):
            return f"{r['cpu_seconds']:8.1f}" if r and r.get("cpu_seconds") is not None else f"{'-':>8}"

        def cratio(r):
            return f"{r['cpu_seconds'] / f['cpu_seconds']:6.2f}" if r and f and r.get("cpu_seconds") and f.get("cpu_seconds") else f"{'-':>6}"
        proj = "*" if any(r and r.get("projected") for r in (h, n)) else " "
        checks = " | ".join(f"{r.get('check', r.get('first_loss', ''))}" if r else "-" for r in (f, h, n))
        print(f"{task:18} {s(f)} {s(h)} {s(n):>10} {ratio(h)} {ratio(n)}{proj} {c(f)} {c(h)} {c(n)} {cratio(h)} {cratio(n)}   {checks}")
    extra = get.get(("fp", "das_step_reuse_prefix"))
    if extra:
        print(f"{'das (reuse_prefix)':18} {extra['seconds']:9.3f}   (fp's default: layers before the hook run once)")
    for tool in ("fp", "hf"):
        ld = get.get((tool, "load"))
        peak = max((r["peak_rss_mb"] for r in rs if r["tool"] == tool and r.get("peak_rss_mb")), default=None)
        if ld and wb:
            print(f"{tool:3} peak RSS: after load {ld['peak_rss_mb']:.0f} MB = {ld['peak_rss_mb'] * 2**20 / wb:.2f}x the float32 weights;"
                  f" whole run {peak:.0f} MB = {peak * 2**20 / wb:.2f}x")
print("\n* the peer swept its first SWEEP_LAYERS layers; seconds projected to every layer (each cell is one forward)")
print("ratios: peer seconds / fp seconds (above 1: fp is faster), wall and CPU (all threads); checks: fwd = sum of the first row's last logits,"
      " sweeps = sum of the normalized matrix, das = first loss")
