-- scripts/das_paris.lua in quick mode on SmolLM2 (Moscow <- Cairo at layer 4): the clean and
-- full-patch numbers equal runs done here by hand; the full residual patch moves the country
-- and leaks into the continent and the language; a few residual dims do not move the country;
-- the trained 1-D subspace moves the country more than the continent.
local model = fp.load_model("smollm2-135m")   -- fetched by scripts/fetch-models.sh: required

local out = os.tmpname(); os.remove(out)
local run = script_runner("scripts/das_paris.lua", { "--quick", "--out", out })

local BOS = { prepend_bos = true }
local function row(r, name)
  for _, x in ipairs(r.interventions) do if x.name:find(name, 1, true) == 1 then return x end end
  error("no intervention " .. name)
end
local function p_last(prompt, hooks)
  local toks = model:to_tokens(prompt, BOS)
  local logits = hooks and model:run_with_hooks(toks, { fwd_hooks = hooks }) or model:forward(toks)
  return logits[{ 0, -1 }]:softmax()
end

test("the model knows all six facts; clean probabilities match plain forward passes", function()
  local r = run()
  assert_equal(r.base, "Moscow"); assert_equal(r.source, "Cairo")
  for k, v in pairs(r.known) do assert(v, k .. " not known") end
  local clean = row(r, "clean")
  local russia, europe, russian = model:to_single_token(" Russia"), model:to_single_token(" Europe"), model:to_single_token(" Russian")
  assert_close(clean.country.p_base, p_last("Moscow is a city in the country of")[russia], 1e-4)
  assert_close(clean.continent.p_base, p_last("Moscow is in the continent of")[europe], 1e-4)
  assert_close(clean.language.p_base, p_last("Moscow is a city whose main language is")[russian], 1e-4)
end)

test("full residual patch = a hand-made patch at the city's last token; it moves country, continent and language", function()
  local r = run()
  -- "M" "oscow" and "C" "airo" after BOS: the last city token is position 2 in both
  assert_equal(model:to_str_tokens("Moscow", BOS), { "<|im_start|>", "M", "oscow" })
  local hook = "blocks." .. r.layer .. ".hook_resid_pre"
  local _, cache = model:run_with_cache(model:to_tokens("Cairo is in the continent of", BOS), { names_filter = hook })
  local s = cache[hook][{ 0, 2 }]:clone()
  local africa = model:to_single_token(" Africa")
  local p = p_last("Moscow is in the continent of", { { hook, function(act) act[{ 0, 2 }] = s end } })[africa]
  local full = row(r, "full residual patch")
  assert_close(full.continent.p_source, p, 1e-4)
  assert(full.country.p_source > 0.5, "country moves")
  assert(full.continent.p_source > 0.5, "continent leaks")
  assert(full.language.p_source > 0.2 and full.language.p_base < 0.1, "language leaks")
end)

test("a few residual dims keep the base city's country", function()
  local r = run()
  local neurons = row(r, "neuron patch")
  assert(neurons.country.p_base > 0.5 and neurons.country.p_source < 0.05)
  assert_equal(#r.neuron_dims, 8)
end)

test("DAS: the trained 1-D subspace moves the country more than the continent, and leaks less than the full patch", function()
  local r = run()
  local clean, full, das = row(r, "clean"), row(r, "full residual patch"), row(r, "DAS, 1-D (country objective)")
  local d_country = das.country.p_source - clean.country.p_source
  local d_continent = das.continent.p_source - clean.continent.p_source
  assert(das.country.p_source > 0.5, "country flips: " .. das.country.p_source)
  assert(d_country > d_continent + 0.3, string.format("country %.2f vs continent %.2f", d_country, d_continent))
  assert(das.continent.p_source < full.continent.p_source, "continent leaks less than with the full patch")
  assert(das.continent.p_base > 0.3, "the base continent survives: " .. das.continent.p_base)
  -- training lowered the loss
  assert(r.losses.country[1] > 5 and math.min(table.unpack(r.losses.country)) < 1)
  -- with the isolation objective the continent stays the base city's
  local iso = row(r, "DAS, 1-D (country + keep")
  assert(iso.continent.p_base > das.continent.p_base - 0.05 and iso.continent.p_source < 0.1)
end)
