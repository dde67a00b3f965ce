-- Bad inputs to the sparse-dictionary API (fp.load_sae, the model's SAE methods, fp.sae.*).
local fp = require "fp"
local bad = bad_input

local root = "Tests/fixtures/saes/"
local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local sae = fp.load_sae(root .. "standard")
local toks = fp.tensor({ { 1, 2, 3, 4 } }, "int")

bad("load_sae: not a path", function() return fp.load_sae(42) end, "load_sae: expected a folder path, got number")
bad("load_sae: empty folder", function() return fp.load_sae("Tests/lua/bad_inputs") end, "has no dictionary")
bad("load_sae: options not a table", function() return fp.load_sae(root .. "standard", "x") end, "load_sae: options must be a table")
bad("add_sae: not a dictionary", function() return m:add_sae({}) end, "add_sae: expected a dictionary from fp.load_sae")
bad("add_sae: unknown hook", function()
  local s = fp.load_sae(root .. "standard", { hook_name = "blocks.9.hook_resid_post" })
  return m:add_sae(s)
end, "add_sae: the model has no hook point 'blocks.9.hook_resid_post'")
bad("remove_sae: nothing spliced", function() assert(#m:saes() == 0); return m:remove_sae(sae) end, "remove_sae: no such dictionary")
bad("run_with_saes: not a dictionary", function() return m:run_with_saes(toks, 3) end, "run_with_saes: expected a dictionary or a list of them")
bad("run_with_cache_with_saes: bad dictionary in the list", function() return m:run_with_cache_with_saes(toks, { 3 }) end,
  "add_sae: expected a dictionary")
bad("a hook on an SAE point raises", function()
  m:add_sae(sae)
  local ok, err = pcall(m.run_with_hooks, m, toks, { fwd_hooks = { { "blocks.0.hook_resid_post.hook_sae_acts_post",
    function() error("boom") end } } })
  m:reset_saes()
  assert(#m:saes() == 0, "the dictionary is removed")
  error(err, 0)
end, "boom")
bad("a hook on an SAE point returns a string", function()
  return m:run_with_saes(toks, sae, { fwd_hooks = { { "blocks.0.hook_resid_post.hook_sae_acts_post", function() return "x" end } } })
end, "returned a string")
bad("encode: wrong width", function() return sae:encode(fp.zeros(2, 7)) end, "sae:encode: last dim must be 64, got 7")
bad("encode: int tensor", function() return sae:encode(fp.zeros(2, 64, "int")) end, "sae:encode: expected a float tensor")
bad("decode: not a tensor", function() return sae:decode("x") end, "sae:decode: expected a float tensor")
bad("steer: feature out of range", function() return fp.sae.steer(m, sae, { [48] = 1 }, function() end) end, "steer: feature 48 is not in 0..47")
bad("logit_effects: feature not an integer", function() return fp.sae.logit_effects(m, sae, 1.5) end, "logit_effects: feature must be an index")
bad("attribution: metric not a function", function() return fp.sae.attribution(m, sae, toks, 3) end, "attribution: metric must be a function")
bad("attribution: metric returns a number", function() return fp.sae.attribution(m, sae, toks, function() return 1 end) end,
  "attribution: metric(logits) must return a one-element tensor")
bad("activation_stats: empty list", function() return fp.sae.activation_stats(m, sae, {}) end, "activation_stats: expected a non-empty list")
bad("train: no batches", function() return fp.sae.train({ d_in = 4, d_sae = 8, k = 2, steps = 1 }) end, "sae.train: opts.batches must be")
bad("train: bad normalisation", function() return fp.sae.train({ d_in = 4, d_sae = 8, steps = 1, batches = fp.zeros(8, 4), batch_size = 2,
  k = 2, normalize_activations = "layer_norm" }) end, "normalize_activations must be none or expected_average_only_in")
bad("save: not a dictionary", function() return fp.sae.save({}, "/tmp/x") end, "sae.save: expected a dictionary")
bad("pack_tokens: bad context size", function() return fp.sae.pack_tokens(m, { "a" }, 1) end, "pack_tokens: context_size must be an integer >= 2")
bad("read_corpus: missing file", function() return fp.sae.read_corpus("/nonexistent/corpus.txt") end, "read_corpus: cannot read /nonexistent/corpus.txt")
bad("set_features_hook: bad features", function() return fp.sae.set_features_hook("x") end, "set_features_hook: features must be")
bad("evaluate: unknown option", function() return fp.sae.evaluate(m, sae, toks, { dense = 1 }) end, "unknown option 'dense'")
