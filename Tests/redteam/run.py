#!/usr/bin/env python3
"""fp's red-team runner: runs the cases in Tests/redteam/cases/CLASS/NAME.lua against the built fp
(.build/release/fp or $FP), each in a fresh temp folder with a fake HOME full of canary files, and
classifies every case as passed, crashed, hung, escaped or silent (docs/redteam.md).

Usage: run.py [--quick] [--class C] [--case CLASS/NAME] [--sample F --seed S] [-j N]
              [--known FILE] [--keep] [-v] [--list]
Prints "N tried, C crashed, H hung, E escaped, S silent", the failing cases with one line of
why, and "P passed, F failed, K skipped" (for scripts/test.sh). Exit status is non-zero when any
count but N is non-zero; with --known FILE only failures not listed in FILE (and listed cases
that pass now) make it non-zero, and listed failures are reported as known, never as passes.
"""
import argparse, glob, hashlib, pwd, struct, os, random, re, resource, secrets, shlex, shutil, signal, stat
import subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CASES = os.path.join(HERE, "cases")
CLASSES = ["sandbox", "crash", "resource", "misuse", "signal"]

# Output that means the process died in a way no Lua error explains.
CRASH_TEXT = re.compile(r"Fatal error|Swift runtime failure|AddressSanitizer|UndefinedBehaviorSanitizer|"
                        r"Bad pointer dereference|Segmentation fault|Illegal instruction|Bus error|"
                        r"core dumped|Current stack trace:|PANIC: unprotected error")
LIMIT_TEXT = re.compile(r"timeout after|out of (tensor )?memory|not enough memory|memory limit")
SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMG]?)$")


def parse_size(s):
    m = SIZE.match(s.strip())
    if not m:
        raise ValueError("bad size %r" % s)
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)])


class Case:
    """One .lua file; its header lines `--@ key: value` say how to run it and what must happen."""
    KEYS = {"expect", "flags", "args", "cmd", "setup", "check", "env", "unset", "timeout", "mem",
            "rlimit", "signal", "quick", "why", "stdin", "writable", "timing"}

    def __init__(self, path, root=CASES):
        self.path = path
        self.name = os.path.relpath(path, root)[:-len(".lua")]
        self.cls = self.name.split("/")[0]
        self.text = open(path, encoding="utf-8", errors="surrogateescape").read()
        self.d = {k: [] for k in self.KEYS}
        for line in self.text.splitlines():
            m = re.match(r"^--@\s*([a-z]+)\s*:?\s*(.*)$", line)
            if not m:
                continue
            key, val = m.group(1), m.group(2).rstrip()
            if key not in self.KEYS:
                raise ValueError("%s: unknown directive %r" % (self.name, key))
            self.d[key].append(val)
        if not self.d["expect"]:
            raise ValueError("%s: no --@ expect" % self.name)
        self.expect = self.d["expect"][0]
        self.quick = bool(self.d["quick"])
        self.timing = bool(self.d["timing"])  # a pass may be luck (a race the attack did not win this time)
        self.timeout = float(self.d["timeout"][0]) if self.d["timeout"] else 60.0
        self.mem = parse_size(self.d["mem"][0]) if self.d["mem"] else None
        self.rlimit = parse_size(self.d["rlimit"][0]) if self.d["rlimit"] else 3 << 30


