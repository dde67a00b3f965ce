"""fp's Jupyter kernel driven by jupyter_client: state and locals across cells, MIME bundles,
completion, inspection, interrupts, errors with cell lines, a worker that dies, --timeout."""
import time
import unittest

import fpkernel
from fpkernel import MODEL, execute, of_type, stdout
from jupyter_client.manager import start_new_kernel

fpkernel.install("fp")
fpkernel.install("fp-timeout", ["--timeout", "3"])
fpkernel.install("fp-sandboxed", ["--sandbox"])


class KernelSession(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name="fp", startup_timeout=60)
        content, _ = execute(cls.kc, f'local model = fp.load_model("{MODEL}")\n'
                                     'local toks = model:to_tokens("When Mary and John went to the store, John gave a drink to")\n'
                                     'local logits, cache = model:run_with_cache(toks)')
        assert content["status"] == "ok", content

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    def result(self, code):
        content, msgs = execute(self.kc, code)
        self.assertEqual(content["status"], "ok", content)
        res = of_type(msgs, "execute_result")
        self.assertEqual(len(res), 1, msgs)
        return res[0]["content"]["data"], msgs

    def run_ok(self, code):
        content, msgs = execute(self.kc, code)
        self.assertEqual(content["status"], "ok", content)
        return msgs

    def test_state_and_locals_across_cells(self):
        self.run_ok("local a = 40\nlocal function inc(x) return x + 1 end")
        data, _ = self.result("inc(a) + 1")
        self.assertEqual(data["text/plain"], "42")
        data, _ = self.result("_ * 2")
        self.assertEqual(data["text/plain"], "84")
        content, msgs = execute(self.kc, 'print("printed", a)\nlocal b = a')
        self.assertEqual(stdout(msgs), "printed\t40\n")
        self.assertEqual(of_type(msgs, "execute_result"), [])

    def test_figure_bundle(self):
        data, _ = self.result('local plot = require "fp.plot"\nplot.imshow(fp.tensor({{1, 2}, {3, 4}}), { title = "t" })')
        self.assertIn("<svg", data["text/html"])
        self.assertIn("<title>", data["text/html"])   # the hover values
        self.assertTrue(data["image/svg+xml"].startswith("<svg"))
        _, msgs = execute(self.kc, "fp.display(plot.line({ {name = 'a', y = {1, 3, 2}} }))\nfp.tensor({1, 2}):show()\nfp.tensor({{1, 2}, {3, 4}}):show()")
        shown = of_type(msgs, "display_data")
        self.assertEqual(len(shown), 3, msgs)
        for m in shown:
            self.assertIn("<svg", m["content"]["data"]["text/html"])

    def test_tensor_and_cache_bundles(self):
        data, _ = self.result("fp.tensor({{1, 2.5}, {3, 4}})")
        self.assertIn("tensor(", data["text/plain"])
        self.assertIn(">2.5</td>", data["text/html"])
        data, _ = self.result("cache")
        self.assertRegex(data["text/plain"], r"^ActivationCache with \d+ keys \(blocks\.0 \.\. blocks\.29, [\d.]+ MB\)")
        self.assertNotIn("\n", data["text/plain"])
        data, _ = self.result("model")
        self.assertTrue(data["text/plain"].startswith("Model(SmolLM2"))

    def complete(self, code):
        self.kc.complete(code, len(code))
        reply = self.kc.get_shell_msg(timeout=30)
        return reply["content"]

    def test_completion(self):
        c = self.complete('model:run_with_cache(toks, { names_filter = { "blocks.3.attn.hook_p')
        self.assertIn("blocks.3.attn.hook_pattern", c["matches"])
        self.assertEqual(c["cursor_start"], len('model:run_with_cache(toks, { names_filter = { "'))
        c = self.complete("model.blocks[3].attn.")
        self.assertTrue({"W_Q", "W_K", "W_V", "W_O"} <= set(c["matches"]), c)
        c = self.complete('cache["blocks.29.hook_resid_p')
        self.assertEqual(sorted(c["matches"]), ["blocks.29.hook_resid_post", "blocks.29.hook_resid_pre"])
        c = self.complete("fp.ein")
        self.assertEqual(c["matches"], ["einsum"])

    def test_inspect(self):
        code = 'fp.einsum("b p d, d -> b p", x, y)'
        self.kc.inspect(code, len("fp.ein"))
        c = self.kc.get_shell_msg(timeout=30)["content"]
        self.assertTrue(c["found"], c)
        self.assertIn("torch.einsum", c["data"]["text/plain"])
        code = 'fp.einsum("b p d, d -> b p", x'   # inside the call's arguments
        self.kc.inspect(code, len(code))
        c = self.kc.get_shell_msg(timeout=30)["content"]
        self.assertTrue(c["found"] and "torch.einsum" in c["data"]["text/plain"], c)
        _, msgs = execute(self.kc, "?fp.einsum")
        self.assertIn("torch.einsum", stdout(msgs))

    def test_error_names_the_cell_line(self):
        content, msgs = execute(self.kc, "local ok = 1\n\nlocal bad = nil + ok")
        self.assertEqual(content["status"], "error")
        n = content["execution_count"]
        self.assertIn(f"In[{n}]:3:", content["evalue"])
        self.assertEqual(len(of_type(msgs, "error")), 1)
        # an error raised inside fp's stdlib names the cell's line too
        content, _ = execute(self.kc, 'local p = require "fp.patching"\np.resid_pre(model, toks, nil, nil)')
        self.assertIn(f"In[{content['execution_count']}]:2:", content["evalue"])

    def test_interrupt_during_a_sweep_keeps_the_session(self):
        self.run_ok("local kept = 7")
        code = ('local patching = require "fp.patching"\n'
                'local function metric(l) return l[{0, -1, 0}] end\n'
                'for i = 1, 100 do patching.resid_pre(model, toks, cache, metric) end')
        msg_id = self.kc.execute(code)
        # wait until the sweep's progress bar shows, then interrupt
        deadline = time.time() + 60
        seen_progress = False
        while time.time() < deadline and not seen_progress:
            m = self.kc.get_iopub_msg(timeout=60)
            if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] in ("display_data", "update_display_data"):
                seen_progress = "fp-progress" in m["content"]["data"].get("text/html", "")
        self.assertTrue(seen_progress, "the sweep showed a progress bar")
        started = time.time()
        self.km.interrupt_kernel()
        reply = self.kc.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=60)
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "Interrupted")
        self.assertLess(time.time() - started, 30)
        # a request that reaches the kernel while it still drops the queue after the error is
        # answered "aborted" (ipykernel's stop_on_error; on a loaded host that window is longer):
        # the session is kept if the next cell after that runs with its state
        for _ in range(5):
            content, msgs = execute(self.kc, "kept + model.cfg.n_layers")
            if content["status"] != "aborted":
                break
            time.sleep(0.5)
        self.assertEqual(content["status"], "ok", content)
        self.assertEqual(of_type(msgs, "execute_result")[0]["content"]["data"]["text/plain"], "37")

    def test_is_complete(self):
        for code, status in [("for i = 1, 3 do", "incomplete"), ("x = 1", "complete"), ("x = = 1", "invalid")]:
            self.kc.is_complete(code)
            self.assertEqual(self.kc.get_shell_msg(timeout=30)["content"]["status"], status, code)


