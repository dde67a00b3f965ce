#!/usr/bin/env bash
# Sets up, builds (release, once) and runs every test: Swift tests, then Lua tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "== swift tests"
swift test -c release --skip-build --disable-swift-testing 2>&1 | tail -n 40
echo "== lua tests"
.build/release/fp test Tests/lua
