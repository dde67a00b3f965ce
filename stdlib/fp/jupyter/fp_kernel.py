"""fp's Jupyter kernel: an ipykernel wrapper kernel that drives `fp kernel worker` over a pipe.

The worker (a separate process) owns the Lua state, models and tensors. This process speaks
Jupyter's protocol (through ipykernel) and stays alive when the worker dies: the next cell starts
a new worker. An interrupt becomes one SIGINT to the worker, which stops the running cell with
the error `interrupted` and keeps its state. `--timeout N` (an fp flag) is applied per cell here:
the cell is interrupted after N seconds, and a worker that does not stop 5 s later is restarted.

Protocol (JSON lines): requests on the worker's fd R ({"op": "execute" | "complete" | "inspect" |
"is_complete", ...}); replies on fd W ({"type": "display" | "result" | "error" | "reply" | "done"});
the cell's print output arrives on the worker's stdout/stderr. See stdlib/fp/kernel.lua.

Usage (from kernel.json, written by `fp kernel install`):
    python fp_kernel.py -f CONNECTION_FILE --fp /path/to/fp -- [fp flags]
"""
import json
import os
import selectors
import signal
import subprocess
import sys
import time

from ipykernel.kernelbase import Kernel

FP_EXE = "fp"
FP_FLAGS = []


def split_timeout(flags):
    """Removes --timeout N / --timeout=N from the worker's flags; returns (flags, seconds)."""
    out, seconds, i = [], None, 0
    while i < len(flags):
        f = flags[i]
        if f == "--timeout" and i + 1 < len(flags):
            seconds = float(flags[i + 1])
            i += 2
            continue
        if f.startswith("--timeout="):
            seconds = float(f.split("=", 1)[1])
        else:
            out.append(f)
        i += 1
    return out, seconds


