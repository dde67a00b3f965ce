-- Distributed Alignment Search (the DAS tutorial, "Paris is in the country of Brazil"): copy
-- the residual stream at a city's last token from a source city into a base city. The whole
-- residual stream carries every fact about the city: the country changes, and so do the
-- continent and the language. A few residual dims (neurons) do not carry the country. A
-- trained 1-D rotated subspace (DAS) changes the country and much less of the continent;
-- trained with two more objectives that keep the base city's continent and language (RAVEL's
-- isolation, on other phrasings), it keeps the continent. In SmolLM2 the language answer
-- still moves with the country (docs/experiments.md).
--
--   fp run scripts/das_paris.lua [--model smollm2-135m] [--out out/das_paris] [--quick]
--                                [--base Moscow] [--source Cairo] [--layer 4]
--
-- SmolLM2-135M barely knows Paris's country (" France" 0.05 at best, in "Paris is a city in the
-- country of"), so the default pair is Moscow (base: Russia, Europe, Russian) and Cairo (source: Egypt, Africa,
-- Arabic), facts it knows in the prompts below; `--base` / `--source` take any city of CITIES.
-- Writes into --out: probs.svg/.html (p of each answer under each intervention), layers_full.svg,
-- layers_das.svg and layers.html (layer sweep, not in quick mode), results.json. Returns the results table.
local experiment = require "fp.experiment"
local das = require "fp.das"
local datasets = require "fp.datasets"

local exp = experiment.start(arg, {
  model = "smollm2-135m",
  out = "out/das_paris",
  quick = false,
  base = { "Moscow", "base city (the one whose country is edited)" },
  source = { "Cairo", "source city (where the new country comes from)" },
  layer = { "auto", "layer of the residual stream (blocks.L.hook_resid_pre); auto: 4 on SmolLM2's 30 layers, the same depth on others; the sweep shows the others" },
  steps = { 40, "DAS training steps (quick: 30)" },
  lr = { 0.5, "Adam learning rate for the DAS rotation" },
  neurons = { 8, "residual dims patched in the neuron patch (those where the cities differ most)" },
  sweep = { true, "also sweep the layers (skipped in quick mode)" },
  seed = { 0, "random seed (initial rotation)" },
}, { description = "DAS: full residual patch vs neurons vs a trained 1-D subspace, on a city's country." })
local opts, plot, has_plot = exp.opts, exp.plot, exp.plot ~= nil

-- Facts per city, first tokens of the answers (with a leading space). Add cities here.
local CITIES = {
  Moscow = { country = " Russia", continent = " Europe", language = " Russian" },
  Cairo = { country = " Egypt", continent = " Africa", language = " Arabic" },
  Tokyo = { country = " Japan", continent = " Asia", language = " Japanese" },
  Beijing = { country = " China", continent = " Asia", language = " Mandarin" },
  ["Rio de Janeiro"] = { country = " Brazil", continent = " South", language = " Portuguese" },
  ["Buenos Aires"] = { country = " Argentina", continent = " South", language = " Spanish" },
  Paris = { country = " France", continent = " Europe", language = " French" },
}
local RELATIONS = { "country", "continent", "language" }
-- Prompts shown and evaluated. Each starts with the city, so the city's activation is the same
-- in all three (the prefix is BOS + city) and one source activation serves them all.
local PROMPTS = {
  country = "%s is a city in the country of",
  continent = "%s is in the continent of",
  language = "%s is a city whose main language is",
}
-- Other phrasings for the isolation objective, so that the evaluation prompts stay held out.
local KEEP_PROMPTS = {
  continent = "%s is located on the continent of",
  language = "The official language of %s is",
}

