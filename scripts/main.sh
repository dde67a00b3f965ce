#!/usr/bin/env bash
# Sets up, builds, fetches the demo model, runs the short demo and then the IOI experiment
# (scripts/ioi.lua: residual-stream and head patching, figures and results.json in out/ioi).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-models.sh
.build/release/fp run scripts/demo.lua "$@"
.build/release/fp run scripts/ioi.lua --out out/ioi "$@"