class WorkerLifecycle(unittest.TestCase):
    def test_worker_death_is_reported_and_the_kernel_goes_on(self):
        km, kc = start_new_kernel(kernel_name="fp", startup_timeout=60)
        try:
            content, _ = execute(kc, "os.exit(3)")
            self.assertEqual(content["status"], "error")
            self.assertEqual(content["ename"], "WorkerDied")
            content, msgs = execute(kc, "1 + 1")
            self.assertEqual(content["status"], "ok")
            self.assertEqual(of_type(msgs, "execute_result")[0]["content"]["data"]["text/plain"], "2")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)

    def test_sandbox_flag_applies_to_the_worker(self):
        km, kc = start_new_kernel(kernel_name="fp-sandboxed", startup_timeout=60)
        try:
            content, msgs = execute(kc, 'print(pcall(io.open, "/etc/passwd"))')
            self.assertEqual(content["status"], "ok", content)
            self.assertIn("sandbox", stdout(msgs))
            content, msgs = execute(kc, 'fp.tensor({1, 2}):sum()')
            self.assertEqual(of_type(msgs, "execute_result")[0]["content"]["data"]["text/plain"], "3.0")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)

    def test_timeout_flag_stops_a_cell_and_keeps_the_session(self):
        km, kc = start_new_kernel(kernel_name="fp-timeout", startup_timeout=60)
        try:
            execute(kc, "local kept = 5")
            started = time.time()
            content, _ = execute(kc, "while true do end")
            self.assertEqual(content["ename"], "Timeout")
            self.assertLess(time.time() - started, 15)
            content, msgs = execute(kc, "kept")
            self.assertEqual(of_type(msgs, "execute_result")[0]["content"]["data"]["text/plain"], "5")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


if __name__ == "__main__":
    unittest.main()
