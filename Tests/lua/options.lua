-- Options tables are checked (issue 11, class 8): every function that takes one rejects an
-- unknown key and names the nearest valid one; numeric settings are validated; names_filter
-- accepts only hook point names. Expected messages are written out by hand.
local m = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local sm = fp.load_model("smollm2-135m")   -- has a tokenizer
local toks = fp.tensor({ { 1, 2, 3, 4 } }, "int")

test("Swift model methods: an unknown option names the nearest valid one", function()
  expect_error(function() m:run_with_hooks(toks, { fwd_hook = {} }) end,
    "run_with_hooks: unknown option 'fwd_hook' (did you mean 'fwd_hooks'?)")
  expect_error(function() m:forward(toks, { return_typ = "loss" }) end,
    "forward: unknown option 'return_typ' (did you mean 'return_type'?)")
  expect_error(function() m:forward(toks, { fwd_hooks = {} }) end, "forward: unknown option 'fwd_hooks'")
  expect_error(function() m:run_with_cache(toks, { names_filer = "hook_embed" }) end,
    "run_with_cache: unknown option 'names_filer' (did you mean 'names_filter'?)")
  expect_error(function() m:run_with_cache(toks, { pos_slice = -1, stop_at_layr = 1 }) end,
    "(did you mean 'stop_at_layer'?)")
  expect_error(function() m:run_with_cache(toks, { 1 }) end, "run_with_cache: unknown option '[1]'")
  expect_error(function() sm:to_tokens("hi", { prepend_bso = true }) end,
    "to_tokens: unknown option 'prepend_bso' (did you mean 'prepend_bos'?)")
  expect_error(function() sm:to_str_tokens("hi", { padding = "left" }) end, "to_str_tokens: unknown option 'padding'")
  expect_error(function() m:generate(toks, { max_new_token = 2 }) end,
    "generate: unknown option 'max_new_token' (did you mean 'max_new_tokens'?)")
  expect_error(function() m:kv_cache(toks, { positon = { -1 } }) end, "kv_cache: unknown option 'positon' (did you mean 'positions'?)")
  expect_error(function() m:patch_sweep(toks, { position = { -1 } }) end,
    "patch_sweep: unknown option 'position' (did you mean 'positions'?)")
  expect_error(function() fp.load_model("Tests/fixtures/models/gpt2-tiny", { fold_lm = true }) end,
    "load_model: unknown option 'fold_lm' (did you mean 'fold_ln'?)")
  -- the valid options still work
  local logits, cache = m:run_with_cache(toks, { names_filter = { "blocks.0.hook_resid_pre" }, pos_slice = -1 })
  assert(cache["blocks.0.hook_resid_pre"].shape[2] == 1)
  assert(m:forward(toks, { return_type = "loss" }) > 0)
end)

test("Swift tensor functions: unknown options", function()
  local t = fp.randn(3, 4)
  expect_error(function() t:sum(1, { keepdm = true }) end, "sum: unknown option 'keepdm' (did you mean 'keepdim'?)")
  expect_error(function() t:var({ corection = 0 }) end, "var: unknown option 'corection' (did you mean 'correction'?)")
  assert_close(t:var({ correction = 0 }), t:var(nil, { correction = 0 }), 1e-6)
  expect_error(function() t:topk(2, { larget = false }) end, "topk: unknown option 'larget' (did you mean 'largest'?)")
  expect_error(function() t:sort({ descend = true }) end, "sort: unknown option 'descend' (did you mean 'descending'?)")
  expect_error(function() fp.cross_entropy(t, fp.tensor({ 0, 1, 2 }, "int"), { reduce = "sum" }) end,
    "cross_entropy: unknown option 'reduce' (did you mean 'reduction'?)")
  expect_error(function() fp.linalg.svd(t, { full_matrix = true }) end, "svd: unknown option 'full_matrix' (did you mean 'full_matrices'?)")
  expect_error(function() fp.multinomial(fp.ones(3), 2, { replace = true }) end, "multinomial: unknown option 'replace'")
end)

test("names_filter: only hook point names, unknown ones with a suggestion", function()
  expect_error(function() m:run_with_cache(toks, { names_filter = { 1, 2 } }) end,
    "run_with_cache: names_filter must be a list of hook point names, element 1 is a number")
  expect_error(function() m:run_with_cache(toks, { names_filter = { "hook_embed", true } }) end, "element 2 is a boolean")
  expect_error(function() m:run_with_cache(toks, { names_filter = { "hook_embed", x = 1 } }) end, "keys besides 1..n")
  expect_error(function() m:run_with_cache(toks, { names_filter = { "blocks.0.hook_resid_pr" } }) end,
    "run_with_cache: names_filter: no hook point named 'blocks.0.hook_resid_pr' (did you mean blocks.0.hook_resid_pre")
  expect_error(function() m:run_with_cache(toks, { names_filter = "blocks.0.attn.hook_zz" }) end,
    "no hook point named 'blocks.0.attn.hook_zz' (did you mean blocks.0.attn.hook_z")
  local _, cache = m:run_with_cache(toks, { names_filter = {} })
  assert(next(cache) == nil, "an empty list caches nothing")
end)

