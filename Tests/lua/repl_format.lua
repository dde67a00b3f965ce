-- How `fp repl` shows expression values (fp.repl.format): tables by their contents.
local repl = require "fp.repl"

test("lists, records, nesting, cycles and long tables", function()
  assert_equal(repl.format({ 1, 2, 3 }), "{ 1, 2, 3 }")
  assert_equal(repl.format({}), "{}")
  assert_equal(repl.format({ a = 1, b = "x" }), '{ a = 1, b = "x" }')
  assert_equal(repl.format({ 1, "two", k = true, [10] = 4 }), '{ 1, "two", [10] = 4, k = true }')
  assert_equal(repl.format({ { 1, { 2, { 3 } } } }), "{ { 1, {...} } }")
  assert_equal(repl.format({ ["a b"] = 1 }), '{ ["a b"] = 1 }')
  local t = { 1 }
  t.self = t
  assert_equal(repl.format(t), "{ 1, self = <cycle> }")
  local long = {}
  for i = 1, 30 do long[i] = i end
  assert(repl.format(long):find("20, ... (30 entries; show_all(x) shows all) }", 1, true), repl.format(long))
  assert_equal(repl.format(3.5), "3.5")
  assert_equal(repl.format("s"), '"s"')
  assert(repl.format(fp.tensor({ 1, 2 })):find("tensor", 1, true))
  assert_equal(repl.format({ fp.tensor({ 1, 2 }) }), "{ Tensor(float32, shape [2]) }")
end)
