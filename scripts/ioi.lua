-- Indirect object identification by activation patching (nnsight's activation-patching
-- tutorial): how much of the clean " John" - " Mary" logit difference comes back when one
-- piece of the clean run is copied into the corrupted run.
--
--   fp run scripts/ioi.lua [--model smollm2-135m] [--out out/ioi] [--quick]
--
-- Writes into --out: resid_pre.svg/.html (layer x position heatmap), heads.svg/.html (layer x
-- head), top_heads.svg, results.json. Returns the results table (for tests that dofile it).
local experiment = require "fp.experiment"
local patching = require "fp.patching"
local datasets = require "fp.datasets"
local utils = require "fp.utils"

local exp = experiment.start(arg, {
  model = "smollm2-135m",
  out = "out/ioi",
  quick = false,
  clean = { "After John and Mary went to the store, Mary gave a bottle of milk to", "clean prompt" },
  corrupted = { "After John and Mary went to the store, John gave a bottle of milk to", "corrupted prompt" },
  answer = { " John", "the correct completion (indirect object)" },
  wrong = { " Mary", "the wrong completion (subject)" },
  top = { 5, "how many top heads to list" },
  n_prompts = { 24, "generated IOI prompts for the accuracy check (0: none; quick: 6)" },
}, { description = "IOI activation patching: residual stream (layer x position) and attention heads." })
local opts, plot, has_plot = exp.opts, exp.plot, exp.plot ~= nil

local model = exp.model
local L, H = model.cfg.n_layers, model.cfg.n_heads

-- Tokens, answer ids and the position where the two prompts differ.
local clean_toks = model:to_tokens(opts.clean)
local corrupted_toks = model:to_tokens(opts.corrupted)
if clean_toks.shape[2] ~= corrupted_toks.shape[2] then
  error("ioi.lua: the clean and corrupted prompts must have the same number of tokens")