test("stdlib functions: unknown options name the nearest valid one", function()
  local patching = require "fp.patching"
  local plot = require "fp.plot"
  local utils = require "fp.utils"
  local _, cache = m:run_with_cache(toks)
  local metric = function(logits) return logits[{ 0, -1, 0 }] end
  expect_error(function() patching.resid_pre(m, toks, cache, metric, { position = { -1 } }) end,
    "patching.resid_pre: unknown option 'position' (did you mean 'positions'?)")
  expect_error(function() patching.attn_head_out_all_pos(m, toks, cache, metric, { max_bach = 2 }) end,
    "patching.attn_head_out_all_pos: unknown option 'max_bach' (did you mean 'max_batch'?)")
  expect_error(function() patching.resid_pre(m, toks, cache, metric, { max_batch = 0 }) end,
    "patching: max_batch must be an integer >= 1, got 0")
  expect_error(function() plot.imshow(fp.zeros(2, 2), { titel = "x" }) end,
    "plot.imshow: unknown option 'titel' (did you mean 'title'?)")
  expect_error(function() plot.line({ { y = { 1, 2 } } }, { xlable = "x" }) end, "(did you mean 'xlabel'?)")
  expect_error(function() plot.term_string(fp.zeros(2, 2), { value = true }) end, "plot.term_string: unknown option 'value' (did you mean 'values'?)")
  expect_error(function() utils.logit_diff(fp.zeros(1, 2, 3), 0, 1, { per_promt = true }) end,
    "logit_diff: unknown option 'per_promt' (did you mean 'per_prompt'?)")
  expect_error(function() require("fp.datasets").ioi(sm, { seeds = 1 }) end, "datasets.ioi: unknown option 'seeds' (did you mean 'seed'?)")
  expect_error(function() require("fp.json").encode({}, { indnet = 2 }) end, "json.encode: unknown option 'indnet' (did you mean 'indent'?)")
  expect_error(function() require("fp.csv").encode({ { 1 } }, { headr = { "a" } }) end, "csv.encode: unknown option 'headr' (did you mean 'header'?)")
  expect_error(function() fp.nn.orthogonal(4, 2, { mapp = "cayley" }) end, "orthogonal: unknown option 'mapp' (did you mean 'map'?)")
  expect_error(function() require("fp.das").train(m, { stepz = 2 }) end, "das.train: unknown option 'stepz' (did you mean 'steps'?)")
  expect_error(function() fp.save("x.json", { a = 1 }, { indnt = 2 }) end, "fp.save: unknown option 'indnt' (did you mean 'indent'?)")
  expect_error(function() fp.save("x.npy", fp.zeros(1), { indent = 2 }) end, "fp.save: unknown option 'indent'")
  expect_error(function() m:batch({ { input = toks } }, { prepend = true }) end, "batch: unknown option 'prepend'")
  -- the error points at the caller's line, not into the stdlib
  local ok, err = pcall(plot.bar, { labels = { "a" }, values = { 1 } }, { colour = "red" })
  assert(not ok and err:find("(did you mean 'color'?)", 1, true), err)
end)

test("fp.options_error: the check the stdlib uses", function()
  assert(fp.options_error("f", { lr = 1 }, { "lr", "momentum" }) == nil)
  assert(fp.options_error("f", { momentun = 1 }, { "lr", "momentum" }) == "f: unknown option 'momentun' (did you mean 'momentum'?)")
  assert(fp.options_error("f", { zzz = 1 }, { "lr", "momentum" }) == "f: unknown option 'zzz' (known: lr, momentum)")
  assert(fp.options_error("f", { [true] = 1 }, { "lr" }):find("unknown option '[boolean]'", 1, true))
end)

