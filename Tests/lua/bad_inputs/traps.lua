-- Bad-input corpus: values that used to reach a Swift trap (an integer conversion or
-- arithmetic that overflows) or an allocation sized by the script. Each must be an error
-- or a correct result, and fp must keep working.
local fp = require "fp"

local bad = bad_input

-- int64 extremes, made without passing through a Lua float
local function int64_extremes()
  local p, n = fp.tensor({ 1 << 62 }, "int"), fp.tensor({ -(1 << 62) }, "int")
  return fp.cat({ (p - 1) + p, n + n })   -- {math.maxinteger, math.mininteger}
end

test("int64 extremes read back exactly: tolist, item, index, sum", function()
  local t = int64_extremes()
  local l = t:tolist()
  assert(l[1] == math.maxinteger and l[2] == math.mininteger, tostring(l[1]) .. " " .. tostring(l[2]))
  assert(t[0] == math.maxinteger and t[1] == math.mininteger)
  assert(t[{ {0, 1} }]:item() == math.maxinteger)
  assert(t[{ {1, 2} }]:sum() == math.mininteger)
  assert(math.type(t[0]) == "integer")
end)

test("int64 beyond 2^53 prints exactly", function()
  local t = int64_extremes()
  assert(tostring(t) == "tensor([ 9223372036854775807, -9223372036854775808])", tostring(t))
  local u = fp.tensor({ 1 << 53 }, "int") + 1
  assert(tostring(u) == "tensor([9007199254740993])", tostring(u))
end)

test("print of an empty tensor with a huge dim allocates nothing per row", function()
  assert(tostring(fp.zeros(1 << 40, 0)) == "tensor([], shape=[1099511627776, 0])")
  assert(tostring(fp.zeros(0, 1 << 40)) == "tensor([], shape=[0, 1099511627776])")
  assert(tostring(fp.zeros(3, 0)) == "tensor([], shape=[3, 0])")
end)

test("print of a huge broadcast view reads only the shown elements", function()
  local v = fp.ones(1):expand(1 << 40)
  assert(tostring(v) == "tensor([1., 1., 1., ..., 1., 1., 1.], shape=[1099511627776])", tostring(v))
end)

test("print of a tensor whose small dims multiply past the shown limit", function()
  local v = fp.ones(1):expand(2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2)
  assert(tostring(v):find("^tensor%(%.%.%., shape=%[2, 2"), tostring(v))
end)

test("slice with a huge step keeps one element", function()
  local t = fp.arange(6):view(2, 3)
  local s = t[{ { 0, 3, math.maxinteger } }]
  assert(tostring(s.shape[1]) == "1" and s[{ 0, 2 }] == 2)
  local u = fp.arange(10)[{ { 1, nil, math.maxinteger } }]
  assert(u:numel() == 1 and u[0] == 1)
  assert(fp.arange(10)[{ { math.mininteger, math.maxinteger, 1 << 62 } }]:numel() == 1)
end)

test("isatty of numbers that are no file descriptor", function()
  assert(fp.isatty(2 ^ 40) == false)
  assert(fp.isatty(math.maxinteger) == false)
  assert(fp.isatty(-1) == false)
end)

bad("tolist of an empty tensor with a huge leading dim", function() return fp.zeros(1 << 40, 0):tolist() end,
  "tolist: a tensor of shape [1099511627776, 0] makes too many tables")

local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local toks = fp.tensor({ { 1, 2, 3 } }, "int")
bad("run_with_cache pos_slice = math.maxinteger", function()
  return m:run_with_cache(toks, { pos_slice = math.maxinteger })
end, "run_with_cache: pos_slice 9223372036854775807 is out of range")
bad("t:show() of a huge broadcast view is refused before copying it into Lua tables", function()
  return fp.ones(1):expand(1 << 40):show()
end, "plot.term: a tensor of shape [1099511627776] has 1099511627776 cells, more than a terminal shows")

test("scatter_ of a huge float into an int tensor is an error (no trap, no silent clamp)", function()
  local t = fp.zeros(3, "int")
  expect_error(function() t:scatter_(0, fp.tensor({ 0 }, "int"), fp.tensor({ 1e30 })) end,
    "scatter_: cannot convert 1e+30 to int64 (no integer value)")
  assert(t[0] == 0, tostring(t[0]))
  local u = fp.zeros(2, "int")
  u:scatter_(0, fp.tensor({ 1 }, "int"), int64_extremes()[{ { 1, 2 } }])
  assert(u[1] == math.mininteger)
end)

bad("cat of empty tensors whose joined dim overflows", function()
  return fp.cat({ fp.zeros(1 << 62, 0), fp.zeros(1 << 62, 0) })
end, "cat: the size of dim 0 overflows")
bad("cat of three empty tensors whose joined dim overflows", function()
  return fp.cat({ fp.zeros(0, 1 << 62), fp.zeros(0, 1 << 62), fp.zeros(0, 1 << 62) }, 1)
end, "cat: the size of dim 1 overflows")

