#!/usr/bin/env bash
# --timeout, --max-memory and Ctrl-C: a runaway script (a Lua loop, a loop of Swift forward
# passes) stops within a few seconds with a clear message; the REPL survives Ctrl-C.
# Usage: FP=.build/release/fp bash Tests/cli/test_limits.sh
set -u
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # ROOT, FP, ok, finish
unset FP_SANDBOX FP_MAX_MEMORY FP_TIMEOUT
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CONFIG_HOME=$TMP/config
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; echo "       rc=$RC"; sed 's/^/       out: /' "$TMP/out" | head -12; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

cat > "$TMP/lua_loop.lua" <<'LUA'
local i = 0
while true do i = i + 1 end
LUA
cat > "$TMP/pcall_loop.lua" <<'LUA'
-- a script that swallows errors must still stop
while true do pcall(function() while true do end end) end
LUA
cat > "$TMP/coroutine_loop.lua" <<'LUA'
coroutine.wrap(function() while true do end end)()
LUA
cat > "$TMP/swift_loop.lua" <<'LUA'
local m = fp.load_model("smollm2-135m")
local toks = fp.randint(1000, { 4, 128 })
print("loaded")
io.stdout:flush()
while true do m:forward(toks) end
LUA
cat > "$TMP/matmul_loop.lua" <<'LUA'
local a = fp.randn(512, 512)
while true do a = (a:matmul(a)):tanh() end
LUA

cat > "$TMP/nested_coroutines.lua" <<'LUA'
-- a loop two coroutines deep, started after other coroutines have come and gone
for i = 1, 3 do coroutine.wrap(function() coroutine.yield() end)() end
local outer = coroutine.create(function()
  local inner = coroutine.wrap(function() while true do end end)
  inner()
end)
print(coroutine.resume(outer))
print("after resume")
while true do end
LUA

# ---- --timeout ----
for s in lua_loop pcall_loop coroutine_loop nested_coroutines swift_loop matmul_loop; do
    t0=$(now)
    "$FP" run --timeout 2 "$TMP/$s.lua" >"$TMP/out" 2>&1
    RC=$?
    el=$(secs "$t0" "$(now)")
    if [ $RC -eq 124 ] && grep -qF "timeout after 2 s" "$TMP/out" && awk -v e="$el" 'BEGIN { exit !(e < 6) }'; then
        ok "--timeout 2 stops $s in ${el} s (status 124)"
    else
        bad "--timeout 2 on $s (${el} s)"
    fi
done
"$FP" run --timeout 5 -e 'print("quick")' >"$TMP/out" 2>&1; RC=$?
[ $RC -eq 0 ] && grep -q quick "$TMP/out" && ok "a script that ends in time is unaffected" || bad "quick script with --timeout"
"$FP" run --timeout 0 -e 'print(1)' >"$TMP/out" 2>&1; RC=$?
[ $RC -ne 0 ] && grep -qF -- "--timeout: expected a positive number of seconds" "$TMP/out" && ok "--timeout 0 is refused" || bad "--timeout 0"

