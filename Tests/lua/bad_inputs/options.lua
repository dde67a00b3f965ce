-- Bad-input corpus: options tables (unknown keys, wrong containers) and fp.options_error.
local fp = require "fp"

local bad = bad_input   -- fp.testing: the error is asserted, then fp must still work

local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local toks = fp.tensor({ { 1, 2, 3 } }, "int")

bad("options_error: no name", function() return fp.options_error() end, "bad argument #1 to 'options_error' (string expected, got no value)")
bad("options_error: opts not a table", function() return fp.options_error("f", 3, {}) end, "bad argument #2 to 'options_error' (options table expected")
bad("options_error: known not a table", function() return fp.options_error("f", {}, "lr") end, "bad argument #3 to 'options_error' (list of option names expected")
bad("options_error: known with a number", function() return fp.options_error("f", {}, { "lr", 3 }) end, "element 2 is number")
bad("options: a long unknown key", function() return m:forward(toks, { [string.rep("k", 100000)] = 1 }) end, "forward: unknown option 'kkkk")
bad("options: a number key", function() return m:forward(toks, { [1.5] = 1 }) end, "forward: unknown option '[1.5]'")
bad("options: a table key", function() return m:run_with_hooks(toks, { [{}] = 1 }) end, "run_with_hooks: unknown option '[table]'")
bad("names_filter: a number", function() return m:run_with_cache(toks, { names_filter = 3 }) end, "names_filter must be a name, a list of names or a function(name)")
bad("names_filter: nested list", function() return m:run_with_cache(toks, { names_filter = { { "hook_embed" } } }) end, "element 1 is a table")
bad("optim: options not a table", function() return fp.optim.SGD({ fp.zeros(1):requires_grad() }, 0.1) end, "SGD: options table expected, got number")
bad("optim: lr a string", function() return fp.optim.SGD({ fp.zeros(1):requires_grad() }, { lr = "0.1" }) end, "SGD: lr must be a finite number >= 0, got string")
bad("plot: options a string", function() return require("fp.plot").imshow(fp.zeros(2, 2), "title") end, "plot.imshow: opts must be a table, got string")
bad("args: about with a typo", function() return require("fp.args").parse({}, { n = 1 }, { desc = "x" }) end, "fp.args: unknown option 'desc' (did you mean 'description'?)")
