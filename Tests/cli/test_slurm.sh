#!/usr/bin/env bash
# The dataset experiment on a real single-node Slurm cluster started here on 127.0.0.1
# (Tests/cli/slurm_local.sh: MUNGE, slurmctld and slurmd with a slurm.conf in a temp folder):
#  1. sbatch --array=0-3 scripts/cluster/ioi_heads.sbatch, wait, fp merge: byte for byte the
#     result of one unsharded run;
#  2. a second array in which task 1 is cancelled (scancel) after its first prompt is saved:
#     fp merge names the missing prompts, sbatch --array=1 completes them without recomputing
#     the saved one, and the merge again equals the unsharded run.
# Needs root and scripts/cluster/setup-cluster.sh. Usage: FP=.build/release/fp bash Tests/cli/test_slurm.sh
set -u
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # ROOT, FP, ok, finish
source "$(dirname "${BASH_SOURCE[0]}")/slurm_local.sh"
unset FP_SANDBOX FP_MAX_MEMORY FP_TIMEOUT FP_SHARD_COUNT
TMP=$(mktemp -d)
trap 'slurm_stop; rm -rf "$TMP"' EXIT
export XDG_CONFIG_HOME=$TMP/config
cd "$ROOT"
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; tail -n 12 "$TMP"/logs/* "$TMP/out" 2>/dev/null | sed 's/^/       /'; }
same() { cmp -s "$1/results.json" "$2/results.json" && cmp -s "$1/results.npz" "$2/results.npz"; }
mkdir -p "$TMP/logs"

if [ "$(id -u)" -ne 0 ] || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  FAIL=$((FAIL + 1)); echo "FAIL - the Slurm test needs root and scripts/cluster/setup-cluster.sh"; finish; exit 1
fi
# the experiment on a small GPT-2-shaped random model (prompts take milliseconds, the test
# is about the scheduler); N prompts, 4 shards
"$FP" run Tests/fixtures/make_gpt2_random.lua --out "$TMP/model" --layers 2 --d-model 64 --heads 4 --ctx 64 >"$TMP/out" 2>&1 \
  || { bad "making the test model"; finish; exit 1; }
N=12
"$FP" run scripts/ioi_heads.lua --model "$TMP/model" --n $N --out "$TMP/single" >"$TMP/out" 2>&1 || bad "unsharded run"

if ! slurm_start "$TMP/slurm" >"$TMP/out" 2>&1; then bad "starting slurmctld and slurmd"; finish; exit 1; fi
ok "single-node Slurm cluster up on 127.0.0.1 ($(sinfo -h -o '%P %D nodes %c CPUs %t'))"

submit() {   # submit OUT ARRAY [FP_WRAPPER]: the batch script of docs/cluster.md, test-sized
  sbatch --parsable --array="$2" --cpus-per-task=1 --mem=0 --chdir="$ROOT" --output="$TMP/logs/%A_%a.out" \
    --export=ALL,FP="${3:-$FP}",MODEL="$TMP/model",N=$N,OUT="$1",FP_SHARD_COUNT=4 scripts/cluster/ioi_heads.sbatch
}

# 0. the array index and count as real Slurm sets them (SLURM_ARRAY_TASK_ID/MIN/MAX/COUNT)
show='print(fp.shard.index .. "/" .. fp.shard.count .. " " .. fp.shard.source)'
job=$(sbatch --parsable --array=0-2 --cpus-per-task=1 --output="$TMP/logs/show_%a.out" --wrap "$FP run -e '$show'") && slurm_wait "$job" 120
job2=$(sbatch --parsable --array=2 --cpus-per-task=1 --output="$TMP/logs/alone_%a.out" --wrap "$FP run -e '$show'") && slurm_wait "$job2" 120
if [ "$(cat "$TMP"/logs/show_{0,1,2}.out 2>/dev/null | tr '\n' ,)" = "0/3 slurm,1/3 slurm,2/3 slurm," ] \
   && grep -q "is not 0..N-1: give the number of shards with --shard-count" "$TMP/logs/alone_2.out"; then
  ok "sbatch --array=0-2: shards 0/3, 1/3, 2/3 from Slurm's variables; a task submitted alone without a count is refused"
else bad "shard index from Slurm's environment"; fi

# 1. the whole array
job=$(submit "$TMP/array" 0-3) && slurm_wait "$job" 300
states=$(ls "$TMP/array" 2>/dev/null | tr '\n' ' ')
if [ -d "$TMP/array/shard-3-of-4" ] && "$FP" merge "$TMP/array" >"$TMP/out" 2>&1 && same "$TMP/single" "$TMP/array"; then
  ok "sbatch --array=0-3 then fp merge: the unsharded run's results.json and results.npz, byte for byte"
else bad "array 0-3 ($states)"; fi

# 2. task 1 cancelled midway: the prompts take milliseconds, so task 1 runs fp under a wrapper
#    that freezes it (SIGSTOP) once its first prompt is saved; then the test scancels it. So that
#    the wrapper's poll cannot miss the moment (the next prompts are saved within milliseconds),
#    task 1 runs ioi_heads.lua through hold_saves.lua, which holds the second save for 5 s and
#    carries ioi_heads.lua's identity (its sha256: shards of different scripts do not merge).
cat > "$TMP/hold_saves.lua" <<'LUA'
package.loaded["fp.shard_host"].script_sha256 = assert(os.getenv("IOI_HEADS_SHA256"))
local patching = require "fp.patching"
local dataset = patching.dataset
patching.dataset = function(model, items, sweep, opts)
  local extra, saves = opts.extra, 0
  opts.extra = function(p)   -- called just before each prompt's result is saved
    saves = saves + 1
    if saves > 1 then local t = fp.time(); while fp.time() - t < 5 do end end
    return extra(p)
  end
  return dataset(model, items, sweep, opts)
end
return dofile("scripts/ioi_heads.lua")
LUA
cat > "$TMP/freeze_fp.sh" <<SH
#!/bin/bash
if [ "\${SLURM_ARRAY_TASK_ID:-}" = 1 ]; then
  [ "\$2" = scripts/ioi_heads.lua ] || { echo "freeze_fp.sh: unexpected arguments \$*" >&2; exit 2; }
  shift 2
  IOI_HEADS_SHA256=\$(sha256sum scripts/ioi_heads.lua | cut -d' ' -f1) "$FP" run "$TMP/hold_saves.lua" "\$@" &
  pid=\$!
  while kill -0 \$pid 2>/dev/null; do
    if [ -n "\$(ls "\$OUT/shard-1-of-4/items" 2>/dev/null)" ]; then kill -STOP \$pid; break; fi
    sleep 0.01
  done
  wait \$pid
else
  exec "$FP" "\$@"
fi
SH
chmod +x "$TMP/freeze_fp.sh"
job=$(submit "$TMP/pre" 0-3 "$TMP/freeze_fp.sh")
items1=$TMP/pre/shard-1-of-4/items
for i in $(seq 1 600); do [ -n "$(ls "$items1" 2>/dev/null)" ] && break; sleep 0.1; done
scancel "${job}_1"
slurm_wait "$job" 300
saved=$(ls "$items1" 2>/dev/null)
nsaved=$(echo "$saved" | grep -c . )
"$FP" merge "$TMP/pre" >"$TMP/out" 2>&1; rc=$?
if [ "$nsaved" -ge 1 ] && [ "$nsaved" -lt 3 ] && [ $rc -ne 0 ] && grep -q "items are missing" "$TMP/out" && grep -q "sbatch --array=1 " "$TMP/out"; then
  ok "scancel of task 1 midway ($nsaved of 3 prompts saved): fp merge names the missing prompts and sbatch --array=1"
  for f in $saved; do touch -d '2000-01-01' "$items1/$f"; done
  job=$(submit "$TMP/pre" 1) && slurm_wait "$job" 300
  kept=1
  for f in $saved; do [ "$(stat -c %Y "$items1/$f")" = "$(date -d '2000-01-01' +%s)" ] || kept=0; done
  if [ $kept -eq 1 ] && grep -q "$nsaved already done" "$TMP"/logs/"${job}"_1.out && "$FP" merge "$TMP/pre" >"$TMP/out" 2>&1 && same "$TMP/single" "$TMP/pre"; then
    ok "sbatch --array=1 again: the saved prompts are not recomputed, and the merge equals the unsharded run"
  else bad "resubmitted task 1 (kept=$kept)"; fi
else bad "cancelled task 1 (saved $nsaved, merge rc=$rc)"; fi
finish