# ---- --max-memory ----
cat > "$TMP/mem.lua" <<'LUA'
local ok, err = pcall(fp.zeros, 1024, 1024, 1024)   -- 4 GB
assert(not ok)
print(err)
local t = fp.zeros(1024, 1024)                      -- 4 MB still works
assert(t:numel() == 1048576)
local keep = {}
local ok2, err2 = pcall(function() for i = 1, 1000 do keep[i] = fp.ones(1024, 1024) end end)
assert(not ok2 and #keep > 20 and #keep < 64, #keep)
keep = nil
for i = 1, 200 do local x = fp.ones(1024, 1024) end  -- garbage is reclaimed, not counted
print("continued", fp.memory() <= 256 * 1024 * 1024)
LUA
"$FP" run --max-memory 256M "$TMP/mem.lua" >"$TMP/out" 2>&1; RC=$?
if [ $RC -eq 0 ] && grep -qF "zeros: out of tensor memory (limit 256.0 MB): requested 4.0 GB" "$TMP/out" && grep -qF "continued	true" "$TMP/out"; then
    ok "--max-memory: clear error, the script goes on after pcall, garbage does not count"
else bad "--max-memory"; fi
FP_MAX_MEMORY=64M "$FP" run -e 'print(pcall(fp.zeros, 1024, 1024, 32))' >"$TMP/out" 2>&1; RC=$?
grep -qF "zeros: out of tensor memory (limit 64.0 MB)" "$TMP/out" && ok "FP_MAX_MEMORY sets the default" || bad "FP_MAX_MEMORY"
"$FP" run --max-memory lots -e 'print(1)' >"$TMP/out" 2>&1; RC=$?
[ $RC -ne 0 ] && grep -qF -- "--max-memory: expected a size like 512M or 2G, got 'lots'" "$TMP/out" && ok "bad --max-memory is refused" || bad "bad --max-memory"

# ---- the Lua heap counts against --max-memory (issue 11, class 7) ----
cat > "$TMP/lua_bombs.lua" <<'LUA'
local s = "x"
local ok, err = pcall(function() while true do s = s .. s end end)
print("string bomb", ok, err)
s = nil
local t = {}
local ok2, err2 = pcall(function() for i = 1, math.maxinteger do t[i] = i end end)
print("table bomb", ok2, err2, #t > 1000000)
t = nil
local u = {}
local ok3, err3 = pcall(function() for i = 1, math.maxinteger do u[i] = { i } end end)
print("tables bomb", ok3, err3)
u = nil
collectgarbage()
-- the script goes on and can allocate again (Lua memory and tensors)
local again = string.rep("y", 64 * 1024 * 1024)
local z = fp.ones(1024, 1024, 16)
print("after", #again, z:numel())
again = nil; collectgarbage()
-- tensors and Lua share the limit: with 160 MB of tensors, a 150 MB string does not fit
local keep = fp.ones(40 * 1024 * 1024)
print("shared", pcall(string.rep, "z", 150 * 1024 * 1024))
LUA
"$FP" run --max-memory 256M "$TMP/lua_bombs.lua" >"$TMP/out" 2>&1; RC=$?
if [ $RC -eq 0 ] && grep -qF "string bomb	false	not enough memory" "$TMP/out" && grep -qF "table bomb	false	not enough memory	true" "$TMP/out" \
   && grep -qF "tables bomb	false	not enough memory" "$TMP/out" && grep -qF "after	67108864	16777216" "$TMP/out" \
   && grep -qF "shared	false	not enough memory" "$TMP/out"; then
    ok "--max-memory: string and table bombs end in a catchable 'not enough memory'; the script goes on"
else bad "Lua heap limit"; fi

# ---- fp's own buffers sized by the script count too ----
cat > "$TMP/buffers.lua" <<'LUA'
-- peak resident memory so far (Linux), to see buffers that bypass the limit
local function peak_mb()
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local kb = f:read("a"):match("VmHWM:%s*(%d+)")
  f:close()
  return tonumber(kb) // 1024
end
local function try(name, fn) local ok, err = pcall(fn); print(name, ok, err) end
try("arange", function() return fp.arange(1 << 27) end)
try("linspace", function() return fp.linspace(0, 1, 1 << 27) end)
local ones = fp.ones(4096, 8192)                       -- 128 MB
try("nonzero", function() return ones:nonzero() end)    -- [32M, 2] int64 = 512 MB
try("tolist", function() return ones:tolist() end)      -- 32M Lua numbers
ones = nil; collectgarbage()
local row = {}
for i = 1, 1000000 do row[i] = 1 end
local rows = {}
for i = 1, 1000 do rows[i] = row end                   -- one table listed 1000 times: 10^9 elements
try("tensor", function() return fp.tensor(rows) end)
rows, row = nil, nil; collectgarbage()
local big = fp.zeros(40 * 1024 * 1024)                  -- 160 MB
local text = tostring(big)
print("printed", #text < 200, peak_mb() < 330)
LUA
"$FP" run --max-memory 256M "$TMP/buffers.lua" >"$TMP/out" 2>&1; RC=$?
if [ $RC -eq 0 ] && grep -qF "arange	false	" "$TMP/out" && grep -q "^arange.*out of tensor memory (limit 256.0 MB)" "$TMP/out" \
   && grep -q "^linspace.*out of tensor memory" "$TMP/out" && grep -q "^nonzero.*nonzero: out of tensor memory" "$TMP/out" \
   && grep -q "^tolist.*tolist: the result needs about 512.[0-9] MB of Lua memory" "$TMP/out" \
   && grep -q "^tensor.*tensor: out of tensor memory" "$TMP/out" && grep -qF "printed	true	true" "$TMP/out"; then
    ok "--max-memory: arange, linspace, nonzero, tolist, fp.tensor and printing stay within the limit"
else bad "fp's own buffers under --max-memory"; fi

cat > "$TMP/tokens.lua" <<'LUA'
local m = fp.load_model("smollm2-135m")
local s = string.rep("hello there ", 500000)            -- 6 MB, listed 1000 times
local list = {}
for i = 1, 1000 do list[i] = s end
print("to_tokens", pcall(m.to_tokens, m, list))
print("to_str_tokens", pcall(m.to_str_tokens, m, string.rep("a b ", 4000000)))   -- 16 MB
print("still", m:to_tokens("hi"):numel() > 0)
LUA
"$FP" run --max-memory 1G "$TMP/tokens.lua" >"$TMP/out" 2>&1; RC=$?
if [ $RC -eq 0 ] && grep -qE "^to_tokens	false	.*to_tokens: (cannot allocate 134.1 GB|out of tensor memory)" "$TMP/out" \
   && grep -q "^to_str_tokens	false	.*to_str_tokens: the result needs about" "$TMP/out" && grep -qF "still	true" "$TMP/out"; then
    ok "--max-memory: token lists of many prompts and per-token strings are checked first"
else bad "tokenizer output under --max-memory"; fi

# ---- Ctrl-C ----
for s in lua_loop coroutine_loop nested_coroutines swift_loop; do
    "$FP" run "$TMP/$s.lua" >"$TMP/out" 2>&1 &
    pid=$!
    sleep 3
    t0=$(now); kill -INT $pid; wait $pid; RC=$?
    el=$(secs "$t0" "$(now)")
    if [ $RC -eq 1 ] && grep -qF "interrupted" "$TMP/out" && awk -v e="$el" 'BEGIN { exit !(e < 3) }'; then
        ok "Ctrl-C stops $s in ${el} s"
    else bad "Ctrl-C on $s (${el} s)"; fi
done

# ---- a native call with no checks: the timeout's grace period, a second Ctrl-C ----
cat > "$TMP/native.lua" <<'LUA'
-- Lua's pattern matcher is C code: no instruction hook fires while it backtracks
print(string.find(string.rep("a", 5000), ".-.-.-.-.-b"))
LUA
t0=$(now)
"$FP" run --timeout 1 "$TMP/native.lua" >"$TMP/out" 2>&1; RC=$?
el=$(secs "$t0" "$(now)")
if [ $RC -eq 124 ] && grep -qF "timeout after 1 s (did not stop within 5 s more; exiting)" "$TMP/out" && awk -v e="$el" 'BEGIN { exit !(e < 9) }'; then
    ok "--timeout ends a stuck native call after the grace period (${el} s)"
else bad "--timeout grace exit (${el} s)"; fi
"$FP" run "$TMP/native.lua" >"$TMP/out" 2>&1 &
pid=$!
sleep 1; kill -INT $pid; sleep 1
t0=$(now); kill -INT $pid; wait $pid; RC=$?
el=$(secs "$t0" "$(now)")
[ $RC -eq 130 ] && grep -qF "interrupted twice; exiting" "$TMP/out" && ok "a second Ctrl-C ends a stuck native call (${el} s)" || bad "second Ctrl-C"

# ---- Ctrl-C in the middle of oneDNN's products: a clean "interrupted", never a crash ----
# (oneDNN's JIT kernels keep data below the stack pointer: a signal handler that ran on a thread
# inside one corrupted the heap; Sources/CDNNL/signal_guard.h). Both thread counts, 3 runs each,
# the interrupt at a different moment each time.
cat > "$TMP/dnnl_loop.lua" <<'LUA'
local m = fp.load_model("smollm2-135m")
print("model loaded")
while true do m:forward(fp.randint(1000, {4, 64})) end
LUA
crashes=0; runs=0
for threads in 1 2; do
  for delay in 0.3 0.7 1.1; do
    FP_NUM_THREADS=$threads "$FP" run "$TMP/dnnl_loop.lua" > "$TMP/dnnl_out" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do grep -qF "model loaded" "$TMP/dnnl_out" && break; sleep 0.1; done
    sleep "$delay"; kill -INT $pid; wait $pid; RC=$?
    runs=$((runs + 1))
    if [ $RC -ne 1 ] || ! grep -qF "interrupted" "$TMP/dnnl_out" || grep -qiE "corrupt|invalid|crash|signal" "$TMP/dnnl_out"; then
      crashes=$((crashes + 1)); echo "       status $RC: $(head -c 300 "$TMP/dnnl_out" | tr '\n' ' ')"
    fi
  done
done
[ $crashes -eq 0 ] && ok "Ctrl-C during forward passes on oneDNN: $runs of $runs runs end in 'interrupted' (status 1)" || bad "Ctrl-C during oneDNN products: $crashes of $runs runs did not end cleanly"

# ---- the REPL survives Ctrl-C ----
mkfifo "$TMP/in"
"$FP" repl <"$TMP/in" >"$TMP/out" 2>&1 &
pid=$!
exec 3>"$TMP/in"
echo 'x = 41' >&3
echo 'while true do end' >&3
sleep 1.5; kill -INT $pid; sleep 0.5
echo 'print("after lua loop", x + 1)' >&3
# wait for the model (a loaded host can take many seconds), then interrupt the forward loop
echo 'm = fp.load_model("smollm2-135m"); print("model loaded")' >&3
for _ in $(seq 1 600); do grep -qF "model loaded" "$TMP/out" && break; sleep 0.1; done
echo 'while true do m:forward(fp.randint(1000, {4, 64})) end' >&3
sleep 1.5; kill -INT $pid; sleep 1
echo 'print("after forward loop", m.cfg.n_layers)' >&3
exec 3>&-
wait $pid; RC=$?
if [ $RC -eq 0 ] && [ "$(grep -c interrupted "$TMP/out")" -eq 2 ] && grep -qF "after lua loop	42" "$TMP/out" && grep -qF "after forward loop	30" "$TMP/out"; then
    ok "fp repl: Ctrl-C stops the running chunk and the session goes on"
else bad "repl Ctrl-C"; fi

finish
