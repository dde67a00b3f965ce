#!/usr/bin/env bash
# Integration test of `fp pull` against Tests/fixtures/hub_server.py on 127.0.0.1.
# Usage: FP=.build/release/fp bash Tests/cli/test_pull.sh
set -u

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # ROOT, FP, ok, finish

# Only 127.0.0.1: no proxies, no ambient Hugging Face settings.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_TOKEN_PATH HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_ENDPOINT XDG_CACHE_HOME

TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

bad() {
    FAIL=$((FAIL + 1)); echo "FAIL - $1"
    echo "       rc=$RC stdout: $OUT"
    sed 's/^/       stderr: /' "$TMP/err" 2>/dev/null | head -20
}
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }

# ---- fixture repos ----
python3 - "$TMP/repos" <<'EOF'
import os, random, sys, json
root = sys.argv[1]
rnd = random.Random(1234)
def put(path, data):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)
blob = lambda n: bytes(rnd.getrandbits(8) for _ in range(n))
for repo in ["test-org/tiny-model", "test-org/gated-model", "test-org/resume-model", "test-org/norange-model"]:
    put(f"{repo}/config.json", json.dumps({"model_type": "llama", "repo": repo}).encode())
put("test-org/tiny-model/tokenizer.json", json.dumps({"vocab": {f"t{i}": i for i in range(3000)}}).encode())
put("test-org/tiny-model/model.safetensors", blob(3_000_000))
put("test-org/tiny-model/sub/extra.safetensors", blob(10_000))
put("test-org/tiny-model/model.bin", blob(1000))
put("test-org/tiny-model/README.md", b"# tiny\n")
put("test-org/tiny-model/.gitattributes", b"*.safetensors filter=lfs\n")
put("test-org/gated-model/model.safetensors", blob(5000))
put("test-org/resume-model/model.safetensors", blob(200_000))
put("test-org/norange-model/model.safetensors", blob(50_000))
EOF

LOG=$TMP/server.log
python3 "$ROOT/Tests/fixtures/hub_server.py" --root "$TMP/repos" --log "$LOG" \
    --drop test-org/tiny-model/model.safetensors:1000000 \
    --ignore-range test-org/norange-model/model.safetensors \
    --gated test-org/gated-model:hf_testtoken >"$TMP/port" 2>"$TMP/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(head -1 "$TMP/port")
if [ -z "$PORT" ]; then echo "hub_server.py did not start:"; cat "$TMP/server.err"; exit 2; fi
export HF_ENDPOINT=http://127.0.0.1:$PORT
echo "# hub_server.py on $HF_ENDPOINT, fp = $FP"

sha_of() {
    python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["sha"])' \
        "$HF_ENDPOINT/api/models/$1/revision/main"
}
OUT=; RC=0
pull() { OUT=$("$FP" pull "$@" 2>"$TMP/err"); RC=$?; }
err_has() { grep -q -- "$1" "$TMP/err"; }
no_crash() { ! grep -q -E "Fatal error|Segmentation|Illegal instruction|Trace/breakpoint" "$TMP/err"; }
log_has() { grep -q -E -- "$1" "$LOG"; }
same() { cmp -s "$1" "$2"; }

# ---- 1. fresh pull with an interrupted file ----
export HF_HOME=$TMP/home1
SHA=$(sha_of test-org/tiny-model)
SNAP=$HF_HOME/hub/models--test-org--tiny-model/snapshots/$SHA
pull test-org/tiny-model
check "pull exits 0" test "$RC" -eq 0
check "stdout is the snapshot folder" test "$OUT" = "$SNAP"
for f in config.json tokenizer.json model.safetensors sub/extra.safetensors; do
    check "$f byte-for-byte" same "$TMP/repos/test-org/tiny-model/$f" "$SNAP/$f"
done
check "default set skips model.bin, README.md, .gitattributes" \
    test ! -e "$SNAP/model.bin" -a ! -e "$SNAP/README.md" -a ! -e "$SNAP/.gitattributes"
