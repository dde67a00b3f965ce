#!/usr/bin/env bash
# Fuzzes fp's file parsers with libFuzzer (swiftc -sanitize=fuzzer,address): safetensors,
# Hugging Face folders, GGUF, llama2.c checkpoints and tokenizers, config.json, tokenizer.json,
# vocab.json + merges.txt, tiktoken, .npy, .npz and inflate. The harness (Tests/Fuzz) calls
# the real parsing code, compiled from Sources/FPTensor and Sources/FPModels with coverage and
# AddressSanitizer into one binary; the normal `swift build` is not involved.
# The lua_* targets fuzz the Lua API (Tests/Fuzz/lua: generated calls of every public function
# of one group: lua_tensor, lua_linalg, lua_model, lua_stdlib), in a second binary that adds
# Sources/FPLua and the C shim.
#
# Usage: scripts/fuzz.sh [seconds-per-target] [target ...]
#   default: 60 seconds for every target. Findings (crash-*, oom-*, timeout-*, leak-*) go
#   to .build/fuzz/findings/TARGET/; the corpus grows in .build/fuzz/corpus/TARGET/.
# Environment: FUZZ_MALLOC_MB (default 256; 512 for lua_*): a single allocation above it counts
#   as a finding (the seeds are a few KB, so a larger allocation means a lying header was
#   believed; the Lua targets run with a 256 MB tensor limit, so a larger malloc is a buffer
#   that escaped the limit).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-60}
shift || true
all_targets=(safetensors hf_folder gguf gguf_model llama2c llama2c_tokenizer config_json
             tokenizer_json vocab_merges tiktoken npy npz inflate torch_checkpoint pickle
             lua_tensor lua_linalg lua_model lua_stdlib)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

export PATH=/opt/swift/usr/bin:$PATH
B=$root/.build/fuzz
mkdir -p "$B/obj" "$B/no-models"
san=(-sanitize=fuzzer,address)
common=(-O -wmo -parse-as-library -enable-testing -swift-version 5 -I "$B/obj" "${san[@]}")

# CBLAS (a C header) as a Clang module for swiftc.
cat >"$B/obj/module.modulemap" <<EOF
module CBLAS {
  header "$root/Sources/CBLAS/include/CBLAS.h"
  link "openblas"
  export *
}
module CLua {
  header "$root/Sources/CLua/include/CLua.h"
  link "lua5.4"
  export *
}
module CSandbox {
  header "$root/Sources/CSandbox/include/CSandbox.h"
  export *
}
EOF

# Rebuilds a module only when one of its sources is newer than its object.
stale() { local obj=$1; shift; [ ! -f "$obj" ] || [ -n "$(find "$@" -newer "$obj" -print -quit)" ]; }

if stale "$B/obj/cpu.o" Sources/CBLAS; then
  echo "fuzz: compiling CBLAS"
  clang -O2 -c Sources/CBLAS/cpu.c -I Sources/CBLAS/include -o "$B/obj/cpu.o"
