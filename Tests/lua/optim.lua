-- fp.optim against PyTorch trajectories (Tests/fixtures/grad/optim.npz from
-- make_grad_fixtures.py): 6 steps on f(x) = sum(a (x - c)^2) per optimizer/schedule, within 1e-5;
-- clip_grad_norm's total norm and clipped gradients; fp.nn parametrizations stay orthonormal.
local exp = fp.load_tensors("Tests/fixtures/grad/optim.npz")

local runs = {
  sgd = function(p) return fp.optim.SGD(p, { lr = 0.1, momentum = 0.9, weight_decay = 0.01 }) end,
  sgd_nesterov = function(p) return fp.optim.SGD(p, { lr = 0.05, momentum = 0.8, nesterov = true }) end,
  adam = function(p) return fp.optim.Adam(p, { lr = 0.1 }) end,
  adam_wd = function(p) return fp.optim.Adam(p, { lr = 0.1, betas = { 0.8, 0.95 }, weight_decay = 0.1 }) end,
  adamw = function(p) return fp.optim.AdamW(p, { lr = 0.1 }) end,
  adamw_linear = function(p)
    local o = fp.optim.AdamW(p, { lr = 0.1, weight_decay = 0.05 })
    return o, fp.optim.LinearLR(o, { start_factor = 0.5, end_factor = 1.0, total_iters = 4 })
  end,
  sgd_step = function(p)
    local o = fp.optim.SGD(p, { lr = 0.1 })
    return o, fp.optim.StepLR(o, { step_size = 2, gamma = 0.5 })
  end,
  adam_cosine = function(p)
    local o = fp.optim.Adam(p, { lr = 0.2 })
    return o, fp.optim.CosineAnnealingLR(o, { T_max = 5, eta_min = 0.01 })
  end,
}

for name, make in pairs(runs) do
  test("optimizer trajectory matches torch: " .. name, function()
    local x = exp.x0:clone():requires_grad()
    local opt, sched = make({ x })
    for step = 0, 5 do
      opt:zero_grad();
      ((x - exp.c) ^ 2 * exp.a):sum():backward()
      opt:step()
      if sched then sched:step() end
      assert_close(x:detach(), exp[name][{ step }], 1e-5, name .. " step " .. step)
    end
  end)
end

test("clip_grad_norm matches torch", function()
  local p1, p2 = fp.zeros(3):requires_grad(), fp.zeros(2, 2):requires_grad()
  p1.grad, p2.grad = exp.clip_g1:clone(), exp.clip_g2:clone()
  local total = fp.optim.clip_grad_norm({ p1, p2 }, 1.0)
  assert_close(total, fp.item(exp.clip_total), 1e-5)
  assert_close(p1.grad, exp.clip_p1, 1e-6)
  assert_close(p2.grad, exp.clip_p2, 1e-6)
end)

test("optimizer arguments are checked", function()
  expect_error(function() fp.optim.Adam({ fp.zeros(2) }) end, "does not require grad")
  expect_error(function() fp.optim.SGD({ fp.zeros(2):requires_grad() }, { lr = "x" }) end, "SGD: lr must be a finite number >= 0, got string")
  expect_error(function() fp.optim.SGD({ fp.zeros(2):requires_grad() }, { lrr = 1 }) end, "unknown option 'lrr'")
end)

test("orthogonal parametrization keeps orthonormal columns while training; unit vectors keep norm 1", function()
  fp.seed(3)
  local R = fp.nn.orthogonal(8, 3)
  local target = fp.randn(8, 3)
  local opt = fp.optim.Adam(R:parameters(), { lr = 0.1 })
  local first
  for i = 1, 30 do
    opt:zero_grad()
    local loss = ((R:weight() - target) ^ 2):sum()
    first = first or fp.item(loss)
    loss:backward()
    opt:step()
    local W = fp.no_grad(function() return R:weight() end)
    local gram = W:T():matmul(W)
    assert_close(gram, fp.eye(3), 1e-5, "W^T W at step " .. i)
  end
  local last = fp.item(fp.no_grad(function() return ((R:weight() - target) ^ 2):sum() end))
  assert(last < first, "training lowers the loss")
  -- the matrix-exponential map (the default for large k and full rotations), trained
  for _, c in ipairs({ { 8, 3 }, { 96, 96 } }) do
    local n, k = c[1], c[2]
    local E = fp.nn.orthogonal(n, k, { map = "matrix_exp" })
    local tgt = fp.randn(n, k)
    local o = fp.optim.Adam(E:parameters(), { lr = 0.05 })
    local l0, l1
    for i = 1, 10 do
      o:zero_grad()
      local loss = ((E:weight() - tgt) ^ 2):sum()
      l0 = l0 or fp.item(loss); l1 = fp.item(loss)
      loss:backward(); o:step()
      local W = E:weight():detach()
      assert_close(W:T():matmul(W), fp.eye(k), 1e-5, string.format("matrix_exp %dx%d step %d", n, k, i))
    end
    assert(l1 < l0, "matrix_exp training lowers the loss")
  end
  local full = fp.nn.orthogonal(5, 5, { map = "householder" })
  local Q = full:weight():detach()
  assert_close(Q:matmul(Q:T()), fp.eye(5), 1e-5, "full rotation rows")
  local u = fp.nn.unit_vector(6)
  local opt2 = fp.optim.SGD(u:parameters(), { lr = 0.5 })
  for _ = 1, 5 do
    opt2:zero_grad(); (u:weight() * fp.arange(6)):sum():backward(); opt2:step()
    assert_close(fp.item(u:weight():norm()), 1, 1e-6)
  end
end)
