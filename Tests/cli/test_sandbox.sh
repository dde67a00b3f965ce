#!/usr/bin/env bash
# `fp run --sandbox`: every blocked capability is blocked with a clear error, and the allowed
# paths (script folder, --allow-read, argument files, --allow-write folders, the models
# folder, fp's stdlib) still work. Usage: FP=.build/release/fp bash Tests/cli/test_sandbox.sh
set -u
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # ROOT, FP, ok, finish
unset FP_SANDBOX FP_MAX_MEMORY FP_TIMEOUT

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CONFIG_HOME=$TMP/config
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $1"; echo "       rc=$RC"; sed 's/^/       out: /' "$TMP/out" | head -12; }

S=$TMP/scripts; W=$TMP/out_dir; OUTSIDE=$TMP/outside
mkdir -p "$S/lib" "$W" "$OUTSIDE" "$TMP/readable"
echo "secret" > "$OUTSIDE/secret.txt"
echo "allowed" > "$TMP/readable/data.txt"
echo "argfile" > "$TMP/arg.txt"
echo "next to the script" > "$S/data.txt"
echo "return { answer = 42 }" > "$S/lib/mymod.lua"
echo "return 'outside module'" > "$OUTSIDE/evilmod.lua"
echo "return 7" > "$OUTSIDE/chunk.lua"
ln -s "$OUTSIDE" "$S/link_out"
ln -s "$OUTSIDE/secret.txt" "$S/secret_link.txt"

# run_lua NAME [fp flags...] -- CODE [script args...]: writes CODE to $S/NAME.lua and runs it.
run_lua() {
    local name=$1; shift
    local flags=()
    while [ "$1" != "--" ]; do flags+=("$1"); shift; done
    shift
    local code=$1; shift
    printf '%s\n' "$code" > "$S/$name.lua"
    (cd "$TMP" && "$FP" run "${flags[@]}" "$S/$name.lua" "$@") >"$TMP/out" 2>&1
    RC=$?
}
# expect_blocked DESC PATTERN CODE: sandboxed, CODE must fail with PATTERN in the message.
expect_blocked() {
    local desc=$1 pat=$2 code=$3
    run_lua blocked --sandbox --allow-write "$W" -- "$code"
    if [ $RC -ne 0 ] && grep -qF -- "$pat" "$TMP/out"; then ok "blocked: $desc"; else bad "blocked: $desc (want '$pat')"; fi
}
# expect_ok DESC CODE [args]: sandboxed, CODE must succeed and print "OK".
expect_ok() {
    local desc=$1 code=$2; shift 2
    run_lua allowed --sandbox --allow-write "$W" --allow-read "$TMP/readable" -- "$code" "$@"
    if [ $RC -eq 0 ] && grep -q "^OK" "$TMP/out"; then ok "allowed: $desc"; else bad "allowed: $desc"; fi
}

# ---- disabled outright ----
expect_blocked "os.execute" "os.execute: disabled in the sandbox" 'os.execute("touch '"$OUTSIDE"'/pwned")'
expect_blocked "io.popen" "io.popen: disabled in the sandbox" 'io.popen("ls")'
expect_blocked "os.tmpname" "os.tmpname: disabled in the sandbox" 'os.tmpname()'
expect_blocked "package.loadlib" "package.loadlib: disabled in the sandbox" 'package.loadlib("libc.so.6", "*")'
expect_blocked "C modules through package.cpath" "module 'lpeg' not found" \
    'package.cpath = "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;/usr/local/lib/lua/5.4/?.so"; require "lpeg"'
