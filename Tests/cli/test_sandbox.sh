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
expect_blocked "debug library" "attempt to call a nil value (field 'getinfo')" 'debug.getinfo(1)'
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
expect_blocked "require through a changed package.path" "require: sandbox: reading" 'package.path = "'"$OUTSIDE"'/?.lua;" .. package.path; require "evilmod"'
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

finish
