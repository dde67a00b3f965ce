-- Bad-input corpus: hooks that throw, return the wrong thing, run the model re-entrantly,
-- or keep their activation past the hook; bad hook specifications.
local fp = require "fp"

local bad = bad_input   -- fp.testing: the error is asserted, then fp must still work

local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local toks = fp.tensor({ { 1, 2, 3, 4 } }, "int")
local clean = m:forward(toks)
local P = "blocks.0.hook_resid_pre"
local function run(name, fn) return m:run_with_hooks(toks, { fwd_hooks = { { name, fn } } }) end
-- After every case the model must still give the clean logits (no hook left behind).
local function still_clean() assert_close(m:forward(toks), clean, 0, "model changed by a failed hooked run") end

local function hcase(name, fn, pattern)
  test(name, function()
    expect_error(fn, pattern)
    still_clean()
  end)
end

hcase("hook throws a string", function() return run(P, function() error("boom in hook") end) end, "boom in hook")
hcase("hook throws a table", function() return run(P, function() error({ code = 1 }) end) end, "run_with_hooks: hook 'blocks.0.hook_resid_pre' raised an error: (error object is not a string)")
hcase("hook throws from a nested call", function()
  return run("blocks.1.mlp.hook_post", function(act) return act:matmul(fp.ones(7, 7)) end)
end, "matmul: shapes")
hcase("hook returns the wrong shape", function() return run(P, function(act) return fp.zeros(3, 3) end) end, "shape")
hcase("hook returns a string", function() return run(P, function() return "x" end) end, "hook 'blocks.0.hook_resid_pre' returned a string; a hook returns nothing or a replacement tensor")
hcase("hook returns a number", function() return run(P, function() return 3 end) end, "hook 'blocks.0.hook_resid_pre' returned a number; a hook returns nothing or a replacement tensor")
hcase("hook returns a tensor with an extra dim", function() return run(P, function(act) return act:unsqueeze(0) end) end, "shape")
hcase("hook returns a freed tensor", function() return run(P, function(act) local t = act:clone(); t:free(); return t end) end, "freed")
hcase("hook frees its activation, then uses it", function() return run(P, function(act) act:free(); return act + 1 end) end, "add: tensor was freed")
hcase("hook is not a function", function() return run(P, 42) end, "function")
hcase("hook name unknown", function() return run("blocks.9.hook_resid_pre", function() end) end, "no hook point named 'blocks.9.hook_resid_pre'")
hcase("fwd_hooks not a list", function() return m:run_with_hooks(toks, { fwd_hooks = 3 }) end, "fwd_hooks must be a list of {name, fn} pairs")
hcase("fwd_hooks entry not a pair", function() return m:run_with_hooks(toks, { fwd_hooks = { "x" } }) end, "fwd_hooks entry 1 must be a {name, fn} pair")
hcase("re-entrant: a hook runs the model", function()
  return run(P, function(act) m:forward(toks); error("after the inner run") end)
end, "run_with_hooks: hook 'blocks.0.hook_resid_pre' raised an error: ")
hcase("re-entrant: a hook runs run_with_hooks that throws", function()
  return run(P, function(act) run("blocks.1.hook_resid_pre", function() error("inner boom") end) end)
end, "inner boom")
hcase("stale activation used after the run", function()
  local kept
  run(P, function(act) kept = act end)
  return kept + 1
end, "add: the activation of hook 'blocks.0.hook_resid_pre' was used after its hook returned")
hcase("stale activation written after the run", function()
  local kept
  run(P, function(act) kept = act end)
  kept[{ 0 }] = 1
end, "index assignment: the activation of hook 'blocks.0.hook_resid_pre' was used after its hook returned")
hcase("hook keeps a view of its activation", function()
  local kept
  run(P, function(act) kept = act[{ 0, 0 }] end)
  return kept:sum()
end, "sum: the activation of hook 'blocks.0.hook_resid_pre' was used after its hook returned")
hcase("names_filter of the wrong type", function() return m:run_with_cache(toks, { names_filter = 3 }) end, "names_filter must be a name, a list of names or a function(name)")
hcase("names_filter function throws", function() return m:run_with_cache(toks, { names_filter = function() error("filter boom") end }) end, "run_with_cache: names_filter raised an error for 'hook_embed'")
hcase("hooks(): body throws, hooks are removed", function()
  return m:hooks({ { P, function(act) act:mul(2) end } }, function() error("body boom") end)
end, "body boom")
hcase("hooks(): entry not a pair", function() return m:hooks({ 3 }, function() end) end, "hooks: entry 1 must be a {name, fn} pair")
test("a permanent hook that throws, then reset_hooks", function()
  m:add_hook(P, function() error("permanent boom") end)
  expect_error(function() return m:forward(toks) end, "permanent boom")
  m:reset_hooks()
  still_clean()
end)
test("a hook that errors repeatedly does not leak memory or hooks", function()
  local before = fp.memory()
  for i = 1, 20 do pcall(run, P, function() error("again") end) end
  collectgarbage(); collectgarbage()
  still_clean()
  assert(fp.memory() <= before + 1024 * 1024, "memory grew: " .. (fp.memory() - before))
end)