expect_blocked "debug library" "attempt to call a nil value (field 'getupvalue')" 'debug.getupvalue(io.open, 1)'
expect_blocked "debug.getinfo handing out functions" "options 'f' and 'L' are not available in the sandbox" 'debug.getinfo(1, "f")'
expect_blocked "debug.getinfo from a finalizer" "options 'f' and 'L' are not available" 'setmetatable({}, {__gc = function() print(pcall(debug.getinfo, 2, "flS")) end}); collectgarbage(); collectgarbage(); error("end")'
run_lua errpos --sandbox -- 'local x = 1
require("fp.errors").raise("boom from the stdlib")'
grep -qF "errpos.lua:2: boom from the stdlib" "$TMP/out" && ok "stdlib errors point at the script's line in the sandbox (debug.getinfo S)" || bad "stdlib error position in the sandbox"
expect_blocked "debug via require" "attempt to call a nil value (field 'sethook')" 'require("debug").sethook()'
expect_blocked "load of a binary chunk" "attempt to load a binary chunk" 'assert(load(string.dump(function() end)))'
expect_blocked "load with mode b" "load: only text chunks" 'load("return 1", "x", "b")'
expect_blocked "loadfile with mode bt" "loadfile: only text chunks" 'loadfile("'"$S"'/lib/mymod.lua", "bt")'
# ---- reads outside the allowed folders ----
expect_blocked "io.open read outside" "io.open: sandbox: reading '$OUTSIDE/secret.txt' is not allowed" 'io.open("'"$OUTSIDE"'/secret.txt")'
expect_blocked "io.open /etc/passwd" "io.open: sandbox: reading '/etc/passwd'" 'io.open("/etc/passwd", "rb")'
expect_blocked "io.lines outside" "io.lines: sandbox: reading" 'for l in io.lines("'"$OUTSIDE"'/secret.txt") do end'
expect_blocked "io.input outside" "io.input: sandbox: reading" 'io.input("'"$OUTSIDE"'/secret.txt")'
expect_blocked "loadfile outside" "loadfile: sandbox: reading" 'loadfile("'"$OUTSIDE"'/chunk.lua")'
expect_blocked "dofile outside" "dofile: sandbox: reading" 'dofile("'"$OUTSIDE"'/chunk.lua")'
# (with Landlock the kernel already hides the file from package.searchpath: "not found")
run_lua blocked --sandbox -- 'package.path = "'"$OUTSIDE"'/?.lua;" .. package.path; print(require "evilmod")'
[ $RC -ne 0 ] && grep -qE "require: sandbox: reading|module 'evilmod' not found" "$TMP/out" && ! grep -q "outside module" "$TMP/out" \
    && ok "blocked: require through a changed package.path" || bad "require through a changed package.path"
expect_blocked "symlinked folder escape" "($OUTSIDE/secret.txt) is not allowed" 'io.open("'"$S"'/link_out/secret.txt")'
expect_blocked "symlinked file escape" "secret_link.txt' ($OUTSIDE/secret.txt) is not allowed" 'io.open("'"$S"'/secret_link.txt")'
expect_blocked "dot-dot escape" "is not allowed" 'io.open("'"$S"'/../outside/secret.txt")'
expect_blocked "fp.load_tensor outside" "load_tensor: sandbox: reading" 'fp.load_tensor("'"$OUTSIDE"'/x.npy")'
expect_blocked "fp.load_tensors outside" "load_tensors: sandbox: reading" 'fp.load_tensors("'"$OUTSIDE"'/x.npz")'
expect_blocked "fp.load_model outside" "load_model: sandbox: reading" 'fp.load_model("'"$ROOT"'/Tests/fixtures/models/gpt2-tiny")'
# ---- writes outside --allow-write ----
expect_blocked "io.open write outside" "io.open: sandbox: writing '$OUTSIDE/new.txt' is not allowed (writable: " 'io.open("'"$OUTSIDE"'/new.txt", "w")'
expect_blocked "io.open append in the script folder" "io.open: sandbox: writing" 'io.open("'"$S"'/data.txt", "a")'
expect_blocked "io.open r+ outside" "io.open: sandbox: writing" 'io.open("'"$S"'/data.txt", "r+")'
expect_blocked "io.output outside" "io.output: sandbox: writing" 'io.output("'"$OUTSIDE"'/o.txt")'
expect_blocked "os.remove outside" "os.remove: sandbox: writing" 'os.remove("'"$OUTSIDE"'/secret.txt")'
expect_blocked "os.rename out of the write folder" "os.rename: sandbox: writing" 'os.rename("'"$S"'/data.txt", "'"$W"'/stolen.txt")'
expect_blocked "fp.save outside" "save: sandbox: writing" 'fp.save("'"$OUTSIDE"'/t.npy", fp.ones(2))'
expect_blocked "fp.write_file_atomic outside" "write_file_atomic: sandbox: writing" 'fp.write_file_atomic("'"$OUTSIDE"'/r.json", "{}")'
expect_blocked "write through .. out of the write folder" "is not allowed" 'io.open("'"$W"'/../outside/x.txt", "w")'
expect_blocked "write into a missing folder with .." "cannot resolve" 'io.open("'"$W"'/nope/../../x.txt", "w")'
[ -e "$OUTSIDE/pwned" ] && bad "os.execute left a file" || ok "nothing was created outside"
[ -f "$OUTSIDE/secret.txt" ] && ok "outside file still there" || bad "outside file removed"
# the error points at the script line and says how to allow it
run_lua where --sandbox -- 'local x = 1
io.open("'"$OUTSIDE"'/secret.txt")'
grep -qF "where.lua:2: io.open: sandbox: reading" "$TMP/out" && grep -qF -- "--allow-read PATH" "$TMP/out" && ok "error names the line, the function, the path and the flag" || bad "error position/advice"

