# Shared by the CLI tests (source it): ROOT, the fp binary in FP (absolute; $FP or
# .build/release/fp), PASS/FAIL counters with ok(), and finish() printing "N passed, N failed"
# and returning non-zero on a failure. Each test defines its own bad() (what it shows differs).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FP=${FP:-$ROOT/.build/release/fp}
case "$FP" in /*) ;; *) FP="$PWD/$FP" ;; esac
if [ ! -x "$FP" ]; then echo "no fp executable at $FP (set FP=...)"; exit 2; fi
PASS=0; FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; }
