-- fp side of scripts/bench/scale: one model folder, every task, one JSON line per measurement.
--   fp run scripts/bench/scale.lua MODEL_DIR IDS_JSON LABEL
-- IDS_JSON (written by scale_peers.py ids): forward batches, the IOI-style clean/corrupt pair,
-- the two answer ids, the DAS base/source/target and the starting Householder vector.
-- Timing: one warm-up, then the median of RUNS (default 3) runs; sweeps run once if the warm-up
-- took longer than SINGLE_IF_OVER seconds (default 60) -- the peers' timing rule.
local json = require "fp.json"
local patching = require "fp.patching"
local das = require "fp.das"

local dir, ids_path, label = arg[1], arg[2], arg[3] or arg[1]
assert(dir and ids_path, "usage: fp run scripts/bench/scale.lua MODEL_DIR IDS_JSON [LABEL]")
local runs = tonumber(os.getenv("RUNS") or "3")
-- FP_TASKS (the bench passes TASKS): which measurements after the load (default all)
local tasks = {}
local wanted = os.getenv("FP_TASKS") or ""
if wanted == "" then wanted = "fwd_1x64 fwd_8x128 sweep_resid_pre sweep_head das_step" end
for t in wanted:gmatch("%S+") do tasks[t] = true end
local single_if_over = tonumber(os.getenv("SINGLE_IF_OVER") or "60")
local f = assert(io.open(ids_path))
local ids = json.decode(f:read("a"))
f:close()

local function status_mb(field)
  local s = assert(io.open("/proc/self/status"))
  for line in s:lines() do
    local kb = line:match("^" .. field .. ":%s+(%d+)")
    if kb then s:close() return tonumber(kb) / 1024 end
  end
  s:close()
end
local function emit(t)
  t.tool, t.model, t.threads = "fp", label, fp.config().threads
  t.peak_rss_mb, t.rss_mb = status_mb("VmHWM"), status_mb("VmRSS")
  print(json.encode(t))
  io.stdout:flush()
end
local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end
-- seconds (wall), result, runs, CPU seconds (all threads; on a loaded machine the fairer figure)
local function timeit(fn, limit)
  local t0, c0 = fp.time(), os.clock()
  local out = fn()
  local first, first_cpu = fp.time() - t0, os.clock() - c0
  if first > (limit or math.huge) or runs <= 0 then return first, out, 1, first_cpu end
  local times, cpus = {}, {}
  for i = 1, runs do
    t0, c0 = fp.time(), os.clock()
    out = fn()
    times[i], cpus[i] = fp.time() - t0, os.clock() - c0
  end
  return median(times), out, runs, median(cpus)
end

local t0, c0 = fp.time(), os.clock()
local model = fp.load_model(dir)
emit({ task = "load", seconds = fp.time() - t0, cpu_seconds = os.clock() - c0, n_params = model.cfg.n_params })

for _, name in ipairs({ "fwd_1x64", "fwd_8x128" }) do
  if not tasks[name] then goto next_forward end
  local toks = fp.tensor(ids[name], "int")
  -- logits at the last position only, in every tool (HF: logits_to_keep=1): full logits of
  -- 8 x 128 x 128k-256k floats (0.5-1 GB) would measure the output buffer, not the model
  local secs, logits, _, cpu = timeit(function() return model:forward(toks, { positions = { -1 } }) end)
  -- checksum: the last position's logits of the first row (the peers print the same)
  local last = logits:select(0, 0):select(0, -1)
  emit({ task = name, seconds = secs, cpu_seconds = cpu, check = last:sum(), check_abs = last:abs():sum() })
  logits = nil
  collectgarbage()
  ::next_forward::
end

-- IOI-style sweeps: normalized logit difference john - mary, 0 = corrupted, 1 = clean
local clean, corrupt = fp.tensor({ ids.clean }, "int"), fp.tensor({ ids.corrupt }, "int")
local function diff(l) return l[{ 0, -1, ids.john }] - l[{ 0, -1, ids.mary }] end
local function sweep(kind)
  local point = kind == "resid" and "hook_resid_pre" or "attn.hook_z"
  local clean_logits, cache = model:run_with_cache(clean, { names_filter = function(n) return n:sub(-#point) == point end })
  local cd, kd = diff(clean_logits), diff(model:forward(corrupt))
  local function metric(l) return (diff(l) - kd) / (cd - kd) end
  local fn = kind == "resid" and patching.resid_pre or patching.attn_head_out_all_pos
  return fn(model, corrupt, cache, metric, { positions = { -1 }, progress = false })
end
for _, kind in ipairs({ "resid", "attn_head" }) do
  if not tasks[kind == "resid" and "sweep_resid_pre" or "sweep_head"] then goto next_sweep end
  local secs, r, n, cpu = timeit(function() return sweep(kind) end, single_if_over)
  emit({ task = kind == "resid" and "sweep_resid_pre" or "sweep_head", seconds = secs, cpu_seconds = cpu, n = n,
         cells = r.shape[1] * r.shape[2], check = r:sum(), shape = r.shape })
  collectgarbage()
  ::next_sweep::
end
if not tasks.das_step then return end

-- DAS: 1-D Householder subspace at blocks.L.hook_resid_pre, interchange at base_pos, Adam
local hook = "blocks." .. ids.das_layer .. ".hook_resid_pre"
local base, source = fp.tensor({ ids.das_base }, "int"), fp.tensor({ ids.das_source }, "int")
local param = fp.nn.orthogonal(model.cfg.d_model, 1)
local v0 = fp.tensor({ ids.v0 })
-- the source activation is computed once, outside the timing, as the peers do
local src = das.source_activation(model, source, hook, ids.das_source_pos)
for _, variant in ipairs({ { "das_step", false }, { "das_step_reuse_prefix", true } }) do
  local function train(steps)
    param.vectors:detach():copy_(v0)
    return das.train(model, { base = base, source_activation = src, hook = hook, base_pos = ids.das_base_pos,
      target = ids.das_target, steps = steps, lr = 0.1, param = param,
      reuse_prefix = variant[2] })
  end
  train(1)   -- warm-up
  local steps = tonumber(os.getenv("DAS_STEPS") or "3")
  local s, c = fp.time(), os.clock()
  local run = train(steps)
  emit({ task = variant[1], seconds = (fp.time() - s) / steps, cpu_seconds = (os.clock() - c) / steps, first_loss = run.losses[1] })
end