# ---- allowed ----
expect_ok "read next to the script, require from the script folder, stdlib" '
local f = assert(io.open("'"$S"'/data.txt")); assert(f:read("l") == "next to the script"); f:close()
for l in io.lines("'"$S"'/data.txt") do assert(l == "next to the script") end
package.path = "'"$S"'/lib/?.lua;" .. package.path
assert(require("mymod").answer == 42)
assert(require("fp.json").encode({ 1 }) == "[1]")
assert(load("return 1 + 1")() == 2)
print("OK")'
expect_ok "--allow-read file and a file named in the arguments" '
assert(io.open("'"$TMP"'/readable/data.txt")):close()
assert(io.open(arg[1]):read("l") == "argfile")
print("OK")' "$TMP/arg.txt"
expect_ok "writes, rename and remove inside --allow-write" '
local f = assert(io.open("'"$W"'/a.txt", "w")); f:write("x"); f:close()
assert(os.rename("'"$W"'/a.txt", "'"$W"'/b.txt"))
fp.save("'"$W"'/t.npy", fp.arange(3):float())
assert(fp.load_tensor("'"$W"'/t.npy"):sum() == 3)
fp.write_file_atomic("'"$W"'/r.json", "{\"ok\": true}")
assert(io.open("'"$W"'/r.json"):read("a") == "{\"ok\": true}")
assert(os.remove("'"$W"'/b.txt"))
print("OK")'
[ -f "$W/t.npy" ] && [ -f "$W/r.json" ] && ok "files written in the --allow-write folder" || bad "files missing in $W"
expect_ok "load a model from the models folder; os.getenv and os.exit(0) work" '
local m = fp.load_model("smollm2-135m")
assert(m.cfg.n_layers == 30)
assert(os.getenv("HOME") ~= nil)
print("OK")
os.exit(0)'

# a script saved in the home folder does not make the home folder readable
printf 'print(io.open("%s/data.txt"))\n' "$S" > "$S/home.lua"
(cd "$TMP" && HOME="$S" "$FP" run --sandbox "$S/home.lua") >"$TMP/out" 2>&1; RC=$?
grep -qF "is not made readable (it is your home folder or /)" "$TMP/out" && grep -qF "io.open: sandbox: reading" "$TMP/out" \
    && ok "a script in the home folder does not open the home folder" || bad "script in home"
# -e code: no implicit folder; --allow-read . opens the current one
(cd "$S" && "$FP" run --sandbox -e 'assert(io.open("data.txt"))') >"$TMP/out" 2>&1; RC=$?
[ $RC -ne 0 ] && grep -qF "io.open: sandbox: reading 'data.txt'" "$TMP/out" && ok "-e: the current folder is not readable by default" || bad "-e default"
(cd "$S" && "$FP" run --sandbox --allow-read . -e 'assert(io.open("data.txt")); print("OK")') >"$TMP/out" 2>&1; RC=$?
[ $RC -eq 0 ] && grep -q "^OK" "$TMP/out" && ok "-e with --allow-read ." || bad "-e --allow-read ."