check "refs/main holds the commit sha" test "$(cat "$HF_HOME/hub/models--test-org--tiny-model/refs/main")" = "$SHA"
check "no .incomplete files left" test -z "$(find "$HF_HOME" -name '*.incomplete')"
check "server dropped the first model.safetensors transfer" log_has "model.safetensors status=200 .* drop=1000000"
check "interrupted file resumed with Range: bytes=1000000- (206)" \
    log_has "/cdn/test-org/tiny-model/$SHA/model.safetensors status=206 range=bytes=1000000- "
check "Range header kept across the resolve -> cdn redirect" \
    log_has "/test-org/tiny-model/resolve/$SHA/model.safetensors status=302 range=bytes=1000000- "
check "retry reported on stderr" err_has "retrying"
check "non-TTY stderr: one line per file, no carriage returns" \
    bash -c "! grep -q \$'\r' '$TMP/err' && [ \$(grep -c -E '^\[[0-9]+/4\] ' '$TMP/err') -eq 4 ]"

# ---- 2. second pull uses the cache ----
N_BEFORE=$(grep -c resolve "$LOG")
pull test-org/tiny-model
check "second pull exits 0 with the same path" test "$RC" -eq 0 -a "$OUT" = "$SNAP"
check "second pull downloads nothing" test "$(grep -c resolve "$LOG")" -eq "$N_BEFORE"
check "second pull says the files are cached" err_has "already in the cache"

# ---- 3. resume across runs from a partial .incomplete ----
export HF_HOME=$TMP/home2
RSHA=$(sha_of test-org/resume-model)
RSNAP=$HF_HOME/hub/models--test-org--resume-model/snapshots/$RSHA
mkdir -p "$RSNAP"
head -c 12345 "$TMP/repos/test-org/resume-model/model.safetensors" >"$RSNAP/model.safetensors.incomplete"
pull test-org/resume-model
check "resume pull exits 0" test "$RC" -eq 0
check "resumed file byte-for-byte" same "$TMP/repos/test-org/resume-model/model.safetensors" "$RSNAP/model.safetensors"
check "resume sent Range: bytes=12345- and got 206" \
    log_has "/cdn/test-org/resume-model/$RSHA/model.safetensors status=206 range=bytes=12345- "
check "resume reported on stderr" err_has "resumed at"
check "resume left no .incomplete" test ! -e "$RSNAP/model.safetensors.incomplete"

# ---- 4. server ignores Range (200): start over ----
NSHA=$(sha_of test-org/norange-model)
NSNAP=$HF_HOME/hub/models--test-org--norange-model/snapshots/$NSHA
mkdir -p "$NSNAP"
head -c 5000 /dev/urandom >"$NSNAP/model.safetensors.incomplete"   # garbage prefix
pull test-org/norange-model
check "ignored-Range pull exits 0" test "$RC" -eq 0
check "server saw Range and answered 200" \
    log_has "/cdn/test-org/norange-model/$NSHA/model.safetensors status=200 range=bytes=5000- "
check "restarted file byte-for-byte (partial discarded)" \
    same "$TMP/repos/test-org/norange-model/model.safetensors" "$NSNAP/model.safetensors"
check "restart reported on stderr" err_has "starting over"

# ---- 5. --include ----
export HF_HOME=$TMP/home3
pull test-org/tiny-model --include '*.bin' config.json
S3=$HF_HOME/hub/models--test-org--tiny-model/snapshots/$SHA
check "--include exits 0" test "$RC" -eq 0
check "--include '*.bin' config.json fetches exactly those" \
    test "$(cd "$S3" && find . -type f | sort | tr '\n' ' ')" = "./config.json ./model.bin "
check "model.bin byte-for-byte" same "$TMP/repos/test-org/tiny-model/model.bin" "$S3/model.bin"
pull test-org/tiny-model --include '*.gguf'
check "--include matching nothing: exit 1 with a message" \
    bash -c "[ $RC -eq 1 ] && grep -q 'fp: pull: .*none of its' '$TMP/err'"

