-- Bad-input corpus: the public functions not exercised by the other files, and a check that
-- every public function (fp, fp.linalg, tensor methods, model methods, the activation cache,
-- fp.patching, fp.utils, fp.json) is called somewhere in this corpus.
local fp = require "fp"

local bad = bad_input   -- fp.testing: the error is asserted, then fp must still work

local a = fp.ones(2, 3)
local freed = fp.ones(2); freed:free()

-- one-tensor methods: a bad self, a freed self
for _, name in ipairs({ "ceil", "cos", "erf", "expm1", "floor", "gelu_new", "isnan", "log", "log1p", "neg",
                        "reciprocal", "relu", "round", "rsqrt", "sigmoid", "sign", "silu", "sin", "square", "tanh" }) do
  bad(name .. ": bad self", function() return fp.Tensor[name]("x") end, "calling '" .. name .. "' on bad self (tensor expected, got string)")
  bad(name .. ": freed self", function() return fp.Tensor[name](freed) end, "tensor was freed")
end
bad("int: bad self", function() return fp.Tensor.int({}) end, "calling 'int' on bad self (tensor expected, got table)")
bad("dim: bad self", function() return fp.Tensor.dim(nil) end, "calling 'dim' on bad self (tensor expected, got nil)")
bad("numel: bad self", function() return fp.Tensor.numel(3) end, "calling 'numel' on bad self (tensor expected, got number)")
bad("is_contiguous: bad self", function() return fp.Tensor.is_contiguous("t") end, "calling 'is_contiguous' on bad self")
bad("type: bad self", function() return fp.Tensor.type(true) end, "calling 'type' on bad self (tensor expected, got boolean)")
bad("item: many elements", function() return a:item() end, "item: a tensor with 6 elements cannot be converted to a number")
bad("zero_: freed", function() return freed:zero_() end, "tensor was freed")
bad("amin: dim out of range", function() return a:amin(2) end, "amin: dim 2 out of range")
bad("argmin: dim out of range", function() return a:argmin(-3) end, "argmin: dim -3 out of range")
bad("min: dim out of range", function() return a:min(4) end, "min: dim 4 out of range")
bad("std: dim out of range", function() return a:std(3) end, "dim 3 out of range")
bad("log_softmax: string dim", function() return a:log_softmax("last") end, "bad argument #1 to 'log_softmax'")
bad("masked_fill: missing value", function() return a:masked_fill(a:gt(0)) end, "bad argument #2 to 'masked_fill' (number expected, got no value)")
for _, name in ipairs({ "eq", "ne", "lt", "le", "ge" }) do
  bad(name .. ": shape mismatch", function() return a[name](a, fp.ones(4)) end, name .. ": shapes [2, 3] and [4] cannot be broadcast")
end
bad("logical_or: shape mismatch", function() return a:bool():logical_or(fp.ones(5):bool()) end, "logical_or: shapes [2, 3] and [5] cannot be broadcast")
bad("logical_xor: string", function() return a:bool():logical_xor("x") end, "bad argument #1 to 'logical_xor'")
bad("is_tensor then item of nil", function() assert(not fp.is_tensor(nil)); return fp.item(nil) end, "bad argument #1 to 'item' (tensor expected, got nil)")
bad("_hook_name_hint: names not a list", function() return fp._hook_name_hint("blocks.0.hook_z", 3) end, "_hook_name_hint: expected a list of names")
bad("display: a value whose __tostring fails", function()
  return fp.display(setmetatable({}, { __tostring = function() error("no text for this value") end }))
end, "no text for this value")
bad("time/config then a bad call", function() assert(fp.time() > 0 and fp.config().threads >= 1); return fp.zeros(-1) end, "negative dimension -1")

