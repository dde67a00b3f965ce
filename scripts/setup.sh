#!/usr/bin/env bash
# Installs what fp needs from Debian's packages (only what is missing) and builds fp in
# release mode, tests included (CI builds once). Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(liblua5.4-dev libopenblas-dev libdnnl-dev libedit-dev libssl-dev pkg-config python3)  # python3: Tests/redteam/run.py
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "setup: swift build -c release"
# -enable-testing lets the Swift tests (@testable import) use this same release build.
log=$(mktemp)
if ! swift build -c release --build-tests -Xswiftc -enable-testing >"$log" 2>&1; then
  grep -E 'error|warning: unre' "$log" | head -n 40 || true
  tail -n 20 "$log"
  echo "setup: build failed"; exit 1
fi
rm -f "$log"
echo "setup: built $(pwd)/.build/release/fp"
