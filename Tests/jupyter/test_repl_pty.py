"""`fp repl` through a pseudo-terminal, as a person types: Ctrl-C at the prompt clears the line,
Ctrl-C stops a running chunk and keeps the session, Ctrl-D quits, top-level locals persist, `_`,
?x help, summaries, completion (model fields, methods after ':', hook names inside strings),
stdlib errors name the user's line, --timeout."""
import os
import pty
import re
import select
import tempfile
import time
import unittest

from fpkernel import FP

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\r")


class Repl:
    def __init__(self, *flags):
        self.home = tempfile.mkdtemp(prefix="fp-repl-")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["HOME"] = self.home
            os.execv(FP, [FP, "repl", *flags])
        self.out = ""
        self.wait_for("> ")

    def read(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    return
                if not data:
                    return
                self.out += ANSI.sub("", data.decode("utf-8", "replace"))

    def wait_for(self, text, seconds=30):
        """Reads until `text` appears in the new output; returns that output."""
        start = len(self.out)
        end = time.time() + seconds
        while time.time() < end and text not in self.out[start:]:
            self.read(0.1)
        return self.out[start:]

    def line(self, code, expect="\n> ", seconds=30):
        """Types a line and returns what the REPL printed up to the next prompt."""
        start = len(self.out)
        os.write(self.fd, code.encode() + b"\n")
        self.wait_for(expect, seconds)
        return self.out[start:]

    def keys(self, keys, settle=0.5):
        start = len(self.out)
        os.write(self.fd, keys.encode())
        self.read(settle)
        return self.out[start:]

    def close(self):
        try:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


class ReplTest(unittest.TestCase):
    def setUp(self):
        self.r = Repl()

    def tearDown(self):
        self.r.close()

    def test_ctrl_c_clears_the_line_and_ctrl_d_quits(self):
        self.r.keys("this is not lua\x03")
        out = self.r.line("1 + 1")
        self.assertIn("2\n", out)
        self.assertNotIn("syntax error", out)
        self.r.keys("\x04")
        _, status = os.waitpid(self.r.pid, 0)
        self.assertTrue(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)

    def test_locals_persist_and_underscore(self):
        self.r.line("local x = 41")
        self.r.line("local function inc(v) return v + 1 end")
        self.assertIn("42\n", self.r.line("inc(x)"))
        self.assertIn("84\n", self.r.line("_ * 2"))

    def test_ctrl_c_stops_a_running_chunk_and_keeps_the_session(self):
        self.r.line("local kept = 7")
        os.write(self.r.fd, b"while true do end\n")
        time.sleep(0.5)
        out = self.r.keys("\x03", 1)
        self.assertIn("interrupted", out + self.r.wait_for("> "))
        self.assertIn("7\n", self.r.line("kept"))

    def test_help(self):
        self.assertIn("torch.einsum", self.r.line("?fp.einsum"))
        self.assertIn("torch.einsum", self.r.line("help(fp.einsum)"))

    def test_summaries_completion_and_errors(self):
        self.r.line('local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")')
        self.r.line('local logits, cache = m:run_with_cache(fp.tensor({{1, 2, 3}}, "int"))')
        out = self.r.line("cache")
        self.assertRegex(out, r"ActivationCache with \d+ keys \(blocks\.0 \.\. blocks\.1")
        self.assertEqual(len(out.strip().splitlines()), 3, out)   # the echo, one line, the prompt
        self.assertGreater(len(self.r.line("show_all(cache)").splitlines()), 30)
        # a unique completion is inserted: a hook name inside a string, then run
        self.r.keys('y = cache["blocks.1.hook_mlp_o\t')
        self.r.line('"]')
        self.assertIn("true\n", self.r.line("y ~= nil"))
        # several completions are listed: a block's attention weights, a cache's methods
        listed = self.r.keys("m.blocks[1].attn.W_\t\t", 1)
        for w in ("W_Q", "W_K", "W_V", "W_O"):
            self.assertIn(w, listed)
        self.r.keys("\x03")
        listed = self.r.keys("cache:\t\t", 1)
        self.assertIn("cache:act", listed)
        self.assertNotIn("hook_", listed)
        self.r.keys("\x03")
        out = self.r.line('require("fp.patching").resid_pre(nil)')
        self.assertIn("stdin:1: patching: model must be", out)


class ReplTimeout(unittest.TestCase):
    def test_timeout_stops_a_chunk_and_keeps_the_session(self):
        r = Repl("--timeout", "1")
        try:
            r.line("local kept = 5")
            out = r.line("while true do end", seconds=20)
            self.assertIn("timeout after 1 s", out)
            self.assertIn("5\n", r.line("kept"))
        finally:
            r.close()


if __name__ == "__main__":
    unittest.main()
