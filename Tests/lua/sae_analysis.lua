-- fp.sae's analyses on a SAELens fixture dictionary spliced into the tiny GPT-2, each against
-- an independent computation (brute force over the corpus, finite differences, the hook by hand).
local root = "Tests/fixtures/saes/"
local model = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local sae = fp.load_sae(root .. "standard")
local exp = fp.load_tensors(root .. "standard/expected.safetensors")
-- a small corpus of token sequences of different lengths (the fixture model has no tokenizer)
fp.seed(7)
local texts = {}
for i, n in ipairs({ 9, 14, 6, 12, 10 }) do texts[i] = fp.randint(0, 512, { 1, n }) end

test("feature_acts equals encode of the cached activation", function()
  local f, toks = fp.sae.feature_acts(model, sae, exp.tokens)
  assert_close(f, exp.feature_acts, 1e-4 * exp.feature_acts:abs():max())
  assert(toks.shape[2] == exp.tokens.shape[2])
end)

test("attribution: activation x gradient, gradient equal to a finite difference; error term keeps the logits", function()
  local target = exp.tokens[{ 0, 5 }]
  local function metric(logits) return logits[{ 0, 4, target }] end
  local attr, acts, grad = fp.sae.attribution(model, sae, exp.tokens, metric)
  assert_close(attr, acts * grad, 0)
  local _, j = acts[{ 0, 4 }]:max(0)
  j = fp.item(j)
  local h = 1e-2
  local function with(delta)
    local point = "blocks.0.hook_resid_post.hook_sae_acts_post"
    local l = model:run_with_saes(exp.tokens, sae, { use_error_term = true, fwd_hooks = { { point, function(f)
      local g = f:clone(); g[{ 0, 4, j }] = g[{ 0, 4, j }] + delta; return g end } } })
    return l[{ 0, 4, target }]
  end
  assert_close(with(0), model:forward(exp.tokens)[{ 0, 4, target }], 1e-4)
  local fd = (with(h) - with(-h)) / (2 * h)
  assert_close(grad[{ 0, 4, j }], fd, 2e-3 * math.max(1, math.abs(fd)))
end)

test("set_features_hook ablates features; steer adds c * W_dec[j] at the hook, also while generating", function()
  local point = "blocks.0.hook_resid_post.hook_sae_acts_post"
  local seen
  model:run_with_saes(exp.tokens, sae, { fwd_hooks = { { point, fp.sae.set_features_hook({ 3, 7 }, 0) },
    { point, function(f) seen = f:clone() end } } })
  assert(seen[{ "...", 3 }]:abs():max() == 0 and seen[{ "...", 7 }]:abs():max() == 0)
  local _, clean = model:run_with_cache(exp.tokens, { names_filter = "blocks.0.hook_resid_post" })
  local _, steered = fp.sae.steer(model, sae, { [5] = 4.0 }, function()
    return model:run_with_cache(exp.tokens, { names_filter = "blocks.0.hook_resid_post" })
  end)
  assert_close(steered["blocks.0.hook_resid_post"] - clean["blocks.0.hook_resid_post"],
    (sae.W_dec[5] * 4.0):expand(1, exp.tokens.shape[2], 64), 1e-5)
  -- generate: the steered greedy token is the argmax of the steered forward
  local prompt = exp.tokens[{ {}, { 0, 6 } }]
  local big = { [5] = 40.0, [9] = -40.0 }
  local out = fp.sae.steer(model, sae, big, function() return model:generate(prompt, { max_new_tokens = 1 }) end)
  local logits = fp.sae.steer(model, sae, big, function() return model:forward(prompt) end)
  local plain = model:generate(prompt, { max_new_tokens = 1 })
  assert(out[{ 0, -1 }] == fp.item(logits[{ 0, -1 }]:argmax()), "steered generate takes the steered argmax")
  assert(out[{ 0, -1 }] ~= plain[{ 0, -1 }], "steering changes the generated token")
end)