# ---- defaults and overrides ----
run_lua plain -- 'os.execute("true"); print("OK")'
[ $RC -eq 0 ] && ok "without --sandbox os.execute works" || bad "no sandbox by default"
FP_SANDBOX=1 run_lua env -- 'os.execute("true")'
grep -qF "os.execute: disabled in the sandbox" "$TMP/out" && ok "FP_SANDBOX=1 makes the sandbox the default" || bad "FP_SANDBOX=1"
FP_SANDBOX=1 run_lua env2 --no-sandbox -- 'os.execute("true"); print("OK")'
[ $RC -eq 0 ] && ok "--no-sandbox overrides FP_SANDBOX=1" || bad "--no-sandbox"
mkdir -p "$XDG_CONFIG_HOME/fp" && printf '# fp settings\nsandbox = true\n' > "$XDG_CONFIG_HOME/fp/config"
run_lua cfg -- 'io.popen("ls")'
grep -qF "io.popen: disabled in the sandbox" "$TMP/out" && ok "config file sandbox = true" || bad "config file"
printf 'sandbox = maybe\n' > "$XDG_CONFIG_HOME/fp/config"
run_lua cfg2 -- 'print(1)'
[ $RC -ne 0 ] && grep -qF "sandbox setting: expected true or false" "$TMP/out" && ok "bad config value is an error" || bad "bad config value"
rm -f "$XDG_CONFIG_HOME/fp/config"
run_lua flags --allow-write "$W" -- 'print(1)'
[ $RC -ne 0 ] && grep -qF -- "--allow-read and --allow-write only apply with --sandbox" "$TMP/out" && ok "--allow-write without --sandbox is refused" || bad "--allow-write alone"
run_lua flags2 --sandbox --allow-write "$TMP/missing" -- 'print(1)'
[ $RC -ne 0 ] && grep -qF "no such folder" "$TMP/out" && ok "--allow-write of a missing folder is refused" || bad "--allow-write missing"

# ---- the REPL ----
printf 'os.execute("true")\nio.open("/etc/passwd")\nprint("still here", 1 + 1)\n' | (cd "$TMP" && "$FP" repl --sandbox) >"$TMP/out" 2>&1
RC=$?
grep -qF "os.execute: disabled" "$TMP/out" && grep -qF "io.open: sandbox: reading" "$TMP/out" && grep -qF "still here	2" "$TMP/out" \
    && ok "fp repl --sandbox blocks and goes on" || bad "repl --sandbox"

# ==== issue 11: decisions below Lua, byte-exact paths, odd script sources, the kernel layer ====
# refused DESC PATTERN FILE...: the run failed with PATTERN and none of FILE... exists.
refused() {
    local desc=$1 pat=$2; shift 2
    local f created=""
    for f in "$@"; do [ -e "$f" ] || [ -L "$f" ] && created="$created $f"; done
    if [ $RC -ne 0 ] && grep -qF -- "$pat" "$TMP/out" && [ -z "$created" ]; then ok "$desc"; else bad "$desc (want '$pat'; created:$created)"; fi
}
# class 1: the write check does not go through anything a script can replace
run_lua c1a --sandbox --allow-write "$W" -- 'string.find = function() return nil end
local f = io.open("'"$OUTSIDE"'/c1a.txt", "w")'
refused "string.find replaced: io.open(outside, 'w') still refused" "io.open: sandbox: writing" "$OUTSIDE/c1a.txt"
run_lua c1b --sandbox --allow-write "$W" -- 'getmetatable("").__index = { find = function() return nil end, match = function() return nil end }
local f = io.open("'"$OUTSIDE"'/c1b.txt", "a+")'
refused "string metatable replaced: io.open(outside, 'a+') still refused" "io.open: sandbox: writing" "$OUTSIDE/c1b.txt"
run_lua c1c --sandbox -- 'getmetatable("").__index = function() return function() return nil end end
local f = io.open("'"$S"'/data.txt", "r+"); f:write("pwned")'
grep -q "pwned" "$S/data.txt" && bad "string __index function: r+ wrote" || refused "string __index a function: io.open(script folder, 'r+') refused" "io.open: sandbox: writing"
run_lua c1d --sandbox -- 'string.find = function() return nil end; io.output("'"$OUTSIDE"'/c1d.txt")'
refused "string.find replaced: io.output outside refused" "io.output: sandbox: writing" "$OUTSIDE/c1d.txt"
run_lua c1e --sandbox -- 'string.find = function() return 1 end; print(load("return 1", "x", "b"))'
refused "string.find replaced: load mode 'b' still refused" "load: only text chunks"
run_lua c1f --sandbox -- 'local mt = getmetatable(""); mt.__index = nil; os.remove("'"$OUTSIDE"'/secret.txt")'
[ -f "$OUTSIDE/secret.txt" ] && refused "string metatable emptied: os.remove outside refused" "os.remove: sandbox: writing" || bad "os.remove removed the secret"
# extensions.lua in a writable stdlib copy (FP_STDLIB): it runs only after the sandbox is on,
# and a sandboxed run cannot be given write access to the stdlib it loads
STD=$TMP/stdcopy; cp -r "$ROOT/stdlib" "$STD"
printf 'local f = io.open("%s/ext_pwned.txt", "w"); if f then f:write("x") f:close() end\nos.execute("touch %s/ext_exec.txt")\n' "$OUTSIDE" "$OUTSIDE" > "$STD/fp/extensions.lua"
run_lua c1g --sandbox -- 'print("ran")'
(cd "$TMP" && FP_STDLIB="$STD" "$FP" run --sandbox "$S/c1g.lua") >"$TMP/out" 2>&1; RC=$?
[ $RC -eq 0 ] && grep -qF "cannot load fp.extensions" "$TMP/out" && grep -qF "io.open: sandbox: writing" "$TMP/out" && [ ! -e "$OUTSIDE/ext_pwned.txt" ] && [ ! -e "$OUTSIDE/ext_exec.txt" ] \
    && ok "a planted extensions.lua runs inside the sandbox (its write is refused)" || bad "planted extensions.lua"
