-- Gradients through the model against PyTorch (Tests/fixtures/grad/*.npz, written by
-- Tests/fixtures/make_grad_fixtures.py on the committed tiny random GPT-2 and Llama):
-- an added vector and a learned unit-direction patch at blocks.0.hook_resid_post, a backward
-- hook at blocks.1.hook_resid_pre, and an MLP weight gradient. Tolerance: 1e-4 of the
-- gradient's largest entry (absolute) plus 1e-3 relative.
local root = "Tests/fixtures/"
local POS, TARGET = 2, 99

local function loss_of(logits)
  return -logits[{ 0, -1 }]:log_softmax(-1)[TARGET]
end

local function close_grad(got, want, what)
  local scale = fp.item(want:abs():max())
  local err = fp.item((got - want):abs():max())
  assert(err <= 1e-4 * scale + 1e-6, string.format("%s: max error %.3g vs largest entry %.3g", what, err, scale))
  return err / scale
end

for _, name in ipairs({ "gpt2-tiny", "llama-tiny" }) do
  local exp = fp.load_tensors(root .. "grad/" .. name .. ".npz")
  local model = fp.load_model(root .. "models/" .. name)
  local ids = exp.ids

  test(name .. ": gradient of an added vector and the backward hook's gradient match PyTorch", function()
    local v = exp.v:clone():requires_grad()
    local seen
    local logits = model:run_with_hooks(ids, {
      fwd_hooks = { { "blocks.0.hook_resid_post", function(act) act[{ 0, POS }] = act[{ 0, POS }] + v end } },
      bwd_hooks = { { "blocks.1.hook_resid_pre", function(g) seen = g:clone() end } },
    })
    assert(logits.needs_grad, "the logits downstream of v are taped")
    local loss = loss_of(logits)
    assert_close(fp.item(loss), fp.item(exp.loss_v), 1e-4)
    loss:backward()
    local r1 = close_grad(v.grad, exp.grad_v, "grad v")
    assert(seen, "the backward hook ran")
    local r2 = close_grad(seen, exp.grad_resid_pre1, "grad at blocks.1.hook_resid_pre")
    print(string.format("  %s: grad v rel err %.2e, hook grad rel err %.2e", name, r1, r2))
  end)

  test(name .. ": gradient of a learned unit direction patch matches PyTorch", function()
    local w = exp.w:clone():requires_grad()
    local s = fp.item(exp.s)
    local logits = model:run_with_hooks(ids, { fwd_hooks = { { "blocks.0.hook_resid_post", function(act)
      local u = w / w:norm()
      local x = act[{ 0, POS }]:clone()
      act[{ 0, POS }] = x + u * (s - (x * u):sum())
    end } } })
    local loss = loss_of(logits)
    assert_close(fp.item(loss), fp.item(exp.loss_w), 1e-4)
    loss:backward()
    print(string.format("  %s: grad w rel err %.2e", name, close_grad(w.grad, exp.grad_w, "grad w")))
  end)

  test(name .. ": gradient of an MLP weight (W_out of block 1) matches PyTorch", function()
    local W = model.blocks[1].mlp.W_out
    W:requires_grad()
    local ok, err = pcall(function()
      local loss = loss_of(model:forward(ids))
      assert_close(fp.item(loss), fp.item(exp.loss_plain), 1e-4)
      loss:backward()
      print(string.format("  %s: grad W_out rel err %.2e", name, close_grad(W.grad, exp.grad_W_out1, "grad W_out")))
    end)
    W:requires_grad(false); W.grad = nil
    assert(ok, err)
  end)

  test(name .. ": the taped forward gives the fast path's logits; no tape without trainable tensors", function()
    local plain = model:forward(ids)
    assert(not plain.needs_grad)
    local z = fp.zeros(model.cfg.d_model):requires_grad()
    local taped = model:run_with_hooks(ids, { fwd_hooks = { { "blocks.0.hook_resid_pre", function(act) return act + z end } } })
    assert(taped.needs_grad)
    assert_close(taped:detach(), plain, 1e-4)
    local untaped = fp.no_grad(function()
      return model:run_with_hooks(ids, { fwd_hooks = { { "blocks.0.hook_resid_pre", function(act) return act + z end } } })
    end)
    assert(not untaped.needs_grad)
    -- return_type = "loss" on the tape is a 0-d tensor
    local loss = model:run_with_hooks(ids, { return_type = "loss", fwd_hooks = { { "blocks.1.hook_resid_pre", function(act) return act + z end } } })
    assert(fp.is_tensor(loss) and loss:dim() == 0)
    assert_close(fp.item(loss), model:forward(ids, { return_type = "loss" }), 1e-4)
    loss:backward()
    assert(z.grad and fp.item(z.grad:abs():sum()) > 0)
  end)
end

test("backward hooks: errors name the hook; unknown names are rejected; gradients without trainable tensors", function()
  local model = fp.load_model(root .. "models/gpt2-tiny")
  local ids = fp.load_tensors(root .. "grad/gpt2-tiny.npz").ids
  expect_error(function()
    model:run_with_hooks(ids, { bwd_hooks = { { "blocks.9.hook_resid_pre", function() end } } })
  end, "no hook point named 'blocks.9.hook_resid_pre'")
  local logits = model:run_with_hooks(ids, { bwd_hooks = { { "blocks.1.hook_mlp_out", function() error("kaboom") end } } })
  expect_error(function() logits[{ 0, -1, 3 }]:backward() end, "backward hook 'blocks.1.hook_mlp_out' raised an error: .*kaboom")
  -- a logit at position 3 depends on the final residual stream only at position 3
  local g
  logits = model:run_with_hooks(ids, { bwd_hooks = { { "blocks.1.hook_resid_post", function(grad) g = grad:clone() end } } })
  logits[{ 0, 3, 5 }]:backward()
  assert(g and shape_string(g) == "[1, 7, 64]")
  assert(fp.item(g[{ 0, { 0, 3 } }]:abs():sum()) == 0 and fp.item(g[{ 0, { 4 } }]:abs():sum()) == 0, "only position 3 gets gradient")
  assert(fp.item(g[{ 0, 3 }]:abs():sum()) > 0)
end)
