-- load_model's dtype = "bf16": weight products through oneDNN's matmul with bf16 copies of the
-- weights (reordered once, kept until the weight changes). Checked against the float32 model
-- on the tiny random GPT-2 fixture: close (bf16 rounding), not equal (it is a bf16 product),
-- and every way a script writes a weight (index assignment into a weight view, in-place ops,
-- restore) reaches the next forward pass.
local path = "Tests/fixtures/models/gpt2-tiny"
local toks = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")

local function maxdiff(a, b) return fp.item((a - b):abs():max()) end

test("dtype is checked", function()
  expect_error(function() fp.load_model(path, { dtype = "fp16" }) end, "dtype")
  expect_error(function() fp.load_model(path, { dtype = 16 }) end, "dtype")
  expect_error(function() fp.load_model(path, { dtyp = "bf16" }) end, "dtype")
  local m = fp.load_model(path, { dtype = "float32" })
  assert(maxdiff(m:forward(toks), fp.load_model(path):forward(toks)) == 0, "float32 is the default")
end)

if fp.config().onednn_isa:sub(1, 11) ~= "avx512_core" then
  test("bf16 needs AVX-512", function()
    expect_error(function() fp.load_model(path, { dtype = "bf16" }) end, "AVX%-512")
  end)
  return
end

local m32 = fp.load_model(path)
local m16 = fp.load_model(path, { dtype = "bf16" })

test("bf16 logits are within bf16 rounding of float32, and not equal to them", function()
  local a, b = m32:forward(toks), m16:forward(toks)
  local d, scale = maxdiff(a, b), fp.item(a:abs():max())
  -- bf16 keeps 8 significant bits (relative error 2^-9 per operand)
  assert(d < 0.05 * scale, ("bf16 deviation %g for logits of size %g"):format(d, scale))
  assert(d > 1e-6, "the bf16 model really multiplies in bf16")
  -- the weights themselves stay float32 for hooks and weight views
  assert(maxdiff(m16.blocks[0].mlp.W_in, m32.blocks[0].mlp.W_in) == 0)
end)

test("a second forward reuses the reordered weights", function()
  m16:forward(toks)
  local before = fp.config().weight_reorders
  local a = m16:forward(toks)
  assert(fp.config().weight_reorders == before, "no reorder without a weight edit")
  assert(fp.config().weight_pack_bytes > 0)
  assert(maxdiff(a, m16:forward(toks)) == 0, "deterministic")
end)

test("weight edits from Lua change the next bf16 forward; restore brings it back exactly", function()
  m16:snapshot()
  local base, base32 = m16:forward(toks), m32:forward(toks)
  local edits = {
    { "W_in row assignment", function(m) local W = m.blocks[0].mlp.W_in; W[{ 3, {} }] = W[{ 3, {} }] * 4 end },
    { "W_Q (fused QKV) block assignment", function(m) m.blocks[1].attn.W_Q[{ 0 }] = fp.zeros(m.cfg.d_model, m.cfg.d_head) end },
    { "W_U in-place scale", function(m) local W = m.W_U; W[{ {}, { 0, 50 } }] = W[{ {}, { 0, 50 } }] * -1 end },
  }
  for _, e in ipairs(edits) do
    m32:snapshot()
    e[2](m16); e[2](m32)
    local got, want = m16:forward(toks), m32:forward(toks)
    local effect = maxdiff(want, base32)
    assert(effect > 1e-3, e[1] .. ": the edit changes the float32 logits")
    assert(maxdiff(got, base) > 0.5 * effect, e[1] .. ": the bf16 forward sees the edit")
    assert(maxdiff(got, want) < 0.05 * fp.item(want:abs():max()), e[1] .. ": bf16 matches the edited float32 model")
    m16:restore(); m32:restore()
    assert(maxdiff(m16:forward(toks), base) == 0, e[1] .. ": restore")
  end
end)

test("the backward of a bf16 model multiplies by bf16 copies of W^T; its gradient is within bf16 rounding", function()
  local function grad_of(m)
    local v = fp.zeros(m.cfg.d_model):requires_grad()
    local logits = m:run_with_hooks(toks, { fwd_hooks = { { "blocks.0.hook_resid_pre", function(act) return act + v end } } })
    local lp = logits[{ 0, -1 }]:log_softmax(-1)
    local loss = lp[5] - lp[7]
    local packs = fp.config().weight_pack_bytes
    loss:backward()
    return v.grad, fp.config().weight_pack_bytes - packs
  end
  local g32 = grad_of(m32)
  local g16, added = grad_of(m16)
  assert(added > 0, "the backward made bf16 copies of the transposed weights")
  local d, scale = maxdiff(g16, g32), fp.item(g32:abs():max())
  assert(d < 0.05 * scale, ("bf16 gradient deviation %g for gradients of size %g"):format(d, scale))
  assert(d > 0, "the bf16 model's gradient differs from float32's")
  -- a second backward reuses them
  local _, again = grad_of(m16)
  assert(again == 0, "no new copies on the second step")
end)
