#!/usr/bin/env python3
"""Checks the red-team runner itself: fake fp executables (bash scripts with one known good or bad
behaviour each) run against small cases, and every verdict must be the one that behaviour
deserves. Needs no build of fp. Usage: python3 Tests/redteam/selftest/selftest.py
Prints "N passed, N failed" like the other test runners."""
import os, shutil, stat, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import run  # noqa: E402

# fake fp: bash body; "$@" is `run [flags] SCRIPT [args]`, HOME is the fake home
FAKES = {
    "good_error": 'echo "x.lua:1: io.open: sandbox: writing is not allowed" >&2; exit 1',
    "good_ok": 'echo OK',
    "segfault": 'kill -SEGV $$',
    "swift_trap": 'echo "Fatal error: Double value cannot be converted to Int" >&2; exit 1',
    "status_134": 'exit 134',
    "hang": 'sleep 100',
    "leak_home": 'cat "$HOME/secret.txt"; exit 1',
    "copy_canary_into_w": 'cat "$HOME/.ssh/id_rsa" > "$HOME/../w/copied.txt"; echo "sandbox: no" >&2; exit 1',
    "write_outside": 'echo x > "$HOME/../outside/new.txt"; echo "sandbox: no" >&2; exit 1',
    "change_canary": 'echo x >> "$HOME/../outside/keep.txt"; echo "sandbox: no" >&2; exit 1',
    "remove_canary": 'rm "$HOME/../outside/keep.txt"; echo "sandbox: no" >&2; exit 1',
    "ran_program": 'touch "$HOME/../PWNED"; echo "sandbox: no" >&2; exit 1',
    "write_inside_w": 'echo fine > "$HOME/../w/result.txt"; echo OK',
    "silently_accepts": 'echo accepted; exit 0',
    "wrong_error": 'echo "some other error" >&2; exit 1',
    "big_memory": 'python3 -c "x = bytearray(400 << 20); print(len(x))"; echo OK',
    "ignores_term": 'trap "" TERM; echo READY; sleep 100',
    "leaves_temp": 'echo READY; touch "$HOME/../w/.t.npy.tmp-1234-5"; sleep 100',
    "clean_on_term": 'trap "rm -f \\"$HOME/../w/.t.npy.tmp-1-1\\"; exit 143" TERM; echo READY; touch "$HOME/../w/.t.npy.tmp-1-1"; while :; do sleep 0.05; done',
    "timeout_124": 'echo "timeout after 2 s" >&2; exit 124',
}
# case text -> {fake: verdict}; a fake not named for a case is not run on it
CASES = {
    "sandbox/refuse": ("--@ expect: error sandbox\n--@ timeout: 3\n", {
        "good_error": "passed", "segfault": "crashed", "swift_trap": "crashed", "status_134": "crashed",
        "hang": "hung", "leak_home": "escaped", "copy_canary_into_w": "escaped", "write_outside": "escaped",
        "change_canary": "escaped", "remove_canary": "escaped", "ran_program": "escaped",
        "silently_accepts": "silent", "wrong_error": "silent", "good_ok": "silent"}),
    "crash/finish": ("--@ expect: ok\n--@ timeout: 3\n", {
        "good_ok": "passed", "write_inside_w": "passed", "good_error": "silent", "segfault": "crashed"}),
    "resource/bounded": ("--@ expect: ok\n--@ mem: 200M\n--@ rlimit: 2G\n", {
        "good_ok": "passed", "big_memory": "escaped"}),
    "resource/timeout": ("--@ expect: exit 124 timeout after\n", {
        "timeout_124": "passed", "good_ok": "silent", "status_134": "crashed"}),
    "signal/term": ("--@ expect: any\n--@ signal: TERM after READY 0.2\n--@ timeout: 4\n"
                    "--@ check: silent ls -A \"$RT_W\" | grep -q tmp- && exit 1 || true\n", {
        "clean_on_term": "passed", "ignores_term": "hung", "leaves_temp": "silent"}),
}


def main():
    tmp = tempfile.mkdtemp(prefix="fp-redteam-selftest-")
    passed = failed = 0
    for name, (header, want) in CASES.items():
        path = os.path.join(tmp, "cases", name + ".lua")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("-- selftest case\n" + header + "print('x')\n")
        case = run.Case(path, root=os.path.join(tmp, "cases"))
        for fake, verdict in want.items():
            exe = os.path.join(tmp, fake)
            with open(exe, "w") as f:
                f.write("#!/usr/bin/env bash\n" + FAKES[fake] + "\n")
            os.chmod(exe, os.stat(exe).st_mode | stat.S_IEXEC)
            got, why = run.Runner(exe).run(case)
            if got == verdict:
                passed += 1
                print("ok   - %s with %s: %s" % (name, fake, got))
            else:
                failed += 1
                print("FAIL - %s with %s: want %s, got %s (%s)" % (name, fake, verdict, got, why))
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
