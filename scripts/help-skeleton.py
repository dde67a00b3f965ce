#!/usr/bin/env python3
"""Prints registry entries (stdlib/fp/help_registry.lua syntax) for the public functions that
the registry lacks, filled from the docs' tables (docs/lua-api.md, docs/models.md: first column
the fp call, second the PyTorch/TransformerLens line, third the notes) and from the comment above
each stdlib function. Review and paste them into the registry; Tests/lua/test_help.lua fails
while a public function has no entry.
Usage: scripts/help-skeleton.py [path/to/fp]"""
import re
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
fp = sys.argv[1] if len(sys.argv) > 1 else str(root / ".build/release/fp")
lua = ("local h = require 'fp.help'; local ok, reg = pcall(require, 'fp.help_registry'); "
       "for _, n in ipairs(h.public_names()) do if not (ok and reg[n]) then print(n) end end")
missing = subprocess.run([fp, "run", "-e", lua], capture_output=True, text=True, check=True).stdout.split()

def unquote(s):
    return s.replace("`", "").strip()

rows = []
for doc in ["docs/lua-api.md", "docs/models.md"]:
    section = ""
    for line in (root / doc).read_text().splitlines():
        if line.startswith("#"):
            section = line.lstrip("# ").strip()
        if line.startswith("| `"):
            cols = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if len(cols) >= 2:
                cols = cols + [""] * (3 - len(cols))
                if not cols[2] and cols[1] and cols[1] != "—":
                    cols[2] = f"{section}: as {unquote(cols[1])}"
                rows.append(cols)


RECEIVERS = {"Tensor": r"(?:\b[tmxASv]|idx|\))", "Model": r"model", "ActivationCache": r"cache", "Figure": r"fig"}

def from_docs(name):
    if ":" in name:
        cls, meth = name.split(":")
        pat = re.compile(RECEIVERS.get(cls, cls) + r"[:.]" + re.escape(meth) + r"\b")
    else:
        short = re.sub(r"^fp\.(patching|plot|das|edits|json|csv|datasets|optim|nn|attribution|cache|utils|files|args|results|testing|progress|display)\.", r"\1.", name)
        pat = re.compile(r"(?<![\w.])" + re.escape(short) + r"\b" if short != name else re.escape(name) + r"\b")
    found = [cols for cols in rows if pat.search(cols[0])]
    # rows that start with the call describe it; others only use it
    found.sort(key=lambda cols: 0 if pat.match(unquote(cols[0])) else 1)
    return (unquote(found[0][0]), unquote(found[0][1]), unquote(found[0][2])) if found else None

# where a class's Lua-written methods are defined: file, pattern before the method name
CLASS_SOURCES = {"ActivationCache": ("cache", r"function methods[:.]"), "Figure": ("plot", r"function Figure[:.]"),
                 "Model": ("extensions", r"function Model[:.]"), "Tensor": ("extensions", r"function fp\.Tensor[:.]")}

def from_stdlib(name):
    m = re.match(r"^fp\.(\w+)\.(\w+)$", name)
    c = re.match(r"^(\w+):(\w+)$", name)
    if m:
        path, prefix, fn, shown = root / "stdlib/fp" / (m.group(1) + ".lua"), r"function M\.", m.group(2), m.group(1) + "."
    elif c and c.group(1) in CLASS_SOURCES:
        f, prefix = CLASS_SOURCES[c.group(1)]
        path, fn, shown = root / "stdlib/fp" / (f + ".lua"), c.group(2), c.group(1) + ":"
    else:
        return None
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    for i, l in enumerate(lines):
        fm = re.match(r"^" + prefix + r"(\w+)\((.*)\)", l)
        if fm and fm.group(1) == fn:
            comment = []
            j = i - 1
            while j >= 0 and lines[j].startswith("--"):
                comment.insert(0, lines[j].lstrip("- ").strip())
                j -= 1
            text = " ".join(comment)
            first = re.split(r"(?<=[.;])\s", text, maxsplit=1)[0] if text else ""
            return f"{shown}{fn}({fm.group(2)})", first, ""
    return None

def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

for name in missing:
    d = from_docs(name)
    s = from_stdlib(name)
    sig, torch, doc = (d[0], d[1], d[2]) if d else (s[0] if s else name + "(...)", "", "")
    if s and not doc:
        doc = s[1]
    print(f"  [{q(name)}] = {{ sig = {q(sig)}, doc = {q(doc)}, torch = {q(torch)} }},")
