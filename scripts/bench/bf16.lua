-- bf16 mode against float32 on one model, in one process (same weights, same ids):
--   fp run scripts/bench/bf16.lua MODEL [TOKENIZER] [RUNS]
-- MODEL: a name or path for fp.load_model; TOKENIZER: load_model's `tokenizer` option for a
-- folder without one (e.g. ~/.cache/fp/models/gpt2.tiktoken for /tmp/fp-bench/gpt2-random).
-- Tasks: forward 1x16, 8x64 and 1x512 on seeded random ids, and the IOI patching sweeps
-- (resid_pre [layer, pos] and attn_head_out_all_pos [layer, head], normalized logit diff,
-- positions {-1}) on the peers' prompts. Per task and dtype: the median seconds (BENCH_CLOCK=cpu:
-- process CPU time), and for bf16 the deviation from float32: max |delta logit| (forward) or max
-- |delta| of the normalized patching matrix (sweeps). One JSON line per task.
local json = require "fp.json"
local patching = require "fp.patching"
local name, tokenizer, runs = arg[1], arg[2], tonumber(arg[3] or "5")
assert(name, "usage: fp run scripts/bench/bf16.lua MODEL [TOKENIZER] [RUNS]")
if tokenizer == "" then tokenizer = nil end
local clock = os.getenv("BENCH_CLOCK") == "cpu" and os.clock or fp.time

local models = {}
for _, dtype in ipairs({ "float32", "bf16" }) do
  local t0 = clock()
  models[dtype] = fp.load_model(name, { dtype = dtype, tokenizer = tokenizer })
  models[dtype .. "_load"] = clock() - t0
end
local cfg = models.float32.cfg

local function median(xs) table.sort(xs); return xs[(#xs + 1) // 2] end
local function timed(f)
  local out = f()   -- warm-up (reorders the weights on the first bf16 call)
  local ts = {}
  for i = 1, runs do local s = clock(); out = f(); ts[i] = clock() - s end
  return median(ts), out
end

fp.seed(0)
local tasks = {}
for _, bp in ipairs({ { 1, 16 }, { 8, 64 }, { 1, 512 } }) do
  local b, p = bp[1], math.min(bp[2], cfg.n_ctx)
  tasks[#tasks + 1] = { "fwd" .. b .. "x" .. p, fp.randint(0, cfg.d_vocab, { b, p }) }
end
for _, t in ipairs(tasks) do
  local row = { task = t[1], model = name }
  local ref
  for _, dtype in ipairs({ "float32", "bf16" }) do
    local s, logits = timed(function() return models[dtype]:forward(t[2]) end)
    row[dtype .. "_s"] = s
    if dtype == "float32" then ref = logits
    else row.max_abs_dlogit = fp.item((logits - ref):abs():max()); row.logit_absmax = fp.item(ref:abs():max()) end
  end
  row.speedup = row.float32_s / row.bf16_s
  print(json.encode(row))
end

local clean = models.float32:to_tokens("After John and Mary went to the store, Mary gave a bottle of milk to", { prepend_bos = false })
local corrupt = models.float32:to_tokens("After John and Mary went to the store, John gave a bottle of milk to", { prepend_bos = false })
local john, mary = models.float32:to_single_token(" John"), models.float32:to_single_token(" Mary")
local function diff(l) return l[{ 0, -1, john }] - l[{ 0, -1, mary }] end
local function sweep(model, kind)
  local point = kind == "resid" and "hook_resid_pre" or "attn.hook_z"
  local cl, cache = model:run_with_cache(clean, { names_filter = function(n) return n:sub(-#point) == point end })
  local cd, kd = diff(cl), diff(model:forward(corrupt))
  local metric = function(l) return (diff(l) - kd) / (cd - kd) end
  if kind == "resid" then return patching.resid_pre(model, corrupt, cache, metric, { positions = { -1 } }) end
  return patching.attn_head_out_all_pos(model, corrupt, cache, metric, { positions = { -1 } })
end
for _, kind in ipairs({ "resid", "attn_head" }) do
  local row = { task = kind .. "_sweep", model = name }
  local ref
  for _, dtype in ipairs({ "float32", "bf16" }) do
    local s, r = timed(function() return sweep(models[dtype], kind) end)
    row[dtype .. "_s"] = s
    if dtype == "float32" then ref = r else row.max_abs_dpatch = fp.item((r - ref):abs():max()) end
  end
  row.speedup = row.float32_s / row.bf16_s
  print(json.encode(row))
end
print(json.encode({ task = "load", model = name, float32_s = models.float32_load, bf16_s = models.bf16_load,
                    weight_pack_bytes = fp.config().weight_pack_bytes, gemm = fp.config().gemm }))