class Worker:
    """One `fp kernel worker` process and its pipes."""

    def __init__(self, exe, flags):
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        self.proc = subprocess.Popen(
            [exe, "kernel", "worker", "--fds", f"{req_r},{rep_w}"] + flags,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(req_r, rep_w), start_new_session=True)
        os.close(req_r)
        os.close(rep_w)
        self.sel = selectors.DefaultSelector()
        for name, f in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            os.set_blocking(f.fileno(), False)
            self.sel.register(f.fileno(), selectors.EVENT_READ, name)
        os.set_blocking(self.rep_r, False)
        self.sel.register(self.rep_r, selectors.EVENT_READ, "reply")
        self.pending = b""
        self.busy = False

    def alive(self):
        return self.proc.poll() is None

    def send(self, msg):
        data = (json.dumps(msg) + "\n").encode()
        while data:
            n = os.write(self.req_w, data)
            data = data[n:]

    def interrupt(self):
        if self.busy and self.alive():
            os.kill(self.proc.pid, signal.SIGINT)

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.close()

    def close(self):
        for fd in (self.req_w, self.rep_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.sel.close()

    def _drain(self, fd, name, on_stream):
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            on_stream(name, chunk.decode("utf-8", "replace"))

    def messages(self, on_stream, deadline=None, on_deadline=None):
        """Yields reply messages until "done"; streams output through on_stream(name, text)
        (printed text that came before a reply is passed on before it)."""
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = self.sel.select(timeout)
            if not events and deadline is not None and time.monotonic() >= deadline:
                deadline = on_deadline()
                continue
            replies = [k for k, _ in events if k.data == "reply"]
            for key, _ in events:
                if key.data != "reply":
                    self._drain(key.fd, key.data, on_stream)
            if not replies:
                if not self.alive():
                    self._drain(self.proc.stdout.fileno(), "stdout", on_stream)
                    self._drain(self.proc.stderr.fileno(), "stderr", on_stream)
                    yield {"type": "died", "status": self.proc.wait()}
                    return
                continue
            # everything printed before the reply was flushed before it was written
            self._drain(self.proc.stdout.fileno(), "stdout", on_stream)
            self._drain(self.proc.stderr.fileno(), "stderr", on_stream)
            try:
                chunk = os.read(self.rep_r, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                yield {"type": "died", "status": self.proc.wait()}
                return
            self.pending += chunk
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                msg = json.loads(line.decode("utf-8", "replace"))
                yield msg
                if msg.get("type") == "done":
                    return


class FPKernel(Kernel):
    implementation = "fp"
    implementation_version = "0.1"
    banner = "fp (Lua): transformer models and tensors on the CPU, scripted in Lua 5.4"
    language_info = {
        "name": "lua",
        "version": "5.4",
        "mimetype": "text/x-lua",
        "file_extension": ".lua",
        "codemirror_mode": "lua",
        "pygments_lexer": "lua",
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flags, self.timeout = split_timeout(FP_FLAGS)
        self.worker = None
        try:
            signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:   # not the main thread
            pass

    # ipykernel swaps SIGINT handlers around each request; ours must stay.
    def pre_handler_hook(self):
        pass

    def post_handler_hook(self):
        pass

    def _on_sigint(self, signum, frame):
        if self.worker is not None:
            self.worker.interrupt()

    def _ensure_worker(self):
        if self.worker is not None and self.worker.alive():
            return None
        if self.worker is not None:
            self.worker.close()
        self.worker = Worker(FP_EXE, self.flags)
        notes = []
        for msg in self.worker.messages(lambda n, t: notes.append(t)):
            if msg.get("type") == "ready":
                return None
            if msg.get("type") == "died":
                self.worker = None
                return "".join(notes) or "fp kernel worker exited at start"
        return None

    def _stream(self, name, text):
        if not self.silent_request:
            self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

    def _request(self, msg, deadline=None, on_deadline=None):
        """Sends one request and yields its replies (streams go to the cell)."""
        self.worker.busy = True
        try:
            self.worker.send(msg)
            yield from self.worker.messages(self._stream, deadline, on_deadline)
        finally:
            if self.worker is not None:
                self.worker.busy = False

    def _error(self, ename, evalue, traceback):
        content = {"ename": ename, "evalue": evalue, "traceback": traceback}
        if not self.silent_request:
            self.send_response(self.iopub_socket, "error", content)
        return dict(content, status="error", execution_count=self.execution_count)

    def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False):
        self.silent_request = silent
        err = self._ensure_worker()
        if err:
            return self._error("WorkerError", "fp kernel worker could not start", [err])
        state = {"timed_out": False, "killed": False}

        def on_deadline():
            # first the interrupt; if the cell has not stopped 5 s later, a new worker
            if not state["timed_out"]:
                state["timed_out"] = True
                self.worker.interrupt()
                return time.monotonic() + 5
            state["killed"] = True
            self.worker.proc.kill()
            return None

        deadline = time.monotonic() + self.timeout if self.timeout else None
        reply = {"status": "ok", "execution_count": self.execution_count, "payload": [], "user_expressions": {}}
        for msg in self._request({"op": "execute", "code": code, "count": self.execution_count}, deadline, on_deadline):
            kind = msg.get("type")
            if kind == "display" and not silent:
                content = {"data": msg["data"], "metadata": {}, "transient": {"display_id": msg.get("display_id")}}
                self.send_response(self.iopub_socket, "update_display_data" if msg.get("update") else "display_data", content)
            elif kind == "result" and not silent:
                self.send_response(self.iopub_socket, "execute_result",
                                   {"execution_count": self.execution_count, "data": msg["data"], "metadata": {}})
            elif kind == "error":
                reply = self._error(msg["ename"], msg["evalue"], msg["traceback"])
            elif kind == "done" and msg.get("error"):
                text = msg["error"]
                if state["timed_out"]:
                    reply = self._error("Timeout", f"timeout after {self.timeout:g} s", [f"timeout after {self.timeout:g} s (the session is kept)"])
                else:
                    ename = "Interrupted" if "interrupted" in text.split("\n")[0] else "LuaError"
                    reply = self._error(ename, text.split("\n")[0], text.split("\n"))
            elif kind == "died":
                self.worker = None
                why = (f"timeout after {self.timeout:g} s; the worker did not stop and was restarted"
                       if state["killed"] else f"the fp worker exited (status {msg['status']})")
                reply = self._error("WorkerDied", why, [why + "; variables and models are lost, the next cell starts a new session"])
        return reply

    def _simple(self, op, code):
        if self._ensure_worker():
            return None
        out = None
        for msg in self._request({"op": op, "code": code}):
            if msg.get("type") == "reply":
                out = msg
        return out

    @staticmethod
    def _byte_to_char(text, nbytes):
        return len(text.encode("utf-8")[:nbytes].decode("utf-8", "ignore"))

    def do_complete(self, code, cursor_pos):
        before = code[:cursor_pos]
        r = self._simple("complete", before) or {"start": len(before.encode()) + 1, "matches": []}
        start = self._byte_to_char(before, r["start"] - 1)
        return {"status": "ok", "matches": r.get("matches") or [], "cursor_start": start,
                "cursor_end": cursor_pos, "metadata": {}}

    def do_inspect(self, code, cursor_pos, detail_level=0, omit_sections=()):
        # the name under the cursor: extend to the end of the word
        end = cursor_pos
        while end < len(code) and (code[end].isalnum() or code[end] in "_"):
            end += 1
        r = self._simple("inspect", code[:end]) or {}
        found = bool(r.get("found"))
        return {"status": "ok", "found": found, "data": {"text/plain": r.get("text", "")} if found else {},
                "metadata": {}}

    def do_is_complete(self, code):
        r = self._simple("is_complete", code) or {}
        status = r.get("status", "unknown")
        return {"status": status, "indent": "  " if status == "incomplete" else ""}

    def do_shutdown(self, restart):
        if self.worker is not None:
            self.worker.kill()
            self.worker = None
        return {"status": "ok", "restart": restart}


def main():
    global FP_EXE, FP_FLAGS
    argv = sys.argv[1:]
    if "--" in argv:
        i = argv.index("--")
        argv, FP_FLAGS = argv[:i], argv[i + 1:]
    if "--fp" in argv:
        i = argv.index("--fp")
        FP_EXE = argv[i + 1]
        del argv[i:i + 2]
    from ipykernel.kernelapp import IPKernelApp
    IPKernelApp.launch_instance(argv=argv, kernel_class=FPKernel)


if __name__ == "__main__":
    main()
