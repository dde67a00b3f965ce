-- fp's side of scripts/bench/patching_memory: peak RSS of one activation-patching sweep on the 8
-- IOI prompts of TransformerLens's main demo, run as the demo runs it (a full run_with_cache of
-- the clean prompts, then the sweep with default options):
--   fp run scripts/bench/patching_memory.lua MODEL IDS_JSON KIND [LABEL]
-- IDS_JSON: written by patching_memory_tl.py ids ({"clean": [[...] x8], "corrupt": ..., "answers":
-- [[right, wrong] x8]}). KIND: a fp.patching sweep (resid_pre, attn_out, ..., block_every).
-- Prints one JSON line: rss_loaded_mb (after loading), peak_rss_mb (VmHWM, reset after loading:
-- the peak of the clean cache and the sweep), seconds, result (sum of the patching result).
-- MAX_CELLS=N (environment): stop the sweep after its first N cells (the metric raises), for the
-- kinds with thousands of cells; a sweep's memory is per pass, so the peak is reached in its first
-- passes. The line then has "cells" (how many ran) and no result. An `_every` kind runs each of
-- its parts capped at N (see EVERY_PARTS).
local json = require "fp.json"
local patching = require "fp.patching"

local model_name, ids_path, kind, label = arg[1], arg[2], arg[3], arg[4]
assert(model_name and ids_path and kind, "usage: fp run scripts/bench/patching_memory.lua MODEL IDS_JSON KIND [LABEL]")
assert(type(patching[kind]) == "function", "unknown sweep kind " .. tostring(kind))

local function status_mb(field)
  local s = assert(io.open("/proc/self/status"))
  for line in s:lines() do
    local kb = line:match("^" .. field .. ":%s+(%d+)")
    if kb then s:close() return tonumber(kb) / 1024 end
  end
  s:close()
end

local f = assert(io.open(ids_path))
local spec = json.decode(f:read("a"))
f:close()

local model = fp.load_model(model_name)
local clean = fp.tensor(spec.clean, "int")
local corrupt = fp.tensor(spec.corrupt, "int")

local function diff(logits)
  local total = 0
  for i, a in ipairs(spec.answers) do
    total = total + logits[{ i - 1, -1, a[1] }] - logits[{ i - 1, -1, a[2] }]
  end
  return total / #spec.answers
end

collectgarbage()
local rss_loaded = status_mb("VmRSS")
do -- reset VmHWM to the current RSS (Linux), so the peak is the sweep's
  local c = io.open("/proc/self/clear_refs", "w")
  if c then c:write("5"); c:close() end
end
local t0 = fp.time()
local clean_logits, cache = model:run_with_cache(clean)
local cd, kd = diff(clean_logits), diff(model:forward(corrupt))
clean_logits = nil
local max_cells = tonumber(os.getenv("MAX_CELLS") or "")
local cells, STOP = 0, {}
local function metric(logits)
  cells = cells + 1
  if max_cells and cells > max_cells then error(STOP) end
  return (diff(logits) - kd) / (cd - kd)
end
-- With MAX_CELLS, an `_every` stack runs its parts one after another in this process, each
-- stopped after MAX_CELLS cells (as TL_MAX_CELLS caps each get_act_patch_* call TransformerLens's
-- _every makes); the stacked result itself is a few hundred floats.
local EVERY_PARTS = {
  block_every = { "resid_pre", "attn_out", "mlp_out" },
  attn_head_all_pos_every = { "attn_head_out_all_pos", "attn_head_q_all_pos", "attn_head_k_all_pos",
                              "attn_head_v_all_pos", "attn_head_pattern_all_pos" },
  attn_head_by_pos_every = { "attn_head_out_by_pos", "attn_head_q_by_pos", "attn_head_k_by_pos",
                             "attn_head_v_by_pos", "attn_head_pattern_by_pos" },
}
local ok, r, total
if max_cells and EVERY_PARTS[kind] then
  total, ok = 0, false
  for _, part in ipairs(EVERY_PARTS[kind]) do
    cells = 0
    local done, err = pcall(patching[part], model, corrupt, cache, metric, { progress = false })
    if not done and err ~= STOP then error(err, 0) end
    total = total + (done and cells or max_cells)
  end
else
  ok, r = pcall(patching[kind], model, corrupt, cache, metric, { progress = false })
  if not ok and r ~= STOP then error(r, 0) end
  total = ok and cells or max_cells
end
local seconds = fp.time() - t0
local line = { tool = "fp", model = label or model_name, kind = kind, seconds = seconds,
  rss_loaded_mb = rss_loaded, peak_rss_mb = status_mb("VmHWM"), cells = total }
if ok then
  line.result = r:sum()
  line.shape = {}
  for i, n in ipairs(r.shape) do line.shape[i] = n end
end
print(json.encode(line))