(cd "$TMP" && FP_STDLIB="$STD" "$FP" run --sandbox --allow-write "$STD" "$S/c1g.lua") >"$TMP/out" 2>&1; RC=$?
refused "--allow-write of the stdlib folder is refused" "holds fp's stdlib"
(cd "$TMP" && FP_STDLIB="$STD" "$FP" run --sandbox --allow-write "$TMP" "$S/c1g.lua") >"$TMP/out" 2>&1; RC=$?
refused "--allow-write of a folder holding the stdlib is refused" "holds fp's stdlib"
BIN_DIR=$(dirname "$(readlink -f "$FP")")
(cd "$TMP" && "$FP" run --sandbox --allow-write "$BIN_DIR" "$S/c1g.lua") >"$TMP/out" 2>&1; RC=$?
refused "--allow-write of the folder holding fp's executable is refused" "holds fp's executable"
run_lua c1h --sandbox --allow-write "$W" -- 'fp.save("'"$STD"'/fp/extensions.lua.npy", fp.ones(1)); io.open("'"$STD"'/fp/extensions.lua", "w")'
refused "a sandboxed script cannot write into the stdlib copy" "save: sandbox: writing" "$STD/fp/extensions.lua.npy"

# class 2: paths are bytes
FFFD=$(printf '\xef\xbf\xbd'); FF=$(printf '\xff')
echo "inside" > "$S/$FFFD"; ln -s "$OUTSIDE/secret.txt" "$S/$FF"
run_lua c2a --sandbox -- 'local f = io.open("'"$S"'/\xff"); print(f and f:read("a"))'
grep -qx secret "$TMP/out" && bad "\\xff symlink read the secret" || refused "a symlink named \\xff (beside a U+FFFD file) is resolved on its bytes" "io.open: sandbox: reading"
run_lua c2b --sandbox -- 'print(fp.load_tensor("'"$S"'/\xff"))'
refused "fp.load_tensor through the \\xff symlink refused" "load_tensor: sandbox: reading"
run_lua c2c --sandbox -- 'for l in io.lines("'"$S"'/\xff") do print(l) end'
grep -qx secret "$TMP/out" && bad "io.lines read the secret" || refused "io.lines through the \\xff symlink refused" "io.lines: sandbox: reading"
NFC=$TMP/$(printf 'caf\xc3\xa9'); NFD=$TMP/$(printf 'cafe\xcc\x81'); mkdir -p "$NFC" "$NFD"
run_lua c2d --sandbox --allow-write "$NFC" -- 'local f = io.open("'"$NFD"'/x.txt", "w")'
refused "--allow-write café (NFC) does not open café (NFD)" "io.open: sandbox: writing" "$NFD/x.txt"
run_lua c2e --sandbox --allow-write "$NFC" -- 'fp.save("'"$NFD"'/t.npy", fp.ones(2))'
refused "fp.save into the NFD sibling refused" "save: sandbox: writing" "$NFD/t.npy"
run_lua c2f --sandbox --allow-write "$NFC" -- 'local f = assert(io.open("'"$NFC"'/ok.txt", "w")); f:write("x"); f:close(); fp.save("'"$NFC"'/t.npy", fp.ones(2)); print("OK")'
[ $RC -eq 0 ] && [ -f "$NFC/ok.txt" ] && [ -f "$NFC/t.npy" ] && ok "writing into café (NFC) itself works" || bad "NFC write"
run_lua c2g --sandbox --allow-write "$W" -- 'fp.save("'"$W"'/bad\xff.npy", fp.ones(2))'
refused "fp.save of a non-UTF-8 name is refused, not renamed" "is not valid UTF-8" "$W/bad$FF.npy" "$W/bad$FFFD.npy"

