-- fp's IOI activation-patching sweeps, timed the way the peers' benchmarks time theirs
-- (/work/shared/peers: bench_tl.py, bench_nnsight.py), on token ids the peers' HF tokenizer wrote:
--   fp run scripts/bench/patching.lua MODEL IDS_JSON [MODEL_LABEL] [TASKS]
-- MODEL: a name or path for fp.load_model; IDS_JSON: {"clean": [...], "corrupt": [...], "john": id,
-- "mary": id} (written by scripts/bench/patching_peers.py ids); TASKS: comma list of resid,attn_head.
--
-- Measured, like the peers' `seconds` ("sweeps include the clean and corrupted reference runs"):
-- the clean run_with_cache, the corrupted forward, then
--   resid     patching.resid_pre(model, corrupted, clean_cache, metric, {positions = {-1}})  [layer, pos]
--   attn_head patching.attn_head_out_all_pos(... same ...)                                  [layer, head]
-- with metric = normalized logit diff (" John" - " Mary"), 0 = corrupted, 1 = clean.
-- Timing rule = the peers' timeit_sweep: one run; if it took more than 20 s (PEERS_SINGLE_IF_OVER)
-- report it, otherwise it was the warm-up and the median of 3 more runs is reported.
-- One JSON line per measurement: tool, model, task, seconds, n, times, result (sum of the
-- normalized matrix), wsum (layer-weighted sum, sum_L (L+1) * sum_j r[L, j]), shape, threads.
local json = require "fp.json"
local patching = require "fp.patching"

local model_name, ids_path, label, tasks_arg = arg[1], arg[2], arg[3], arg[4]
assert(model_name and ids_path, "usage: fp run scripts/bench/patching.lua MODEL IDS_JSON [LABEL] [TASKS]")
label = label or model_name
local tasks = {}
for t in (tasks_arg or "resid,attn_head"):gmatch("[^,]+") do tasks[#tasks + 1] = t end
local single_if_over = tonumber(os.getenv("PEERS_SINGLE_IF_OVER") or "20")
local n_timed = tonumber(os.getenv("SWEEP_RUNS") or "3")

local f = assert(io.open(ids_path))
local ids = json.decode(f:read("a"))
f:close()

local function peak_rss_mb()
  local s = io.open("/proc/self/status")
  if not s then return nil end
  for line in s:lines() do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then s:close() return tonumber(kb) / 1024 end
  end
  s:close()
end

local function load1()
  local s = io.open("/proc/loadavg")
  if not s then return nil end
  local v = tonumber(s:read("l"):match("^(%S+)"))
  s:close()
  return v
end

local t0 = fp.time()
local model = fp.load_model(model_name)
local load_s = fp.time() - t0
local clean = fp.tensor({ ids.clean }, "int")
local corrupt = fp.tensor({ ids.corrupt }, "int")
local john, mary = ids.john, ids.mary

-- fp's own tokenizer must give the same ids (no BOS), or the comparison is not like for like
local function same_ids(text, want)
  local ok, toks = pcall(function() return model:to_tokens(text, { prepend_bos = false }) end)
  if not ok or toks.shape[2] ~= #want then return false end
  for i = 1, #want do if toks[{ 0, i - 1 }] ~= want[i] then return false end end
  return true
end
local tok_ok = same_ids(ids.clean_text, ids.clean) and same_ids(ids.corrupt_text, ids.corrupt)
  and model:to_single_token(" John") == john and model:to_single_token(" Mary") == mary
print(json.encode({ tool = "fp", model = label, task = "load", seconds = load_s, threads = fp.config().threads,
  n_layers = model.cfg.n_layers, n_heads = model.cfg.n_heads, n_params = model.cfg.n_params,
  fp_tokenizer_matches_ids = tok_ok, blas_core = fp.config().blas_core }))

local function diff(logits) return logits[{ 0, -1, john }] - logits[{ 0, -1, mary }] end

local function filter_for(suffix)
  return function(name) return name:sub(-#suffix) == suffix end
end

-- one full sweep: clean cache + corrupted reference + the patching sweep
local function sweep(kind)
  local point = kind == "resid" and "hook_resid_pre" or "attn.hook_z"
  local clean_logits, cache = model:run_with_cache(clean, { names_filter = filter_for(point) })
  local corrupt_logits = model:forward(corrupt)
  local cd, kd = diff(clean_logits), diff(corrupt_logits)
  local function metric(logits) return (diff(logits) - kd) / (cd - kd) end
  local fn = kind == "resid" and patching.resid_pre or patching.attn_head_out_all_pos
  return fn(model, corrupt, cache, metric, { positions = { -1 }, progress = false })
end

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

local function timeit_sweep(fn)
  local s = fp.time()
  local out = fn()
  local first = fp.time() - s
  if first > single_if_over or n_timed <= 0 then return first, { first }, out, 1 end
  local times = {}
  for i = 1, n_timed do
    s = fp.time()
    out = fn()
    times[i] = fp.time() - s
  end
  return median(times), times, out, n_timed
end

local task_name = { resid = "patch_resid_pre", attn_head = "patch_attn_head_all_pos" }
for _, kind in ipairs(tasks) do
  assert(task_name[kind], "unknown task " .. kind .. " (resid, attn_head)")
  local secs, times, r, n = timeit_sweep(function() return sweep(kind) end)
  local rows, cols = r.shape[1], r.shape[2]
  local total, wsum = 0.0, 0.0
  for L = 0, rows - 1 do
    local row = 0.0
    for j = 0, cols - 1 do row = row + r[{ L, j }] end
    total, wsum = total + row, wsum + (L + 1) * row
  end
  print(json.encode({ tool = "fp", model = label, task = task_name[kind], seconds = secs, n = n, times = times,
    result = total, wsum = wsum, shape = { rows, cols }, threads = fp.config().threads,
    peak_rss_mb = peak_rss_mb(), load1 = load1() }))
end
