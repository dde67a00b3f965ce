"""The five experiment notebooks (scripts/notebooks/*.ipynb) run headless with nbclient in the
fp kernel: no cell fails and each figure the experiment saves is shown inline (HTML with the SVG
and its hover titles, plus image/svg+xml). FP_NOTEBOOKS=ioi,facts runs a subset;
FP_NOTEBOOK_OUT=DIR keeps the executed notebooks."""
import importlib.util
import os
import tempfile
import unittest
from pathlib import Path

import fpkernel
import nbformat
from nbclient import NotebookClient

fpkernel.install("fp")
NOTEBOOKS = fpkernel.ROOT / "scripts" / "notebooks"
# figures each experiment saves as .svg with the quick settings (each must be shown inline)
FIGURES = {"ioi": 3, "acronyms": 2, "facts": 4, "das_paris": 1, "fact_patching": 1}
chosen = [n for n in os.environ.get("FP_NOTEBOOKS", ",".join(FIGURES)).split(",") if n]


class Notebooks(unittest.TestCase):
    def test_notebooks_match_the_scripts(self):
        """scripts/notebooks/make.py was run after the last change to a script."""
        spec = importlib.util.spec_from_file_location("make", NOTEBOOKS / "make.py")
        make = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(make)
        for name in make.NAMES:
            want = [c["source"] for c in make.notebook(name)["cells"]]
            have = [c.source for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells]
            self.assertEqual(["".join(w) for w in want], have, f"{name}.ipynb is out of date: run scripts/notebooks/make.py")


def make_test(name):
    def test(self):
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        with tempfile.TemporaryDirectory(prefix=f"fp-nb-{name}-") as cwd:
            NotebookClient(nb, timeout=900, kernel_name="fp", resources={"metadata": {"path": cwd}}).execute()
            self.assertTrue((Path(cwd) / "out" / name / "results.json").exists())
        if os.environ.get("FP_NOTEBOOK_OUT"):
            nbformat.write(nb, Path(os.environ["FP_NOTEBOOK_OUT"]) / f"{name}.ipynb")
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        self.assertEqual([o for o in outputs if o.output_type == "error"], [])
        figures = [o for o in outputs if o.output_type == "display_data" and "image/svg+xml" in o.data]
        self.assertGreaterEqual(len(figures), FIGURES[name], f"{name}: inline figures")
        for f in figures:
            self.assertIn("<svg", f.data["text/html"])
            self.assertIn("<title>", f.data["image/svg+xml"])
        # the last cell shows the results table
        last = [o for o in nb.cells[-1].outputs if o.output_type == "execute_result"]
        self.assertEqual(len(last), 1)
    return test


for _name in chosen:
    setattr(Notebooks, f"test_{_name}", make_test(_name))


if __name__ == "__main__":
    unittest.main()
