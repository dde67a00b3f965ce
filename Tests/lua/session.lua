-- fp.session: the cell rules shared by `fp repl` and the Jupyter kernel (top-level locals
-- persist, the last expression is the cell's value, `_`, line numbers kept).
local session = require "fp.session"

test("top-level locals become session variables; nested ones stay local", function()
  local cases = {
    { "local x = 1", "x = 1" },
    { "local a, b <const> = 1, 2", "a, b  = 1, 2" },
    { "local y", "y = nil" },
    { "local p, q", "p, q = nil" },
    { "local function f(n) return n end", "function f(n) return n end" },
    { "local h <close> = nil", "local h <close> = nil" },
    { "do local z = 1 end\nlocal w = 2 -- local v = 3\ns = [[local k]]", "do local z = 1 end\nw = 2 -- local v = 3\ns = [[local k]]" },
    { "for i = 1, 2 do local m = i end local n = 1", "for i = 1, 2 do local m = i end n = 1" },
    { "if x then local m = 1 elseif y then local m2 = 2 else local m3 = 3 end local after = 3",
      "if x then local m = 1 elseif y then local m2 = 2 else local m3 = 3 end after = 3" },
    { "f = function() local inner = 1 end\nlocal t = { 'local' }", "f = function() local inner = 1 end\nt = { 'local' }" },
    { "repeat local r = 1 until r\nlocal s2 = \"local x\"", "repeat local r = 1 until r\ns2 = \"local x\"" },
  }
  for _, c in ipairs(cases) do assert_equal(session.rewrite_locals(c[1]), c[2], c[1]) end
end)

test("a cell's locals are visible to the next cell; the last expression is its value", function()
  local f = assert(session.compile("local a1 = 3\nlocal function twice(v) return 2 * v end\ntwice(a1)\n  + 1", "=In[1]"))
  local vals = session.run(f)
  assert_equal(vals.n, 1); assert_equal(vals[1], 7); assert_equal(_, 7)
  vals = session.run(assert(session.compile("a1 * 10", "=In[2]")))
  assert_equal(vals[1], 30); assert_equal(_, 30)
  vals = session.run(assert(session.compile("local q1 = 1", "=In[3]")))
  assert_equal(vals.n, 0); assert_equal(_, 30, "a cell without a value keeps _")
  assert_equal(q1, 1)
  a1, twice, q1 = nil, nil, nil
end)

test("errors name the cell and its own line", function()
  local f = assert(session.compile("local v1 = 1\n\nlocal v2 = nil + v1", "=In[4]"))
  expect_error(function() session.run(f) end, "In[4]:3:")
  local g, err = session.compile("local = 2", "=In[5]")
  assert(g == nil and err:find("In[5]:1:", 1, true), err)
  -- an error raised by an fp stdlib helper points at the cell's line, not the stdlib
  local h = assert(session.compile("local p = require('fp.patching')\np.resid_pre(nil)", "=In[6]"))
  expect_error(function() session.run(h) end, "In[6]:2:")
  v1, v2 = nil, nil
end)

test("incomplete cells are recognised", function()
  assert(session.incomplete("for i = 1, 3 do"))
  assert(session.incomplete("local t = {"))
  assert(not session.incomplete("local x = 1"))
  assert(not session.incomplete("x = = 1"), "a syntax error is not incomplete")
end)
