#!/usr/bin/env python3
"""Makes the experiment notebooks (scripts/notebooks/NAME.ipynb, fp (Lua) kernel) from the
experiment scripts (scripts/NAME.lua), cell by cell: the script's header comment is the first
markdown cell; each top-level paragraph (code after a blank line, starting in column 0) is a code
cell, with its leading comment as a markdown cell before it. A first code cell chooses the quick
settings (as `fp run scripts/NAME.lua --quick`) and shows every figure the experiment saves.
Run it again after changing a script:  python3 scripts/notebooks/make.py"""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
NAMES = ["ioi", "acronyms", "facts", "das_paris", "fact_patching"]

SETUP = '''-- Settings: the quick ones, as `fp run scripts/{name}.lua --quick` (what CI runs); remove
-- "--quick" for the full experiment. Output files go to --out as with the script.
arg = {{ "--quick", "--out", "out/{name}" }}

-- Show each figure inline when the experiment saves it as .svg (the files are written too).
local plot = require "fp.plot"
plot.Figure.save_file = plot.Figure.save_file or plot.Figure.save
function plot.Figure:save(path)
  if path:match("%.svg$") then fp.display(self) end
  return self:save_file(path)
end'''


def cell(kind, text):
    c = {"cell_type": kind, "metadata": {}, "source": text.splitlines(keepends=True)}
    if kind == "code":
        c["execution_count"] = None
        c["outputs"] = []
    return c


def paragraphs(lines):
    """Top-level paragraphs: split at blank lines followed by a line that starts in column 0
    and does not close a block."""
    out, cur = [], []
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        cur.append(line)
        if line.strip() == "" and nxt[:1] not in ("", " ", "\t") and not re.match(r"^(end|}|\)|until|else|elseif)\b", nxt):
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return [[l for l in p] for p in out if any(l.strip() for l in p)]


def comment_text(lines):
    return "\n".join(re.sub(r"^--\s?", "", l) for l in lines).strip()


def notebook(name):
    lines = (ROOT / "scripts" / f"{name}.lua").read_text().splitlines()
    n = 0
    while n < len(lines) and lines[n].startswith("--"):
        n += 1
    header = comment_text(lines[:n]).replace(f"fp run scripts/{name}.lua", f"fp run scripts/{name}.lua")
    cells = [cell("markdown", f"# {name}\n\n" + re.sub(r"^  (fp run .*)$", r"    \1", header, flags=re.M)),
             cell("code", SETUP.format(name=name))]
    for p in paragraphs(lines[n:]):
        while p and p[-1].strip() == "":
            p.pop()
        while p and p[0].strip() == "":
            p.pop(0)
        k = 0
        while k < len(p) and p[k].startswith("--"):
            k += 1
        if k:
            cells.append(cell("markdown", comment_text(p[:k])))
        code = "\n".join(p[k:])
        code = re.sub(r"^return (\w+)\s*$", r"\1", code, flags=re.M)   # the last cell shows the results
        if code.strip():
            cells.append(cell("code", code))
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "fp (Lua)", "language": "lua", "name": "fp"},
            "language_info": {"name": "lua", "version": "5.4", "file_extension": ".lua", "mimetype": "text/x-lua"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def main():
    for name in NAMES:
        nb = notebook(name)
        for i, c in enumerate(nb["cells"]):
            c["id"] = f"{name}-{i}"
        path = ROOT / "scripts" / "notebooks" / f"{name}.ipynb"
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {path.relative_to(ROOT)} ({len(nb['cells'])} cells)")


if __name__ == "__main__":
    main()
