"""Shared by the Jupyter tests: installs the fp kernelspec (with `fp kernel install`) into a
temporary JUPYTER_DATA_DIR and starts kernels from it."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FP = os.environ.get("FP", str(ROOT / ".build/release/fp"))
MODEL = str(Path(os.environ.get("FP_MODELS", Path.home() / ".cache/fp/models")) / "SmolLM2-135M-Instruct.Q4_1.gguf")

_data = tempfile.mkdtemp(prefix="fp-jupyter-")
atexit.register(shutil.rmtree, _data, True)
os.environ["JUPYTER_DATA_DIR"] = _data
os.environ["JUPYTER_PLATFORM_DIRS"] = "1"


def install(name="fp", flags=()):
    """Runs `fp kernel install --user --name NAME [flags]`; returns its output."""
    r = subprocess.run([FP, "kernel", "install", "--user", "--python", sys.executable, "--name", name, *flags],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"fp kernel install failed: {r.stdout}{r.stderr}")
    return r.stdout


def execute(kc, code, timeout=120):
    """Runs a cell; returns (reply content, [iopub messages of that cell])."""
    msg_id = kc.execute(code)
    msgs = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
        msgs.append(m)
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    return reply["content"], msgs


def of_type(msgs, *types):
    return [m for m in msgs if m["msg_type"] in types]


def stdout(msgs):
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")
