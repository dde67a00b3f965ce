-- Where facts live (the "causal analysis of facts" notebook): corrupt the subject of a fact
-- the model knows and watch the answer's probability fall (noise ablation of the subject's
-- embeddings, resample ablation with random subjects); attribute the answer's logit to every
-- component of the residual stream (direct logit attribution over the full decomposition);
-- then, on an IOI prompt, the attention pattern of the head that writes the answer most
-- directly, and the indirect object's residual stream read through that head's OV circuit.
--
--   fp run scripts/facts.lua [--model smollm2-135m] [--out out/facts] [--quick]
--
-- Writes into --out: ablation.svg, dla.svg/.html, pattern.svg/.html, ov_projection.svg,
-- results.json. Returns the results table.
local experiment = require "fp.experiment"
local datasets = require "fp.datasets"
local utils = require "fp.utils"

local exp = experiment.start(arg, {
  model = "smollm2-135m",
  out = "out/facts",
  quick = false,
  facts = { "", "CounterFact-format JSON (default: fp's own stdlib/fp/data/facts.json)" },
  n_facts = { 20, "known facts to ablate (quick: 4)" },
  noise_samples = { 10, "noise samples per fact" },
  resample_samples = { 10, "random subjects per fact" },
  noise_scale = { 3.0, "noise std as a multiple of the embedding std (ROME uses 3)" },
  case = { 0, "case_id of the fact for the direct logit attribution" },
  head = { "", "head for the pattern and OV plots, e.g. L23H3 (default: the largest direct effect)" },
  seed = { 0, "random seed" },
}, { description = "Facts: subject ablations, direct logit attribution, an attention pattern and an OV projection." })
local opts, plot, has_plot = exp.opts, exp.plot, exp.plot ~= nil

fp.seed(opts.seed)
local model = exp.model
local L, H = model.cfg.n_layers, model.cfg.n_heads
local facts = opts.facts ~= "" and datasets.load_counterfact(opts.facts) or datasets.facts()
local n_facts = opts.quick and math.min(opts.n_facts, 4) or opts.n_facts
local noise_samples = opts.quick and math.min(opts.noise_samples, 4) or opts.noise_samples
local resample_samples = opts.quick and math.min(opts.resample_samples, 4) or opts.resample_samples