test("logit_effects: W_dec[j] @ W_U, its largest and smallest entries", function()
  local le = fp.sae.logit_effects(model, sae, 11, 5)
  local row = sae.W_dec[11]
  local vals = {}
  for v = 0, model.cfg.d_vocab - 1 do vals[#vals + 1] = { v, fp.item((row * model.W_U[{ {}, v }]):sum()) } end
  table.sort(vals, function(a, b) return a[2] > b[2] end)
  for i = 1, 5 do
    assert(le.top[i].id == vals[i][1], "top " .. i)
    assert_close(le.top[i].value, vals[i][2], 1e-4)
    assert(le.bottom[i].id == vals[#vals - i + 1][1], "bottom " .. i)
  end
end)

test("activation_stats: streamed top-k contexts and densities equal a brute-force pass", function()
  local stats = fp.sae.activation_stats(model, sae, texts, { k = 4, batch_size = 2 })
  local all = {}
  local fires, total = fp.zeros(sae.d_sae), 0
  for i, t in ipairs(texts) do
    local f = fp.sae.feature_acts(model, sae, t)[0]
    total = total + f.shape[1]
    fires = fires + f:gt(0):float():sum(0)
    for p = 0, f.shape[1] - 1 do all[#all + 1] = { text = i, pos = p, row = f[p] } end
  end
  assert(stats.n_tokens == total)
  assert_close(stats.density, fires / total, 1e-6)
  for _, j in ipairs({ 0, 17, 31, 47 }) do
    local vals = {}
    for _, e in ipairs(all) do local v = e.row[j]; if v > 0 then vals[#vals + 1] = { v, e.text, e.pos } end end
    table.sort(vals, function(a, b) return a[1] > b[1] end)
    local top = stats.top[j]
    assert(#top == math.min(4, #vals), "feature " .. j .. ": " .. #top .. " entries")
    for r = 1, #top do
      assert_close(top[r].value, vals[r][1], 1e-5)
      assert(top[r].text == vals[r][2] and top[r].pos == vals[r][3], "feature " .. j .. " rank " .. r)
    end
  end
end)

test("activation_stats: skip_first_position leaves position 0 out of the counts and the top contexts", function()
  local all = fp.sae.activation_stats(model, sae, texts, { k = 50 })
  local skip = fp.sae.activation_stats(model, sae, texts, { k = 50, skip_first_position = true })
  assert(skip.n_tokens == all.n_tokens - #texts)
  local firsts = fp.zeros(sae.d_sae)
  for _, t in ipairs(texts) do firsts = firsts + fp.sae.feature_acts(model, sae, t)[{ 0, 0 }]:gt(0):float() end
  assert_close(skip.density * skip.n_tokens, all.density * all.n_tokens - firsts, 1e-3)
  for j, list in pairs(skip.top) do for _, e in ipairs(list) do assert(e.pos > 0, "feature " .. j) end end
end)

test("dashboard: an HTML page with the top contexts, histogram and logit table; density histogram", function()
  local stats = fp.sae.activation_stats(model, sae, texts, { k = 3, features = { 2, 17 } })
  assert(stats.top[2] and stats.top[5] == nil)
  local path = os.tmpname() .. ".html"
  local html = fp.sae.dashboard(model, sae, 17, stats, { path = path })
  assert(html:find("<h1>feature 17</h1>", 1, true) and html:find("top activating contexts", 1, true))
  assert(html:find("<svg", 1, true), "histogram")
  local le = fp.sae.logit_effects(model, sae, 17, 1)
  local esc = require("fp.plot_svg").esc
  assert(html:find(esc(le.top[1].token), 1, true), "top logit token listed")
  local f = io.open(path); assert(f:read("a") == html); f:close(); os.remove(path)
  expect_error(function() fp.sae.dashboard(model, sae, 5, stats) end, "no top contexts for feature 5")
  local fig = fp.sae.density_histogram(fp.sae.activation_stats(model, sae, texts))
  assert(fig:svg():find("<svg", 1, true))
end)
