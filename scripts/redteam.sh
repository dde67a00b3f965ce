#!/usr/bin/env bash
# The whole red-team corpus (Tests/redteam, docs/redteam.md) against the built fp
# (.build/release/fp, or $FP), two cases at a time. Extra arguments go to the runner:
#   scripts/redteam.sh                         every case; exit status 1 if any failed
#   scripts/redteam.sh --class sandbox         one class (sandbox crash resource misuse signal)
#   scripts/redteam.sh --case crash/slice_step_maxint -v    one case, with its output
#   scripts/redteam.sh --quick --known Tests/redteam/KNOWN_FAILING.md   what scripts/test.sh runs
#   scripts/redteam.sh --sample 0.2 --seed 7   a seeded fifth of the corpus
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "${FP:-.build/release/fp}" ] || swift build -c release
exec python3 Tests/redteam/run.py -j "${REDTEAM_JOBS:-2}" "$@"