# class 3: dangling symlinks and symlinks as the final component of a write
ln -s "$OUTSIDE/created.txt" "$W/results.txt"; ln -s "$OUTSIDE/newdir" "$W/d"; ln -s "$OUTSIDE/secret.txt" "$W/existing_link.npy"
run_lua c3a --sandbox --allow-write "$W" -- 'local f = io.open("'"$W"'/results.txt", "w")'
refused "io.open(w) through a dangling symlink refused" "symbolic link that points nowhere" "$OUTSIDE/created.txt"
run_lua c3b --sandbox --allow-write "$W" -- 'fp.write_file_atomic("'"$W"'/d/r.json", "{}")'
refused "write_file_atomic under a dangling folder link refused" "symbolic link that points nowhere" "$OUTSIDE/newdir"
run_lua c3c --sandbox --allow-write "$W" -- 'fp.make_dirs("'"$W"'/d/sub")'
refused "make_dirs through a dangling link refused" "symbolic link that points nowhere" "$OUTSIDE/newdir"
run_lua c3d --sandbox --allow-write "$W" -- 'fp.save("'"$W"'/existing_link.npy", fp.ones(2))'
grep -q "^secret$" "$OUTSIDE/secret.txt" && refused "fp.save over a symlink (to an outside file) refused" "it is a symbolic link" || bad "fp.save replaced the outside file"
run_lua c3e --sandbox --allow-write "$W" -- 'os.rename("'"$W"'/r.json", "'"$W"'/results.txt")'
refused "os.rename onto a dangling symlink refused" "symbolic link that points nowhere" "$OUTSIDE/created.txt"

# class 4: odd script sources, HOME, the swap race
printf 'print(io.open("/dev/zero")); print(io.open("/proc/self/environ"))\n' | (cd "$TMP" && "$FP" run --sandbox /dev/stdin) >"$TMP/out" 2>&1; RC=$?
grep -qF "is not a regular file" "$TMP/out" && grep -qF "io.open: sandbox: reading '/dev/zero'" "$TMP/out" \
    && ok "a script on /dev/stdin gets no script folder (/dev stays closed)" || bad "/dev/stdin"
printf 'print(io.open("/proc/self/environ"))\n' | (cd "$TMP" && "$FP" run --sandbox /dev/stdin) >"$TMP/out" 2>&1; RC=$?
grep -qF "io.open: sandbox: reading '/proc/self/environ'" "$TMP/out" && ok "a script on /dev/stdin cannot open /proc/self/fd's folder" || bad "/dev/stdin /proc"
HOMEDIR=$(getent passwd "$(id -u)" | cut -d: -f6)
if [ -n "$HOMEDIR" ] && [ -d "$HOMEDIR" ] && [ -w "$HOMEDIR" ] && [ "$HOMEDIR" != / ]; then
    HS=$(mktemp "$HOMEDIR/.fp-sandbox-test-XXXXXX.lua"); HD=$(mktemp "$HOMEDIR/.fp-sandbox-data-XXXXXX")
    echo "home secret" > "$HD"; printf 'print(io.open("%s"):read("a"))\n' "$HD" > "$HS"
    (cd "$TMP" && env -u HOME "$FP" run --sandbox "$HS") >"$TMP/out" 2>&1; RC=$?
    refused "HOME unset: a script in the real home folder does not open it" "is not made readable (it is your home folder or /)"
    (cd "$TMP" && HOME= "$FP" run --sandbox "$HS") >"$TMP/out" 2>&1; RC=$?
    refused "HOME empty: same" "io.open: sandbox: reading"
    (cd "$TMP" && HOME=$HOMEDIR "$FP" run --sandbox "$HOMEDIR/./$(basename "$HS")") >"$TMP/out" 2>&1; RC=$?
    refused "a script path with ./ in the home folder is recognised as the home folder" "is not made readable (it is your home folder or /)"
    grep -q "home secret" "$TMP/out" && bad "home file was read"
    rm -f "$HS" "$HD"
