#!/usr/bin/env bash
# Sets up, builds, fetches the demo model and runs the demo experiment.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/fetch-models.sh
.build/release/fp run scripts/demo.lua "$@"
