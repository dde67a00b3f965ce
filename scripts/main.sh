#!/usr/bin/env bash
# Sets up, builds and runs the demo experiment.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.build/release/fp run scripts/demo.lua "$@"
