-- fp's forward pass on the folder and ids that scripts/bench/dense_hf.py uses:
--   fp run scripts/bench/dense.lua FOLDER [RUNS] [LABEL]
-- BENCH_DTYPE=bf16 loads the model with { dtype = "bf16" }.
-- Prints one JSON line per task (tool "fp" or "fp-LABEL", task, seconds = median after a
-- warm-up, shape, result = sum of log p(next token)), the same fields as the Python side, then a
-- "load" line: load_model's seconds and the process's peak RSS after every task (VmHWM, MiB).
local json = require "fp.json"
local folder, runs, label = arg[1], tonumber(arg[2] or "5"), arg[3]
assert(folder, "usage: fp run scripts/bench/dense.lua FOLDER [RUNS] [LABEL]")
local f = assert(io.open(folder .. "/dense_inputs.json"))
local inputs = json.decode(f:read("a"))
f:close()
-- BENCH_CLOCK=cpu: process CPU time (os.clock; one thread on a busy host), else wall-clock time
local clock = os.getenv("BENCH_CLOCK") == "cpu" and os.clock or fp.time
local load_start = clock()
local model = fp.load_model(folder, { dtype = os.getenv("BENCH_DTYPE") or "float32" })
local load_seconds = clock() - load_start
local min_seconds = tonumber(os.getenv("BENCH_MIN_SECONDS") or "1")

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end

for _, task in ipairs({ "fwd1x16", "fwd8x64", "fwd1x512" }) do
  local toks = fp.tensor(inputs[task], "int")
  local logits
  for _ = 1, 2 do logits = model:forward(toks) end   -- the first also calibrates new GEMM shapes (auto)
  -- at least `runs` samples and a second of them (short tasks are noisy on a shared host)
  local times, total = {}, 0
  while #times < runs or (total < min_seconds and #times < 200) do
    local s = clock()
    logits = model:forward(toks)
    times[#times + 1] = clock() - s
    total = total + times[#times]
  end
  local P = toks.shape[2]
  local lp = logits[{ {}, { 0, P - 1 } }]:log_softmax(-1)
  local result = lp:gather(2, toks[{ {}, { 1, P } }]:unsqueeze(2)):sum()
  print(json.encode({ tool = label and ("fp-" .. label) or "fp", task = task, seconds = median(times),
                      n = #times, shape = toks.shape, threads = fp.config().threads, result = result }))
end
-- the peak resident set of the whole process (Linux's VmHWM), as Python's ru_maxrss on the HF side
local status = assert(io.open("/proc/self/status"))
local peak_kb = tonumber(status:read("a"):match("VmHWM:%s+(%d+)"))
status:close()
print(json.encode({ tool = label and ("fp-" .. label) or "fp", task = "load", seconds = load_seconds,
                    peak_rss_mb = peak_kb / 1024, threads = fp.config().threads }))