def snapshot(root, skip=()):
    """path -> what it is (lstat: links are not followed), for change detection."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                snap[p] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                snap[p] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha1()
                try:
                    with open(p, "rb") as f:
                        h.update(f.read(1 << 20))
                except OSError:
                    pass
                snap[p] = ("file", st.st_size, st.st_mtime_ns, h.hexdigest(), st.st_ino)
            else:
                snap[p] = ("other", st.st_mode)
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
    return snap


def contains(path, token):
    try:
        with open(path, "rb") as f:
            return token in f.read(64 << 20)
    except OSError:
        return False


class Runner:
    def __init__(self, fp, keep=False, verbose=False):
        self.fp, self.keep, self.verbose = fp, keep, verbose
        self.models = os.environ.get("FP_MODELS") or os.path.expanduser("~/.cache/fp/models")

    def layout(self, case):
        r = tempfile.mkdtemp(prefix="fp-redteam-")
        t = os.path.join(r, "t")
        v = {"T": t, "S": t + "/s", "W": t + "/w", "H": t + "/home", "OUT": t + "/outside",
             "STDLIB": t + "/stdlib", "FP": self.fp, "ROOT": ROOT, "MODELS": self.models,
             "FIX": ROOT + "/Tests/fixtures", "SCRIPT": t + "/s/case.lua",
             "SHM": tempfile.mkdtemp(prefix="fp-redteam-", dir="/dev/shm") if os.path.isdir("/dev/shm") else t + "/shm",
             "REALHOME": pwd.getpwuid(os.getuid()).pw_dir}
        for k in ("S", "W", "H", "OUT", "SHM"):
            os.makedirs(v[k], exist_ok=True)
        shutil.copytree(ROOT + "/stdlib", v["STDLIB"])
        return r, v

    def plant_canaries(self, v, token):
        """Secrets outside the allowed set: their contents must never show up anywhere."""
        files = {
            v["H"] + "/.ssh/id_rsa": "-----BEGIN KEY----- %s\n" % token,
            v["H"] + "/secret.txt": "home secret %s\n" % token,
            v["H"] + "/.bashrc": "# %s\n" % token,
            v["OUT"] + "/secret.txt": "outside secret %s\n" % token,
            v["OUT"] + "/chunk.lua": "return %r\n" % ("chunk " + token),
            v["OUT"] + "/evilmod.lua": "return %r\n" % ("evilmod " + token),
            v["OUT"] + "/keep.txt": "keep %s\n" % token,
            v["SHM"] + "/secret.txt": "shm secret %s\n" % token,
        }
        for p, text in files.items():
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        os.makedirs(v["H"] + "/.config", exist_ok=True)
        # a tensor file outside: [3] float32 of 7s (loaders must refuse it, not print it)
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"
        header += " " * (63 - (10 + len(header)) % 64) + "\n"
        with open(v["OUT"] + "/t.npy", "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack("<3f", 7, 7, 7))

    def subst_bytes(self, s, v):
        """A path directive with Lua-style \\xNN escapes, as the bytes it names."""
        s = self.subst(s, v)
        return re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                      os.fsencode(s))

    def subst(self, s, v):
        return re.sub(r"@([A-Z]+)@", lambda m: v.get(m.group(1), m.group(0)), s)

    def env(self, case, v):
        e = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TERM") if k in os.environ}
        e.update(HOME=v["H"], XDG_CONFIG_HOME=v["H"] + "/.config", FP_STDLIB=v["STDLIB"],
                 FP_MODELS=self.models, TMPDIR=v["T"] + "/tmp", FP_NUM_THREADS="1",
                 SWIFT_BACKTRACE="enable=no")
        os.makedirs(e["TMPDIR"], exist_ok=True)
        for k in ("T", "S", "W", "H", "OUT", "STDLIB", "FP", "ROOT", "FIX", "SCRIPT", "SHM"):
            e["RT_" + k] = v[k]
        for kv in case.d["env"]:
            k, _, val = kv.partition("=")
            e[k.strip()] = self.subst(val.strip(), v)
        for k in case.d["unset"]:
            e.pop(k.strip(), None)
        return e

    def sh(self, cmd, v, env, timeout=60):
        return subprocess.run(["bash", "-c", cmd], cwd=v["S"], env=env, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def run(self, case):
        """-> (verdict, why) with verdict one of passed, crashed, hung, escaped, silent."""
        r, v = self.layout(case)
        token = "FPCANARY" + secrets.token_hex(8)
        try:
            return self._run(case, r, v, token)
        except Exception as e:  # a broken case is a failure of the case, never a pass
            return "silent", "runner error: %s" % e
        finally:
            shutil.rmtree(v["SHM"], ignore_errors=True)
            if not self.keep:
                shutil.rmtree(r, ignore_errors=True)
            else:
                print("kept %s in %s" % (case.name, r))

    def _run(self, case, r, v, token):
        self.plant_canaries(v, token)
        with open(v["SCRIPT"], "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(self.subst(case.text, v))
        env = self.env(case, v)
        # the script's own stdin, when it reads one
        stdin_path = r + "/stdin"
        with open(stdin_path, "w") as f:
            f.write(self.subst("\n".join(case.d["stdin"]), v) + ("\n" if case.d["stdin"] else ""))
        for cmd in case.d["setup"]:
            p = self.sh(self.subst(cmd, v), v, env)
            if p.returncode != 0:
                return "silent", "setup failed: %s: %s" % (cmd, p.stdout.decode(errors="replace")[-300:])
        before = snapshot(v["T"])
        flags = self.subst(" ".join(case.d["flags"]), v)
        args = self.subst(" ".join(case.d["args"]), v)
        if case.d["cmd"]:
            cmd = self.subst(" ".join(case.d["cmd"]), v).replace("{flags}", flags).replace("{args}", args)
        else:
            cmd = 'exec "$RT_FP" run %s "$RT_SCRIPT" %s' % (flags, args)
        out_path, err_path = r + "/out", r + "/err"
        limit = case.rlimit

        def pre():
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 30, 1 << 30))

        sent = None
        sig_spec = case.d["signal"][0].split() if case.d["signal"] else None
        with open(out_path, "wb") as out, open(err_path, "wb") as err, open(stdin_path, "rb") as inp:
            p = subprocess.Popen(["bash", "-c", cmd], cwd=v["S"], env=env, stdin=inp, stdout=out,
                                 stderr=err, preexec_fn=pre, start_new_session=True)
        start = time.monotonic()
        status, usage, hung = None, None, False
        while True:
            pid, st, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                status, usage = st, ru
                break
            now = time.monotonic() - start
            if sig_spec and sent is None:
                # SIGNAL after MARKER [DELAY]: send it to the process group once MARKER is printed;
                # SIGNAL when GLOB [DELAY]: once a file matching GLOB exists (a save's temp file)
                name, how, what = sig_spec[0], sig_spec[1], self.subst(sig_spec[2], v)
                delay = float(sig_spec[3]) if len(sig_spec) > 3 else 0.0
                if (glob.glob(what) if how == "when" else contains(out_path, what.encode())):
                    time.sleep(delay)
                    sent = getattr(signal, "SIG" + name)
                    try:
                        os.killpg(p.pid, sent)
                    except ProcessLookupError:
                        pass
            if now > case.timeout:
                hung = True
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.02)
        try:  # whatever the case left running in its group
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        p.returncode = 0  # reaped above with wait4
        out = open(out_path, "rb").read()
        err = open(err_path, "rb").read()
        both = (out + b"\n" + err).decode("utf-8", errors="replace")
        if self.verbose:
            print("== %s: %s\n%s" % (case.name, cmd, both[-2000:]))
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + (sig or 0)
        lines = both.strip().splitlines()
        if "stack traceback:" in lines:  # the error message, not the last traceback line
            lines = lines[:lines.index("stack traceback:")]
        tail = (lines or [""])[-1].strip()[:200]

        # 1. crashed
        if hung:
            return "hung", "still running after %g s (killed); last output: %s" % (case.timeout, tail)
        expected_rc = None
        m = re.match(r"exit\s+(\d+)", case.expect)
        if m:
            expected_rc = int(m.group(1))
        by_us = sent is not None and (sig == sent or rc == 128 + sent)
        cm = CRASH_TEXT.search(both)
        if cm:
            line = next((l for l in both.splitlines() if cm.group(0) in l), cm.group(0))
            return "crashed", "%s (status %d)" % (line.strip()[:200], rc)
        if sig is not None and not by_us:
            return "crashed", "killed by signal %d (%s); last output: %s" % (sig, signal.Signals(sig).name, tail)
        if rc >= 128 and rc != expected_rc and not by_us:
            return "crashed", "exit status %d; last output: %s" % (rc, tail)

        # 2. escaped: checks that guard the outside, a program ran, canaries, changes outside W
        for c in case.d["check"]:
            kind, _, cmdc = c.partition(" ")
            if kind != "escaped":
                continue
            q = self.sh(self.subst(cmdc, v), v, env, timeout=120)
            if q.returncode != 0:
                return "escaped", "check failed: %s %s" % (cmdc[:120], q.stdout.decode(errors="replace")[-200:].strip())
        after = snapshot(v["T"])
        for path in after:
            if "PWNED" in os.path.basename(path):
                return "escaped", "marker %s exists: a program ran or code ran before the sandbox" % os.path.relpath(path, v["T"])
        if token.encode() in out or token.encode() in err:
            return "escaped", "canary contents appear in the output"
        # what the case may change: @W@, fp's TMPDIR and the folders a case declares writable
        # (+ fp's own GEMM calibration table, ~/.cache/fp/gemm: written by fp, never by the script;
        # the sandbox keeps even that read-only and fp then calibrates in memory)
        inside_dirs = [v["W"] + "/", v["T"] + "/tmp/", v["H"] + "/.cache/fp/gemm/"] + [
            os.fsdecode(self.subst_bytes(w, v)) + "/" for w in case.d["writable"]]

        gemm_parents = {v["H"] + "/.cache", v["H"] + "/.cache/fp", v["H"] + "/.cache/fp/gemm"}

        def is_inside(path):
            if path in gemm_parents and after.get(path, ("",))[0] == "dir":
                return True
            return any(path.startswith(d) for d in inside_dirs)
        for path, what in sorted(after.items()):
            if before.get(path) == what:
                continue
            rel = os.path.relpath(path, v["T"])
            if is_inside(path):
                if what[0] == "file" and contains(path, token.encode()):
                    return "escaped", "canary contents copied into %s" % rel
                continue
            return "escaped", "%s outside the writable folder: %s" % (
                "created" if path not in before else "changed", rel)
        for path in before:
            if path not in after and not is_inside(path):
                return "escaped", "removed outside the writable folder: %s" % os.path.relpath(path, v["T"])
        if case.mem is not None and usage is not None:
            peak = usage.ru_maxrss * 1024
            if peak > case.mem:
                return "escaped", "peak memory %d MB over the %d MB the limit promises" % (peak >> 20, case.mem >> 20)

        # 3. silent: the expected outcome did not happen
        e = case.expect
        if e.startswith("error"):
            pat = e[len("error"):].strip()
            if rc == 0:
                return "silent", "expected an error matching /%s/, exited 0; last output: %s" % (pat, tail)
            if pat and not re.search(pat, both):
                return "silent", "expected an error matching /%s/, got: %s" % (pat, tail)
        elif e == "ok":
            if rc != 0 or not re.search(r"^OK\b", out.decode(errors="replace"), re.M):
                return "silent", "expected OK, exit %d: %s" % (rc, tail)
        elif e == "limit":
            if rc == 0 or not LIMIT_TEXT.search(both):
                return "silent", "expected a limit error (timeout/memory), exit %d: %s" % (rc, tail)
        elif expected_rc is not None:
            pat = e.split(None, 2)[2] if len(e.split(None, 2)) > 2 else ""
            if rc != expected_rc or (pat and not re.search(pat, both)):
                return "silent", "expected exit %d%s, got %d: %s" % (
                    expected_rc, " and /%s/" % pat if pat else "", rc, tail)
        elif e != "any":
            return "silent", "unknown expectation %r" % e
        for c in case.d["check"]:
            kind, _, cmdc = c.partition(" ")
            if kind == "escaped":
                continue
            q = self.sh(self.subst(cmdc, v), v, env, timeout=120)
            if q.returncode != 0:
                return "silent", "check failed: %s %s" % (cmdc[:120], q.stdout.decode(errors="replace")[-200:].strip())
        return "passed", ""


def load_cases():
    cases = []
    for cls in CLASSES:
        d = os.path.join(CASES, cls)
        for dirpath, _, files in os.walk(d):
            for f in sorted(files):
                if f.endswith(".lua"):
                    cases.append(Case(os.path.join(dirpath, f)))
    return sorted(cases, key=lambda c: c.name)


def read_known(path):
    names = set()
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^\s*[-*]\s+`([^`]+)`", line)
        if m:
            names.add(m.group(1))
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fp", default=os.environ.get("FP") or os.path.join(ROOT, ".build/release/fp"))
    ap.add_argument("--quick", action="store_true", help="only the cases marked --@ quick")
    ap.add_argument("--sample", type=float, help="a seeded fraction (0..1) of the selected cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--class", dest="cls", action="append", choices=CLASSES)
    ap.add_argument("--case", action="append", help="CLASS/NAME (or a substring of it)")
    ap.add_argument("-j", type=int, default=1)
    ap.add_argument("--known", help="KNOWN_FAILING.md: listed failures do not fail the run")
    ap.add_argument("--keep", action="store_true", help="keep each case's temp folder")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--progress", action="store_true", help="one line per finished case on stderr")
    a = ap.parse_args()
    fp = os.path.abspath(a.fp)
    if not os.access(fp, os.X_OK):
        print("no fp executable at %s (build it, or set FP=...)" % fp)
        return 2
    cases = load_cases()
    if a.cls:
        cases = [c for c in cases if c.cls in a.cls]
    if a.case:
        cases = [c for c in cases if any(c.name == n or n in c.name for n in a.case)]
    if a.quick:
        cases = [c for c in cases if c.quick]
    if a.sample is not None:
        rnd = random.Random(a.seed)
        cases = [c for c in cases if rnd.random() < a.sample]
    if a.list:
        for c in cases:
            print(c.name)
        return 0
    runner = Runner(fp, a.keep, a.verbose)
    t0 = time.monotonic()
    done = [0]

    def one(c):
        res = runner.run(c)
        done[0] += 1
        if a.progress:
            sys.stderr.write("[%d/%d] %s %s\n" % (done[0], len(cases), res[0], c.name))
        return res

    with ThreadPoolExecutor(max_workers=max(1, a.j)) as ex:
        results = list(zip(cases, ex.map(one, cases)))
    known = read_known(a.known) if a.known else set()
    counts = {k: 0 for k in ("crashed", "hung", "escaped", "silent")}
    new, still, fixed = [], [], []
    for c, (verdict, why) in results:
        if verdict == "passed":
            if c.name in known:
                fixed.append(c.name)
            continue
        counts[verdict] += 1
        (still if c.name in known else new).append((c, verdict, why))
    for c, verdict, why in still + new:
        mark = " (known)" if c.name in known else ""
        print("%-8s %s%s: %s" % (verdict.upper(), c.name, mark, why))
    by_name = {c.name: c for c in cases}
    lucky = [n for n in fixed if by_name[n].timing]
    fixed = [n for n in fixed if not by_name[n].timing]
    for n in fixed:
        print("PASSES   %s: listed in %s, remove it from the list" % (n, os.path.basename(a.known)))
    for n in lucky:
        print("PASSES   %s: listed, but its attack depends on timing: passing once proves nothing" % n)
    print("%d tried, %d crashed, %d hung, %d escaped, %d silent (%.0f s)" % (
        len(results), counts["crashed"], counts["hung"], counts["escaped"], counts["silent"],
        time.monotonic() - t0))
    passed = len(results) - len(new) - len(still)
    if a.known:
        # known failures are neither passes nor new failures: reported as skipped, by name above
        print("%d passed, %d failed, %d skipped" % (passed - len(lucky), len(new) + len(fixed), len(still) + len(lucky)))
        return 1 if new or fixed else 0
    print("%d passed, %d failed" % (passed, len(new) + len(still)))
    return 1 if new or still else 0


if __name__ == "__main__":
    sys.exit(main())
