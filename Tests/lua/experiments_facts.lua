-- scripts/facts.lua in quick mode on SmolLM2: ablating the subject lowers the answer's
-- probability, the DLA components sum to the logit difference, and the OV projection of the
-- decomposed IO residual equals the same projection of the residual stream itself.
local datasets = require "fp.datasets"
local model = fp.load_model("smollm2-135m")   -- fetched by scripts/fetch-models.sh: required

local out = os.tmpname(); os.remove(out)
local run = script_runner("scripts/facts.lua", { "--quick", "--out", out })

test("the model knows facts of several relations; the clean probabilities match plain forward passes", function()
  local r = run()
  assert(r.known.count >= 10, r.known.count .. " known")
  local rels = 0
  for _, v in pairs(r.known.per_relation) do if v.known > 0 then rels = rels + 1 end end
  assert(rels >= 4, rels .. " relations with known facts")
  for _, a in ipairs(r.ablation.facts) do
    local tok = model:to_tokens(a.target, { prepend_bos = false })[{ 0, 0 }]
    local p = model:forward((model:to_tokens(a.prompt)))[{ 0, -1 }]:softmax()[tok]
    assert_close(a.clean, p, 1e-4, a.prompt)
  end
end)

test("noise and resample ablation of the subject lower the answer's probability", function()
  local r = run()
  assert(#r.ablation.facts >= 4)
  for _, a in ipairs(r.ablation.facts) do
    assert(a.noise < a.clean and a.resample < a.clean, a.prompt .. a.target)
  end
  assert(r.ablation.mean_noise < 0.5 * r.ablation.mean_clean)
  assert(r.ablation.mean_resample < 0.5 * r.ablation.mean_clean)
end)

test("DLA: the components of the full decomposition sum to the logit difference of a plain forward pass", function()
  local r = run()
  local d = r.dla
  local l = model:forward((model:to_tokens(d.prompt)))[{ 0, -1 }]
  local t = model:to_tokens(d.target_true, { prepend_bos = false })[{ 0, 0 }]
  local n = model:to_tokens(d.target_new, { prepend_bos = false })[{ 0, 0 }]
  assert_close(d.logit_diff, l[t] - l[n], 1e-4)
  assert_close(d.sum, d.logit_diff, 1e-3 * math.max(1, math.abs(d.logit_diff)))
  assert_equal(#d.components, model.cfg.n_layers * (model.cfg.n_heads + 1) + 2)   -- heads, MLPs, embed, bias
  assert(d.logit_diff > 0)
end)

test("the head and its OV projection: pattern rows sum to 1, the projection total equals resid_pre projected", function()
  local r = run()
  local h = r.head
  assert(h.attention_to_io > h.attention_to_s and h.direct_effect > 0)
  local prompt = "When Alex and Tim went to the store, Alex gave the bag to"
  local layer, head = h.layer, h.head
  local name = "blocks." .. layer
  local _, cache = model:run_with_cache(prompt, { names_filter = { name .. ".hook_resid_pre", name .. ".attn.hook_pattern",
    name .. ".ln1.hook_scale", "ln_final.hook_scale" } })
  local pat = cache[name .. ".attn.hook_pattern"][{ 0, head }]
  assert_close(pat:sum(-1), fp.ones(pat.shape[1]), 1e-5)
  assert_close(pat[{ -1, h.io_position }], h.attention_to_io, 1e-5)
  local tim = model:to_single_token(" Tim")
  local attn = model.blocks[layer].attn
  local resid = cache[name .. ".hook_resid_pre"][{ 0, h.io_position }]
  local v = (resid * model.blocks[layer].ln1.w):matmul(attn.W_V[head]):matmul(attn.W_O[head])
  local want = fp.item((v * model.ln_final.w):matmul(model.W_U[{ {}, tim }]))
  want = want / fp.item(cache[name .. ".ln1.hook_scale"][{ 0, h.io_position }]) / fp.item(cache["ln_final.hook_scale"][{ 0, -1 }])
  assert_close(r.ov_projection.total, want, 1e-3 * math.max(1, math.abs(want)))
  local json = require "fp.json"
  local saved = json.decode(assert(io.open(out .. "/results.json")):read("a"))
  assert_equal(saved.model, model.cfg.model_name)
  assert_close(saved.dla.sum, r.dla.sum, 1e-9)
  os.execute("rm -rf '" .. out .. "'")
end)
