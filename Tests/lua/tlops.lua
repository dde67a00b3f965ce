-- TransformerLens-notebook tensor operations against torch and einops (Tests/fixtures/tlops/,
-- written by Tests/fixtures/make_tlops_fixtures.py): diagonal, tril/triu, cumsum, logsumexp,
-- repeat_interleave, tile, einsum with "...", with gradients of sum(op(x) * W); einops
-- rearrange / reduce / repeat_ and the patterns einops rejects; the torch-compatible generator's
-- streams (integers and uniforms exactly, normals to float32 rounding).
local json = require "fp.json"
local root = "Tests/fixtures/tlops/"
local E = fp.load_tensors(root .. "expected.npz")
local cases = json.decode(assert(io.open(root .. "cases.json")):read("a"))

local function same(got, want, what)
  assert_equal(got.shape, want.shape, what .. " shape")
  assert_equal(got.dtype, want.dtype, what .. " dtype")
  assert(got:eq(want):all(), what .. ": values differ")
end

-- value and gradient of sum(f(x) * W) against torch
local function check_grad(name, x, f)
  local xx = x:clone():requires_grad()
  local y = f(xx)
  assert_close(y:detach(), E[name], 1e-6, name)
  local loss = (y * E[name .. "_W"]):sum()
  loss:backward()
  assert_close(xx.grad, E[name .. "_grad"], 1e-5, name .. " grad")
end

local x34, x234, xi = E.x34, E.x234, E.xi

test("diagonal: offsets, dims and negative dims as torch.diagonal, a view, gradients", function()
  check_grad("diag", x34, function(x) return x:diagonal() end)
  check_grad("diag_p1", x34, function(x) return x:diagonal(1) end)
  check_grad("diag_m2", x34, function(x) return fp.diagonal(x, -2) end)
  check_grad("diag_3d", x234, function(x) return x:diagonal({ offset = 1, dim1 = -1, dim2 = 0 }) end)
  assert_equal(x34:diagonal(9).shape, E.diag_far.shape)
  local m = fp.zeros(3, 3)
  m:diagonal():fill_(5)   -- a view: writes land in m
  assert(m:sum() == 15 and m[{ 1, 1 }] == 5)
  expect_error(function() return x34:diagonal(0, 1, 1) end, "dim1 and dim2 cannot be the same")
  expect_error(function() return x34:diagonal(0, 0, 2) end, "out of range")
  expect_error(function() return fp.zeros(3):diagonal() end, "at least 2 dimensions")
end)

test("tril / triu: k above and below, batches, int tensors, gradients", function()
  check_grad("tril", x34, function(x) return x:tril() end)
  check_grad("triu_1", x234, function(x) return x:triu(1) end)
  assert_close(x34:tril(-1), E.tril_m1, 0)
  assert_close(fp.triu(x34, -2), E.triu_m2, 0)
  same(xi:tril(1), E.tril_i, "tril int")
  assert_close(x34:tril(1 << 62), x34, 0)
  assert(x34:triu(1 << 62):abs():sum() == 0)
  expect_error(function() return x34:tril({ 1 }) end, "must be an integer")
end)

test("cumsum: dims, negative dims, int and bool to int64, gradient", function()
  check_grad("cumsum_1", x234, function(x) return x:cumsum(1) end)
  check_grad("cumsum_m1", x234, function(x) return fp.cumsum(x, -1) end)
  same(xi:cumsum(0), E.cumsum_i, "cumsum int")
  same(xi:gt(0):cumsum(1), E.cumsum_b, "cumsum bool")
  expect_error(function() return x34:cumsum() end, "dim must be given")
  expect_error(function() return x34:cumsum(2) end, "out of range")
  expect_error(function() return x34:cumsum({ dim = 1 }) end, "must be an integer")
end)

test("logsumexp: one dim, several dims with keepdim, infinities, ints, gradient", function()
  check_grad("lse_m1", x234, function(x) return x:logsumexp(-1) end)
  check_grad("lse_02k", x234, function(x) return x:logsumexp({ 0, 2 }, true) end)
  assert_close(x234:logsumexp({ dim = { 0, 2 }, keepdim = true }), E.lse_02k, 1e-6)
  local got, want = E.xinf:logsumexp(1), E.lse_inf
  assert(got[1] == -math.huge and want[1] == -math.huge and got[2] == math.huge and want[2] == math.huge)
  assert(math.abs(got[0] - want[0]) < 1e-6)
  assert_close(xi:logsumexp(1), E.lse_i, 1e-5)
  expect_error(function() return x34:logsumexp() end, "dim must be given")
end)

