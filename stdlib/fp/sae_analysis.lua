-- Analyses of a sparse dictionary's features (the ones SAE-Vis / Neuronpedia show): feature
-- activations over a corpus with each feature's top-activating contexts (streamed, memory
-- bounded by features x k), densities, logit effects, attribution (activation x gradient),
-- steering and ablation hooks, and an HTML dashboard per feature. Exposed as fp.sae.*.
local fp = require "fp"
local raise = require("fp.errors").raise
local S = require "fp.plot_svg"
local files = require "fp.files"

local M = {}

local function check_options(fn, opts, allowed) return require("fp.sae").check_options(fn, opts, allowed) end

local function tokens_of(model, input, prepend_bos)
  if fp.is_tensor(input) then
    if input:dim() == 1 then return input:unsqueeze(0) end
    return input
  end
  return (model:to_tokens(input, { prepend_bos = prepend_bos }))
end

-- Token texts for display; "#id" where the model has no tokenizer.
local function str_tokens(model, toks)
  local ok, strs = pcall(model.to_str_tokens, model, toks)
  if ok then return strs end
  local out = {}
  for i, id in ipairs(toks:view(-1):tolist()) do out[i] = "#" .. id end
  return out
end

local stop_layer = require("fp.hook_layers").stop_layer_for   -- a cheaper run that still reaches the hook

-- fp.sae.feature_acts(model, sae, input[, opts]): the dictionary's feature activations
-- [batch, pos, d_sae] on the model's own activations (nothing spliced), and the tokens.
-- opts.prepend_bos, opts.attention_mask.
function M.feature_acts(model, sae, input, opts)
  opts = check_options("feature_acts", opts, { prepend_bos = true, attention_mask = true })
  local toks = tokens_of(model, input, opts.prepend_bos)
  local _, cache = model:run_with_cache(toks, { names_filter = sae.hook_name, stop_at_layer = stop_layer(model, sae.hook_name),
    attention_mask = opts.attention_mask })
  local x = cache[sae.hook_name]
  return fp.no_grad(function() return sae:encode(x) end), toks
end

