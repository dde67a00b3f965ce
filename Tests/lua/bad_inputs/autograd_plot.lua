-- Bad-input corpus: autograd, optimizer kernels, the sweep engine, plotting and JSON helpers.
-- Each case must end in a Lua error whose message names the function/argument (asserted);
-- afterwards the process must still work (a following op is checked).
local fp = require "fp"
local json = require "fp.json"

local bad = bad_input   -- fp.testing: the error is asserted, then fp must still work

local a = fp.ones(2, 3)
local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local toks = fp.tensor({ { 1, 2, 3, 4 } }, "int")

-- autograd
bad("backward: non-scalar without a gradient", function() local x = fp.ones(3):requires_grad(); return (x * 2):backward() end,
  "backward: a gradient argument is needed for a tensor of shape [3]")
bad("backward: nothing requires grad", function() return fp.ones(1):backward() end, "backward: the tensor does not require grad")
bad("requires_grad: int tensor", function() return fp.ones(2):int():requires_grad() end, "requires_grad: only float tensors can require grad, got int64")
bad("requires_grad_: bad self", function() return fp.Tensor.requires_grad_("x") end, "calling 'requires_grad_' on bad self (tensor expected, got string)")
bad("index assignment into a leaf that requires grad", function() local x = fp.ones(2):requires_grad(); x[{ 0 }] = 3 end,
  "index assignment: a leaf tensor that requires grad cannot be changed in place")
bad("detach: bad self", function() return fp.Tensor.detach("x") end, "calling 'detach' on bad self (tensor expected, got string)")
bad("grad_fn: bad self", function() return fp.Tensor.grad_fn(3) end, "calling 'grad_fn' on bad self (tensor expected, got number)")
bad("is_leaf: bad self", function() return fp.Tensor.is_leaf(nil) end, "calling 'is_leaf' on bad self (tensor expected, got nil)")
bad("zero_grad: bad self", function() return fp.Tensor.zero_grad(1) end, "calling 'zero_grad' on bad self (tensor expected, got number)")
bad("cross_entropy: string target", function() return fp.ones(2, 5):cross_entropy("x") end, "bad argument #1 to 'cross_entropy'")
bad("cross_entropy: target out of range", function() return fp.ones(2, 5):cross_entropy(fp.tensor({ 1, 9 }, "int")) end,
  "cross_entropy: target 9 is out of range for 5 classes")
bad("fp.cross_entropy: shapes", function() return fp.cross_entropy(fp.ones(2, 5), fp.tensor({ 1, 2, 3 }, "int")) end,
  "cross_entropy: logits [..., classes] and int targets of the leading shape expected")
bad("layer_norm: weight of the wrong size", function() return a:layer_norm(fp.ones(4), fp.ones(4)) end, "cannot be broadcast")
bad("rms_norm: weight of the wrong size", function() return a:rms_norm(fp.ones(5)) end, "cannot be broadcast")
bad("no_grad: not a function", function() return fp.no_grad("x") end, "bad argument #1 to 'no_grad' (function expected, got string)")
bad("enable_grad: not a function", function() return fp.enable_grad(3) end, "bad argument #1 to 'enable_grad' (function expected, got number)")
bad("set_grad_enabled: not a boolean", function() return fp.set_grad_enabled("yes") end, "bad argument #1 to 'set_grad_enabled' (boolean expected, got string)")
bad("is_grad_enabled, then no_grad without a function", function() assert(fp.is_grad_enabled() == true); return fp.no_grad() end,
  "bad argument #1 to 'no_grad' (function expected, got no value)")
bad("_adam_step: not a tensor", function() return fp._adam_step("x") end, "bad argument #1 to '_adam_step' (tensor expected, got string)")
bad("_sgd_step: no arguments", function() return fp._sgd_step() end, "bad argument #1 to '_sgd_step' (tensor expected, got no value)")

-- the sweep engine
bad("patch_sweep: tokens not a tensor", function() return m:patch_sweep("x") end, "bad argument #1 to 'patch_sweep' (tensor expected, got string)")
bad("patch_sweep: options not a table", function() return m:patch_sweep(toks, 3) end, "bad argument #2 to 'patch_sweep' (options table, got number)")
bad("patch_sweep: add with a NaN layer", function() return m:patch_sweep(toks):add(0 / 0, "pre", fp.zeros(1, 4, 64)) end, "add")
bad("patch_sweep: reference of a huge layer", function() return m:patch_sweep(toks):reference(1 << 40, "mid") end, "no mid activation at layer")

-- plots and JSON helpers
bad("show: 4-D tensor", function() return fp.ones(2, 2, 2, 2):show() end, "plot.term: expected a 1-D, 2-D or 3-D tensor, got shape [2, 2, 2, 2]")
bad("show: not a tensor", function() return fp.Tensor.show("x") end, "plot.term: t must be a tensor or a list of numbers, got string")
bad("json.number_string: a table", function() return json.number_string({}) end, "json.number_string: a number expected, got table")
bad("json.float32_string: a string", function() return json.float32_string("x") end, "json.float32_string: a number expected, got string")
bad("json._encode_lua: a function", function() return json._encode_lua(print) end, "json.encode: cannot encode a function")
bad("_json_tensor: not a tensor", function() return fp._json_tensor({}, nil, 0) end, "tensor expected")
bad("_json_tensor: a huge depth", function() return fp._json_tensor(fp.ones(2), "  ", 1 << 40) end, "_json_tensor: depth out of range")
bad("_json_tensor: a negative depth", function() return fp._json_tensor(fp.ones(2), "  ", -1) end, "_json_tensor: depth out of range")
bad("_json_numbers: not a table", function() return fp._json_numbers(3, 1, ",") end, "_json_numbers: a table expected")
bad("_json_numbers: a negative count", function() return fp._json_numbers({}, -1, ",") end, "_json_numbers: n must not be negative")
bad("_json_numbers: a huge count", function() return fp._json_numbers({}, 1 << 50, ",") end, "Lua memory")
bad("use_color: not a number", function() return fp.use_color("x") end, "bad argument #1 to 'use_color'")
bad("make_dirs: empty path", function() return fp.make_dirs("") end, "bad argument #1 to 'make_dirs' (empty path)")
bad("make_dirs: under a file", function() return fp.make_dirs("/proc/version/x") end, "make_dirs: cannot create the folder '/proc/version/x'")