test("repeat_interleave: counts, per-element counts, flattened, ints, gradients", function()
  check_grad("ri_2_0", x34, function(x) return x:repeat_interleave(2, 0) end)
  check_grad("ri_t_1", x34, function(x) return x:repeat_interleave(fp.tensor({ 1, 0, 3, 2 }, "int64"), { dim = 1 }) end)
  check_grad("ri_flat", x34, function(x) return x:repeat_interleave(2) end)
  same(xi:repeat_interleave({ 3, 3, 3, 3 }, -1), E.ri_i, "repeat_interleave list")
  expect_error(function() return x34:repeat_interleave(-1, 0) end, "non-negative")
  expect_error(function() return x34:repeat_interleave({ 1, 2 }, 0) end, "has 2 entries")
  expect_error(function() return x34:repeat_interleave(2, { 0 }) end, "must be an integer")
end)

test("tile: torch's Tensor.repeat and torch.tile, gradients", function()
  check_grad("repeat_213", x34, function(x) return x:tile(2, 1, 3) end)
  check_grad("tile_2", x34, function(x) return x:tile({ 2 }) end)
  same(fp.tile(xi, 2, 2), E.tile_i, "tile int")
  expect_error(function() return x34:tile(-1) end, "non-negative")
  expect_error(function() return x34:tile() end, "repeats expected")
end)

test("einsum with ...: batch matmul, transpose, broadcast, implicit output, gradient", function()
  assert_close(fp.einsum("...ij,...jk->...ik", E.ea, E.eb), E.ein_bmm, 1e-5)
  assert_close(fp.einsum("...ij->...ji", E.ea), E.ein_t, 0)
  assert_close(fp.einsum("b...d,d->b...", E.ea, E.ev), E.ein_bd, 1e-5)
  assert_close(fp.einsum("...ij->ij", E.ea), E.ein_sum, 1e-5)
  assert_close(fp.einsum("...ij", E.ea), E.ein_implicit, 0)
  assert_close(fp.einsum("... i j -> ... j i", E.ea), E.ein_t, 0)
  local c, d = E.ec:clone():requires_grad(), E.ed:clone():requires_grad()
  local y = fp.einsum("...d,...d->...", c, d)
  assert_close(y:detach(), E.ein_bc, 1e-5)
  ;(y * E.ein_bc_W):sum():backward()
  assert_close(c.grad, E.ein_bc_gc, 1e-5, "broadcast operand grad")
  assert_close(d.grad, E.ein_bc_gd, 1e-5)
  expect_error(function() return fp.einsum("...i...j", E.ea) end, "more than one '...'")
  expect_error(function() return fp.einsum("...ijkl->...", E.ea) end, "fewer than the 4 named")
end)

test("einops: rearrange, reduce and repeat_ as einops on every fixture case", function()
  for _, c in ipairs(cases.einops) do
    local n = 1
    for _, s in ipairs(c.shape) do n = n * s end
    local x = (fp.arange(n):float():reshape(c.shape) % 7 + 1) * 0.5
    local axes = {}
    for k, v in pairs(c.axes) do axes[k] = math.tointeger(v) end
    local y
    if c.op == "rearrange" then y = fp.rearrange(x, c.pattern, axes)
    elseif c.op == "reduce" then y = fp.reduce(x, c.pattern, c.reduction, axes)
    else y = fp.repeat_(x, c.pattern, axes) end
    assert_close(y, E["einops_" .. c.name], 1e-6, c.name .. " (" .. c.pattern .. ")")
  end
end)

test("einops: every pattern einops rejects is an error", function()
  for _, c in ipairs(cases.einops_errors) do
    local shape = {}
    for i, s in ipairs(c.shape) do shape[i] = math.tointeger(s) end
    local axes = {}
    for k, v in pairs(c.axes) do axes[k] = math.tointeger(v) end
    local x = fp.zeros(shape)
    local ok, err = pcall(function()
      if c.op == "rearrange" then return fp.rearrange(x, c.pattern, axes)
      elseif c.op == "reduce" then return fp.reduce(x, c.pattern, "sum", axes)
      else return fp.repeat_(x, c.pattern, axes) end
    end)
    assert(not ok, c.op .. " '" .. c.pattern .. "' on " .. table.concat(shape, "x") .. " should be an error")
    assert(tostring(err):find(c.op == "repeat" and "repeat_" or c.op, 1, true), "the message names the function: " .. tostring(err))
  end
  expect_error(function() return fp.reduce(fp.zeros(2, 3), "a b -> a", "median") end, "unknown reduction median")
end)

