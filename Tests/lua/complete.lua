-- Tab completion (fp.complete) for the REPL and the Jupyter kernel, on SmolLM2.
local complete = require "fp.complete"
local path = (os.getenv("FP_MODELS") or (os.getenv("HOME") .. "/.cache/fp/models")) .. "/SmolLM2-135M-Instruct.Q4_1.gguf"

local function has(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

cmodel = fp.load_model(path)
local _, c = cmodel:run_with_cache(cmodel:to_tokens("The cat"), { names_filter = { "blocks.0.hook_resid_pre", "blocks.1.attn.hook_z" } })
ccache = c

test("globals, fields and methods", function()
  local start, m = complete.complete("x = fp.ein")
  assert_equal(start, 8); assert(has(m, "einsum"))
  _, m = complete.complete("cmodel:run_with_c")
  assert(has(m, "run_with_cache"))
  _, m = complete.complete("print(cmod")
  assert(has(m, "cmodel"))
end)

test("model fields down to a block's attention weights", function()
  local start, m = complete.complete("w = cmodel.blocks[3].attn.")
  assert_equal(start, #"w = cmodel.blocks[3].attn." + 1)
  assert(has(m, "W_Q") and has(m, "W_O"), table.concat(m, " "))
  _, m = complete.complete("cmodel.c")
  assert(has(m, "cfg"))
  _, m = complete.complete("cmodel.cfg.n_l")
  assert(has(m, "n_layers"))
end)

test("after ':' only methods (a cache's methods, not its keys)", function()
  local _, m = complete.complete("ccache:")
  assert(has(m, "act") and has(m, "keys"))
  for _, v in ipairs(m) do assert(not v:find("hook_", 1, true), "a cache key after ':': " .. v) end
end)

test("hook names inside strings; a cache's own keys after cache[\"", function()
  local start, m = complete.complete('cmodel:run_with_cache(t, { names_filter = { "blocks.3.attn.hook_p')
  assert(has(m, "blocks.3.attn.hook_pattern"), table.concat(m, " "))
  assert_equal(start, #'cmodel:run_with_cache(t, { names_filter = { "' + 1)
  _, m = complete.complete('ccache["blocks.')
  assert_equal(#m, 2); assert(has(m, "blocks.1.attn.hook_z"))
end)

cmodel, ccache = nil, nil