test("optimizers: settings outside their range are errors", function()
  local p = function() return { fp.zeros(2):requires_grad() } end
  expect_error(function() fp.optim.Adam(p(), { lr = -1 }) end, "Adam: lr must be a finite number >= 0, got -1")
  expect_error(function() fp.optim.Adam(p(), { lr = 0 / 0 }) end, "Adam: lr must be a finite number >= 0, got")
  expect_error(function() fp.optim.AdamW(p(), { lr = math.huge }) end, "AdamW: lr must be a finite number >= 0, got inf")
  expect_error(function() fp.optim.Adam(p(), { betas = { 0.9, 1 } }) end, "Adam: betas[2] must be a finite number >= 0 and < 1, got 1")
  expect_error(function() fp.optim.Adam(p(), { betas = { -0.1, 0.9 } }) end, "Adam: betas[1] must be")
  expect_error(function() fp.optim.Adam(p(), { betas = { 0.9 } }) end, "Adam: betas must be a list of two numbers")
  expect_error(function() fp.optim.Adam(p(), { eps = 0 }) end, "Adam: eps must be a finite number > 0, got 0")
  expect_error(function() fp.optim.AdamW(p(), { weight_decay = -0.01 }) end, "AdamW: weight_decay must be a finite number >= 0")
  expect_error(function() fp.optim.SGD(p(), { momentum = -0.5 }) end, "SGD: momentum must be a finite number >= 0")
  expect_error(function() fp.optim.SGD(p(), { nesterov = true }) end, "SGD: nesterov needs a momentum > 0")
  expect_error(function() fp.optim.SGD(p(), { momentun = 0.9 }) end, "SGD: unknown option 'momentun' (did you mean 'momentum'?)")
  expect_error(function() fp.optim.Adam(p(), { beta = { 0.9, 0.99 } }) end, "Adam: unknown option 'beta' (did you mean 'betas'?)")
  -- a setting changed after construction is checked at the next step
  local params = p()
  local opt = fp.optim.SGD(params, { lr = 0.1 })
  params[1].grad = fp.ones(2)
  opt.lr = 0 / 0
  expect_error(function() opt:step() end, "SGD:step: lr must be a finite number >= 0")
  opt.lr = 0.1
  opt:step()
  assert_close(params[1]:detach(), fp.full({ 2 }, -0.1), 1e-6)
end)

test("schedules, clip_grad_norm and generate check their numbers", function()
  local opt = fp.optim.SGD({ fp.zeros(2):requires_grad() }, { lr = 0.1 })
  expect_error(function() fp.optim.StepLR(opt, { step_size = 0 }) end, "StepLR: step_size must be an integer >= 1, got 0")
  expect_error(function() fp.optim.StepLR(opt, { step_size = 2, gamma = -1 }) end, "StepLR: gamma must be a finite number >= 0")
  expect_error(function() fp.optim.StepLR(opt, { step_size = 2, gama = 0.5 }) end, "StepLR: unknown option 'gama' (did you mean 'gamma'?)")
  expect_error(function() fp.optim.CosineAnnealingLR(opt, { T_max = 0 }) end, "CosineAnnealingLR: T_max must be an integer >= 1")
  expect_error(function() fp.optim.CosineAnnealingLR(opt, { T_max = 5, eta_min = 0 / 0 }) end, "eta_min must be a finite number")
  expect_error(function() fp.optim.LinearLR(opt, { start_factor = 0 }) end, "LinearLR: start_factor must be a finite number > 0 and <= 1")
  expect_error(function() fp.optim.LinearLR(opt, { total_iters = 2.5 }) end, "LinearLR: total_iters must be an integer >= 1, got 2.5")
  expect_error(function() fp.optim.clip_grad_norm({}, -1) end, "clip_grad_norm: max_norm must be a finite number >= 0, got -1")
  expect_error(function() fp.optim.clip_grad_norm({}, 0 / 0) end, "clip_grad_norm: max_norm must be a finite number >= 0")
  expect_error(function() m:generate(toks, { temperature = 0 / 0 }) end, "generate: temperature must be a finite number >= 0")
  expect_error(function() m:generate(toks, { temperature = math.huge }) end, "generate: temperature must be a finite number >= 0, got inf")
  expect_error(function() m:generate(toks, { top_k = 0 }) end, "generate: top_k must be >= 1")
  expect_error(function() m:generate(toks, { top_p = 0 / 0 }) end, "generate: top_p must be in (0, 1]")
end)

test("plot sizes and limits are checked", function()
  local plot = require "fp.plot"
  expect_error(function() plot.imshow(fp.zeros(2, 2), { cell_width = -3 }) end, "plot.imshow: opts.cell_width must be a positive number, got -3")
  expect_error(function() plot.line({ { y = { 1, 2 } } }, { width = 0 / 0 }) end, "plot.line: opts.width must be a positive number")
  expect_error(function() plot.bar({ labels = { "a" }, values = { 1 } }, { height = math.huge }) end, "opts.height must be a positive number, got inf")
  expect_error(function() plot.imshow(fp.zeros(2, 2), { zmin = 0 / 0 }) end, "plot.imshow: opts.zmin must be a finite number")
  expect_error(function() plot.imshow(fp.zeros(2, 2), { max_cells = 0 }) end, "opts.max_cells must be a positive number, got 0")
  assert(plot.imshow(fp.zeros(2, 2), { cell_width = 10, zmin = -1, zmax = 1 }):svg():find("<svg", 1, true))
end)

test("fp.args: an unknown flag names the nearest one", function()
  local args = require "fp.args"
  local opts, err = args.parse_list({ "--modle", "x" }, { model = "m", out = "o" })
  assert(opts == nil and err == "unknown option --modle (did you mean --model?) (--help lists the options)", err)
  _, err = args.parse_list({ "--n-promts", "3" }, { n_prompts = 8 })
  assert(err:find("(did you mean --n-prompts?)", 1, true), err)
end)
