#!/usr/bin/env bash
# Sharded runs without Slurm: fp run --shard and the schedulers' environments, the Kubernetes
# Indexed Job manifest (validated against the Job schema, then run locally with
# JOB_COMPLETION_INDEX set per index), the GNU parallel line of docs/cluster.md, a sharded run
# in the sandbox; each merged result equals an unsharded run byte for byte.
# The experiment runs on a small GPT-2-shaped random model (2 layers) written by fp itself.
# Needs scripts/cluster/setup-cluster.sh. Usage: FP=.build/release/fp bash Tests/cli/test_cluster.sh
set -u
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # ROOT, FP, ok, finish
unset FP_SANDBOX FP_MAX_MEMORY FP_TIMEOUT FP_SHARD_COUNT SLURM_ARRAY_TASK_ID JOB_COMPLETION_INDEX
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CONFIG_HOME=$TMP/config
cd "$ROOT"
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; sed 's/^/       out: /' "$TMP/out" | head -15; }
same() { cmp -s "$1/results.json" "$2/results.json" && cmp -s "$1/results.npz" "$2/results.npz"; }

"$FP" run Tests/fixtures/make_gpt2_random.lua --out "$TMP/model" --layers 2 --d-model 64 --heads 4 --ctx 64 >"$TMP/out" 2>&1 || { bad "making the test model"; finish; exit 1; }
EXP=(scripts/ioi_heads.lua --model "$TMP/model" --n 10)
"$FP" run "${EXP[@]}" --out "$TMP/single" >"$TMP/out" 2>&1 && [ -s "$TMP/single/results.npz" ] \
  && ok "unsharded run writes results.json and results.npz" || bad "unsharded run"

# --- where the shard comes from
show() { "$FP" run "$@" -e 'print(fp.shard.index .. "/" .. fp.shard.count .. " " .. tostring(fp.shard.source))' 2>&1; }
[ "$(show)" = "0/1 nil" ] && [ "$(show --shard 2/4)" = "2/4 flag" ] && ok "fp.shard: 0/1 by default, --shard I/N" || bad "--shard"
[ "$(SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=3 SLURM_ARRAY_TASK_COUNT=4 show)" = "3/4 slurm" ] \
  && [ "$(SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=2 SLURM_ARRAY_TASK_MAX=2 SLURM_ARRAY_TASK_COUNT=1 FP_SHARD_COUNT=4 show)" = "2/4 slurm" ] \
  && [ "$(SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=1 show --shard 1/2)" = "1/2 flag" ] \
  && ok "Slurm: SLURM_ARRAY_TASK_ID with MIN/MAX/COUNT, or with FP_SHARD_COUNT for a resubmitted task; the flag wins" || bad "Slurm environment"
[ "$(JOB_COMPLETION_INDEX=1 FP_SHARD_COUNT=3 show)" = "1/3 kubernetes" ] && [ "$(JOB_COMPLETION_INDEX=1 show --shard-count 2)" = "1/2 kubernetes" ] \
  && ok "Kubernetes: JOB_COMPLETION_INDEX with --shard-count or FP_SHARD_COUNT" || bad "Kubernetes environment"
errs=0
check_err() { local pat=$1; shift; out=$("$@" 2>&1); rc=$?; if [ $rc -eq 0 ] || ! grep -q -- "$pat" <<<"$out"; then errs=1; echo "       $* -> rc=$rc: $out" | head -3; fi; }
check_err "expected I/N" "$FP" run --shard 3 -e 1
check_err "must be in 0...3" "$FP" run --shard 4/4 -e 1
check_err "must be in 0...3" "$FP" run --shard=-1/4 -e 1
check_err "at least 1" "$FP" run --shard 0/0 -e 1
check_err "disagree" "$FP" run --shard 0/4 --shard-count 3 -e 1
check_err "is not 0..N-1" env SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=2 SLURM_ARRAY_TASK_MAX=2 SLURM_ARRAY_TASK_COUNT=1 "$FP" run -e 1
check_err "must be in 0...3" env SLURM_ARRAY_TASK_ID=5 FP_SHARD_COUNT=4 "$FP" run -e 1
check_err "not the number of shards" env JOB_COMPLETION_INDEX=0 "$FP" run -e 1
check_err "whole number" env JOB_COMPLETION_INDEX=x FP_SHARD_COUNT=2 "$FP" run -e 1
check_err "needs an index" "$FP" run --shard-count 3 -e 1
[ $errs -eq 0 ] && ok "bad shard settings are refused with a message (flags and environment)" || { FAIL=$((FAIL + 1)); echo "FAIL - shard setting errors"; }