test("einops: views where einops has views, gradients flow, lists are stacked, full reductions", function()
  local x = fp.randn(2, 6):requires_grad()
  local y = fp.rearrange(x, "b (h d) -> b h d", { h = 2 })
  assert_equal(y.shape, { 2, 2, 3 })
  fp.reduce(y, "b h d -> h", "sum"):sum():backward()
  assert_close(x.grad, fp.ones(2, 6), 0)
  -- a pure permute or split is a view: writes through it reach the input
  local base = fp.zeros(2, 6)
  fp.rearrange(base, "b (h d) -> h b d", { h = 2 }):fill_(1)
  assert(base:sum() == 12)
  assert(not fp.rearrange(base, "a b -> b a"):is_contiguous())
  local s = fp.rearrange({ fp.ones(2), fp.zeros(2) }, "n d -> d n")
  assert_equal(s:tolist(), { { 1, 0 }, { 1, 0 } })
  assert(fp.reduce(fp.ones(2, 3), "a b ->", "sum") == 6)
  -- the same pattern on another shape (parsed once, sizes per call)
  assert_equal(fp.rearrange(fp.zeros(4, 10), "b (h d) -> b h d", { h = 5 }).shape, { 4, 5, 2 })
end)

-- the streams of torch.manual_seed(seed) followed by the fixture's calls in order
local function replay(g, step)
  local a = step.args
  local function ints(l) local o = {} for i, v in ipairs(l) do o[i] = math.tointeger(v) end return o end
  if step.op == "randint" then
    if #a == 3 then return g:randint(math.tointeger(a[1]), math.tointeger(a[2]), ints(a[3])) end
    return g:randint(math.tointeger(a[1]), ints(a[2]))
  elseif step.op == "rand" then return g:rand(ints(a[1]))
  elseif step.op == "randn" then return g:randn(ints(a[1]))
  elseif step.op == "randperm" then return g:randperm(math.tointeger(a[1]))
  elseif step.op == "normal_" then return g:normal_(fp.zeros(ints(a[1])), a[2], a[3])
  else return g:uniform_(fp.zeros(ints(a[1])), a[2], a[3]) end
end

test("torch_generator: randint, rand, randperm and uniform_ bit for bit; randn and normal_ to float32 rounding", function()
  for _, seed in ipairs(cases.rng.seeds) do
    local g = fp.torch_generator(math.tointeger(seed))
    for k, step in ipairs(cases.rng.steps) do
      local want = E[string.format("rng_%d_%d", math.tointeger(seed), k)]
      local got = replay(g, step)
      local what = string.format("seed %d step %d (%s)", math.tointeger(seed), k, step.op)
      if step.op == "randn" or step.op == "normal_" then
        -- torch's vectorised path uses SLEEF's float log/sin/cos: a few ulps apart
        assert_equal(got.shape, want.shape, what)
        local err = ((got - want):abs() / (want:abs() + 1)):max()
        assert(err <= 2e-6, what .. ": relative error " .. err)
        if got:numel() < 16 then same(got, want, what) end   -- the scalar double path is exact
      else
        same(got, want, what)
      end
    end
  end
end)

test("torch_generator: manual_seed restarts the stream; bad arguments are errors", function()
  local g = fp.torch_generator(42)
  local a = g:randn(3):tolist()
  g:manual_seed(42)
  assert_equal(g:randn(3):tolist(), a)
  assert(g:initial_seed() == 42)
  expect_error(function() return g:randint(5, 5, { 2 }) end, "must be less than high")
  expect_error(function() return g:randint(0, 5, 2) end, "shape table expected")
  expect_error(function() return g:randn(2, "int64") end, "only float32")
  expect_error(function() return g.randn(3) end, "torch generator expected")
  expect_error(function() return g:normal_(fp.zeros(2), 0, -1) end, "non-negative")
  expect_error(function() return g:uniform_(fp.zeros(2, "int64")) end, "float32")
end)