else
    ok "HOME cases skipped (no writable home folder)"
fi
(cd "$S" && env -u HOME "$FP" run --sandbox -e 'print(io.open("data.txt"))') >"$TMP/out" 2>&1; RC=$?
refused "HOME unset: -e does not open the current folder" "io.open: sandbox: reading 'data.txt'"
# a folder swapped for a symlink to outside while fp.save runs (the kernel closes the race)
mkdir -p "$W/race"
( end=$((SECONDS + 4)); while [ $SECONDS -lt $end ]; do
    rm -rf "$W/race" 2>/dev/null; ln -sfn "$OUTSIDE" "$W/race" 2>/dev/null; rm -f "$W/race" 2>/dev/null; mkdir -p "$W/race" 2>/dev/null
  done ) &
SWAPPER=$!
run_lua c4race --sandbox --allow-write "$W" -- 'local t = fp.ones(64) local n = 0
local deadline = os.time() + 3
while os.time() < deadline do
  pcall(fp.save, "'"$W"'/race/t.npy", t); pcall(fp.write_file_atomic, "'"$W"'/race/r.txt", "x")
  local ok, f = pcall(io.open, "'"$W"'/race/o.txt", "w"); if ok and f then f:write("x") f:close() end
  n = n + 1
end
print("OK", n)'
wait $SWAPPER
leaked=$(ls -A "$OUTSIDE" | grep -E "t.npy|r.txt|o.txt" || true)
[ $RC -eq 0 ] && [ -z "$leaked" ] && ok "symlink swap race during fp.save / io.open writes nothing outside" || bad "swap race (leaked: $leaked)"

# temporary files of saves: removed on SIGTERM / SIGINT, stale ones cleared by the next save
SIGW=$TMP/sig; mkdir -p "$SIGW"
printf 'local t = fp.randn(4000000)\nprint("READY") io.stdout:flush()\nwhile true do fp.save("%s/big.npy", t) end\n' "$SIGW" > "$S/sig.lua"
# (fp handles TERM and INT itself; SIGHUP ignored when this script started, as under nohup, stays
# ignored in fp as nohup means: that case is skipped)
hup_ignored=$(( (0x$(awk '/^SigIgn/ {print $2}' /proc/$$/status) >> 0) & 1 ))
for sig in TERM INT HUP; do
    if [ $sig = HUP ] && [ $hup_ignored -ne 0 ]; then echo "skip - SIGHUP is ignored where this test runs (nohup)"; continue; fi
    "$FP" run --sandbox --allow-write "$SIGW" "$S/sig.lua" >"$TMP/out" 2>&1 &
    PID=$!
    for _ in $(seq 50); do grep -q READY "$TMP/out" && break; sleep 0.1; done
    sleep 0.7; kill -s $sig $PID; sleep 0.3; kill -s $sig $PID 2>/dev/null
    for _ in $(seq 100); do kill -0 $PID 2>/dev/null || break; sleep 0.1; done
    if kill -0 $PID 2>/dev/null; then kill -9 $PID; wait $PID 2>/dev/null; bad "SIG$sig did not end fp within 10 s"; continue; fi
    wait $PID 2>/dev/null
    left=$(ls -A "$SIGW" | grep -c "\.tmp-" || true)
    [ "$left" -eq 0 ] && ok "SIG$sig during saves leaves no temporary file" || bad "SIG$sig left $left temporary files"
done
dead=999999; while kill -0 $dead 2>/dev/null; do dead=$((dead + 1)); done
touch "$SIGW/.big.npy.tmp-$dead-12345" "$SIGW/.other.json.tmp-$dead-7" "$SIGW/.big.npy.tmp-$$-99" "$SIGW/.notes.tmp-x-1"
run_lua stale --sandbox --allow-write "$SIGW" -- 'fp.save("'"$SIGW"'/small.npy", fp.ones(2)); print("OK")'
[ $RC -eq 0 ] && [ ! -e "$SIGW/.big.npy.tmp-$dead-12345" ] && [ ! -e "$SIGW/.other.json.tmp-$dead-7" ] && [ -e "$SIGW/.big.npy.tmp-$$-99" ] && [ -e "$SIGW/.notes.tmp-x-1" ] \
    && ok "a save removes stale temporary files of dead processes only" || bad "stale temporary files"