# ---- 6. revision given as the commit sha; HF_HUB_CACHE ----
export HF_HUB_CACHE=$TMP/hubcache
pull test-org/resume-model --revision "$RSHA"
check "--revision SHA into HF_HUB_CACHE exits 0" test "$RC" -eq 0 -a "$OUT" = "$TMP/hubcache/models--test-org--resume-model/snapshots/$RSHA"
check "no refs file for a commit revision" test ! -e "$TMP/hubcache/models--test-org--resume-model/refs/$RSHA"
unset HF_HUB_CACHE

# ---- 7. errors ----
export HF_HOME=$TMP/home4
pull test-org/gated-model
check "gated without token: exit 1" test "$RC" -eq 1
check "gated without token: 'fp: pull:' message names 401 and HF_TOKEN" \
    bash -c "grep -q '^fp: pull: .*HTTP 401.*HF_TOKEN' '$TMP/err'"
check "gated without token: no crash" no_crash
HF_TOKEN=wrong pull test-org/gated-model
check "gated with a wrong token: exit 1, 403, mentions HF_TOKEN" \
    bash -c "[ $RC -eq 1 ] && grep -q '^fp: pull: .*HTTP 403.*HF_TOKEN' '$TMP/err'"
HF_TOKEN=hf_testtoken pull test-org/gated-model
GSHA=$(python3 -c 'import json,sys,urllib.request; r=urllib.request.Request(sys.argv[1], headers={"Authorization":"Bearer hf_testtoken"}); print(json.load(urllib.request.urlopen(r))["sha"])' "$HF_ENDPOINT/api/models/test-org/gated-model/revision/main")
check "gated with HF_TOKEN: exit 0" test "$RC" -eq 0
check "gated with HF_TOKEN: sent 'Authorization: Bearer hf_testtoken'" \
    log_has "/test-org/gated-model/resolve/$GSHA/model.safetensors status=302 range=- auth=Bearer hf_testtoken"
check "gated with HF_TOKEN: file byte-for-byte" same "$TMP/repos/test-org/gated-model/model.safetensors" \
    "$HF_HOME/hub/models--test-org--gated-model/snapshots/$GSHA/model.safetensors"
mkdir -p "$HF_HOME" && echo hf_testtoken >"$HF_HOME/token" && rm -rf "$HF_HOME/hub"
pull test-org/gated-model
check "token read from \$HF_HOME/token (huggingface-cli login)" test "$RC" -eq 0
rm -f "$HF_HOME/token"

pull test-org/no-such-model
check "unknown repo: exit 1" test "$RC" -eq 1
check "unknown repo: 'no such model' and 404" bash -c "grep -q '^fp: pull: no such model: test-org/no-such-model (HTTP 404' '$TMP/err'"
pull test-org/tiny-model --revision v9
check "unknown revision: exit 1 with 'no revision'" \
    bash -c "[ $RC -eq 1 ] && grep -q \"^fp: pull: test-org/tiny-model has no revision 'v9'\" '$TMP/err'"
pull 'a/b/c'
check "malformed repo id: exit 1 with a message" bash -c "[ $RC -eq 1 ] && grep -q '^fp: pull: .*not a model id' '$TMP/err'"

CLOSED=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
HF_ENDPOINT=http://127.0.0.1:$CLOSED pull test-org/tiny-model
check "unreachable endpoint: exit 1, 'cannot reach'" \
    bash -c "[ $RC -eq 1 ] && grep -q '^fp: pull: cannot reach http://127.0.0.1:$CLOSED' '$TMP/err'"
check "unreachable endpoint: no crash" no_crash

# ---- 8. progress bar on a terminal (needs util-linux `script`) ----
if command -v script >/dev/null 2>&1; then
    export HF_HOME=$TMP/home5
    script -qec "'$FP' pull test-org/resume-model" /dev/null >"$TMP/tty.out" 2>&1
    RC=$?; OUT=; cp "$TMP/tty.out" "$TMP/err"
    check "TTY: pull exits 0" test "$RC" -eq 0
    check "TTY: progress bar redrawn with CR, shows percent and rate" \
        bash -c "grep -q \$'\r' '$TMP/tty.out' && grep -q '100%' '$TMP/tty.out' && grep -q '/s' '$TMP/tty.out'"
else
    echo "skip - TTY progress (no script(1))"
fi

finish
