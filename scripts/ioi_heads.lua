-- IOI head patching over a generated IOI dataset, built for job arrays (docs/cluster.md):
-- for each prompt, how much of the clean logit difference (IO - S) comes back when one head's
-- clean output is patched into the run where S2 is replaced by the IO name (nnsight's
-- corruption), normalized so that 0 is the corrupted run and 1 the clean run.
--
--   fp run scripts/ioi_heads.lua [--model smollm2-135m] [--out out/ioi_heads] [--n 100] [--quick]
--   fp run --shard 2/4 scripts/ioi_heads.lua --out DIR ...     one shard of four; then fp merge DIR
--   fp run scripts/ioi_heads.lua --out DIR --report            the mean over prompts, after a merge
--
-- Each prompt is one item (key ioi-NNNNN, cost = its token count); its result is saved under
-- --out/shard-I-of-N/items/ as soon as it is done, so a rerun skips finished prompts. An
-- unsharded run ends with the merge itself: --out/results.json (every prompt's [layer, head]
-- effects, clean and corrupted logit differences) and --out/results.npz (effects: [prompt, layer, head]).
-- The loop over prompts is fp.patching.dataset (stdlib/fp/dataset_patching.lua).
local args = require "fp.args"
local patching = require "fp.patching"
local datasets = require "fp.datasets"
local utils = require "fp.utils"
local json = require "fp.json"

local opts = args.parse(arg, {
  model = "smollm2-135m",
  out = "out/ioi_heads",
  quick = false,
  n = { 100, "generated IOI prompts (quick: at most 8)" },
  seed = { 0, "dataset seed" },
  top = { 8, "how many heads the report lists" },
  report = { false, "print the mean effects of --out/results.json (after fp merge) and exit" },
}, { description = "IOI head patching over a generated IOI dataset, one prompt per item (shardable)." })

-- The report: mean effect of each head over the prompts, from a merged results.json.
local function report()
  local f = io.open(opts.out .. "/results.json", "rb")
  if not f then error("ioi_heads.lua: no " .. opts.out .. "/results.json (run fp merge " .. opts.out .. " first)", 0) end
  local merged = json.decode(f:read("a"))
  f:close()
  if #merged.items == 0 then print("no prompts") return nil end
  -- the effects from results.npz: exact floats, NaN included (JSON writes NaN as null)
  local effects = fp.load_tensors(opts.out .. "/results.npz").effects
  local mean = effects:mean(0)
  local k = math.min(opts.top, mean:numel())
  local vals, where = utils.topk_nd(mean, k)
  local tops = {}
  for i, w in ipairs(where) do tops[i] = string.format("L%dH%d %.3f", w[1], w[2], vals[i - 1]) end
  print(string.format("%d prompts, model %s: top heads by mean effect: %s", #merged.items, merged.run.model, table.concat(tops, ", ")))
  return mean
end
if opts.report then return report() end

local t_start = fp.time()
local model = fp.load_model(opts.model)
local n = opts.quick and math.min(opts.n, 8) or opts.n
local items = datasets.ioi(model, { n = n, seed = opts.seed })

local pairs_of = function(it)
  return { clean = it.text, corrupted = it.flipped, answer = it.io_token, wrong = it.s_token, tokens = it.pos.last + 1,
           io = it.io, s = it.s, order = it.order, template = it.template }
end
local merged, run = patching.dataset(model, items, "attn_head_out_all_pos", {
  out = opts.out, model = opts.model, settings = { n = n, seed = opts.seed },
  pair = pairs_of,
  key = function(_, i) return string.format("ioi-%05d", i - 1) end,
  cost = function(p) return p.tokens end,
  extra = function(p) return { text = p.clean, io = p.io, s = p.s, order = p.order, template = p.template } end,
})
print(string.format("shard %d of %d: %d prompts computed in %.1fs%s", run.index, run.count, run.done,
  fp.time() - t_start, merged and ("; wrote " .. opts.out .. "/results.json") or ""))
if merged then report() end
return merged