end
local P = clean_toks.shape[2]
local answer, wrong = datasets.answer_token(model, opts.answer, "ioi.lua: --answer"), datasets.answer_token(model, opts.wrong, "ioi.lua: --wrong")
local labels = utils.position_labels(model, opts.clean)
local differ = {}
for p = 0, P - 1 do if clean_toks[{ 0, p }] ~= corrupted_toks[{ 0, p }] then differ[#differ + 1] = p end end

local function logit_diff(logits) return logits[{ 0, -1, answer }] - logits[{ 0, -1, wrong }] end

local function wanted(name)
  return name:find("hook_resid_pre", 1, true) ~= nil or name:find("attn.hook_z", 1, true) ~= nil
end
local clean_logits, clean_cache = model:run_with_cache(clean_toks, { names_filter = wanted })
local clean_diff = logit_diff(clean_logits)
local corrupted_diff = logit_diff(model:forward(corrupted_toks, { positions = { -1 } }))

-- 0 = the corrupted run's difference, 1 = the clean run's.
local function normalized(logits) return (logit_diff(logits) - corrupted_diff) / (clean_diff - corrupted_diff) end

local resid = exp:time("resid_pre", function()
  return patching.resid_pre(model, corrupted_toks, clean_cache, normalized, { positions = { -1 } })
end)
local heads = exp:time("heads", function()
  return patching.attn_head_out_all_pos(model, corrupted_toks, clean_cache, normalized, { positions = { -1 } })
end)

local k = math.min(opts.top, L * H)
local top_vals, top_where = utils.topk_nd(heads, k)
local neg_vals, neg_where = utils.topk_nd(heads, k, { largest = false })
local function head_list(vals, where)
  local out = {}
  for i, w in ipairs(where) do out[i] = { layer = w[1], head = w[2], name = "L" .. w[1] .. "H" .. w[2], value = vals[i - 1] } end
  return out
end
local top_heads, neg_heads = head_list(top_vals, top_where), head_list(neg_vals, neg_where)

-- The layer where the information moves from the name to the last position: the first layer
-- in which patching the last position restores more than patching the second name does.
local name_pos = differ[1]
local crossover
if name_pos then
  for l = 0, L - 1 do
    if resid[{ l, P - 1 }] > resid[{ l, name_pos }] then crossover = l; break end
  end
end

-- Accuracy of the model on generated IOI prompts (the dataset the patching pair comes from).
local n_prompts = opts.quick and math.min(opts.n_prompts, 6) or opts.n_prompts
local accuracy, mean_diff, mean_flipped = nil, nil, nil
if n_prompts > 0 then
  local items = datasets.ioi(model, { n = n_prompts })
  local right, sum, sum_flipped = 0, 0, 0
  for _, it in ipairs(items) do
    local d = utils.logit_diff(model:forward(model:to_tokens(it.text), { positions = { -1 } }), it.io_token, it.s_token)
    local df = utils.logit_diff(model:forward(model:to_tokens(it.flipped), { positions = { -1 } }), it.io_token, it.s_token)
    d, df = fp.item(d), fp.item(df)
    if d > 0 then right = right + 1 end
    sum, sum_flipped = sum + d, sum_flipped + df
  end
  accuracy, mean_diff, mean_flipped = right / #items, sum / #items, sum_flipped / #items
end

-- Figures.
local figures = {}
if has_plot then
  local layer_labels = {}
  for l = 0, L - 1 do layer_labels[#layer_labels + 1] = tostring(l) end
  local head_labels = {}
  for h = 0, H - 1 do head_labels[#head_labels + 1] = tostring(h) end
  local fig = plot.imshow(resid, { x = labels, y = layer_labels, xlabel = "Position", ylabel = "Layer",
    title = "Normalized logit difference after patching resid_pre (" .. model.cfg.model_name .. ")" })
  fig:save(opts.out .. "/resid_pre.svg"); fig:save(opts.out .. "/resid_pre.html")
  fig = plot.imshow(heads, { x = head_labels, y = layer_labels, xlabel = "Head", ylabel = "Layer",
    title = "Head output patching (normalized logit diff)" })
  fig:save(opts.out .. "/heads.svg"); fig:save(opts.out .. "/heads.html")
  local bl, bv = {}, {}
  for _, h in ipairs(top_heads) do bl[#bl + 1] = h.name; bv[#bv + 1] = h.value end
  for i = #neg_heads, 1, -1 do bl[#bl + 1] = neg_heads[i].name; bv[#bv + 1] = neg_heads[i].value end
  fig = plot.bar({ labels = bl, values = bv }, { title = "Top and bottom heads by patching effect", ylabel = "normalized logit diff" })
  fig:save(opts.out .. "/top_heads.svg")
  figures = { "resid_pre.svg", "resid_pre.html", "heads.svg", "heads.html", "top_heads.svg" }
end

local results = {
  model = model.cfg.model_name,
  settings = { clean = opts.clean, corrupted = opts.corrupted, answer = opts.answer, wrong = opts.wrong,
               quick = opts.quick, n_prompts = n_prompts, top = k },
  tokens = labels,
  differing_positions = differ,
  clean_logit_diff = clean_diff,
  corrupted_logit_diff = corrupted_diff,
  resid_pre = resid,
  heads = heads,
  top_heads = top_heads,
  negative_heads = neg_heads,
  last_layer_last_pos = resid[{ L - 1, P - 1 }],
  first_layer_name_pos = name_pos and resid[{ 0, name_pos }] or nil,
  crossover_layer = crossover,
  dataset = n_prompts > 0 and { n = n_prompts, accuracy = accuracy, mean_logit_diff = mean_diff,
                                mean_flipped_logit_diff = mean_flipped } or nil,
  figures = figures,
}

-- Summary.
print(string.format("model %s (%d layers, %d heads), %d tokens", model.cfg.model_name, L, H, P))
print(string.format("clean logit diff (%q - %q):     %7.3f", opts.answer, opts.wrong, clean_diff))
print(string.format("corrupted logit diff:                  %7.3f", corrupted_diff))
if name_pos then
  print(string.format("resid_pre patching: layer 0 at %s (pos %d) %.3f; layer %d at the last position %.3f",
    labels[name_pos + 1], name_pos, resid[{ 0, name_pos }], L - 1, resid[{ L - 1, P - 1 }]))
  if crossover then print(string.format("the last position takes over from the name at layer %d", crossover)) end
end
local tops = {}
for _, h in ipairs(top_heads) do tops[#tops + 1] = string.format("%s %.3f", h.name, h.value) end
print("top heads:      " .. table.concat(tops, ", "))
local negs = {}
for _, h in ipairs(neg_heads) do negs[#negs + 1] = string.format("%s %.3f", h.name, h.value) end
print("negative heads: " .. table.concat(negs, ", "))
if accuracy then
  print(string.format("%d generated IOI prompts: accuracy %.2f, mean logit diff %.3f (flipped S2: %.3f)",
    n_prompts, accuracy, mean_diff, mean_flipped))
end
return exp:finish(results, "patching took %.1fs (resid_pre) + %.1fs (heads)", exp.seconds.resid_pre, exp.seconds.heads)