# --- GNU parallel (the line in docs/cluster.md, with the test's model and folder)
if parallel --will-cite -j 2 "$FP" run --shard {}/4 "${EXP[@]}" --out "$TMP/par" ::: 0 1 2 3 >"$TMP/out" 2>&1 \
   && "$FP" merge "$TMP/par" >>"$TMP/out" 2>&1 && same "$TMP/single" "$TMP/par"; then
  ok "GNU parallel, 4 shards: fp merge = the unsharded run, byte for byte"
else bad "GNU parallel shards"; fi

# --- a preempted shard: merge names what is missing and the command; the rerun skips done items
for i in 0 1 2 3; do "$FP" run --shard $i/4 "${EXP[@]}" --out "$TMP/pre" >/dev/null 2>&1; done
first=$(ls "$TMP/pre/shard-1-of-4/items" | head -n 1)
touch -d '2000-01-01' "$TMP/pre/shard-1-of-4/items/$first"
ls "$TMP/pre/shard-1-of-4/items" | grep -v "^$first\$" | sed "s|^|$TMP/pre/shard-1-of-4/items/|" | xargs rm -f
"$FP" merge "$TMP/pre" >"$TMP/out" 2>&1; rc=$?
if [ $rc -ne 0 ] && grep -q "items are missing" "$TMP/out" && grep -qF "fp run --shard 1/4 scripts/ioi_heads.lua --model $TMP/model --n 10 --out $TMP/pre" "$TMP/out"; then
  cmd=$(grep -oE "fp run --shard 1/4 .*" "$TMP/out" | head -n 1)
  (eval "${cmd/#fp/\"$FP\"}") >"$TMP/out" 2>&1
  if grep -q "1 already done" "$TMP/out" && [ "$(stat -c %Y "$TMP/pre/shard-1-of-4/items/$first")" = "$(date -d '2000-01-01' +%s)" ] \
     && "$FP" merge "$TMP/pre" >/dev/null 2>&1 && same "$TMP/single" "$TMP/pre"; then
    ok "merge lists missing items with the command; running it skips the done item and completes the result"
  else bad "rerun of a preempted shard"; fi
else bad "merge with missing items (rc=$rc)"; fi

# --- different runs are never merged
"$FP" run --shard 0/2 "${EXP[@]}" --out "$TMP/mix" >/dev/null 2>&1
"$FP" run --shard 1/2 scripts/ioi_heads.lua --model "$TMP/model" --n 10 --seed 1 --out "$TMP/mix" >/dev/null 2>&1
"$FP" merge "$TMP/mix" >"$TMP/out" 2>&1; rc=$?
"$FP" run --shard 0/2 scripts/ioi_heads.lua --model "$TMP/model" --n 11 --out "$TMP/mix" >>"$TMP/out" 2>&1; rc2=$?
"$FP" run Tests/fixtures/make_gpt2_random.lua --out "$TMP/model2" --layers 2 --d-model 64 --heads 4 --ctx 64 --seed 1 >/dev/null 2>&1
cp -r "$TMP/par" "$TMP/other" && rm -r "$TMP/other/shard-3-of-4"
"$FP" run --shard 3/4 scripts/ioi_heads.lua --model "$TMP/model2" --n 10 --out "$TMP/other" >/dev/null 2>&1
mv "$TMP/model2" "$TMP/model3"   # not the model's name: its files' SHA-256 differs
"$FP" merge "$TMP/other" >>"$TMP/out" 2>&1; rc3=$?
if [ $rc -ne 0 ] && grep -q "shards of different runs (setting seed: 0 vs 1)" "$TMP/out" \
   && [ $rc2 -ne 0 ] && grep -q "holds results of a different run (setting n: 10 vs 11)" "$TMP/out" \
   && [ $rc3 -ne 0 ] && grep -qE "shards of different runs \(model: " "$TMP/out"; then
  ok "merge refuses shards of different settings or models; a shard folder refuses another run"
