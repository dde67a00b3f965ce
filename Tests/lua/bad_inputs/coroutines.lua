-- Coroutines and hooks: objects made or hooks installed inside a coroutine must stay valid
-- after the coroutine is collected (nothing keeps a coroutine's lua_State), and a hook runs
-- on the thread that runs the model. A use-after-free here shows as a crash or as garbage;
-- the junk strings reuse the freed memory so that a stale pointer is noticed.
local fp = require "fp"

local function churn()
  collectgarbage(); collectgarbage()
  local junk = {}
  for i = 1, 20000 do junk[i] = string.rep("F", 100 + i % 300) .. i end
  return #junk
end

local P = "blocks.0.hook_resid_pre"
local toks = fp.tensor({ { 1, 2, 3, 4 } }, "int")
local tiny = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local clean = tiny:forward(toks)

test("issue 11 example: a model loaded in a collected coroutine takes add_hook (SmolLM2)", function()
  local co = coroutine.create(function() return fp.load_model("smollm2-135m") end)
  local ok, model = coroutine.resume(co); co = nil
  assert(ok, tostring(model))
  churn()
  local seen = 0
  local h = model:add_hook("blocks.0.hook_resid_pre", function(act) seen = seen + 1 end)
  model:forward((model:to_tokens("Hello")))
  assert(seen == 1, "the hook ran " .. seen .. " times")
  model:remove_hook(h)
end)

test("a model loaded in a collected coroutine runs hooks given to a run", function()
  local co = coroutine.create(function() return fp.load_model("Tests/fixtures/models/gpt2-tiny") end)
  local _, m = coroutine.resume(co); co = nil
  churn()
  local seen
  m:run_with_hooks(toks, { fwd_hooks = { { P, function(act, hook) seen = hook.name end } } })
  assert(seen == P)
  assert_close(m:forward(toks), clean, 0)
end)

test("add_hook called inside a coroutine reads its own arguments", function()
  local ran = 0
  local co = coroutine.wrap(function()
    -- values on the main stack at the same indices must not be read instead
    return tiny:add_hook(P, function() ran = ran + 1 end)
  end)
  local h = co("not a hook point", 42)
  assert(math.type(h) == "integer")
  tiny:forward(toks)
  assert(ran == 1, "ran " .. ran)
  tiny:remove_hook(h)
  -- its errors name the argument it was given
  expect_error(coroutine.wrap(function() return tiny:add_hook("blocks.0.hook_nope", function() end) end),
    "no hook point named 'blocks.0.hook_nope'")
  expect_error(coroutine.wrap(function() return tiny:add_hook(P, 7) end), "a hook must be a function(act, hook), got number")
end)

test("a hook installed by a coroutine that is then collected still runs, and can be removed", function()
  local calls = 0
  local co = coroutine.create(function()
    local h = tiny:add_hook(P, function(act) calls = calls + 1; return act * 1 end)
    coroutine.yield(h)
    error("never resumed")
  end)
  local _, h = coroutine.resume(co)
  co = nil   -- suspended forever, then collected
  churn()
  assert_close(tiny:forward(toks), clean, 1e-6)
  assert(calls == 1)
  tiny:remove_hook(h)
  tiny:forward(toks)
  assert(calls == 1)
end)

test("a filter hook added in a coroutine runs after the coroutine is gone", function()
  local names = {}
  local co = coroutine.create(function()
    return tiny:add_hook(function(name) return name:match("hook_resid_post$") ~= nil end, function(act, hook) names[#names + 1] = hook.name end)
  end)
  local _, h = coroutine.resume(co); co = nil
  churn()
  tiny:forward(toks)
  assert(#names == tiny.cfg.n_layers, #names)
  tiny:remove_hook(h)
end)

test("hooks run inside a coroutine, on the coroutine's thread", function()
  local co = coroutine.wrap(function()
    local thread = coroutine.running()
    local inside
    tiny:run_with_hooks(toks, { fwd_hooks = { { P, function() inside = coroutine.running() end } } })
    return inside == thread
  end)
  assert(co() == true, "the hook did not run on the coroutine that ran the model")
end)

test("a hook that yields gets an error, and the model still works", function()
  local co = coroutine.create(function()
    return tiny:run_with_hooks(toks, { fwd_hooks = { { P, function() coroutine.yield(1) end } } })
  end)
  local ok, err = coroutine.resume(co)
  assert(not ok and tostring(err):find("yield", 1, true), tostring(err))
  assert_close(tiny:forward(toks), clean, 0)
end)

test("a hook resumes another coroutine that runs the model (re-entrant, other thread)", function()
  local inner = coroutine.wrap(function() return tiny:forward(toks) end)
  local got
  tiny:run_with_hooks(toks, { fwd_hooks = { { P, function() got = inner() end } } })
  assert_close(got, clean, 0)
end)

test("backward hooks from a run made in a collected coroutine fire on backward", function()
  local grads = 0
  local co = coroutine.create(function()
    return tiny:run_with_hooks(toks, { bwd_hooks = { { P, function(g) grads = grads + 1 end } } })
  end)
  local ok, logits = coroutine.resume(co); co = nil
  assert(ok, tostring(logits))
  churn()
  logits:sum():backward()
  assert(grads == 1, grads)
end)

test("backward called inside a coroutine runs the backward hooks there", function()
  local on
  local logits = tiny:run_with_hooks(toks, { bwd_hooks = { { P, function() on = coroutine.running() end } } })
  local co = coroutine.create(function() logits:sum():backward() end)
  local ok, err = coroutine.resume(co)
  assert(ok, tostring(err))
  assert(on == co, "the backward hook did not run on the coroutine that called backward")
end)

test("names_filter function and cache made inside a coroutine", function()
  local co = coroutine.create(function()
    return tiny:run_with_cache(toks, { names_filter = function(n) return n == P end })
  end)
  local ok, _, cache = coroutine.resume(co); co = nil
  assert(ok)
  churn()
  assert(cache[P] ~= nil)
end)