test("topk and sort of an empty tensor with a huge dim return at once", function()
  local v, i = fp.zeros(1 << 40, 0):topk(0)
  assert(tostring(v.shape[1]) == tostring(1 << 40) and v:numel() == 0 and i:numel() == 0)
  local s = fp.zeros(1 << 40, 0):sort(-1)
  assert(s:numel() == 0)
end)

-- Calls with extreme sizes, empty tensors with huge dims, broadcast views and int64 extremes
-- across views, reductions, sorts, joins, products, random numbers and the file writers
-- (the list the Lua API fuzzer's audit used). Each may succeed or raise; none may crash.
local M = math.maxinteger
local tmp = os.tmpname()
local extreme_calls = {
  function() return fp.zeros(0):view(M, 0) end,
  function() return fp.zeros(0):view(-1, 0) end,
  function() return fp.zeros(0):reshape(M, M, 0) end,
  function() return fp.zeros(1):expand(M, M) end,
  function() return fp.zeros(1):expand(1<<40, 1<<40) end,
  function() return fp.zeros(1):expand(1<<40):view(1<<20, 1<<20) end,
  function() return fp.zeros(1):expand(1<<40):reshape(1<<20, -1) end,
  function() return fp.zeros(1):expand(1<<40):flatten() end,
  function() return fp.zeros(1):expand(1<<62):unsqueeze(0):unsqueeze(0) end,
  function() return fp.zeros(1):expand(1<<40):sum() end,
  function() return fp.zeros(2,3):narrow(0, M, M) end,
  function() return fp.zeros(2,3):narrow(0, 1, M) end,
  function() return fp.zeros(2,3):narrow(0, -M, 1) end,
  function() return fp.zeros(2,3):select(0, math.mininteger) end,
  function() return fp.zeros(2,3):transpose(M, math.mininteger) end,
  function() return fp.zeros(2,3):unsqueeze(math.mininteger) end,
  function() return fp.zeros(2,3):permute(M, 0) end,
  function() return fp.zeros(2,3):topk(M) end,
  function() return fp.randint(math.mininteger, M, {3}) end,
  function() return fp.randint(M, {3}) end,
  function() return fp.randperm(M) end,
  function() return fp.multinomial(fp.ones(3), M) end,
  function() return fp.multinomial(fp.ones(3), M, true) end,
  function() return fp.zeros(3):gather(0, fp.tensor({M}, "int")) end,
  function() return fp.zeros(3):index_select(0, fp.tensor({math.mininteger}, "int")) end,
  function() return fp.zeros(3)[{fp.tensor({M}, "int")}] end,
  function() return fp.einsum("i,j->ij", fp.zeros(1):expand(1<<40), fp.zeros(1):expand(1<<40)) end,
  function() return fp.einsum("ii->i", fp.zeros(1):expand(1<<40, 1<<40)) end,
  function() return fp.einsum("i->", fp.zeros(1):expand(1<<62)) end,
  function() return fp.save(tmp .. ".npy", fp.zeros(1<<40, 0)) end,
  function() return fp.load_tensor(tmp .. ".npy") end,
  function() return fp.save(tmp .. ".safetensors", fp.zeros(1<<40, 0)) end,
  function() return fp.load_tensor(tmp .. ".safetensors") end,
  function() return fp.save(tmp .. ".npz", {x = fp.zeros(1<<40, 0)}) end,
  function() return fp.load_tensors(tmp .. ".npz") end,
  function() return fp.save(tmp .. "b.npy", fp.zeros(1):expand(1<<40)) end,
  function() return fp.zeros(1<<40, 0):sum(0) end,
  function() return fp.zeros(1<<40, 0):sum(1) end,
  function() return fp.zeros(1<<40, 0):max(1) end,
  function() return fp.zeros(1<<40, 0):mean(1) end,
  function() return fp.zeros(1<<40, 0):softmax(0) end,
  function() return fp.zeros(1<<40, 0):topk(0) end,
  function() return fp.zeros(1<<40, 0):sort(0) end,
  function() return fp.zeros(1<<40, 0):T():contiguous() end,
  function() return fp.zeros(1<<40, 0):matmul(fp.zeros(0, 0)) end,
  function() return fp.zeros(0, 1<<40):matmul(fp.zeros(1<<40, 0)) end,
  function() return fp.zeros(1<<40, 0):nonzero() end,
  function() return fp.cat({fp.zeros(1<<62, 0), fp.zeros(1<<62, 0)}) end,
  function() return fp.stack({fp.zeros(1<<40, 0), fp.zeros(1<<40, 0)}) end,
  function() return fp.zeros(1<<40, 0):var(0) end,
  function() return fp.zeros(1<<40, 0):norm() end,
  function() return fp.zeros(1<<40, 0):argmax(1) end,
  function() return fp.zeros(1<<40, 0):cross_entropy(fp.zeros(1<<40, "int")) end,
  function() return fp.zeros(1<<40, 0):layer_norm() end,
  function() return fp.linalg.svd(fp.zeros(1<<40, 0)) end,
  function() return fp.linalg.qr(fp.zeros(1<<40, 0)) end,
  function() return fp.linalg.pinv(fp.zeros(1<<40, 0)) end,
  function() return fp.linalg.eigh(fp.zeros(0, 0)) end,
  function() return fp.linalg.solve(fp.zeros(0, 0), fp.zeros(0, 1<<40)) end,
  function() return fp.outer(fp.zeros(1<<40):narrow(0,0,0), fp.zeros(3)) end,
  function() return fp.zeros(2,3)[{{0, 3, M}}] end,
  function() return fp.zeros(2,3)[{{math.mininteger, M, M}}] end,
  function() return fp.zeros(2,3)[{{M, math.mininteger}}] end,
  function() local t = fp.zeros(2,3); t[{{0, 3, M}}] = 1; return t end,
  function() return fp.full({1<<40, 0}, 0/0, "int") end,
  function() return fp.eye(1<<40, 0) end,
  function() return fp.eye(0, 1<<40) end,
  function() return fp.zeros(3):repeat_interleave(M) end,
  function() return fp.ones(2, 3):pow(M) end,
  function() return fp.tensor({2}, "int"):pow(fp.tensor({M}, "int")) end,
  function() return fp.tensor({math.mininteger}, "int") // fp.tensor({-1}, "int") end,
  function() return fp.tensor({math.mininteger}, "int") % fp.tensor({-1}, "int") end,
  function() return -fp.tensor({1<<62}, "int") * 2 end,
  function() return fp.tensor({math.mininteger}, "int"):abs() end,
  function() return (fp.tensor({-(1<<62)}, "int") * 2):abs() end,
  function() return (fp.tensor({-(1<<62)}, "int") * 2):neg() end,
  function() return (fp.tensor({-(1<<62)}, "int") * 2):sum() end,
  function() local t = fp.tensor({1<<62, 1<<62, 1<<62}, "int"); return t:sum(), t:mean(), t:prod() end,
  function() return (fp.tensor({-(1<<62)}, "int") * 2):sign() end,
  function() return (fp.tensor({-(1<<62)}, "int") * 2):float():int() end,
  function() return fp.tensor({1e30}):int() end,
  function() return fp.tensor({0/0}):int() end,
  function() return fp.tensor({1e30}):long():tolist() end,
  function() return fp.tensor({-1e30}):long()[0] end,
  function() return fp.tensor({1e30}):round():int():item() end,
  function() return fp.tensor({1, 2}, "int"):clamp(math.mininteger, M) end,
  function() return fp.tensor({1, 2}, "int"):clamp(-1e300, 1e300) end,
  function() return fp.tensor({1, 2}, "int"):masked_fill(fp.tensor({true, false}), 1e300) end,
  function() return fp.tensor({1, 2}, "int"):fill_(1e300) end,
  function() return fp.tensor({1, 2}, "int") + 1e300 end,
  function() return fp.tensor({1, 2}, "int"):maximum(1e300) end,
  function() return fp.tensor({1, 2}, "int"):where(fp.tensor({true, false}), 1e300) end,
  function() return fp.where(fp.tensor({true, false}), fp.tensor({1, 2}, "int"), 1e300) end,
  function() return fp.zeros(2, "int"):scatter_add(0, fp.tensor({0}, "int"), fp.tensor({1e300})) end,
  function() return fp.zeros(2, "int"):copy_(fp.tensor({1e300, -1e300})) end,
  function() local t = fp.zeros(2, "int"); t[0] = 1e300; return t end,
  function() local t = fp.zeros(2, "int"); t[{fp.tensor({true, true})}] = 1e300; return t end,
  function() return fp.arange(math.mininteger, M, 1 << 62) end,
  function() return fp.arange(0, M, M) end,
  function() return fp.arange(math.mininteger, 0, M) end,
  function() return fp.linspace(-1e308, 1e308, 3) end,
  function() return fp.multinomial(fp.tensor({0/0, 1}), 1) end,
  function() return fp.multinomial(fp.tensor({1/0, 1}), 1) end,
  function() return fp.seed(M) end,
  function() return fp.seed(math.mininteger) end,
  function() return fp.seed(-1) end,
}
test("extreme calls are errors or results, never crashes (" .. #extreme_calls .. " calls)", function()
  for _, f in ipairs(extreme_calls) do
    local ok, r = pcall(f)
    if ok and fp.is_tensor(r) then pcall(tostring, r) end
  end
  for _, ext in ipairs({ "", ".npy", ".safetensors", ".npz", "b.npy" }) do os.remove(tmp .. ext) end
  assert(fp.ones(3):sum() == 3)
end)