else bad "mismatched runs"; fi

# --- Kubernetes: the manifest against the Indexed Job schema, then its pods simulated locally
KV=$ROOT/.build/cluster-venv/bin/kubernetes-validate
MANIFEST=scripts/cluster/ioi_heads-job.yaml
if [ -x "$KV" ] && "$KV" --strict --quiet "$MANIFEST" >"$TMP/out" 2>&1; then
  sed 's/  parallelism: 16/  parallelsm: 16/' "$MANIFEST" >"$TMP/bad.yaml"
  if ! "$KV" --strict --quiet "$TMP/bad.yaml" >/dev/null 2>&1; then
    ok "the Kubernetes Indexed Job manifest passes kubernetes-validate --strict (a misspelt field does not)"
  else bad "kubernetes-validate accepts a misspelt field"; fi
else bad "kubernetes-validate $MANIFEST"; fi
if python3 scripts/cluster/simulate_indexed_job.py "$MANIFEST" --fp "$FP" --arg "model=$TMP/model" --arg n=10 \
     --arg "out=$TMP/k8s" --cwd "$ROOT" >"$TMP/out" 2>&1 && [ -d "$TMP/k8s/shard-15-of-16" ] \
   && "$FP" merge "$TMP/k8s" >>"$TMP/out" 2>&1 && same "$TMP/single" "$TMP/k8s"; then
  ok "the manifest's 16 pods run locally with JOB_COMPLETION_INDEX: merged = the unsharded run"
else bad "Indexed Job simulation"; fi

# --- sandboxed shards: --out must be an --allow-write folder
mkdir -p "$TMP/sb"
"$FP" run --sandbox --allow-write "$TMP/sb" --shard 0/2 "${EXP[@]}" --out "$TMP/sb" >"$TMP/out" 2>&1 \
  && "$FP" run --sandbox --allow-write "$TMP/sb" --shard 1/2 "${EXP[@]}" --out "$TMP/sb" >>"$TMP/out" 2>&1 \
  && "$FP" run --sandbox --allow-write "$TMP/sb" --shard 1/2 "${EXP[@]}" --out "$TMP/sb" >>"$TMP/out" 2>&1 \
  && grep -q "5 already done" "$TMP/out" && "$FP" merge "$TMP/sb" >/dev/null 2>&1 && same "$TMP/single" "$TMP/sb" \
  && ok "shards under --sandbox (--out an --allow-write folder) resume and merge" || bad "sandboxed shards"

out=$("$FP" run --sandbox --allow-write "$TMP/sb" -e 'fp.shard.open(arg[1], { model = "/etc/hostname" })' "$TMP/sb" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "model_sha256.*not allowed" <<<"$out" && ok "in the sandbox the manifest's model hash reads only what fp.load_model may" \
  || { FAIL=$((FAIL + 1)); echo "FAIL - sandboxed model_sha256: rc=$rc $out" | head -3; }

# --- the files docs/cluster.md shows are the ones tested
for f in scripts/cluster/ioi_heads.sbatch "$MANIFEST"; do
  python3 - "$f" docs/cluster.md <<'PY' || { FAIL=$((FAIL + 1)); echo "FAIL - docs/cluster.md does not show $f as it is"; }
import sys
body = open(sys.argv[1]).read()
sys.exit(0 if body.strip() in open(sys.argv[2]).read() else 1)
PY
done
grep -qF 'parallel -j 4 fp run --shard {}/4 scripts/ioi_heads.lua' docs/cluster.md && ok "docs/cluster.md shows the tested batch script, manifest and parallel line" \
  || { FAIL=$((FAIL + 1)); echo "FAIL - docs/cluster.md parallel line"; }
finish