fi
# CSandbox (temporary-file cleanup, Landlock, seccomp): FPTensor and FPLua call it.
if stale "$B/obj/csandbox.o" Sources/CSandbox; then
  echo "fuzz: compiling CSandbox (instrumented)"
  for f in Sources/CSandbox/*.c; do
    clang -O1 -fsanitize=address,fuzzer-no-link -c "$f" -I Sources/CSandbox/include -o "$B/obj/csandbox-$(basename "$f" .c).o"
  done
  ld -r "$B"/obj/csandbox-*.o -o "$B/obj/csandbox.o"
fi
if stale "$B/obj/FPTensor.o" Sources/FPTensor; then
  echo "fuzz: compiling FPTensor (instrumented)"
  swiftc "${common[@]}" -module-name FPTensor -emit-module -emit-module-path "$B/obj/FPTensor.swiftmodule" \
    -c $(find Sources/FPTensor -name "*.swift" | sort) -o "$B/obj/FPTensor.o"
  rm -f "$B/obj/FPModels.o"
fi
if stale "$B/obj/FPModels.o" Sources/FPModels; then
  echo "fuzz: compiling FPModels (instrumented)"
  swiftc "${common[@]}" -module-name FPModels -emit-module -emit-module-path "$B/obj/FPModels.swiftmodule" \
    -c $(find Sources/FPModels -name "*.swift" | sort) -o "$B/obj/FPModels.o"
fi
if stale "$B/fp-fuzz" Tests/Fuzz "$B/obj/FPModels.o" "$B/obj/FPTensor.o"; then
  echo "fuzz: linking .build/fuzz/fp-fuzz"
  swiftc "${common[@]}" -module-name FPFuzz Tests/Fuzz/*.swift \
    "$B/obj/FPTensor.o" "$B/obj/FPModels.o" "$B/obj/cpu.o" "$B/obj/csandbox.o" \
    -lopenblas -lFoundationNetworking -o "$B/fp-fuzz" 2> >(grep -v "Cannot export local symbol" >&2)
fi

# The Lua API harness: FPLua and the C shim on top of the same modules.
if [[ " ${targets[*]} " == *" lua_"* ]]; then
  if stale "$B/obj/shim.o" Sources/CLua; then
    echo "fuzz: compiling the C shim, Lua allocator and sandbox wrappers (instrumented)"
    for f in Sources/CLua/*.c; do
      clang -O1 -fsanitize=address,fuzzer-no-link -c "$f" -I Sources/CLua/include $(pkg-config --cflags lua5.4) -o "$B/obj/clua-$(basename "$f" .c).o"
    done
    ld -r "$B"/obj/clua-*.o -o "$B/obj/shim.o"
  fi
  if stale "$B/obj/FPLua.o" Sources/FPLua "$B/obj/FPModels.o" "$B/obj/FPTensor.o"; then
    echo "fuzz: compiling FPLua (instrumented)"
    swiftc "${common[@]}" -module-name FPLua -emit-module -emit-module-path "$B/obj/FPLua.swiftmodule" \
      -c $(find Sources/FPLua -name "*.swift" | sort) -o "$B/obj/FPLua.o"
  fi
  if stale "$B/fp-fuzz-lua" Tests/Fuzz/lua "$B/obj/FPLua.o" "$B/obj/shim.o"; then
    echo "fuzz: linking .build/fuzz/fp-fuzz-lua"
    swiftc "${common[@]}" -module-name FPFuzzLua Tests/Fuzz/lua/FuzzLuaMain.swift \
      "$B/obj/FPTensor.o" "$B/obj/FPModels.o" "$B/obj/FPLua.o" "$B/obj/cpu.o" "$B/obj/shim.o" "$B/obj/csandbox.o" \
      -lopenblas -llua5.4 -lm -lFoundationNetworking -o "$B/fp-fuzz-lua" 2> >(grep -v "Cannot export local symbol" >&2)
  fi
fi

# Seeds: Tests/Fuzz/seeds/TARGET (written by Tests/Fuzz/make_seeds.py) plus the committed
# fixtures of each format and the regression files of Tests/fixtures/bad.
seeds=$B/seeds
rm -rf "$seeds"
seed() { local t=$1; shift; mkdir -p "$seeds/$t"; for f in "$@"; do [ -f "$f" ] && cp "$f" "$seeds/$t/$(echo "$f" | tr / _)"; done; return 0; }
for t in "${all_targets[@]}"; do seed "$t" Tests/Fuzz/seeds/"$t"/*; done
seed safetensors Tests/fixtures/io/*.safetensors Tests/fixtures/bad/*.safetensors
seed npy Tests/fixtures/io/*.npy Tests/fixtures/gguf/types.f16.npy Tests/fixtures/bad/*.npy
seed npz Tests/fixtures/io/*.npz Tests/fixtures/bad/*.npz
seed torch_checkpoint Tests/fixtures/saes/dl_*/ae.pt Tests/fixtures/bad/*.pt
# the pickles inside those checkpoints, for the unpickler alone
for f in "$seeds"/torch_checkpoint/*; do
  python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1]); n = [x for x in z.namelist() if x.endswith("data.pkl")]
n and open(sys.argv[2], "wb").write(z.read(n[0]))' "$f" "$seeds/pickle/$(basename "$f").pkl" 2>/dev/null || true
done
seed gguf Tests/fixtures/gguf/*.gguf Tests/Fuzz/seeds/gguf_model/* Tests/fixtures/bad/*.gguf
seed gguf_model Tests/fixtures/bad/*.gguf
seed llama2c Tests/fixtures/bad/*.bin
seed config_json Tests/fixtures/models/*/config.json Tests/fixtures/bad/*config*.json
# the Lua targets start from a few random choice strings (any bytes are a valid input)
for t in lua_tensor lua_linalg lua_model lua_stdlib; do
  mkdir -p "$seeds/$t"
  for i in 1 2 3 4; do head -c 1024 /dev/urandom > "$seeds/$t/random$i"; done
done

printf '%-18s %10s %10s %8s  %s\n' target execs exec/s findings status
summary=()
status=0
for t in "${targets[@]}"; do
  corpus=$B/corpus/$t findings=$B/findings/$t
  mkdir -p "$corpus" "$findings"
  log=$B/logs/$t.log
  mkdir -p "$B/logs"
  before=$(ls "$findings" | wc -l)
  # Integer boundaries (and JSON/text tokens for the text formats) as a mutation dictionary.
  dict=$B/$t.dict
  cat Tests/Fuzz/ints.dict > "$dict"
  case $t in
    safetensors|hf_folder|config_json|tokenizer_json|vocab_merges|tiktoken|npy|npz) cat Tests/Fuzz/text.dict >> "$dict" ;;
  esac
  set +e
  # FP_MODELS: an empty models folder, so that no input depends on (or spends its time
  # parsing) the user's downloaded models, e.g. gpt2.tiktoken for GPT-2 folders.
  if [[ $t == lua_* ]]; then
    bin=$B/fp-fuzz-lua malloc=${FUZZ_MALLOC_MB:-512} extra=(-max_len=4096)
  else
    bin=$B/fp-fuzz malloc=${FUZZ_MALLOC_MB:-256} extra=(-dict="$dict")
  fi
  FP_MODELS=$B/no-models SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=0 \
    FP_FUZZ_TARGET=$t FP_FUZZ_GROUP=${t#lua_} FP_ROOT=$root "$bin" "$corpus" "$seeds/$t" \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -malloc_limit_mb="$malloc" \
    "${extra[@]}" -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo 0)
  after=$(ls "$findings" | wc -l)
  new=$((after - before))
  state=ok
  if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then state="FINDING (see $log)"; status=1; fi
  printf '%-18s %10s %10s %8s  %s\n' "$t" "${execs:-0}" "${rate:-0}" "$new" "$state"
done
exit $status
