-- Learned 1-D activation patches that change a fact, and the rank-1 weight edits they give
-- (the "fact patching" notebook). Pairs of facts the model knows with the same prompt and
-- different answers ("The capital of {France} is" Paris / "The capital of {Peru} is" Lima): one
-- unit direction v per pair in the MLP's hidden activations (blocks.L.mlp.hook_post) at the base
-- subject's last token, trained so that setting the base's coordinate along v to the source's
-- makes the base prompt say the source's answer. Then the analysis of each direction against
-- baselines (the whole MLP activation patched; v's component in the row space of W_out only)
-- and the rank-1 edit W_out <- W_out + b a^T that does the same patch as a weight change.
--
--   fp run scripts/fact_patching.lua [--model smollm2-135m] [--out out/fact_patching] [--quick]
--                                    [--layers 1,4,8,12,16] [--steps 100] [--per-prompt 4]
--
-- Layer 4 is the default because a sweep measured it best on SmolLM2 (docs/experiments.md):
-- the learned patches lower the logit diff most in the first MLP layers (1-8), much less from
-- layer 12 on. With several --layers, the analysis and the edits use the one where most pairs
-- flip (ties: the lower mean logit diff).
--
-- Writes into --out: logit_diffs.svg/.html (per pair and method), layers.svg (when several
-- layers), results.json, table.csv. Returns the results table.
local experiment = require "fp.experiment"
local datasets = require "fp.datasets"
local weight_edits = require "fp.edits"

local exp = experiment.start(arg, {
  model = "smollm2-135m",
  out = "out/fact_patching",
  quick = false,
  facts = { "", "CounterFact-format JSON (default: fp's own stdlib/fp/data/facts.json)" },
  layers = { "auto", "MLP layers to train at, comma-separated, e.g. 1,4,8,12,16 (quick: the first); the analysis and edits use the best; auto: 4 on SmolLM2's 30 layers, the same depth on others" },
  per_prompt = { 4, "pairs sampled per prompt (quick: 1)" },
  steps = { 100, "SGD steps (quick: 30)" },
  lr = { 0.1, "SGD learning rate (LinearLR from lr down to lr * end_factor)" },
  end_factor = { 1e-3, "LinearLR end factor" },
  other_facts = { 60, "known facts checked after each edit (quick: 10)" },
  seed = { 0, "random seed (pairs and initial directions)" },
}, { description = "Learned 1-D patches in MLP activations that change facts, and their rank-1 edits." })
local opts, plot, has_plot = exp.opts, exp.plot, exp.plot ~= nil

fp.seed(opts.seed)
local model = exp.model
local F, n_layers = model.cfg.d_mlp, model.cfg.n_layers
-- The notebook prepends the BOS token to every prompt; so do we (the model's own BOS token;
-- a tokenizer without one, as Qwen's: none).
local BOS = { prepend_bos = datasets.has_bos(model) }
local LEFT = { prepend_bos = BOS.prepend_bos, padding_side = "left" }   -- left padding: every prompt ends at -1
local steps = opts.quick and math.min(opts.steps, 30) or opts.steps
local per_prompt = opts.quick and math.min(opts.per_prompt, 1) or opts.per_prompt
local n_other = opts.quick and math.min(opts.other_facts, 10) or opts.other_facts
local layers = {}
for s in opts.layers:gmatch("[^,%s]+") do
  layers[#layers + 1] = require("fp.args").layer(s, n_layers, 4, 30, "fact_patching.lua: --layers")
end
if opts.quick then layers = { layers[1] } end

local function first_token(text) return datasets.first_token(model, text) end

---------------------------------------------------------------------------------------------
-- 1. Facts the model knows (the answer's first token is the top prediction), by prompt
---------------------------------------------------------------------------------------------
local facts = opts.facts ~= "" and datasets.load_counterfact(opts.facts) or datasets.facts()
local items, span_error = {}, nil
for _, e in ipairs(facts) do
  local prompt, subject, target = datasets.fact_prompt(e)
  local ok, first_or_err, last = pcall(datasets.subject_span, model, prompt, subject, BOS)
  if ok then
    items[#items + 1] = { entry = e, template = e.requested_rewrite.prompt, relation = e.requested_rewrite.relation_id,
                          prompt = prompt, subject = subject, target = target, token = first_token(target), subj_pos = last }
  else
    span_error = first_or_err
  end
end
if #items == 0 then error("fact_patching.lua: no fact could be tokenized (" .. tostring(span_error) .. ")") end
-- Last-position logits [n, vocab] of a list of prompts, in batches (left padded).
local function last_logits(prompts, hooks_for)
  local out = {}
  local B = 32
  for i = 1, #prompts, B do
    local chunk = {}
    for j = i, math.min(i + B - 1, #prompts) do chunk[#chunk + 1] = prompts[j] end
    local toks, mask = model:to_tokens(chunk, LEFT)
    local logits = fp.no_grad(function()
      return model:run_with_hooks(toks, { fwd_hooks = hooks_for and hooks_for(toks, mask, i) or {}, attention_mask = mask, positions = { -1 } })
    end)
    out[#out + 1] = logits[{ {}, -1 }]
  end
  return fp.cat(out, 0)
end
do
  local prompts = {}
  for i, it in ipairs(items) do prompts[i] = it.prompt end
  local logits = last_logits(prompts)
  local top = logits:argmax(-1)
  for i, it in ipairs(items) do it.known = top[i - 1] == it.token end
end
local known, by_template, template_order = {}, {}, {}
for _, it in ipairs(items) do
  if it.known then
    known[#known + 1] = it
    if not by_template[it.template] then by_template[it.template] = {}; template_order[#template_order + 1] = it.template end
    table.insert(by_template[it.template], it)
  end
end
print(string.format("model %s: %d of %d facts known (argmax = the answer's first token, BOS prepended)", opts.model, #known, #facts))

---------------------------------------------------------------------------------------------
-- 2. Pairs: same prompt, both facts known, different answers (first tokens); per_prompt each
---------------------------------------------------------------------------------------------
local rand = datasets.rng(opts.seed)
local pairs_ = {}
local function make_pairs(by_template, template_order, what)
  for _, tpl in ipairs(template_order) do
    local group, cands = by_template[tpl], {}
    for i, b in ipairs(group) do
      for j, s in ipairs(group) do
        if i ~= j and b.token ~= s.token then cands[#cands + 1] = { base = b, source = s } end
      end
    end
    for k = #cands, 2, -1 do local j = rand(k); cands[k], cands[j] = cands[j], cands[k] end
    local used = {}   -- each base subject at most once per prompt
    local n = 0
    for _, c in ipairs(cands) do
      if n >= per_prompt then break end
      if not used[c.base.subject] then
        used[c.base.subject] = true
        pairs_[#pairs_ + 1] = c
        n = n + 1
      end
    end
    print(string.format("  %-36s %2d %s, %d pairs", string.format("%q", tpl), #group, what, n))
  end
end
make_pairs(by_template, template_order, "known")
-- A model that knows no two facts of one prompt (a small or random one): pairs of facts it does
-- not know, so that the method still runs; the numbers then say nothing about stored facts.
local known_pairs = #pairs_ > 0
if not known_pairs then
  io.stderr:write("fact_patching.lua: no pairs of known facts with different answers; using facts the model does not know\n")
  local all_by, all_order = {}, {}
  for _, it in ipairs(items) do
    if not all_by[it.template] then all_by[it.template] = {}; all_order[#all_order + 1] = it.template end
    table.insert(all_by[it.template], it)
  end
  make_pairs(all_by, all_order, "facts")
end
local n = #pairs_
if n == 0 then error("fact_patching.lua: no pairs of facts with the same prompt and different answers") end

-- Batched tokens of the base prompts (left padded) and the patch position of each pair.
local base_prompts, source_prompts = {}, {}
for i, pr in ipairs(pairs_) do base_prompts[i] = pr.base.prompt; source_prompts[i] = pr.source.prompt end
local base_toks, base_mask = model:to_tokens(base_prompts, LEFT)
local P = base_toks.shape[2]
local base_ids, source_ids = fp.zeros(n):long(), fp.zeros(n):long()
local patch_at = fp.zeros(n, P, 1)   -- one-hot of each pair's base subject's last token
for i, pr in ipairs(pairs_) do
  local pad = P - math.tointeger(base_mask[i - 1]:sum())
  patch_at[{ i - 1, pad + pr.base.subj_pos, 0 }] = 1
  base_ids[i - 1] = pr.base.token
  source_ids[i - 1] = pr.source.token
end
local rows = fp.arange(n)

-- Logit of the base answer minus the source answer, per pair, from [n, vocab] logits.
local function logit_diffs(logits)
  return logits:gather(1, base_ids:unsqueeze(1)):squeeze(1) - logits:gather(1, source_ids:unsqueeze(1)):squeeze(1)
end

-- MLP hidden activation of each pair's source at its subject's last token: [n, F].
local function source_acts(layer)
  local hook = "blocks." .. layer .. ".mlp.hook_post"
  local toks, mask = model:to_tokens(source_prompts, LEFT)
  local _, cache = model:run_with_cache(toks, { names_filter = hook, attention_mask = mask })
  local act = cache[hook]
  local Ps = toks.shape[2]
  local out = fp.zeros(n, F)
  for i, pr in ipairs(pairs_) do
    local pad = Ps - math.tointeger(mask[i - 1]:sum())
    out[i - 1] = act[{ i - 1, pad + pr.source.subj_pos }]
  end
  return out
end

-- The interchange along one direction per pair, for the whole batch in one pass:
-- a <- a + ((s - a) . v / |v|^2) v at the patch position (mask-weighted, so it is all tensor
-- ops and the gradient reaches V). V = nil patches the whole activation: a <- s.
local function patch_hook(S, V)
  return function(act)
    local A = (act * patch_at):sum(1)                                      -- [n, F]
    local delta
    if V then delta = (((S - A) * V):sum(-1) / (V * V):sum(-1)):unsqueeze(-1) * V
    else delta = S - A end
    return act + patch_at * delta:unsqueeze(1)
  end
end
local function patched_logits(layer, S, V)
  return model:run_with_hooks(base_toks, { fwd_hooks = { { "blocks." .. layer .. ".mlp.hook_post", patch_hook(S, V) } },
                                           attention_mask = base_mask, positions = { -1 } })[{ {}, -1 }]
end

---------------------------------------------------------------------------------------------
-- 3. Training: one unit direction per pair, all pairs in one batch (the notebook's mtrain_das):
--    loss = sum of logit diffs (base - source); SGD with a linear LR decay; directions
--    renormalized after each step; each pair keeps the direction of its lowest logit diff.
---------------------------------------------------------------------------------------------
local function train(layer, S)
  local V = fp.randn(n, F)
  V = (V / V:norm(2, -1, true)):requires_grad()
  local opt = fp.optim.SGD({ V }, { lr = opts.lr })
  local sched = fp.optim.LinearLR(opt, { start_factor = 1, end_factor = opts.end_factor, total_iters = steps })
  local best_ld, best_V = {}, fp.zeros(n, F)
  for i = 1, n do best_ld[i] = math.huge end
  local curve = {}
  local tick = exp:progress(string.format("layer %d: steps", layer), steps)
  for step = 1, steps do
    opt:zero_grad()
    local ld = logit_diffs(patched_logits(layer, S, V))
    local loss = ld:sum()
    loss:backward()
    local Vd = V:detach()
    for i = 1, n do
      local l = fp.item(ld[i - 1])
      if l < best_ld[i] then best_ld[i] = l; best_V[i - 1] = Vd[i - 1] end
    end
    curve[#curve + 1] = fp.item(loss) / n
    opt:step()
    sched:step()
    fp.no_grad(function() Vd:copy_(Vd / Vd:norm(2, -1, true)) end)
    tick()
  end
  -- the last step's directions are not measured: one more forward for them
  local ld = fp.no_grad(function() return logit_diffs(patched_logits(layer, S, V:detach())) end)
  for i = 1, n do
    if ld[i - 1] < best_ld[i] then best_ld[i] = ld[i - 1]; best_V[i - 1] = V:detach()[i - 1] end
  end
  return best_V, best_ld, curve
end

local clean = last_logits(base_prompts)
local clean_ld = logit_diffs(clean)

local per_layer = {}
local best_layer, best_score
for _, layer in ipairs(layers) do
  local t0 = fp.time()
  local S = source_acts(layer)
  local V, best_ld, curve = train(layer, S)
  local das_logits = fp.no_grad(function() return patched_logits(layer, S, V) end)
  local das_ld = logit_diffs(das_logits)
  local flipped = das_logits:argmax(-1):eq(source_ids):sum()
  local below = das_ld:lt(clean_ld):sum()
  local r = { layer = layer, S = S, V = V, das_logits = das_logits, das_ld = das_ld, curve = curve,
              mean_ld = fp.item(das_ld:mean()), flipped = math.tointeger(flipped), below_clean = math.tointeger(below),
              seconds = fp.time() - t0 }
  per_layer[#per_layer + 1] = r
  print(string.format("layer %2d: mean logit diff %.2f (clean %.2f), %d/%d pairs predict the source, %d/%d below clean; %.1fs",
    layer, r.mean_ld, fp.item(clean_ld:mean()), r.flipped, n, r.below_clean, n, r.seconds))
  local score = r.flipped * 1000 - r.mean_ld
  if not best_score or score > best_score then best_score, best_layer = score, r end
end
local L = best_layer.layer
local W_out = model.blocks[L].mlp.W_out          -- [F, d_model]: hidden -> residual (TL layout)

---------------------------------------------------------------------------------------------
-- 4. Analysis at the best layer: clean / das / full_mlp / row-space-only, per pair
---------------------------------------------------------------------------------------------
-- v = v_row + v_null with respect to W_out [F, d_model] (y = h W_out): v_row lies in the span
-- of W_out's columns, the hidden directions that W_out maps to something (the notebook's "row
-- space"), and v_null W_out = 0. fp.edits.row_null_split(v, W) splits v against the rows of W,
-- so it gets W_out^T; its Q (an orthonormal basis of the span, [F, rank]) projects all pairs'
-- directions at once.
local V, S = best_layer.V, best_layer.S
local _, _, Q = weight_edits.row_null_split(V[0], W_out:T())
local V_row = V:matmul(Q):matmul(Q:T())
local V_null = V - V_row
local full_logits = fp.no_grad(function() return patched_logits(L, S, nil) end)
local row_logits = fp.no_grad(function() return patched_logits(L, S, V_row / V_row:norm(2, -1, true)) end)

local methods = {
  { name = "clean", logits = clean },
  { name = "das", logits = best_layer.das_logits },
  { name = "full_mlp", logits = full_logits },
  { name = "row", logits = row_logits },
}
local table_rows, summary = {}, {}
for _, m in ipairs(methods) do
  m.ld = logit_diffs(m.logits)
  m.pred = m.logits:argmax(-1)
  summary[m.name] = { mean_ld = fp.item(m.ld:mean()), predict_source = 0, predict_base = 0 }
end
print("")
print(string.format("layer %d (blocks.%d.mlp.hook_post), %d pairs: logit diff (base - source) and prediction", L, L, n))
print(string.format("  %-52s %-22s %-22s %-22s %-22s %s", "base <- source", "clean", "das", "full_mlp", "row", "|v_row| |v_null|"))
for i, pr in ipairs(pairs_) do
  local cells = {}
  for _, m in ipairs(methods) do
    local pred = m.pred[i - 1]
    local ps, pb = pred == pr.source.token, pred == pr.base.token
    local s = summary[m.name]
    if ps then s.predict_source = s.predict_source + 1 end
    if pb then s.predict_base = s.predict_base + 1 end
    local tag = ps and "S" or (pb and "B" or "-")
    cells[#cells + 1] = string.format("%6.2f %s %-13s", m.ld[i - 1], tag, '"' .. model:to_string(pred):sub(1, 11) .. '"')
    table_rows[#table_rows + 1] = { pair = i - 1, layer = L, method = m.name, ld = m.ld[i - 1], predict_source = ps,
                                    predict_base = pb, prediction = model:to_string(pred),
                                    base_subject = pr.base.subject, source_subject = pr.source.subject,
                                    base_target = pr.base.target, source_target = pr.source.target, prompt = pr.base.template }
  end
  local label = string.format("%s (%s) <- %s (%s)", pr.base.subject, pr.base.target:sub(2), pr.source.subject, pr.source.target:sub(2))
  print(string.format("  %-52s %s %s %s %s %.2f %.2f", label:sub(1, 52), cells[1], cells[2], cells[3], cells[4],
    V_row[i - 1]:norm(), V_null[i - 1]:norm()))
end
print("  (S: predicts the source's answer, B: the base's)")
for _, m in ipairs(methods) do
  local s = summary[m.name]
  print(string.format("  %-9s mean logit diff %7.2f   predicts source %2d/%d   predicts base %2d/%d", m.name, s.mean_ld,
    s.predict_source, n, s.predict_base, n))
end

---------------------------------------------------------------------------------------------
-- 5. Rank-1 edits: W_out <- W_out + b a^T with a = ((s - x) . v) v W_out (what the patch adds
--    to the MLP output) and b = Sigma^+ x / (x Sigma^+ x) (so x b = 1 for the base activation x
--    while b changes other activations as little as possible under their second moment Sigma).
--    Sigma: E[h h^T] of the layer's hidden activations over a text sample: every token of the
--    fact set's prompts (requested, paraphrase and attribute prompts, subjects filled in; quick:
--    the requested prompts only).
---------------------------------------------------------------------------------------------
local t_edit = fp.time()
local sample = {}
for _, e in ipairs(facts) do
  local rr = e.requested_rewrite
  sample[#sample + 1] = (rr.prompt:gsub("{}", function() return rr.subject end))
  if not opts.quick then
    for _, p in ipairs(e.paraphrase_prompts or {}) do sample[#sample + 1] = p end
    for _, p in ipairs(e.attribute_prompts or {}) do sample[#sample + 1] = p end
  end
end
local hook = "blocks." .. L .. ".mlp.hook_post"
local Sigma, n_tokens = fp.zeros(F, F), 0
local tick = exp:progress("Sigma: prompts", #sample)
for i = 1, #sample, 32 do
  local chunk = {}
  for j = i, math.min(i + 31, #sample) do chunk[#chunk + 1] = sample[j] end
  local toks, mask = model:to_tokens(chunk, LEFT)
  local _, cache = model:run_with_cache(toks, { names_filter = hook, attention_mask = mask })
  local H = cache[hook]:reshape(-1, F)                       -- [B * P, F]
  local keep = mask:reshape(-1):bool()
  H = H[{ keep }]                                            -- real tokens only
  Sigma = Sigma + H:T():matmul(H)
  n_tokens = n_tokens + H.shape[1]
  tick(#chunk)
end
Sigma = Sigma / n_tokens
local Sigma_pinv = fp.linalg.pinv(Sigma)

-- The base activation x at the patch position, per pair.
local base_act = fp.no_grad(function()
  local _, cache = model:run_with_cache(base_toks, { names_filter = hook, attention_mask = base_mask })
  return (cache[hook] * patch_at):sum(1)                    -- [n, F]
end)

-- Other known facts, to see what an edit breaks.
local others = {}
for i = 1, math.min(n_other, #known) do others[#others + 1] = known[math.floor((i - 1) * #known / math.min(n_other, #known)) + 1] end
local other_prompts = {}
for i, it in ipairs(others) do other_prompts[i] = it.prompt end

local edits, edit_vectors = {}, {}
tick = exp:progress("rank-1 edits", n)
for i, pr in ipairs(pairs_) do
  local v, x, s = V[i - 1], base_act[i - 1], S[i - 1]
  local a = v:matmul(W_out) * (((s - x) * v):sum())              -- [d_model]
  local xp = Sigma_pinv:matmul(x)
  local b = xp / (x * xp):sum()                                   -- [F], x . b = 1
  local v_row, v_null = V_row[i - 1], V_null[i - 1]
  local diff = s - x
  -- fp.edits.apply(model, W, u, w) is W <- W + u w^T (with a snapshot of every weight first)
  weight_edits.apply(model, W_out, b, a)
  local logits = last_logits({ pr.base.prompt })[0]
  local ld = logits[pr.base.token] - logits[pr.source.token]
  local pred = logits:argmax()
  -- other facts (excluding this pair's base subject) under the edit
  local top = #other_prompts > 0 and last_logits(other_prompts):argmax(-1)
  local kept, total = 0, 0
  for j, it in ipairs(others) do
    if it.subject ~= pr.base.subject then
      total = total + 1
      if top[j - 1] == it.token then kept = kept + 1 end
    end
  end
  weight_edits.revert(model)   -- model:restore(): the weights from before the edit
  edit_vectors[i] = { a = a, b = b }
  edits[i] = {
    pair = i - 1, edit_ld = ld, das_ld = best_layer.das_ld[i - 1], clean_ld = clean_ld[i - 1],
    edit_prediction = model:to_string(pred), edit_predicts_source = pred == pr.source.token,
    edit_predicts_base = pred == pr.base.token, other_facts_kept = kept, other_facts = total,
    variance_of_edit = fp.item(b:matmul(Sigma):matmul(b)),
    act_diff_sim_to_row = fp.item(fp.cosine_similarity(diff, v_row, 0)), act_diff_sim_to_null = fp.item(fp.cosine_similarity(diff, v_null, 0)),
    a_norm = a:norm(), b_norm = b:norm(),
  }
  tick()
end
t_edit = fp.time() - t_edit

print("")
print(string.format("rank-1 edits of blocks.%d.mlp.W_out (Sigma from %d tokens of %d prompts)", L, n_tokens, #sample))
print(string.format("  %-52s %8s %8s %8s  %-14s %s", "base <- source", "clean", "das", "edit", "edit predicts", "other facts kept"))
local edit_source, kept_total, kept_of = 0, 0, 0
for i, pr in ipairs(pairs_) do
  local e = edits[i]
  if e.edit_predicts_source then edit_source = edit_source + 1 end
  kept_total, kept_of = kept_total + e.other_facts_kept, kept_of + e.other_facts
  local label = string.format("%s (%s) <- %s (%s)", pr.base.subject, pr.base.target:sub(2), pr.source.subject, pr.source.target:sub(2))
  print(string.format("  %-52s %8.2f %8.2f %8.2f  %-14s %d/%d", label:sub(1, 52), e.clean_ld, e.das_ld, e.edit_ld,
    string.format("%q", e.edit_prediction) .. (e.edit_predicts_source and " S" or ""), e.other_facts_kept, e.other_facts))
end
print(string.format("edits predict the source's answer for %d/%d pairs; other facts kept %.1f%% (%d/%d); %.1fs",
  edit_source, n, 100 * kept_total / math.max(kept_of, 1), kept_total, kept_of, t_edit))

---------------------------------------------------------------------------------------------
-- Figures and results
---------------------------------------------------------------------------------------------
if has_plot then
  local grid = fp.zeros(n, 5)
  local labels = {}
  for i, pr in ipairs(pairs_) do
    labels[i] = pr.base.subject .. " <- " .. pr.source.subject
    for j, m in ipairs(methods) do grid[{ i - 1, j - 1 }] = m.ld[i - 1] end
    grid[{ i - 1, 4 }] = edits[i].edit_ld
  end
  local fig = plot.imshow(grid, { x = { "clean", "das", "full_mlp", "row", "rank-1 edit" }, y = labels, values = "%.1f",
    title = string.format("Logit diff (base - source answer), MLP layer %d", L), colorbar_label = "logit diff",
    cell_width = 70, max_label = 36 })
  fig:save(opts.out .. "/logit_diffs.svg")
  fig:save(opts.out .. "/logit_diffs.html")
  if #per_layer > 1 then
    local xs, mean_ld, clean_line = {}, {}, {}
    for i, r in ipairs(per_layer) do xs[i] = r.layer; mean_ld[i] = r.mean_ld; clean_line[i] = fp.item(clean_ld:mean()) end
    local lf = plot.line({ { name = "learned 1-D patch", x = xs, y = mean_ld }, { name = "clean", x = xs, y = clean_line } },
      { xlabel = "MLP layer", ylabel = "mean logit diff (base - source)",
        title = string.format("Learned 1-D patches by layer (%d pairs)", n) })
    lf:save(opts.out .. "/layers.svg")
  end
end

local layer_rows = {}
for i, r in ipairs(per_layer) do
  layer_rows[i] = { layer = r.layer, mean_ld = r.mean_ld, flipped = r.flipped, below_clean = r.below_clean,
                    seconds = r.seconds, loss_curve = r.curve }
end
local pair_rows = {}
for i, pr in ipairs(pairs_) do
  pair_rows[i] = { prompt = pr.base.template, base_subject = pr.base.subject, base_target = pr.base.target,
                   source_subject = pr.source.subject, source_target = pr.source.target,
                   row_norm = V_row[i - 1]:norm(), null_norm = V_null[i - 1]:norm() }
end
local results = {
  model = opts.model, quick = opts.quick, steps = steps, lr = opts.lr, end_factor = opts.end_factor, seed = opts.seed,
  n_facts = #facts, n_known = #known, n_pairs = n, known_pairs = known_pairs, layers = layer_rows, layer = L, pairs = pair_rows,
  analysis = table_rows, summary = summary, edits = edits,
  sigma_tokens = n_tokens, sigma_prompts = #sample,
}
fp.save(opts.out .. "/directions.npy", V)
fp.save(opts.out .. "/table.csv", table_rows, { header = { "pair", "layer", "method", "ld", "predict_source", "predict_base",
  "prediction", "prompt", "base_subject", "base_target", "source_subject", "source_target" } })
exp:finish(results, "wrote table.csv and directions.npy")
-- for tests and the REPL (not in the JSON): the learned directions, source activations, edits
results.directions, results.source_acts, results.edit_vectors = V, S, edit_vectors
return results
