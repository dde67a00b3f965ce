-- Reverse-mode autograd: every differentiable op's backward against central finite differences.
-- Each check draws small random inputs, takes loss = sum(f(inputs) * W) for a fixed random W
-- (so every output element's Jacobian row counts) and compares d loss / d input from
-- loss:backward() with (loss(x + h) - loss(x - h)) / 2h per element, in float32.
-- Tolerance: |analytic - numeric| <= ATOL + RTOL * |numeric|, h = 1e-2 (float32 round-off
-- of the loss over 2h is ~1e-4; the h^2 truncation error is of the same order for these inputs).
local fp = require "fp"

local H, ATOL, RTOL = 1e-2, 3e-3, 2e-2

local function flat(t) return t:reshape(-1) end

-- loss of f on plain inputs (no tape), as a Lua number
local function loss_of(f, xs, w)
  return fp.no_grad(function()
    local out = f(table.unpack(xs))
    if w then out = (out * w):sum() elseif not (type(out) == "number") then out = out:sum() end
    return fp.item(out)
  end)
end

local function gradcheck(name, f, inputs, opts)
  opts = opts or {}
  local leaves = {}
  for i, x in ipairs(inputs) do leaves[i] = x:clone():requires_grad() end
  local out = f(table.unpack(leaves))
  assert(fp.is_tensor(out), name .. ": a result that depends on a grad-requiring tensor must be a tensor")
  assert(out.needs_grad, name .. ": result does not require grad")
  local w = nil
  if out:dim() > 0 then w = fp.randn(out.shape) end
  local loss = w and (out * w):sum() or out:sum()
  assert(fp.is_tensor(loss) and loss:dim() == 0, name .. ": the loss must be a 0-d tensor")
  loss:backward()
  for i, x in ipairs(inputs) do
    if not (opts.skip and opts.skip[i]) then
      local g = leaves[i].grad
      assert(g ~= nil, name .. ": input " .. i .. " got no gradient")
      assert(shape_string(g) == shape_string(x), name .. ": gradient shape " .. shape_string(g) .. " for input " .. shape_string(x))
      local gf = flat(g)
      local n = x:numel()
      for j = 0, n - 1 do
        local xs = {}
        for k, y in ipairs(inputs) do xs[k] = y:clone() end
        local v = flat(xs[i])[j]
        flat(xs[i])[j] = v + H
        local lp = loss_of(f, xs, w)
        flat(xs[i])[j] = v - H
        local lm = loss_of(f, xs, w)
        local num = (lp - lm) / (2 * H)
        local got = gf[j]
        if math.abs(got - num) > ATOL + RTOL * math.abs(num) then
          error(string.format("%s: d/d input %d element %d: backward %.6g, finite difference %.6g", name, i, j, got, num), 2)
        end
      end
    end
  end
end

fp.seed(1)
local function rn(...) return fp.randn(...) end
local function pos(...) return fp.rand(...) + 0.5 end   -- in [0.5, 1.5): safe for log/sqrt/div
-- values away from 0 for kinks (relu, abs, clamp)
local function away(...) local t = fp.randn(...); return t + t:sign() * 0.2 end

test("elementwise binary ops with broadcasting", function()
  gradcheck("add", function(a, b) return a + b end, { rn(3, 4), rn(4) })
  gradcheck("add [3,1]", function(a, b) return a + b end, { rn(3, 4), rn(3, 1) })
  gradcheck("sub", function(a, b) return a - b end, { rn(2, 3, 4), rn(1, 3, 1) })
  gradcheck("mul", function(a, b) return a * b end, { rn(3, 4), rn(4) })
  gradcheck("div", function(a, b) return a / b end, { rn(3, 4), pos(3, 1) })
  gradcheck("pow tensor^tensor", function(a, b) return a ^ b end, { pos(3, 4), rn(4) })
  gradcheck("scalars on either side", function(a) return (2 - a) * 3 + a / 4 - 1 / (a + 3) end, { pos(5) })
  gradcheck("a ^ 2 and a ^ 0.5", function(a) return a ^ 2 + a ^ 0.5 end, { pos(4) })
  gradcheck("method forms", function(a, b) return a:add(b):mul(b):sub(a):div(b + 2) end, { rn(3), pos(3) })
  gradcheck("maximum / minimum", function(a, b) return a:maximum(b) + a:minimum(b) * 2 end, { rn(6), rn(6) + 0.05 })
end)

test("unary functions", function()
  local cases = {
    { "neg", function(a) return -a end, rn },
    { "exp", function(a) return a:exp() end, rn },
    { "log", function(a) return a:log() end, pos },
    { "sqrt", function(a) return a:sqrt() end, pos },
    { "rsqrt", function(a) return a:rsqrt() end, pos },
    { "tanh", function(a) return a:tanh() end, rn },
    { "sigmoid", function(a) return a:sigmoid() end, rn },
    { "gelu (erf)", function(a) return a:gelu() end, rn },
    { "gelu (tanh)", function(a) return a:gelu("tanh") end, rn },
    { "gelu_new", function(a) return a:gelu_new() end, rn },
    { "silu", function(a) return a:silu() end, rn },
    { "relu", function(a) return a:relu() end, away },
    { "abs", function(a) return a:abs() end, away },
    { "sin", function(a) return a:sin() end, rn },
    { "cos", function(a) return a:cos() end, rn },
    { "square", function(a) return a:square() end, rn },
    { "reciprocal", function(a) return a:reciprocal() end, pos },
    { "log1p", function(a) return a:log1p() end, pos },
    { "expm1", function(a) return a:expm1() end, rn },
    { "erf", function(a) return a:erf() end, rn },
    { "clamp", function(a) return a:clamp(-0.5, 0.5) end, function(n) return away(n) * 0.4 + 0.1 end },
  }
  for _, c in ipairs(cases) do gradcheck(c[1], c[2], { c[3](7) }) end
end)

test("reductions: sum/mean/max/min/prod/norm/var/std with dims and keepdim", function()
  gradcheck("sum all", function(a) return a:sum() end, { rn(3, 4) })
  gradcheck("sum dim", function(a) return a:sum(1) end, { rn(3, 4) })
  gradcheck("sum dims keepdim", function(a) return a:sum({0, 2}, true) end, { rn(2, 3, 4) })
  gradcheck("mean", function(a) return a:mean(-1) end, { rn(3, 4) })
  gradcheck("mean all", function(a) return a:mean() end, { rn(3, 4) })
  -- distinct values (0.5 apart) so that +-h never changes which element is the extreme
  local function distinct(r, c) return fp.randperm(r * c):float():view(r, c) * 0.5 end
  gradcheck("max dim (values)", function(a) local v = a:max(1); return v end, { distinct(3, 5) })
  gradcheck("min dim keepdim", function(a) local v = a:min(0, true); return v end, { distinct(3, 5) })
  gradcheck("max all", function(a) return a:max() end, { distinct(4, 3) })
  gradcheck("amax", function(a) return a:amax(1) end, { distinct(3, 5) })
  gradcheck("prod", function(a) return a:prod(1) end, { pos(2, 3) })
  gradcheck("norm", function(a) return a:norm() end, { rn(3, 4) })
  gradcheck("norm dim", function(a) return a:norm(2, -1) end, { rn(3, 4) })
  gradcheck("norm p=1", function(a) return a:norm(1, 0) end, { away(3, 4) })
  gradcheck("norm p=3", function(a) return a:norm(3) end, { away(5) })
  gradcheck("var", function(a) return a:var(1) end, { rn(3, 5) })
  gradcheck("std keepdim", function(a) return a:std(-1, true) end, { rn(3, 5) })
end)

test("softmax, log_softmax, cross_entropy, layer_norm, rms_norm, cosine_similarity", function()
  gradcheck("softmax", function(a) return a:softmax(-1) end, { rn(3, 5) })
  gradcheck("softmax dim 0", function(a) return a:softmax(0) end, { rn(3, 5) })
  gradcheck("log_softmax", function(a) return a:log_softmax(-1) end, { rn(2, 3, 5) })
  local targets = fp.tensor({ 1, 4, 0 }, "int")
  gradcheck("cross_entropy mean", function(a) return a:cross_entropy(targets) end, { rn(3, 5) })
  gradcheck("fp.cross_entropy sum", function(a) return fp.cross_entropy(a, targets, { reduction = "sum" }) end, { rn(3, 5) })
  gradcheck("layer_norm", function(x, w, b) return x:layer_norm(w, b) end, { rn(3, 6), rn(6), rn(6) })
  gradcheck("rms_norm", function(x, w) return x:rms_norm(w) end, { rn(3, 6), rn(6) })
  gradcheck("cosine_similarity", function(a, b) return fp.cosine_similarity(a, b, -1) end, { rn(3, 4), rn(3, 4) })
end)

test("matmul / bmm / outer / einsum", function()
  gradcheck("matmul 2-D", function(a, b) return a:matmul(b) end, { rn(3, 4), rn(4, 2) })
  gradcheck("matmul batched x 2-D", function(a, b) return a:matmul(b) end, { rn(2, 3, 4), rn(4, 2) })
  gradcheck("matmul broadcast batch", function(a, b) return a:matmul(b) end, { rn(2, 1, 3, 4), rn(5, 4, 2) })
  gradcheck("matmul vec", function(a, b) return a:matmul(b) end, { rn(4), rn(4, 3) })
  gradcheck("matmul mat-vec", function(a, b) return a:matmul(b) end, { rn(3, 4), rn(4) })
  gradcheck("dot", function(a, b) return a:matmul(b) end, { rn(4), rn(4) })
  gradcheck("bmm", function(a, b) return a:bmm(b) end, { rn(2, 3, 4), rn(2, 4, 2) })
  gradcheck("outer", function(a, b) return fp.outer(a, b) end, { rn(3), rn(4) })
  gradcheck("einsum letters", function(a, b) return fp.einsum("bij,jk->bik", a, b) end, { rn(2, 3, 4), rn(4, 2) })
  gradcheck("einsum named", function(a, b) return fp.einsum("batch pos d, d -> batch pos", a, b) end, { rn(2, 3, 4), rn(4) })
  gradcheck("einsum axis summed in one operand", function(a, b) return fp.einsum("ij,jk->k", a, b) end, { rn(3, 4), rn(4, 2) })
  gradcheck("einsum three operands", function(a, b, c) return fp.einsum("ij,jk,k->i", a, b, c) end, { rn(3, 4), rn(4, 2), rn(2) })
end)

test("views: reshape/view/permute/transpose/unsqueeze/squeeze/expand/narrow/select/slicing", function()
  gradcheck("reshape", function(a) return a:reshape(4, 3) * fp.arange(3) end, { rn(3, 4) })
  gradcheck("view", function(a) return a:view(-1) end, { rn(3, 4) })
  gradcheck("flatten", function(a) return a:flatten(1) end, { rn(2, 3, 2) })
  gradcheck("permute", function(a) return a:permute(2, 0, 1):contiguous() end, { rn(2, 3, 4) })
  gradcheck("transpose", function(a) return a:transpose(0, 1) * fp.arange(3) end, { rn(3, 2) })
  gradcheck("T", function(a, b) return a:T():matmul(b) end, { rn(4, 3), rn(4, 2) })
  gradcheck("unsqueeze/squeeze", function(a) return a:unsqueeze(1):squeeze(1):unsqueeze(0) end, { rn(3, 2) })
  local r43 = fp.randn(4, 3)
  gradcheck("expand", function(a) return a:expand(4, 3) * r43 end, { rn(1, 3) })
  gradcheck("expand_as", function(a, b) return a:expand_as(b) * b end, { rn(3, 1), rn(3, 4) })
  gradcheck("narrow", function(a) return a:narrow(1, 1, 2) end, { rn(3, 4) })
  gradcheck("select", function(a) return a:select(0, 2) end, { rn(3, 4) })
  gradcheck("slice index", function(a) return a[{ {}, { 1, 3 } }] end, { rn(3, 4) })
  gradcheck("int + step index", function(a) return a[{ 1, { 0, 4, 2 } }] end, { rn(3, 4) })
  gradcheck("negative index + newaxis", function(a) return a[{ -1, fp.newaxis }] end, { rn(3, 4) })
  gradcheck("index tensor", function(a) return a[{ fp.tensor({ 2, 0 }, "int") }] end, { rn(3, 4) })
  gradcheck("index tensor with repeats", function(a) return a[{ {}, fp.tensor({ 1, 3, 1, 1 }, "int") }] end, { rn(2, 4) })
  gradcheck("bool mask", function(a) return a[{ fp.tensor({ true, false, true }) }] end, { rn(3, 2) })
  gradcheck("index_select (repeated)", function(a) return a:index_select(1, fp.tensor({ 0, 2, 0 }, "int")) end, { rn(3, 4) })
  gradcheck("gather", function(a) return a:gather(1, fp.tensor({ { 0, 0 }, { 3, 1 }, { 2, 2 } }, "int")) end, { rn(3, 4) })
  gradcheck("clone", function(a) return a:clone() * 2 end, { rn(3) })
  -- a full integer index of a taped tensor is a 0-d tensor (DESIGN.md), not a number
  gradcheck("full index", function(a) return a[{ 1, 2 }] * 3 end, { rn(3, 4) })
end)

test("cat / stack / where / masked_fill", function()
  gradcheck("cat dim 0", function(a, b) return fp.cat({ a, b }, 0) end, { rn(2, 3), rn(1, 3) })
  gradcheck("cat dim 1", function(a, b) return fp.cat({ a, b }, 1) end, { rn(2, 3), rn(2, 2) })
  gradcheck("stack", function(a, b) return fp.stack({ a, b }, 1) end, { rn(2, 3), rn(2, 3) })
  local cond = fp.tensor({ { true, false, true }, { false, false, true } })
  gradcheck("fp.where", function(a, b) return fp.where(cond, a, b) end, { rn(2, 3), rn(3) })
  gradcheck("t:where", function(a) return a:where(cond, 0.5) end, { rn(2, 3) })
  gradcheck("masked_fill", function(a) return a:masked_fill(cond, -1) end, { rn(2, 3) })
end)

test("index assignment of a grad-requiring value into a tensor", function()
  -- into a plain tensor (as a hook edits an activation)
  gradcheck("t[idx] = v", function(base, v)
    local x = base:detach():clone()
    x[{ 1, { 1, 3 } }] = v
    return x * fp.arange(12):view(3, 4)
  end, { rn(3, 4), rn(2) }, { skip = { [1] = true } })
  -- into a taped tensor: both the kept part and the value get gradients
  gradcheck("taped t[idx] = v", function(base, v)
    local x = base * 2
    x[{ {}, 0 }] = v * 3
    return x:sin()
  end, { rn(3, 4), rn(3) })
  gradcheck("index tensor assignment", function(base, v)
    local x = base + 0
    x[{ fp.tensor({ 0, 2 }, "int") }] = v
    return x:exp()
  end, { rn(3, 2), rn(2, 2) })
  gradcheck("copy_ (broadcast)", function(base, v)
    local x = base * 1
    x:copy_(v)
    return x * fp.arange(6):view(3, 2)
  end, { rn(3, 2), rn(1, 2) }, { skip = { [1] = true } })
end)

test("autograd API: leaves, accumulation, zero_grad, detach, no_grad, scalars", function()
  local x = fp.tensor({ 1, 2, 3 }):requires_grad()
  assert(x.needs_grad and x:is_leaf())
  local y = (x * x):sum()
  assert(fp.is_tensor(y) and y:dim() == 0, "a taped full reduction is a 0-d tensor")
  assert_close(fp.item(y), 14, 1e-6)
  y:backward()
  assert_close(x.grad:tolist(), { 2, 4, 6 }, 1e-6)
  ;(x * 3):sum():backward()                -- gradients accumulate
  assert_close(x.grad:tolist(), { 5, 7, 9 }, 1e-6)
  x:zero_grad()
  assert(x.grad == nil)
  ;(x * 2):sum():backward()
  x.grad = nil
  assert(x.grad == nil)
  -- backward with an explicit gradient
  local z = x * 2
  z:backward(fp.tensor({ 1, 0, -1 }))
  assert_close(x.grad:tolist(), { 2, 0, -2 }, 1e-6)
  -- detach and no_grad stop the tape; plain results are Lua numbers again
  local d = x:detach()
  assert(not d.needs_grad)
  assert(type((d * 2):sum()) == "number")
  local inside = fp.no_grad(function() return (x * 2):sum(), 7 end)
  assert(type(inside) == "number", "no_grad: nothing is taped")
  assert(fp.is_grad_enabled())
  -- requires_grad(false) turns it off; y's grad_fn names the op
  assert(((x * 2):sum()):grad_fn() == "sum")
  local w = fp.randn(3):requires_grad(false)
  assert(not w.needs_grad)
end)

test("autograd errors name the function", function()
  expect_error(function() fp.tensor({ 1, 2 }):backward() end, "does not require grad")
  expect_error(function() fp.tensor({ 1, 2 }, "int"):requires_grad() end, "only float tensors")
  expect_error(function()
    local x = fp.randn(3):requires_grad(); x[{ 0 }] = 1
  end, "leaf tensor that requires grad")
  expect_error(function() (fp.randn(3):requires_grad() * 2):backward() end, "gradient argument is needed")
  expect_error(function() fp.no_grad(function() error("boom") end) end, "boom")
  assert(fp.is_grad_enabled(), "grad mode restored after an error")
end)

test("in-place writes after use: backward sees the values the forward pass used", function()
  -- x is a view of act that mul saves; the assignment then overwrites that memory
  gradcheck("write over a saved view", function(base, u)
    local act = base:detach():clone()
    local x = act[{ 1 }]
    act[{ 1 }] = x + u * (1.5 - (x * u):sum())
    return act
  end, { rn(3, 4), rn(4) }, { skip = { [1] = true } })
  gradcheck("fill_ over a saved softmax output", function(a)
    local y = a:softmax(-1)
    local z = (y * y):sum()
    y:detach():fill_(0)
    return z
  end, { rn(5) })
end)

test("untaped in-place methods refuse tensors that require grad", function()
  local y = fp.randn(3):requires_grad() * 2
  expect_error(function() y:fill_(0) end, "fill_: in%-place on a tensor that requires grad")
  expect_error(function() y:masked_fill_(fp.tensor({ true, false, true }), 0) end, "masked_fill_")
  fp.no_grad(function() y:zero_() end)   -- allowed without the tape
  assert(fp.item(y:detach():abs():sum()) == 0)
  local w = fp.randn(2, 3):requires_grad()
  assert(shape_string(w:T()) == "[3, 2]" and w:T().needs_grad)
  assert(fp.randn(3):requires_grad():T().needs_grad)
end)