fp.seed(opts.seed)
local model = exp.model
-- without a BOS token, the city would be the attention sink (a tokenizer without one, as Qwen's: none)
local BOS = { prepend_bos = datasets.has_bos(model) }
local n_layers, d_model = model.cfg.n_layers, model.cfg.d_model
local steps = opts.quick and math.min(opts.steps, 30) or opts.steps
for _, c in ipairs({ opts.base, opts.source }) do
  if not CITIES[c] then error("das_paris.lua: no facts for city '" .. c .. "' (add it to CITIES)") end
end
opts.layer = require("fp.args").layer(opts.layer, n_layers, 4, 30, "das_paris.lua: --layer")

local base, source = opts.base, opts.source
local function answer_id(city, rel) return datasets.answer_token(model, CITIES[city][rel], "das_paris.lua") end
local ids = {}   -- ids[rel] = { base = id, source = id }
for _, rel in ipairs(RELATIONS) do ids[rel] = { base = answer_id(base, rel), source = answer_id(source, rel) } end

-- Position of the city's last token in a prompt (BOS counted): the tokens of the text up to
-- the end of the city name. "Rio" is "R" "io" in SmolLM2, so this is computed per prompt.
local function last_city_pos(template, city)
  local before = template:sub(1, template:find("%s", 1, true) - 1)
  return #model:to_str_tokens(before .. city, BOS) - 1
end
local function tokens(template, city) return (model:to_tokens(template:format(city), BOS)) end

local function hook_name(layer) return "blocks." .. layer .. ".hook_resid_pre" end

-- The source city's residual stream at its last token, at `layer`.
local function source_act(layer, template)
  template = template or PROMPTS.country
  return das.source_activation(model, tokens(template, source), hook_name(layer), last_city_pos(template, source))
end

-- Last-position probabilities of the base prompt for `rel` with an edit of the city's vector:
-- edit(b, s) returns the new vector from the base's b and the source's s (nil edit: clean run).
local function probs(rel, layer, edit, template)
  template = template or PROMPTS[rel]
  local toks = tokens(template, base)
  if not edit then return das.last_probs(model, toks) end
  local pos, s = last_city_pos(template, base), source_act(layer, template)
  return das.last_probs(model, toks, { { hook_name(layer), function(act)
    act[{ 0, pos }] = edit(act[{ 0, pos }]:clone(), s)
  end } })
end

-- Everything we report about one intervention: top-3 per relation and p of both answers.
local function evaluate(name, layer, edit)
  local row = { name = name }
  for _, rel in ipairs(RELATIONS) do
    local p = probs(rel, layer, edit)
    local v, i = p:topk(3)
    local top = {}
    for j = 0, 2 do top[#top + 1] = { token = model:to_string(i[j]), p = v[j] } end
    row[rel] = { top = top, p_base = p[ids[rel].base], p_source = p[ids[rel].source],
                 argmax = model:to_string(i[0]) }
  end
  return row
end

local function fmt_top(top)
  local parts = {}
  for _, t in ipairs(top) do parts[#parts + 1] = string.format("%-12s %.2f", string.format("%q", t.token), t.p) end
  return table.concat(parts, "  ")
end
local function print_row(row)
  print(row.name)
  for _, rel in ipairs(RELATIONS) do
    print(string.format("  %-42s %s", PROMPTS[rel]:format(base), fmt_top(row[rel].top)))
  end
end

---------------------------------------------------------------------------------------------
-- 1. What the model knows about both cities (plain runs)
---------------------------------------------------------------------------------------------
print(string.format("model %s, layer %d (blocks.%d.hook_resid_pre), base %s, source %s", opts.model, opts.layer, opts.layer, base, source))
print(string.format("city tokens: %s | %s", table.concat(model:to_str_tokens(base, BOS), " "), table.concat(model:to_str_tokens(source, BOS), " ")))
local known = {}
for _, city in ipairs({ base, source }) do
  print(city .. " (clean)")
  for _, rel in ipairs(RELATIONS) do
    local p = das.last_probs(model, tokens(PROMPTS[rel], city))
    local v, i = p:topk(3)
    local top = {}
    for j = 0, 2 do top[#top + 1] = { token = model:to_string(i[j]), p = v[j] } end
    local ok = i[0] == answer_id(city, rel)
    known[city .. " " .. rel] = ok
    print(string.format("  %-42s %s%s", PROMPTS[rel]:format(city), fmt_top(top), ok and "" or "   (not known: expected " .. CITIES[city][rel] .. ")"))
  end
end

local L = opts.layer
local rows = {}
rows[#rows + 1] = evaluate("clean", L, nil)

---------------------------------------------------------------------------------------------
-- 2. The whole residual stream at the city's last token
---------------------------------------------------------------------------------------------
rows[#rows + 1] = evaluate("full residual patch", L, function(_, s) return s end)

---------------------------------------------------------------------------------------------
-- 3. A set of neurons: the residual dims where the two cities differ most
---------------------------------------------------------------------------------------------
local b_act = das.source_activation(model, tokens(PROMPTS.country, base), hook_name(L), last_city_pos(PROMPTS.country, base))
local s_act = source_act(L)
local _, dims = (s_act - b_act):abs():topk(opts.neurons)
local mask = fp.zeros(d_model)
local dim_list = {}
for j = 0, opts.neurons - 1 do mask[dims[j]] = 1; dim_list[#dim_list + 1] = dims[j] end
rows[#rows + 1] = evaluate(string.format("neuron patch (%d dims)", opts.neurons), L,
  function(b, s) return b + (s - b) * mask end)

---------------------------------------------------------------------------------------------
-- 4. DAS: a 1-D rotated subspace trained to make the base prompt say the source's country
---------------------------------------------------------------------------------------------
-- DAS with several objectives (fp.das.train has one): items {template, target id}; loss = sum
-- of -log p(target) with the interchange at the city's last token in every item's prompt.
local function train_multi(items, layer, label)
  local param = fp.nn.orthogonal(d_model, 1)
  local hook = hook_name(layer)
  for _, it in ipairs(items) do
    it.toks = tokens(it.template, base)
    it.fn = das.interchange_hook(param, last_city_pos(it.template, base), source_act(layer, it.template))
  end
  local opt = fp.optim.Adam(param:parameters(), { lr = opts.lr })
  local losses, best, best_state = {}, math.huge, nil
  local tick = exp:progress(label, steps)
  for step = 1, steps do
    opt:zero_grad()
    local loss
    for _, it in ipairs(items) do
      local logits = model:run_with_hooks(it.toks, { fwd_hooks = { { hook, it.fn } }, positions = { -1 } })
      local l = -logits[{ 0, -1 }]:log_softmax(-1)[it.target]
      loss = loss and loss + l or l
    end
    loss:backward()
    local v = fp.item(loss)
    losses[#losses + 1] = v
    if v < best then best = v; best_state = param:parameters()[1]:detach():clone() end
    opt:step()
    tick(1, string.format("loss %.3f", v))
  end
  fp.no_grad(function() param:parameters()[1]:detach():copy_(best_state) end)   -- keep the best step
  return param, losses
end

local function das_edit(param)
  local W = param:weight():detach()   -- [d, 1]
  return function(b, s) return b + W:matmul((s - b):matmul(W)) end
end

-- fp.das.train: one base/source pair, loss -log p(source's country) on the base prompt.
local function train_country(layer, n_steps)
  local run = das.train(model, { base = PROMPTS.country:format(base), source = PROMPTS.country:format(source),
    hook = hook_name(layer), base_pos = last_city_pos(PROMPTS.country, base),
    source_pos = last_city_pos(PROMPTS.country, source), target = ids.country.source,
    k = 1, steps = n_steps, lr = opts.lr, prepend_bos = BOS.prepend_bos })
  return run.param, run.losses
end
local t0 = fp.time()
local param_country, losses_country = train_country(L, steps)
local t_das = fp.time() - t0
rows[#rows + 1] = evaluate("DAS, 1-D (country objective)", L, das_edit(param_country))

-- RAVEL's isolation: the same direction must also leave the base city's continent and
-- language alone (trained on other phrasings than the ones evaluated).
local isolated = {
  { template = PROMPTS.country, target = ids.country.source },
  { template = KEEP_PROMPTS.continent, target = ids.continent.base },
  { template = KEEP_PROMPTS.language, target = ids.language.base },
}
t0 = fp.time()
local param_iso, losses_iso = train_multi(isolated, L, "DAS (country + isolation)")
local t_iso = fp.time() - t0
rows[#rows + 1] = evaluate("DAS, 1-D (country + keep continent, language)", L, das_edit(param_iso))

print("")
for i = 2, #rows do print_row(rows[i]) end

print("")
print(string.format("p(answer) on the base prompts (%s -> %s); 'src' = the source city's answer", base, source))
print(string.format("  %-48s %-17s %-17s %-17s", "intervention", "country", "continent", "language"))
print(string.format("  %-48s %-17s %-17s %-17s", "", "base / src", "base / src", "base / src"))
for _, r in ipairs(rows) do
  local cells = {}
  for _, rel in ipairs(RELATIONS) do cells[#cells + 1] = string.format("%.2f / %.2f", r[rel].p_base, r[rel].p_source) end
  print(string.format("  %-48s %-17s %-17s %-17s", r.name, cells[1], cells[2], cells[3]))
end
print(string.format("DAS training: %d steps, %.1fs (country), %.1fs (with isolation); loss %.2f -> %.2f and %.2f -> %.2f",
  steps, t_das, t_iso, losses_country[1], math.min(table.unpack(losses_country)), losses_iso[1], math.min(table.unpack(losses_iso))))

---------------------------------------------------------------------------------------------
-- 5. Layer sweep: full patch and country-only DAS every 4 layers
---------------------------------------------------------------------------------------------
local sweep
if opts.sweep and not opts.quick then
  sweep = { layers = {}, full = {}, das = {} }
  for _, rel in ipairs(RELATIONS) do sweep.full[rel] = {}; sweep.das[rel] = {} end
  for layer = 0, n_layers - 1, 4 do
    sweep.layers[#sweep.layers + 1] = layer
    local full = evaluate("full", layer, function(_, s) return s end)
    local p = train_country(layer, steps)
    local d = evaluate("das", layer, das_edit(p))
    for _, rel in ipairs(RELATIONS) do
      table.insert(sweep.full[rel], full[rel].p_source)
      table.insert(sweep.das[rel], d[rel].p_source)
    end
  end
  print("")
  print("layer sweep: p(source's answer) with the full residual patch / country-only DAS")
  for i, layer in ipairs(sweep.layers) do
    print(string.format("  layer %2d   country %.2f / %.2f   continent %.2f / %.2f   language %.2f / %.2f", layer,
      sweep.full.country[i], sweep.das.country[i], sweep.full.continent[i], sweep.das.continent[i],
      sweep.full.language[i], sweep.das.language[i]))
  end
end

---------------------------------------------------------------------------------------------
-- Figures and results
---------------------------------------------------------------------------------------------
local short = { "clean", "full residual", "neurons", "DAS", "DAS + isolation" }
if has_plot then
  local grid = fp.zeros(2, #rows, #RELATIONS)
  for i, r in ipairs(rows) do
    for j, rel in ipairs(RELATIONS) do
      grid[{ 0, i - 1, j - 1 }] = r[rel].p_source
      grid[{ 1, i - 1, j - 1 }] = r[rel].p_base
    end
  end
  local xl = {}
  for j, rel in ipairs(RELATIONS) do xl[j] = rel end
  local fig = plot.imshow(grid, { facets = { "p(" .. source .. "'s answer)", "p(" .. base .. "'s answer)" }, x = xl, y = short,
    cmap = "Blues", zmin = 0, zmax = 1, values = "%.2f", cell_width = 70,
    title = string.format("%s <- %s at layer %d: answers on %s's prompts", base, source, L, base) })
  fig:save(opts.out .. "/probs.svg")
  fig:save(opts.out .. "/probs.html")
  if sweep then
    -- one panel per intervention, one colour per relation, the same y range
    local colors = { country = "#1f77b4", continent = "#2ca02c", language = "#ff7f0e" }
    local figs = {}
    for _, kind in ipairs({ "full", "das" }) do
      local series = {}
      for _, rel in ipairs(RELATIONS) do
        series[#series + 1] = { name = rel, y = sweep[kind][rel], x = sweep.layers, color = colors[rel] }
      end
      local title = kind == "full" and "Full residual patch" or "DAS, 1-D (country objective)"
      figs[#figs + 1] = plot.line(series, { xlabel = "layer", ylabel = "p(" .. source .. "'s answer)", ymin = 0, ymax = 1,
        title = title .. ": " .. source .. " into " .. base })
      figs[#figs]:save(opts.out .. "/layers_" .. kind .. ".svg")
    end
    local lf = plot.page(figs, { title = "Patching " .. source .. " into " .. base .. " by layer" })
    lf:save(opts.out .. "/layers.html")
  end
end

local results = {
  model = opts.model, base = base, source = source, layer = L, hook = hook_name(L), steps = steps, lr = opts.lr,
  seed = opts.seed, quick = opts.quick, prompts = PROMPTS, keep_prompts = KEEP_PROMPTS, known = known,
  neuron_dims = dim_list, interventions = rows, losses = { country = losses_country, isolation = losses_iso },
  sweep = sweep,
}
return exp:finish(results)