# the kernel layer alone: a file the Lua/Swift policy never sees (a model folder's config.json
# linked to outside: the loader follows it) is refused by Landlock
if "$FP" info | grep -q "sandbox: Landlock ABI"; then
    mkdir -p "$S/mymodel"; cp "$ROOT/Tests/fixtures/models/gpt2-tiny/config.json" "$OUTSIDE/config.json"
    cp "$ROOT/Tests/fixtures/models/gpt2-tiny/model.safetensors" "$S/mymodel/"; ln -sf "$OUTSIDE/config.json" "$S/mymodel/config.json"
    run_lua kmodel --sandbox -- 'print(fp.load_model("'"$S"'/mymodel").cfg.n_layers)'
    [ $RC -ne 0 ] && grep -qE "Permission denied|no config.json" "$TMP/out" && ok "Landlock refuses a file the policy never checked (linked config.json)" || bad "kernel: linked config.json"
    run_lua kmodel2 -- 'print("layers", fp.load_model("'"$S"'/mymodel").cfg.n_layers)'
    [ $RC -eq 0 ] && grep -q "^layers" "$TMP/out" && ok "the same model loads without the sandbox (the refusal was the kernel's)" || bad "model without sandbox"
    CC=${CC:-$(command -v cc || command -v clang)}
    if [ -n "$CC" ] && "$CC" -O1 -I "$ROOT/Sources/CSandbox/include" "$ROOT/Tests/cli/sandbox_probe.c" "$ROOT/Sources/CSandbox/landlock.c" \
        "$ROOT/Sources/CSandbox/seccomp.c" -lpthread -o "$TMP/probe" 2>"$TMP/out"; then
        mkdir -p "$TMP/pr" "$TMP/pw"; echo x > "$TMP/pr/data.txt"
        "$TMP/probe" "$TMP/pr" "$TMP/pw" "$OUTSIDE" > "$TMP/probe.out" 2>&1
        while IFS= read -r line; do
            case "$line" in "ok   - "*) ok "${line#ok   - }" ;; *) FAIL=$((FAIL + 1)); echo "$line" ;; esac
        done < "$TMP/probe.out"
        [ -e "$OUTSIDE/created.txt" ] && bad "probe created a file outside"
    else
        bad "cannot compile Tests/cli/sandbox_probe.c"
    fi
    # the running fp process, seen from outside: seccomp filter mode and no_new_privs are on
    (cd "$TMP" && "$FP" run --sandbox -e 'local t = os.time() + 2 while os.time() < t do end') >"$TMP/out" 2>&1 &
    PID=$!; sleep 0.7
    grep -q "^Seccomp:[[:space:]]*2" "/proc/$PID/status" && grep -q "^NoNewPrivs:[[:space:]]*1" "/proc/$PID/status" \
        && ok "a sandboxed fp process runs under the seccomp filter with no_new_privs" || bad "seccomp status of the fp process"
    wait $PID
else
    echo "# Landlock not available: kernel-layer tests skipped"
fi
(cd "$TMP" && "$FP" info) >"$TMP/out" 2>&1
grep -qE "^sandbox: (Landlock ABI [0-9]+|Landlock not available|no kernel file confinement)" "$TMP/out" && ok "fp info prints the sandbox status" || bad "fp info sandbox line"

# script arguments: an existing file or folder becomes readable, but never / or a folder holding the home folder
mkdir -p "$TMP/argdata"; echo "arg data" > "$TMP/argdata/d.txt"
printf 'print(io.open(arg[1] .. "/d.txt"):read("a")); print(io.open("/etc/hostname"))\n' > "$S/args_read.lua"
(cd "$TMP" && "$FP" run --sandbox "$S/args_read.lua" "$TMP/argdata" /) >"$TMP/out" 2>&1; RC=$?
grep -qF "arg data" "$TMP/out" && grep -qF "the argument / is not made readable" "$TMP/out" && grep -qF "io.open: sandbox: reading '/etc/hostname'" "$TMP/out" \
    && ok "a folder named as a script argument is readable; / given as an argument is not" || bad "script arguments naming / (rc=$RC)"

finish
