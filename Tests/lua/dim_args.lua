-- Dimension arguments of every tensor function that takes one: an integer (negative counts from
-- the end, as in torch), for reductions also a list of dims or {dim = ..., keepdim = ...}
-- (torch's keywords). A table where one dim belongs, a list with other keys, a fraction, an out
-- of range dim and an extra argument are errors naming the function and the argument; none is
-- silently ignored (t:sum({0, dim = 1}) summed over dim 0 and t:softmax(0, 1) ignored the 1).
local t = fp.arange(24):float():reshape(2, 3, 4)

-- one entry per function: a call with a table where a dim belongs
local table_dims = {
  softmax = function() return t:softmax({ dim = 1 }) end,
  log_softmax = function() return t:log_softmax({ 1 }) end,
  transpose = function() return t:transpose({ 0 }, 1) end,
  unsqueeze = function() return t:unsqueeze({ dim = 0 }) end,
  flatten = function() return t:flatten({ 0 }) end,
  narrow = function() return t:narrow({ 0 }, 0, 1) end,
  select = function() return t:select({ 0 }, 0) end,
  gather = function() return t:gather({ 0 }, fp.zeros(1, 3, 4, "int64")) end,
  index_select = function() return t:index_select({ 0 }, fp.tensor({ 0 }, "int64")) end,
  scatter = function() return t:scatter({ 0 }, fp.zeros(1, 3, 4, "int64"), 1) end,
  size = function() return t:size({ 0 }) end,
  cat = function() return fp.cat({ t, t }, { dim = 1 }) end,
  stack = function() return fp.stack({ t, t }, { 1 }) end,
  cosine_similarity = function() return fp.cosine_similarity(t, t, { 1 }) end,
  cumsum = function() return t:cumsum({ 1 }) end,
  repeat_interleave = function() return t:repeat_interleave(2, { 1 }) end,
}

test("a table where a dim belongs is an error naming the function and the dim", function()
  for name, f in pairs(table_dims) do
    local msg = expect_error(f)
    assert(msg:find("'" .. name .. "'", 1, true) or msg:find(name .. ":", 1, true), name .. ": message does not name the function: " .. msg)
    assert(msg:find("dim", 1, true), name .. ": message does not name the dim: " .. msg)
  end
end)

test("reductions: {dim = d} and {dim = {...}, keepdim = true} as torch's keywords", function()
  for _, name in ipairs({ "sum", "mean", "prod", "amax", "amin", "logsumexp" }) do
    assert_close(t[name](t, { dim = 1 }), t[name](t, 1), 0, name)
    assert_close(t[name](t, { dim = { 0, 2 }, keepdim = true }), t[name](t, { 0, 2 }, true), 0, name)
    assert_close(t[name](t, { dim = -1 }), t[name](t, 2), 0, name .. " negative dim")
  end
  local v, i = t:max({ dim = 1 })
  assert_close(v, t:amax(1), 0)
  assert_equal(i:tolist()[1][1], 2)
  assert_close(t:argmax({ dim = 2, keepdim = true }), t:argmax(2, true), 0)
  assert_close(t:var({ dim = 1, correction = 0 }), t:var(1, { correction = 0 }), 0)
  assert_close(t:std({ dim = { 1, 2 } }), t:std({ 1, 2 }), 0)
  assert_close(t:norm(2, { dim = 1 }), t:norm(2, 1), 0)
  assert_close(fp.linalg.norm(t, { dim = 0 }), fp.linalg.norm(t, 0), 0)
  assert_close(t:any({ dim = 1 }), t:any(1), 0)
end)

test("reductions: malformed dims are errors, not a sum over another dim", function()
  expect_error(function() return t:sum({ 0, dim = 1 }) end, "other keys")
  expect_error(function() return t:sum(1, { dim = 1 }) end, "dim given twice")
  expect_error(function() return t:sum({ dims = 1 }) end, "unknown option 'dims'")
  expect_error(function() return t:sum(1.5) end, "no integer representation")
  expect_error(function() return t:sum("1") end, "dim must be an integer")
  expect_error(function() return t:sum({ 0, "a" }) end, "element 2")
  expect_error(function() return t:sum({ dim = "a" }) end, "option 'dim' must be")
  expect_error(function() return t:sum({ dim = { 0.5 } }) end, "element 1")
  expect_error(function() return t:sum(3) end, "sum: dim 3 out of range")
  expect_error(function() return t:mean(-4) end, "mean: dim -4 out of range")
  expect_error(function() return t:sum({ 1, 1 }) end, "repeated")
  expect_error(function() return t:sum(1, 2) end, "keepdim must be a boolean")
  expect_error(function() return t:sum(1, true, 5) end, "unexpected argument")
  expect_error(function() return t:sum(1, { keepdim = true }, 5) end, "unexpected argument")
  expect_error(function() return t:max({ 0, 1 }) end, "a single dim")
  expect_error(function() return t:argmax({ dim = { 0, 1 } }) end, "a single dim")
  expect_error(function() return t:var({ dim = 1, correction = 0.5 }) end, "correction")
  assert(t:sum({}) == t:sum())   -- an empty options table: every dim, as t.sum()
end)

test("an extra argument is an error (t:softmax(0, 1) is not two dims)", function()
  expect_error(function() return t:softmax(0, 1) end, "bad argument #2 to 'softmax' (unexpected argument")
  expect_error(function() return t:transpose(0, 1, 2) end, "unexpected argument")
  expect_error(function() return t:squeeze(0, 1) end, "unexpected argument")
  expect_error(function() return t:unsqueeze(0, 1) end, "unexpected argument")
  expect_error(function() return t:cumsum(0, 1) end, "unexpected argument")
  expect_error(function() return t:flatten(0, 1, 2) end, "unexpected argument")
  expect_error(function() return fp.cat({ t, t }, 0, 1) end, "bad argument #3 to 'cat'")
  expect_error(function() return t:topk(1, 0, true, 7) end, "bad argument #4 to 'topk'")
  expect_error(function() return t:size(0, 1) end, "unexpected argument")
  -- trailing nils are no arguments
  assert_equal(t:softmax(0, nil).shape, { 2, 3, 4 })
end)

test("negative dims count from the end everywhere, as in torch", function()
  assert_close(t:softmax(-3), t:softmax(0), 0)
  assert_close(t:transpose(-1, -3), t:transpose(2, 0), 0)
  assert_equal(t:unsqueeze(-1).shape, { 2, 3, 4, 1 })
  assert_equal(t:unsqueeze(-4).shape, { 1, 2, 3, 4 })
  assert_close(t:flatten(-2, -1), t:flatten(1, 2), 0)
  assert_close(t:select(-1, 0), t:select(2, 0), 0)
  assert_close(t:narrow(-2, 1, 2), t:narrow(1, 1, 2), 0)
  assert_close(fp.cat({ t, t }, -1), fp.cat({ t, t }, 2), 0)
  assert_close(fp.stack({ t, t }, -1), fp.stack({ t, t }, 3), 0)
  assert_close(t:cumsum(-1), t:cumsum(2), 0)
  assert(t:size(-1) == 4)
  expect_error(function() return t:unsqueeze(-5) end, "out of range")
  expect_error(function() return t:softmax(3) end, "out of range")
  expect_error(function() return fp.cat({ t, t }, 3) end, "out of range")
end)

test("squeeze takes one dim or a list of dims (torch 2)", function()
  local u = fp.zeros(1, 3, 1, 2)
  assert_equal(u:squeeze({ 0, 2 }).shape, { 3, 2 })
  assert_equal(u:squeeze({ -2, 1 }).shape, { 1, 3, 2 })   -- size 3 is kept, as torch does
  assert_equal(u:squeeze(-2).shape, { 1, 3, 2 })
  expect_error(function() return u:squeeze({ 0, 0 }) end, "repeated")
  expect_error(function() return u:squeeze({ 0, dim = 2 }) end, "other keys")
  expect_error(function() return u:squeeze(4) end, "out of range")
end)