-- First token of " target" and the target's probability at the last position.
local function first_token(text) return datasets.first_token(model, text) end
local function target_probs(logits, target)   -- logits [B, 1, vocab] -> Lua list of probabilities
  local p = logits[{ {}, 0 }]:softmax(-1)[{ {}, target }]
  local out = {}
  for i = 0, p.shape[1] - 1 do out[#out + 1] = p[i] end
  return out
end
local function mean(list) local s = 0; for _, v in ipairs(list) do s = s + v end; return s / #list end

---------------------------------------------------------------------------------------------
-- 1. Which facts does the model know? (the first token of the answer is its top prediction)
---------------------------------------------------------------------------------------------
local known, per_relation = {}, {}
-- quick: about 40 facts spread over the whole list (every relation)
local stride = opts.quick and math.max(1, #facts // 40) or 1
local measured = 0
local tick = exp:progress("measuring facts", (#facts + stride - 1) // stride)
for i = 1, #facts, stride do
  measured = measured + 1
  tick()
  local e = facts[i]
  local prompt, subject, target = datasets.fact_prompt(e)
  local ok_span, first, last = pcall(datasets.subject_span, model, prompt, subject)
  local tok = first_token(target)
  local logits = model:forward(model:to_tokens(prompt), { positions = { -1 } })
  local rel = e.requested_rewrite.relation_id
  per_relation[rel] = per_relation[rel] or { known = 0, total = 0 }
  per_relation[rel].total = per_relation[rel].total + 1
  if ok_span and logits[{ 0, 0 }]:argmax() == tok then
    per_relation[rel].known = per_relation[rel].known + 1
    known[#known + 1] = { entry = e, prompt = prompt, subject = subject, target = target, token = tok,
                          p = target_probs(logits, tok)[1], first = first, last = last }
  end
end


---------------------------------------------------------------------------------------------
-- 2. Noise ablation: Gaussian noise (noise_scale x the embedding std) added to the subject's
--    token embeddings (ROME's causal tracing); resample ablation: the subject replaced by
--    random word tokens (the notebook's random rows of W_E, unembedded to tokens).
---------------------------------------------------------------------------------------------
local emb_std = model.W_E:std(0):mean()   -- one number: the typical std of an embedding coordinate
local sigma = opts.noise_scale * emb_std

-- Random word-like tokens (" Word"), for resampled subjects.
local function random_words(n)
  local out = {}
  while #out < n do
    local id = fp.randint(model.cfg.d_vocab, { 1 })[0]
    local s = model:to_string(id)
    if s:match("^ %a%a%a+$") then out[#out + 1] = s:sub(2) end
  end
  return out
end

-- ablate facts of every relation in turn (the fact list is sorted by relation)
do
  local by_rel, order = {}, {}
  for _, k in ipairs(known) do
    local r = k.entry.requested_rewrite.relation_id
    if not by_rel[r] then by_rel[r] = {}; order[#order + 1] = r end
    table.insert(by_rel[r], k)
  end
  local mixed = {}
  for i = 1, #known do
    for _, r in ipairs(order) do if by_rel[r][i] then mixed[#mixed + 1] = by_rel[r][i] end end
  end
  known = mixed
end

local ablations = {}
tick = exp:progress("ablating facts", math.min(n_facts, #known))
exp:time("ablation", function()
for i = 1, math.min(n_facts, #known) do
  local k = known[i]
  tick()
  local toks = model:to_tokens(k.prompt)
  local P = toks.shape[2]
  -- noise: one batch of noise_samples copies, each with its own noise on the subject positions
  local batch = toks:expand(noise_samples, P):clone()
  local noise = fp.randn(noise_samples, k.last - k.first + 1, model.cfg.d_model) * sigma
  local noised = model:run_with_hooks(batch, { positions = { -1 }, fwd_hooks = { { "hook_embed", function(e)
    e[{ {}, { k.first, k.last + 1 } }] = e[{ {}, { k.first, k.last + 1 } }] + noise
  end } } })
  local p_noise = mean(target_probs(noised, k.token))
  -- resample: random subjects, one prompt each (their token counts differ)
  -- resample: random subjects, one batch (left-padded, masked: their token counts may differ)
  local template = k.entry.requested_rewrite.prompt
  local texts = {}
  for _, w in ipairs(random_words(resample_samples)) do texts[#texts + 1] = (template:gsub("{}", function() return w end)) end
  local rtoks, mask = model:to_tokens(texts, { padding_side = "left" })
  local p_res = target_probs(model:forward(rtoks, { positions = { -1 }, attention_mask = mask }), k.token)
  ablations[#ablations + 1] = { prompt = k.prompt, subject = k.subject, target = k.target, subject_positions = { k.first, k.last },
                                clean = k.p, noise = p_noise, resample = mean(p_res) }
end
end)
local mean_clean, mean_noise, mean_resample = 0, 0, 0
for _, a in ipairs(ablations) do
  mean_clean = mean_clean + a.clean / #ablations
  mean_noise = mean_noise + a.noise / #ablations
  mean_resample = mean_resample + a.resample / #ablations
end

---------------------------------------------------------------------------------------------
-- 3. Direct logit attribution of one fact: every head, MLP, the embeddings and the biases,
--    through the final norm (its cached scale, and its weight, which these unprocessed
--    weights keep separate), dotted with W_U[:, true] - W_U[:, new].
---------------------------------------------------------------------------------------------
local dla_entry = facts[1]
for _, e in ipairs(facts) do if e.case_id == opts.case then dla_entry = e end end
local dla_prompt, dla_subject, dla_true, dla_new = datasets.fact_prompt(dla_entry)
local true_tok, new_tok = first_token(dla_true), first_token(dla_new)
local function for_dla(name)
  for _, k in ipairs({ "hook_embed", "hook_pos_embed", "hook_mlp_out", "attn.hook_z", "ln_final.hook_scale" }) do
    if name:find(k, 1, true) then return true end
  end
  return false
end
local dla_logits, dla_cache = model:run_with_cache(dla_prompt, { names_filter = for_dla })
local logit_diff = dla_logits[{ 0, -1, true_tok }] - dla_logits[{ 0, -1, new_tok }]
local stack, comp = dla_cache:get_full_resid_decomposition(nil, false, -1)
-- the final norm's cached scale at the same position, then its weight (unprocessed weights)
local scaled = dla_cache:apply_ln_to_stack(stack, nil, false, -1) * model.ln_final.w
local attrs = dla_cache:logit_attrs(scaled, true_tok, new_tok, { apply_ln = false })[{ {}, 0 }]   -- [component]
-- constants the components do not carry: the final norm's bias and the unembedding bias
local dir = model.W_U[{ {}, true_tok }] - model.W_U[{ {}, new_tok }]
local constant = 0
if model.ln_final.b then constant = constant + fp.item(model.ln_final.b:matmul(dir)) end
if model.b_U then constant = constant + model.b_U[true_tok] - model.b_U[new_tok] end
local dla_sum = attrs:sum() + constant
local top_vals, top_idx = attrs:topk(math.min(5, attrs.shape[1]))
local bot_vals, bot_idx = attrs:topk(math.min(5, attrs.shape[1]), { largest = false })
local function comp_list(vals, idx)
  local out = {}
  for i = 0, vals.shape[1] - 1 do out[#out + 1] = { component = comp[idx[i] + 1], value = vals[i] } end
  return out
end
local dla_top, dla_bottom = comp_list(top_vals, top_idx), comp_list(bot_vals, bot_idx)

---------------------------------------------------------------------------------------------
-- 4. IOI pair of the notebook: the head with the largest direct effect on " Tim" - " Alex",
--    its attention pattern, and the IO's residual stream read through its OV circuit.
---------------------------------------------------------------------------------------------
local ioi_prompts = { "When Alex and Tim went to the store, Alex gave the bag to",
                      "When Alex and Tim went to the store, Tim gave the bag to" }
local alex, tim = datasets.answer_token(model, " Alex", "facts.lua"), datasets.answer_token(model, " Tim", "facts.lua")
local function for_ioi(name)
  return for_dla(name) or name:find("hook_pattern", 1, true) ~= nil or name:find("ln1.hook_scale", 1, true) ~= nil
end
local ioi_toks = model:to_tokens(ioi_prompts)
local ioi_logits, ioi_cache = model:run_with_cache(ioi_toks, { names_filter = for_ioi })
local ioi_diff = ioi_logits[{ 0, -1, tim }] - ioi_logits[{ 0, -1, alex }]
local head_stack, head_labels = ioi_cache:stack_head_results(nil, -1)
local head_attrs = ioi_cache:logit_attrs(ioi_cache:apply_ln_to_stack(head_stack, nil, false, -1) * model.ln_final.w, tim, alex, { apply_ln = false })
local layer, head
if opts.head ~= "" then
  layer, head = opts.head:match("^L(%d+)H(%d+)$")
  layer, head = tonumber(layer), tonumber(head)
  if not layer or layer >= L or head >= H then error("facts.lua: --head must look like L23H3 within the model") end
else
  -- a name mover: the largest direct effect among heads that attend from the end more to the
  -- IO than to S (and at least 0.3 to the IO), as L9H9 is in GPT-2 small
  local best = -math.huge
  for l = 0, L - 1 do
    local pat = ioi_cache:act("pattern", l)
    for h = 0, H - 1 do
      local to_io, to_s = 0, 0
      for p = 0, ioi_toks.shape[2] - 1 do
        if ioi_toks[{ 0, p }] == tim then to_io = to_io + pat[{ 0, h, -1, p }] end
        if ioi_toks[{ 0, p }] == alex then to_s = to_s + pat[{ 0, h, -1, p }] end
      end
      local a = head_attrs[{ l * H + h, 0 }]
      if to_io >= 0.3 and to_io > to_s and a > best then best, layer, head = a, l, h end
    end
  end
  if not layer then local b = head_attrs[{ {}, 0 }]:argmax(); layer, head = b // H, b % H end
end
local head_name = "L" .. layer .. "H" .. head
local head_dla = head_attrs[{ layer * H + head, 0 }]

-- token labels in the notebook's style: "·Tim/3"
local function token_labels(text)
  local out = {}
  for i, s in ipairs(model:to_str_tokens(text)) do out[i] = s:gsub(" ", "·") .. "/" .. (i - 1) end
  return out
end
local labels = token_labels(ioi_prompts[1])
-- the two prompts share the axes: where their tokens differ (the second name) the label says S2
for p = 0, ioi_toks.shape[2] - 1 do
  if ioi_toks[{ 0, p }] ~= ioi_toks[{ 1, p }] then labels[p + 1] = "S2/" .. p end
end
local pattern = ioi_cache:act("pattern", layer)[{ {}, head }]   -- [2, q, k]
local io_pos
local toks0 = ioi_toks[0]
for p = 0, toks0.shape[1] - 1 do if toks0[p] == tim then io_pos = p; break end end
local attn_to_io = pattern[{ 0, -1, io_pos }]
local attn_to_s = 0
for p = 0, toks0.shape[1] - 1 do if toks0[p] == alex then attn_to_s = attn_to_s + pattern[{ 0, -1, p }] end end

-- The residual stream at the IO position, decomposed before `layer`, read through the head:
-- ln1 weight, W_V, W_O, the final norm weight and W_U[:, " Tim"] (the norms' scales are
-- shared by all components and left out, as in the notebook).
local io_stack, io_labels = ioi_cache:get_full_resid_decomposition(layer, false, io_pos)   -- [C, 2, d]
local attn = model.blocks[layer].attn
local unembed_vec = attn.W_V[head]:matmul(attn.W_O[head]:matmul(model.ln_final.w * model.W_U[{ {}, tim }]))
unembed_vec = unembed_vec * model.blocks[layer].ln1.w
local io_resid = io_stack[{ {}, 0 }]                        -- prompt 1: [C, d]
-- divided by the two norms' cached scales (ln1 at the IO position, ln_final at the end), each
-- value is what that component would add to the " Tim" logit through this head if the head
-- attended only to the IO position
local scales = ioi_cache["blocks." .. layer .. ".ln1.hook_scale"][{ 0, io_pos }] * ioi_cache["ln_final.hook_scale"][{ 0, -1 }]
local projection = io_resid:matmul(unembed_vec) / fp.item(scales)            -- [C]
-- per unit of each component's norm (the notebook's second plot; in results.json only)
local projection_normed = io_resid:matmul(unembed_vec) / (io_resid:norm(2, 1) + 1e-6)
local proj_vals, proj_idx = projection:topk(math.min(5, projection.shape[1]))   -- a layer-0 head: embed and bias only
local proj_top = {}
for i = 0, proj_vals.shape[1] - 1 do proj_top[#proj_top + 1] = { component = io_labels[proj_idx[i] + 1], value = proj_vals[i] } end

---------------------------------------------------------------------------------------------
-- Figures, results, summary
---------------------------------------------------------------------------------------------
local figures = {}
if has_plot then
  local names, clean_p, noise_p, res_p = {}, {}, {}, {}
  for i, a in ipairs(ablations) do
    names[i] = a.subject .. " ->" .. a.target
    clean_p[i], noise_p[i], res_p[i] = a.clean, a.noise, a.resample
  end
  local idx = {}
  for i = 1, #ablations do idx[i] = i - 1 end
  plot.line({ { name = "clean", y = clean_p }, { name = "noise on the subject", y = noise_p },
              { name = "resampled subject", y = res_p } },
    { title = "P(answer) with the subject ablated", xlabel = "fact", ylabel = "probability", x = names })
    :save(opts.out .. "/ablation.svg")
  local fig = plot.line({ { name = dla_true .. " -" .. dla_new, y = attrs } },
    { x = comp, title = "Direct logit attribution: " .. dla_prompt .. " (" .. dla_true .. " vs" .. dla_new .. ")",
      xlabel = "component", ylabel = "logit diff" })
  fig:save(opts.out .. "/dla.svg"); fig:save(opts.out .. "/dla.html")
  fig = plot.imshow(pattern, { x = labels, y = labels, facets = { "S2 = Alex (IO = Tim)", "S2 = Tim (IO = Alex)" },
    title = "Attention pattern of " .. head_name, xlabel = "key", ylabel = "query", zmin = 0, zmax = 1, cmap = "Blues" })
  fig:save(opts.out .. "/pattern.svg"); fig:save(opts.out .. "/pattern.html")
  plot.line({ { name = "projection", y = projection } },
    { x = io_labels, title = "IO residual stream (" .. labels[io_pos + 1] .. ") -> unembed(' Tim') via " .. head_name .. "'s OV",
      xlabel = "component", ylabel = "logit contribution" })
    :save(opts.out .. "/ov_projection.svg")
  figures = { "ablation.svg", "dla.svg", "dla.html", "pattern.svg", "pattern.html", "ov_projection.svg" }
end

local results = {
  model = model.cfg.model_name,
  settings = { facts = opts.facts ~= "" and opts.facts or "stdlib/fp/data/facts.json", n_facts = #ablations,
               noise_samples = noise_samples, resample_samples = resample_samples, noise_scale = opts.noise_scale,
               noise_sigma = sigma, seed = opts.seed, quick = opts.quick, case = dla_entry.case_id },
  known = { per_relation = per_relation, measured = measured, count = #known },
  ablation = { facts = ablations, mean_clean = mean_clean, mean_noise = mean_noise, mean_resample = mean_resample },
  dla = { prompt = dla_prompt, target_true = dla_true, target_new = dla_new, logit_diff = logit_diff,
          sum = dla_sum, constant = constant, components = comp, values = attrs, top = dla_top, bottom = dla_bottom },
  head = { name = head_name, layer = layer, head = head, direct_effect = head_dla, ioi_logit_diff = ioi_diff,
           attention_to_io = attn_to_io, attention_to_s = attn_to_s, tokens = labels, io_position = io_pos },
  ov_projection = { components = io_labels, values = projection, normalized = projection_normed, top = proj_top,
                    total = projection:sum() },
  figures = figures,
}

print(string.format("model %s; facts known: %d of %d measured", model.cfg.model_name, #known, measured))
local rels = {}
for r, v in pairs(per_relation) do rels[#rels + 1] = string.format("%s %d/%d", r, v.known, v.total) end
table.sort(rels)
print("  by relation: " .. table.concat(rels, ", "))
if #ablations > 0 then
  print(string.format("subject ablation over %d known facts: P(answer) clean %.3f, noise %.3f, resampled subject %.3f",
    #ablations, mean_clean, mean_noise, mean_resample))
else
  print("subject ablation: the model knows none of the measured facts, nothing to ablate")
end
print(string.format("DLA of %q (%s vs%s): logit diff %.3f, sum of %d components %.3f", dla_prompt, dla_true, dla_new,
  logit_diff, #comp, dla_sum))
local tops = {}
for _, c in ipairs(dla_top) do tops[#tops + 1] = string.format("%s %.2f", c.component, c.value) end
print("  top components: " .. table.concat(tops, ", "))
local bots = {}
for _, c in ipairs(dla_bottom) do bots[#bots + 1] = string.format("%s %.2f", c.component, c.value) end
print("  most negative:  " .. table.concat(bots, ", "))
print(string.format("IOI (\" Tim\" - \" Alex\" = %.2f): %s writes %.2f directly; from the end it attends %.2f to Tim, %.2f to Alex",
  ioi_diff, head_name, head_dla, attn_to_io, attn_to_s))
local pt = {}
for _, c in ipairs(proj_top) do pt[#pt + 1] = string.format("%s %.2f", c.component, c.value) end
print(string.format("Tim's residual (pos %d) through %s's OV onto ' Tim': total %.2f; top %s", io_pos, head_name,
  projection:sum(), table.concat(pt, ", ")))
return exp:finish(results, "ablations took %.1fs", exp.seconds.ablation)
