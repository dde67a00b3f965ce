-- scripts/fact_patching.lua in quick mode on SmolLM2 (5 pairs, one layer): the batched
-- (left-padded) numbers equal single-prompt runs done here by hand; the learned directions
-- lower the logit diff below the clean one for most pairs; the rank-1 edit adds exactly the
-- patch's change to the MLP output at the subject, changes the base prediction, and
-- model:restore() brings the original logits back exactly.
local model = fp.load_model("smollm2-135m")   -- fetched by scripts/fetch-models.sh: required

local out = os.tmpname(); os.remove(out)
local run = script_runner("scripts/fact_patching.lua", { "--quick", "--out", out })

local BOS = { prepend_bos = true }
local function tok(s) return model:to_tokens(s, { prepend_bos = false })[{ 0, 0 }] end
-- Logit diff (base answer - source answer) of pair i with `hooks`, from one unpadded prompt.
local function single_ld(r, i, hooks)
  local p = r.pairs[i]
  local l = model:run_with_hooks(model:to_tokens((p.prompt:gsub("{}", p.base_subject)), BOS), { fwd_hooks = hooks or {} })[{ 0, -1 }]
  return l[tok(p.base_target)] - l[tok(p.source_target)], l
end
local function subj_pos(template, subject)
  return #model:to_str_tokens(template:sub(1, template:find("{}", 1, true) - 1) .. subject, BOS) - 1
end
local function analysis(r, i, method)
  for _, a in ipairs(r.analysis) do if a.pair == i - 1 and a.method == method then return a end end
end

test("pairs share a prompt and differ in answer; clean logit diffs match single-prompt runs", function()
  local r = run()
  assert(r.n_known >= 50, r.n_known .. " known facts")
  assert(r.n_pairs >= 4)
  for i, p in ipairs(r.pairs) do
    assert(p.base_subject ~= p.source_subject and tok(p.base_target) ~= tok(p.source_target))
    local ld = single_ld(r, i)
    assert_close(analysis(r, i, "clean").ld, ld, 1e-3, p.base_subject)
    assert(ld > 0, "the model prefers the base answer")
  end
end)

test("learned directions: unit norm, the batched patch equals a single-prompt patch, most pairs below the clean diff", function()
  local r = run()
  local L, V, S = r.layer, r.directions, r.source_acts
  assert_close(V:norm(2, -1), fp.ones(r.n_pairs), 1e-4)
  local hook = "blocks." .. L .. ".mlp.hook_post"
  local below = 0
  for i, p in ipairs(r.pairs) do
    -- the source activation at the source subject's last token, from its own run
    local _, cache = model:run_with_cache(model:to_tokens((p.prompt:gsub("{}", p.source_subject)), BOS), { names_filter = hook })
    assert_close(S[i - 1], cache[hook][{ 0, subj_pos(p.prompt, p.source_subject) }], 1e-3)
    local pos, v, s = subj_pos(p.prompt, p.base_subject), V[i - 1], S[i - 1]
    local ld = single_ld(r, i, { { hook, function(act)
      local x = act[{ 0, pos }]:clone()
      act[{ 0, pos }] = x + v * ((s - x) * v):sum()
    end } })
    local das = analysis(r, i, "das")
    assert_close(das.ld, ld, 1e-2 * math.max(1, math.abs(ld)), p.base_subject .. " das")
    if das.ld < analysis(r, i, "clean").ld then below = below + 1 end
  end
  assert(below >= math.ceil(0.8 * r.n_pairs), below .. " of " .. r.n_pairs .. " pairs below the clean diff")
end)

test("rank-1 edit: same MLP output change as the patch, changes the base prediction; restore() is exact", function()
  local r = run()
  local L = r.layer
  local W = model.blocks[L].mlp.W_out
  local hook, out_hook = "blocks." .. L .. ".mlp.hook_post", "blocks." .. L .. ".hook_mlp_out"
  -- pick the pair whose edit moved the prediction most
  local best
  for i, e in ipairs(r.edits) do if not best or e.edit_ld < r.edits[best].edit_ld then best = i end end
  local p, e, ev = r.pairs[best], r.edits[best], r.edit_vectors[best]
  local pos = subj_pos(p.prompt, p.base_subject)
  local toks = model:to_tokens((p.prompt:gsub("{}", p.base_subject)), BOS)
  local clean_logits, cache = model:run_with_cache(toks, { names_filter = { hook, out_hook } })
  local x = cache[hook][{ 0, pos }]
  assert_close((x * ev.b):sum(), 1, 1e-3)                 -- b is scaled so that x . b = 1
  -- the patch's MLP output at the subject
  local v, s = r.directions[best - 1], r.source_acts[best - 1]
  local _, pc = model:run_with_cache(toks, { names_filter = out_hook, fwd_hooks = { { hook, function(act)
    local y = act[{ 0, pos }]:clone()
    act[{ 0, pos }] = y + v * ((s - y) * v):sum()
  end } } })
  model:snapshot()
  W:copy_(W + fp.outer(ev.b, ev.a))
  local edited, ec = model:run_with_cache(toks, { names_filter = out_hook })
  local base_t, source_t = tok(p.base_target), tok(p.source_target)
  assert_close(ec[out_hook][{ 0, pos }], pc[out_hook][{ 0, pos }], 2e-3)
  assert_close(edited[{ 0, -1, base_t }] - edited[{ 0, -1, source_t }], e.edit_ld, 1e-2 * math.max(1, math.abs(e.edit_ld)))
  assert(edited[{ 0, -1 }]:argmax() ~= clean_logits[{ 0, -1 }]:argmax(), "the edit changes the base prediction")
  assert(e.edit_ld < e.clean_ld)
  model:restore()
  local restored = model:forward(toks)
  assert_close(restored, clean_logits, 0)
end)
