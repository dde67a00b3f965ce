#!/usr/bin/env bash
# A fixed-seed smoke run of the Lua API fuzzer (Tests/Fuzz/lua) through the normal build:
# a few hundred generated calls per group must end without a crash. The long runs under
# AddressSanitizer are scripts/fuzz-lua.sh (docs/fuzzing.md).
source "$(dirname "$0")/common.sh"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for g in tensor linalg model stdlib; do
  if (cd "$scratch" && "$FP" run --max-memory 512M "$ROOT/Tests/Fuzz/lua/smoke.lua" "$ROOT/Tests/Fuzz/lua" \
        "$ROOT/Tests/fixtures/models/gpt2-tiny" 3 100 "$scratch/trace" "$g") >"$scratch/out" 2>&1; then
    ok "$(tail -n 1 "$scratch/out")"
  else
    FAIL=$((FAIL + 1))
    echo "not ok - api fuzz $g: the run died; last call: $(tail -n 1 "$scratch/trace")"
    tail -n 5 "$scratch/out"
  fi
done
finish