-- fp.sae.attribution(model, sae, input, metric[, opts]): attribution of metric(logits) to each
-- feature at each position, activation x gradient, with the dictionary spliced in with its
-- error term (so the model's output is unchanged). Returns attr [batch, pos, d_sae], the
-- activations and the gradients. metric must return a one-element tensor.
function M.attribution(model, sae, input, metric, opts)
  opts = check_options("attribution", opts, { prepend_bos = true, use_error_term = true })
  if type(metric) ~= "function" then raise("attribution: metric must be a function(logits) -> one-element tensor") end
  local toks = tokens_of(model, input, opts.prepend_bos)
  local delta = fp.zeros(toks.shape[1], toks.shape[2], sae.d_sae):requires_grad()
  local acts
  local point = (sae.hook_name_out or sae.hook_name) .. ".hook_sae_acts_post"
  local logits = model:run_with_saes(toks, sae, { use_error_term = opts.use_error_term ~= false,
    fwd_hooks = { { point, function(f) acts = f:detach():clone(); return f + delta end } } })
  local m = metric(logits)
  if not fp.is_tensor(m) or m:numel() ~= 1 or not m.needs_grad then
    raise("attribution: metric(logits) must return a one-element tensor computed from the logits")
  end
  m:backward()
  local grad = delta.grad
  return acts * grad, acts, grad
end

-- A hook for `<hook>.hook_sae_acts_post` that sets features to a value (0: ablation) at
-- every position or at opts.positions (0-based, negatives from the end).
-- features: a feature index or a list of them.
function M.set_features_hook(features, value, opts)
  opts = check_options("set_features_hook", opts, { positions = true })
  if math.type(features) == "integer" then features = { features } end
  if type(features) ~= "table" then raise("set_features_hook: features must be an index or a list of indices") end
  value = value or 0
  return function(f)
    local g = f:clone()
    for _, j in ipairs(features) do
      if opts.positions then
        for _, p in ipairs(opts.positions) do g[{ {}, p, j }] = value end
      else
        g[{ "...", j }] = value
      end
    end
    return g
  end
end

-- fp.sae.steer(model, sae, { [feature] = coefficient, ... }, fn, ...): runs fn(...) with
-- coefficient x W_dec[feature] added at the dictionary's output hook point at every position
-- (also at each token that generate makes); returns fn's results. No splice is needed.
function M.steer(model, sae, coefficients, fn, ...)
  if type(coefficients) ~= "table" then raise("steer: expected { [feature] = coefficient, ... }") end
  if type(fn) ~= "function" then raise("steer: expected a function to run with the steering on") end
  local v = fp.zeros(sae.d_out or sae.d_in)
  for j, c in pairs(coefficients) do
    if math.type(j) ~= "integer" or j < 0 or j >= sae.d_sae then raise("steer: feature " .. tostring(j) .. " is not in 0.." .. sae.d_sae - 1) end
    if type(c) ~= "number" then raise("steer: the coefficient of feature " .. j .. " must be a number") end
    v = v + sae.W_dec[j] * c
  end
  local hook = sae.hook_name_out or sae.hook_name
  if sae.reshape_activations == "hook_z" then
    local H = model.cfg.n_heads
    v = v:reshape(H, (sae.d_out or sae.d_in) // H)
  end
  local args = table.pack(...)
  return model:hooks({ { hook, function(act) return act + v end } }, function() return fn(table.unpack(args, 1, args.n)) end)
end

-- fp.sae.logit_effects(model, sae, feature[, k]): the feature's direct effect on the logits,
-- W_dec[feature] @ W_U (no final norm, as SAE-Vis and Neuronpedia show it): the k most
-- raised and most lowered tokens as lists of { token = text, id = id, value = v }.
function M.logit_effects(model, sae, feature, k)
  k = k or 10
  if math.type(feature) ~= "integer" or feature < 0 or feature >= sae.d_sae then
    raise("logit_effects: feature must be an index in 0.." .. sae.d_sae - 1)
  end
  local effect = sae.W_dec[feature]:matmul(model.W_U)
  local function list(values, ids)
    local out = {}
    for i = 0, values:numel() - 1 do
      local id = ids[i]
      out[#out + 1] = { id = id, value = values[i], token = str_tokens(model, fp.tensor({ id }, "int"))[1] }
    end
    return out
  end
  local tv, ti = effect:topk(k)
  local bv, bi = effect:topk(k, { largest = false })
  return { top = list(tv, ti), bottom = list(bv, bi), effect = effect }
end

---------------------------------------------------------------------------------------------
-- Over a corpus

-- fp.sae.activation_stats(model, sae, texts[, opts]): one streamed pass over texts (strings or
-- token tensors [1, pos]) in batches of opts.batch_size (default 8) texts. Keeps per feature the
-- opts.k (default 10) highest activations with their text and position (memory: d_sae x k entries
-- and the tokens of the texts they point into), the firing count, the sum and the max.
-- opts.features restricts the top-k bookkeeping to a list of features; opts.skip_first_position
-- leaves position 0 (BOS or the attention sink) out of everything. Returns a stats table:
--   stats.top[j] = { {value, text = i, pos = p}, ... } (1-based text i, 0-based position p),
--   stats.density[j] (fraction of tokens where j fires), stats.max[j], stats.mean_when_active[j],
--   stats.n_tokens, stats.tokens[i] (token tensor of text i, kept only while referenced).
function M.activation_stats(model, sae, texts, opts)
  opts = check_options("activation_stats", opts, { k = true, batch_size = true, features = true, prepend_bos = true,
    progress = true, skip_first_position = true })
  if type(texts) ~= "table" or #texts == 0 then raise("activation_stats: expected a non-empty list of texts or token tensors") end
  local k, bs = opts.k or 10, opts.batch_size or 8
  local F = sae.d_sae
  local feats_sel = opts.features and fp.tensor(opts.features, "int") or nil
  local nsel = feats_sel and feats_sel:numel() or F
  local best_v = fp.full({ nsel, k }, -math.huge)     -- running top-k per feature
  local best_i = fp.full({ nsel, k }, -1, "int")       -- global token index (text * stride + pos)
  local count, sum, maxv = fp.zeros(F), fp.zeros(F), fp.zeros(F)
  local n_tokens, stride = 0, 1
  local toks_of = {}
  for _, t in ipairs(texts) do
    local tk = tokens_of(model, t, opts.prepend_bos)
    toks_of[#toks_of + 1] = tk
    stride = math.max(stride, tk.shape[2])
  end
  for start = 1, #toks_of, bs do
    for i = start, math.min(start + bs - 1, #toks_of) do
      local tk = toks_of[i]
      local f = M.feature_acts(model, sae, tk)[0]             -- [P, F]
      if opts.skip_first_position then f = fp.cat({ fp.zeros(1, F), f[{ { 1 } }] }, 0) end   -- position 0 never counts
      local P = f.shape[1]
      if opts.skip_first_position then n_tokens = n_tokens - 1 end
      n_tokens = n_tokens + P
      count = count + f:gt(0):float():sum(0)
      sum = sum + f:sum(0)
      maxv = maxv:max((f:max(0)))
      local fs = feats_sel and f:index_select(1, feats_sel) or f
      local kk = math.min(k, P)
      local v, p = fs:T():topk(kk)                           -- [nsel, kk]
      local gi = p + (i - 1) * stride
      local allv, alli = fp.cat({ best_v, v }, 1), fp.cat({ best_i, gi }, 1)
      local nv, order = allv:topk(k)
      best_v, best_i = nv, alli:gather(1, order)
    end
    if opts.progress then io.stderr:write(string.format("\ractivation_stats: %d/%d texts", math.min(start + bs - 1, #toks_of), #toks_of)) end
  end
  if opts.progress then io.stderr:write("\n") end
  local stats = { top = {}, n_tokens = n_tokens, tokens = {}, k = k, features = opts.features }
  local bv, bi = best_v:tolist(), best_i:tolist()
  for r = 1, nsel do
    local j = feats_sel and feats_sel[r - 1] or (r - 1)
    local list = {}
    for c = 1, k do
      local v = bv[r][c]
      if v > 0 then
        local text = bi[r][c] // stride + 1
        list[#list + 1] = { value = v, text = text, pos = bi[r][c] % stride }
        stats.tokens[text] = toks_of[text]
      end
    end
    stats.top[j] = list
  end
  stats.density = count / n_tokens
  stats.max = maxv
  stats.mean_when_active = sum / count:max(fp.ones(F))
  return stats
end

-- fp.sae.density_histogram(stats[, opts]): the log10 feature densities as a bar figure
-- (SAE-Vis's density plot); dead features (never fired) counted in the title.
function M.density_histogram(stats, opts)
  opts = check_options("density_histogram", opts, { bins = true, title = true })
  local bins = opts.bins or 30
  local d = stats.density:tolist()
  local logs, dead = {}, 0
  for _, v in ipairs(d) do if v > 0 then logs[#logs + 1] = math.log(v, 10) else dead = dead + 1 end end
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(logs) do lo = math.min(lo, v); hi = math.max(hi, v) end
  if #logs == 0 then lo, hi = -1, 0 end
  if hi - lo < 1e-9 then hi = lo + 1 end
  local counts, labels = {}, {}
  for b = 1, bins do counts[b] = 0; labels[b] = string.format("%.2f", lo + (b - 0.5) * (hi - lo) / bins) end
  for _, v in ipairs(logs) do
    local b = math.min(bins, math.floor((v - lo) / (hi - lo) * bins) + 1)
    counts[b] = counts[b] + 1
  end
  return require("fp.plot").bar({ labels = labels, values = counts }, { title = opts.title or
    string.format("feature density (log10), %d of %d features dead", dead, #d), xlabel = "log10 density", ylabel = "features",
    horizontal = false })
end

---------------------------------------------------------------------------------------------
-- The dashboard

local function token_span(text, value, maxv)
  local a = maxv > 0 and math.max(0, math.min(1, value / maxv)) or 0
  local shown = S.esc(text):gsub("\n", "&#8629;")
  return string.format('<span class="t" style="background: rgba(255, 120, 0, %.2f)" title="%s">%s</span>',
    a, S.esc(string.format("%s: %.4g", text, value)), shown)
end

-- fp.sae.dashboard(model, sae, feature, stats[, opts]): an HTML page for one feature (needs
-- stats from activation_stats that cover it): its top-activating contexts with each token
-- shaded by the feature's activation, the histogram of its non-zero activations in those
-- contexts, and its logit effects. opts.window tokens either side (default 12); opts.path saves it.
function M.dashboard(model, sae, feature, stats, opts)
  opts = check_options("dashboard", opts, { window = true, path = true, logits = true })
  local top = stats.top[feature]
  if not top then raise("dashboard: the stats have no top contexts for feature " .. tostring(feature)
    .. " (include it in activation_stats's opts.features)") end
  local W = opts.window or 12
  local rows, values = {}, {}
  local maxv = top[1] and top[1].value or 0
  for _, e in ipairs(top) do
    local toks = stats.tokens[e.text]
    local acts = M.feature_acts(model, sae, toks)[{ 0, {}, feature }]
    local P = toks.shape[2]
    local a, b = math.max(0, e.pos - W), math.min(P - 1, e.pos + W)
    local strs = str_tokens(model, toks[{ 0, { a, b + 1 } }])
    local spans = {}
    for p = a, b do
      local v = acts[p]
      if v > 0 then values[#values + 1] = v end
      local s = token_span(strs[p - a + 1], v, maxv)
      if p == e.pos then s = "<b>" .. s .. "</b>" end
      spans[#spans + 1] = s
    end
    rows[#rows + 1] = string.format("<tr><td class=\"v\">%.4g</td><td>%s</td></tr>", e.value, table.concat(spans))
  end
  -- histogram of the non-zero activations seen in the contexts
  local plot = require "fp.plot"
  local hist_svg = ""
  if #values > 0 then
    local bins, hi = 12, 0
    for _, v in ipairs(values) do hi = math.max(hi, v) end
    local counts, labels = {}, {}
    for i = 1, bins do counts[i] = 0; labels[i] = string.format("%.3g", (i - 0.5) * hi / bins) end
    for _, v in ipairs(values) do local i = math.min(bins, math.floor(v / hi * bins) + 1); counts[i] = counts[i] + 1 end
    hist_svg = plot.bar({ labels = labels, values = counts }, { title = "activations in the top contexts", horizontal = false,
      xlabel = "activation", ylabel = "tokens" }):svg()
  end
  local le = M.logit_effects(model, sae, feature, opts.logits or 10)
  local function logit_rows(list)
    local out = {}
    for _, e in ipairs(list) do out[#out + 1] = string.format("<tr><td>%s</td><td class=\"v\">%+.4f</td></tr>", S.esc(e.token), e.value) end
    return table.concat(out)
  end
  local density = stats.density[feature]
  local html = table.concat({
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>feature ", feature, "</title>\n<style>\n",
    "body { margin: 16px; font-family: ", S.font, "; } .t { white-space: pre; border-radius: 2px; }\n",
    "td { padding: 2px 8px; vertical-align: top; font-size: 13px; } .v { text-align: right; font-variant-numeric: tabular-nums; }\n",
    ".cols { display: flex; gap: 32px; flex-wrap: wrap; } h2 { font-size: 16px; }\n</style>\n</head>\n<body>\n",
    "<h1>feature ", feature, "</h1>\n<p>", S.esc(tostring(sae)), "<br>density ", string.format("%.3g", density),
    " of ", stats.n_tokens, " tokens; max activation ", string.format("%.4g", stats.max[feature]), "</p>\n",
    "<div class=\"cols\"><div><h2>logit effects: raised</h2><table>", logit_rows(le.top), "</table></div>",
    "<div><h2>lowered</h2><table>", logit_rows(le.bottom), "</table></div><div>", hist_svg, "</div></div>\n",
    "<h2>top activating contexts</h2>\n<table>", table.concat(rows, "\n"), "</table>\n</body>\n</html>\n",
  })
  if opts.path then files.write_atomic(opts.path, html, "dashboard") end
  return html
end

return M
