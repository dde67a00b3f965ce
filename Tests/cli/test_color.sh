#!/usr/bin/env bash
# Terminal colours: t:show() and plot.term write ANSI escape codes to a terminal (a pty made
# by script(1)) and never into a pipe or a file, nor with NO_COLOR set or TERM=dumb; the
# decision is fp.use_color(1), made in Swift (isatty + the environment).
# Usage: FP=.build/release/fp bash Tests/cli/test_color.sh
set -u
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # ROOT, FP, ok, finish
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CONFIG_HOME=$TMP/config
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; sed 's/^/       out: /' "$TMP/out" | head -8; }
cat > "$TMP/show.lua" <<'LUA'
fp.tensor({ { 0.5, -2 }, { 1, 0 } }):show({ x = { "a", "b" } })
print("use_color " .. tostring(fp.use_color(1)))
LUA
esc=$'\033['
has_esc() { grep -qF "$esc" "$TMP/out"; }
has_cells() { grep -qF "${esc}48;5;" "$TMP/out"; }

"$FP" run "$TMP/show.lua" > "$TMP/out" 2>&1
if ! has_esc && grep -q "use_color false" "$TMP/out" && grep -q -- "-2.00" "$TMP/out"; then ok "into a file: no escape codes, the numbers instead"
else bad "into a file"; fi

"$FP" run "$TMP/show.lua" 2>&1 | cat > "$TMP/out"
if ! has_esc; then ok "into a pipe: no escape codes"; else bad "into a pipe"; fi

if command -v script >/dev/null; then
  TERM=xterm-256color script -qec "$FP run $TMP/show.lua" /dev/null > "$TMP/out" 2>&1
  if has_cells && grep -q "use_color true" "$TMP/out"; then ok "on a terminal: 256-colour cells"
  else bad "on a terminal"; fi
  NO_COLOR=1 TERM=xterm-256color script -qec "$FP run $TMP/show.lua" /dev/null > "$TMP/out" 2>&1
  if ! has_cells && grep -q "use_color false" "$TMP/out"; then ok "NO_COLOR=1 on a terminal: no colours"
  else bad "NO_COLOR on a terminal"; fi
  TERM=dumb script -qec "$FP run $TMP/show.lua" /dev/null > "$TMP/out" 2>&1
  if ! has_cells; then ok "TERM=dumb: no colours"; else bad "TERM=dumb"; fi
else
  echo "skip - script(1) not installed: the terminal cases"
fi
finish
