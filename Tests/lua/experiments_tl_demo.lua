-- scripts/tl_demo.lua (TransformerLens's Exploratory Analysis Demo ported to fp) against the same
-- notebook run by TransformerLens 3.9 on the same SmolLM2 weights
-- (Tests/fixtures/make_tl_demo.py -> Tests/fixtures/tl_parity/tl_demo.npz).
local want = fp.load_tensors("Tests/fixtures/tl_parity/tl_demo.npz")
local out = os.tmpname(); os.remove(out)
local run = script_runner("scripts/tl_demo.lua", { "--out", out })

local function same(name, got, w, rel)
  w = w or want[name]
  assert(table.concat(got.shape, ",") == table.concat(w.shape, ","),
    name .. ": shape " .. table.concat(got.shape, ",") .. " vs " .. table.concat(w.shape, ","))
  assert_close(got, w, (rel or 1e-3) * math.max(1, w:abs():max()), name)
end

test("IOI logit differences: per prompt, average and corrupted equal TransformerLens's", function()
  local r = run()
  same("per_prompt_diff", r.per_prompt_diff)
  assert_close(r.ave_logit_diff, want.ave_logit_diff:item(), 2e-3)
  assert_close(r.corrupted_ave_logit_diff, want.corrupted_ave_logit_diff:item(), 2e-3)
  assert(r.ave_logit_diff > 1, "SmolLM2 prefers the indirect object")
end)

test("logit lens and direct logit attribution (layers, heads) equal TransformerLens's", function()
  local r = run()
  same("logit_lens", r.logit_lens)
  same("per_layer", r.per_layer)
  same("per_head", r.per_head)
  -- the components sum to the final logit difference (the last logit-lens entry)
  assert_close(r.per_layer:sum(), r.logit_lens[{ -1 }], 1e-2 * math.max(1, math.abs(r.logit_lens[{ -1 }])))
end)

test("activation patching (resid_pre, head outputs, head values) equals TransformerLens's on its cells", function()
  local r = run()
  -- the fixture has TransformerLens's values on chosen cells of each sweep (see make_tl_demo.py)
  for _, name in ipairs({ "patch_resid_pre", "patch_head_out", "patch_head_v" }) do
    local cells, w = want[name .. "_cells"], want[name]
    for i = 0, cells.shape[1] - 1 do
      local a, b = cells[{ i, 0 }], cells[{ i, 1 }]
      assert_close(r[name][{ a, b }], w[{ i }], 2e-3, name .. " cell " .. a .. "," .. b)
    end
  end
  assert(want.patch_resid_pre:max() - want.patch_resid_pre:min() > 0.5, "the fixture's cells vary")
  assert(r.patch_resid_pre:max() > 0.5, "some cell restores most of the clean difference")
end)

test("induction heads: the notebook's random tokens (torch's stream) and induction scores", function()
  local r = run()
  assert(r.seq_len == 50)
  assert(r.repeated_tokens:eq(want.repeated_tokens):all(), "fp.torch_generator(0):randint gives torch's tokens")
  same("induction_scores", r.induction_scores, nil, 1e-3)
  assert(r.induction_heads[1].score > 0.3, "SmolLM2 has induction heads")
end)
