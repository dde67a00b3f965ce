"""Runs a Kubernetes Indexed Job manifest's container command locally, once per index, with
JOB_COMPLETION_INDEX and the container's env set as Kubernetes sets them (no cluster needed).
  python3 scripts/cluster/simulate_indexed_job.py MANIFEST --fp PATH [--arg NAME=VALUE ...] [--jobs 2]
--arg replaces the value of the command's --NAME (to point --out, --model, --n at test values)."""
import argparse, os, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
import yaml

p = argparse.ArgumentParser()
p.add_argument("manifest")
p.add_argument("--fp", required=True, help="the fp executable that stands for the image's `fp`")
p.add_argument("--arg", action="append", default=[], help="NAME=VALUE: the command's --NAME value")
p.add_argument("--jobs", type=int, default=2, help="indexes run at once (at most the Job's parallelism)")
p.add_argument("--cwd", default=".", help="stands for the container's workingDir")
a = p.parse_args()

job = yaml.safe_load(open(a.manifest))
spec = job["spec"]
if job.get("kind") != "Job" or spec.get("completionMode") != "Indexed":
    sys.exit("not an Indexed Job")
container = spec["template"]["spec"]["containers"][0]
command = list(container["command"]) + list(container.get("args", []))
if command[0] == "fp":
    command[0] = a.fp
for item in a.arg:
    name, value = item.split("=", 1)
    flag = "--" + name
    if flag not in command:
        sys.exit(f"the command has no {flag}")
    command[command.index(flag) + 1] = value
env = dict(os.environ)
for e in container.get("env", []):
    env[e["name"]] = e["value"]

def run(index):
    # Kubernetes sets JOB_COMPLETION_INDEX in every pod of an Indexed Job
    r = subprocess.run(command, cwd=a.cwd, env=dict(env, JOB_COMPLETION_INDEX=str(index)),
                       capture_output=True, text=True)
    return index, r.returncode, r.stdout + r.stderr

jobs = max(1, min(a.jobs, spec.get("parallelism", 1)))
failed = 0
with ThreadPoolExecutor(jobs) as pool:
    for index, rc, out in pool.map(run, range(spec["completions"])):
        print(f"index {index}: exit {rc}")
        if rc != 0:
            failed += 1
            print(out)
sys.exit(1 if failed else 0)
