#!/usr/bin/env bash
# The text corpus for SAE training (fp.sae.read_corpus): the reStructuredText sources of the
# Python 3.11 documentation that Debian's python3.11-doc package ships, installed by package
# name, concatenated in sorted path order into one file with a form feed line between documents.
# Idempotent: does nothing when the file exists. Usage: scripts/fetch-corpus.sh
set -euo pipefail
out="${FP_CORPUS_DIR:-$HOME/.cache/fp/corpus}/python3.11-doc.txt"
[ -s "$out" ] && exit 0
src=/usr/share/doc/python3.11/html/_sources
if [ ! -d "$src" ]; then
  echo "fetch-corpus: installing python3.11-doc"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3.11-doc >/dev/null
fi
[ -d "$src" ] || { echo "fetch-corpus: $src missing after installing python3.11-doc"; exit 1; }
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
find "$src" -name '*.rst.txt' | LC_ALL=C sort | while read -r f; do
  cat "$f"; printf '\n\f\n'
done >"$tmp"
mv "$tmp" "$out"
echo "fetch-corpus: wrote $out ($(wc -c <"$out") bytes)"
