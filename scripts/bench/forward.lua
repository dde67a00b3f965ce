-- fp's forward pass on the weights and ids that scripts/bench/forward_hf.py wrote:
--   fp run scripts/bench/forward.lua FOLDER [RUNS]
-- Prints one JSON line per task like the Python side: tool, task, seconds (median after a
-- warm-up), n, shape, threads, result (sum of log p(next token), the cross-check).
local json = require "fp.json"
local folder, runs = arg[1], tonumber(arg[2] or "20")
assert(folder, "usage: fp run scripts/bench/forward.lua FOLDER [RUNS]")
local f = assert(io.open(folder .. "/inputs.json"))
local inputs = json.decode(f:read("a"))
f:close()

local t0 = fp.time()
local model = fp.load_model(folder)
local load_s = fp.time() - t0

local function sum_logprob(logits, tokens)
  local P = tokens.shape[2]
  local lp = logits[{ {}, { 0, P - 1 } }]:log_softmax(-1)
  return lp:gather(2, tokens[{ {}, { 1, P } }]:unsqueeze(2)):sum()
end

local function median(xs)
  table.sort(xs)
  local n = #xs
  return n % 2 == 1 and xs[(n + 1) // 2] or (xs[n // 2] + xs[n // 2 + 1]) / 2
end

print(json.encode({ tool = "fp", task = "load", seconds = load_s, n = 1, threads = fp.config().threads }))
for _, task in ipairs({ "fwd1x16", "fwd8x64" }) do
  local toks = fp.tensor(inputs[task], "int")
  local n = task == "fwd1x16" and runs or math.max(3, runs // 2)
  local logits
  for _ = 1, 3 do logits = model:forward(toks) end
  local times = {}
  for i = 1, n do
    local s = fp.time()
    logits = model:forward(toks)
    times[i] = fp.time() - s
  end
  print(json.encode({ tool = "fp", task = task, seconds = median(times), n = n, shape = toks.shape,
                      threads = fp.config().threads, result = sum_logprob(logits, toks) }))
end