-- models and stdlib
local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local toks = fp.tensor({ { 1, 2, 3, 4 } }, "int")
local _, cache = m:run_with_cache(toks)
local patching = require "fp.patching"
local utils = require "fp.utils"
local json = require "fp.json"
local metric = function(l) return l[{ 0, -1, 0 }] end
bad("hook_points: bad self", function() return fp.Model.hook_points(toks) end, "calling 'hook_points' on bad self (model expected")
bad("batch: items not a list", function() return m:batch(3) end, "batch")
bad("keys: a freed cache is empty and act fails", function()
  local _, c = m:run_with_cache(toks)
  c:free()
  assert(#c:keys() == 0)
  return c:act("resid_pre", 0)
end, "ActivationCache: 'blocks.0.hook_resid_pre' is not in this cache")
bad("get_full_resid_decomposition: bad layer", function() return cache:get_full_resid_decomposition("x") end, "get_full_resid_decomposition: layer must be an integer from 0 to 2 (n_layers: the final residual) or from -3 to -1 counting from the end, got x")
bad("patching.block_every: metric not a function", function() return patching.block_every(m, toks, cache, 3) end, "patching: metric must be a function(logits) -> number")
bad("patching.attn_head_out_by_pos: 2 prompts", function() return patching.attn_head_out_by_pos(m, fp.zeros(2, 4, "int"), cache, metric) end, "patching: the clean cache's 'blocks.0.attn.hook_z' is for 1 prompt(s) of 4 positions, the corrupted tokens are 2 of 4")
bad("patching.attn_head_pattern_all_pos: no cache", function() return patching.attn_head_pattern_all_pos(m, toks, nil, metric) end, "patching: clean_cache must be the cache from run_with_cache")
bad("patching.path_heads: receivers not a list", function() return patching.path_heads(m, toks, cache, metric, 3) end, "patching.path: senders and receivers must be lists")
bad("patching.dataset: not a sweep", function() return patching.dataset(m, {}, "heads", { out = "x" }) end, "sweep must be the name of an fp.patching sweep")
bad("patching.dataset: unknown option", function() return patching.dataset(m, {}, "resid_pre", { outt = "x" }) end, "unknown option 'outt'")
bad("patching.dataset: a pair without ids", function() return patching.dataset(m, { { clean = "a", corrupted = "b" } }, "resid_pre", { out = "x" }) end, "pair 1 must have clean and corrupted texts")
local shard = require "fp.shard"
bad("fp.shard.items: not a list", function() return shard.items(3) end, "fp.shard.items: list must be a table, got number")
bad("fp.shard.assign: costs not a list", function() return shard.assign("x", 2) end, "fp.shard.assign: costs must be a list of numbers")
bad("fp.shard.open: no folder", function() return shard.open(nil) end, "fp.shard.open: out must be a folder name")
bad("utils.logit_diff: token ids missing", function() return utils.logit_diff(m:forward(toks)) end, "logit_diff: token ids must be numbers or int tensors, got nil")
bad("utils.topk_nd: not a tensor", function() return utils.topk_nd("x", 3) end, "topk_nd: argument 1 must be a tensor, got string")
bad("utils.position_labels: bad input", function() return utils.position_labels(m, 3) end, "to_str_tokens: model gpt2-tiny has no tokenizer")
bad("patching.attn_head_q_all_pos: metric not a function", function() return patching.attn_head_q_all_pos(m, toks, cache, 3) end, "patching.attn_head_q_all_pos: metric must be a function")
bad("patching.attn_head_k_all_pos: unknown option", function() return patching.attn_head_k_all_pos(m, toks, cache, metric, { max_batc = 1 }) end, "unknown option 'max_batc'")
bad("patching.attn_head_v_all_pos: tokens not int", function() return patching.attn_head_v_all_pos(m, fp.zeros(1, 4), cache, metric) end, "corrupted tokens must be an int tensor")
bad("patching.attn_head_q_by_pos: no cache", function() return patching.attn_head_q_by_pos(m, toks, nil, metric) end, "clean_cache must be the cache")
bad("patching.attn_head_k_by_pos: 2 prompts", function() return patching.attn_head_k_by_pos(m, fp.zeros(2, 4, "int"), cache, metric) end, "is for 1 prompt(s) of 4 positions, the corrupted tokens are 2 of 4")
bad("patching.attn_head_v_by_pos: model not a model", function() return patching.attn_head_v_by_pos({}, toks, cache, metric) end, "model must be a model")
bad("patching.attn_head_pattern_by_pos: max_batch 0", function() return patching.attn_head_pattern_by_pos(m, toks, cache, metric, { max_batch = 0 }) end, "max_batch")
bad("patching.attn_head_pattern_dest_src_pos: metric returns a string", function() return patching.attn_head_pattern_dest_src_pos(m, toks, cache, function() return "x" end) end, "metric must return a number")
bad("patching.attn_head_all_pos_every: unknown option", function() return patching.attn_head_all_pos_every(m, toks, cache, metric, { engin = false }) end, "unknown option 'engin'")
bad("patching.attn_head_by_pos_every: metric nil", function() return patching.attn_head_by_pos_every(m, toks, cache, nil) end, "metric must be a function")
bad("utils.act_name: not a string", function() return utils.act_name(3) end, "act_name: name must be a string, got number")
bad("utils.act_name: scale at a layer without ln1/ln2", function() return utils.act_name("scale", 2) end, "needs the layer type")
bad("utils.test_prompt: no tokenizer", function() return utils.test_prompt(m, "a", "b") end, "has no tokenizer")
bad("utils.test_prompt: answer a number", function() return utils.test_prompt(m, "a", 3) end, "answer must be a string or a non-empty list")
bad("utils.test_prompt: top_k negative", function() return utils.test_prompt(m, "a", "b", { top_k = -1 }) end, "top_k")
bad("Model:add_perma_hook: not a function", function() return m:add_perma_hook("blocks.0.hook_resid_pre", 3) end, "a hook must be a function")
bad("Model:add_perma_hook: unknown point", function() return m:add_perma_hook("blocks.0.hook_resid_pr", function() end) end, "did you mean")
bad("Model:add_hook: options not a table", function() return m:add_hook("blocks.0.hook_resid_pre", function() end, true) end, "options table expected")
bad("Model:reset_hooks: including_permanent not a boolean", function() return m:reset_hooks({ including_permanent = 1 }) end, "must be a boolean")
bad("json.empty_object then encode a function", function() assert(json.encode(json.empty_object()) == "{}"); return json.encode(print) end, "json")

test("every public function is called in the bad-input corpus", function()
  local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
  local p = assert(io.popen("cat " .. here .. "*.lua"))
  local text = p:read("a"); p:close()
  local missing = {}
  local function scan(prefix, t, forms)
    for k, v in pairs(t) do
      if type(v) == "function" then
        local found = false
        for _, f in ipairs(forms) do found = found or text:find(string.format(f, k), 1, true) ~= nil end
        -- names listed in the loops above count as called
        found = found or text:find('"' .. k .. '"', 1, true) ~= nil
        if not found then missing[#missing + 1] = prefix .. k end
      end
    end
  end
  scan("fp.", fp, { "fp.%s(", "fp.%s," })
  scan("fp.linalg.", fp.linalg, { "linalg.%s(" })
  scan("Tensor:", fp.Tensor, { ":%s(", "Tensor.%s(" })
  scan("Model:", fp.Model, { ":%s(", "Model.%s(", ".%s(nil" })
  scan("patching.", patching, { "patching.%s(" })
  scan("utils.", utils, { "utils.%s(" })
  scan("json.", json, { "json.%s(" })
  scan("cache:", getmetatable(cache).__methods, { ":%s(", "cache.%s(" })
  table.sort(missing)
  assert(#missing == 0, "not in the corpus: " .. table.concat(missing, ", "))
end)
