-- TransformerLens's "Exploratory Analysis Demo", cell by cell, on SmolLM2: the IOI logit
-- difference, the logit lens, direct logit attribution by layer and by head, activation patching
-- of the residual stream and of attention heads (outputs and values), and induction heads on
-- repeated random tokens (torch's random numbers, so the notebook's tokens).
--
--   fp run scripts/tl_demo.lua [--model smollm2-135m] [--out out/tl_demo] [--quick]
--
-- Writes into --out: logit_lens.svg, per_head.svg, patch_resid_pre.svg, patch_heads.svg,
-- induction.svg, results.json. Returns the results table (for tests that dofile it).
-- Tests/fixtures/make_tl_demo.py is the same notebook in TransformerLens, on the same weights.
local experiment = require "fp.experiment"
local patching = require "fp.patching"
local utils = require "fp.utils"
local datasets = require "fp.datasets"

-- from_pretrained's default processing, as the notebook loads its model (less what TransformerLens
-- turns off for the model: fp.experiment.tl_processing)
local exp = experiment.start(arg, {
  model = "smollm2-135m",
  out = "out/tl_demo",
  quick = false,
  seq_len = { 50, "repeated random tokens: length of each half (quick: 20)" },
}, { description = "TransformerLens's Exploratory Analysis Demo: logit lens, DLA, activation patching, induction heads." },
experiment.tl_processing)
local opts, plot, model = exp.opts, exp.plot, exp.model
local L, H = model.cfg.n_layers, model.cfg.n_heads

-- utils.test_prompt(prompt, answer, model)
utils.test_prompt(model, "After John and Mary went to the store, John gave a bottle of milk to", "Mary")

-- The IOI prompts: four templates, each with the names both ways.
local prompt_format = {
  "When John and Mary went to the shops,%s gave the bag to",
  "When Tom and James went to the park,%s gave the ball to",
  "When Dan and Sid went to the shops,%s gave an apple to",
  "After Martin and Amy went to the park,%s gave a drink to",
}
local names = { { " Mary", " John" }, { " Tom", " James" }, { " Dan", " Sid" }, { " Martin", " Amy" } }
local prompts, answers = {}, {}
for i = 1, #prompt_format do
  for j = 1, 2 do
    answers[#answers + 1] = { names[i][j], names[i][3 - j] }
    prompts[#prompts + 1] = string.format(prompt_format[i], names[i][3 - j])
  end
end
local answer_ids = {}
for i, pair in ipairs(answers) do
  answer_ids[i] = { datasets.answer_token(model, pair[1], "tl_demo.lua"), datasets.answer_token(model, pair[2], "tl_demo.lua") }
end
local answer_tokens = fp.tensor(answer_ids, "int")                    -- [batch, 2]
local tokens = model:to_tokens(prompts, { prepend_bos = false })
-- as in the notebook, every prompt has the same number of tokens (no padding, no mask)
for _, p in ipairs(prompts) do
  local n = model:to_tokens(p, { prepend_bos = false }).shape[2]
  if n ~= tokens.shape[2] then
    error(string.format("tl_demo.lua: the IOI prompts must have the same number of tokens for this model; %q has %d, the longest %d",
      p, n, tokens.shape[2]), 0)
  end
end
local original_logits, cache = exp:time("run_with_cache", function() return model:run_with_cache(tokens) end)

local function logits_to_ave_logit_diff(logits, per_prompt)
  local final_logits = logits[{ {}, -1 }]
  local answer_logits = final_logits:gather(1, answer_tokens)
  local d = answer_logits[{ {}, 0 }] - answer_logits[{ {}, 1 }]
  if per_prompt then return d end
  return d:mean()
end
local per_prompt_diff = logits_to_ave_logit_diff(original_logits, true)
local ave_logit_diff = logits_to_ave_logit_diff(original_logits)

-- Logit lens and direct logit attribution: residual directions of the answers (W_U columns).
local W_U = model.W_U
local function residual_directions(ids) return W_U:index_select(1, ids):T() end
local logit_diff_directions = residual_directions(answer_tokens[{ {}, 0 }]) - residual_directions(answer_tokens[{ {}, 1 }])

-- fold_ln put the final norm's weight into W_U; a model where it could not (OLMo 2) keeps it apart
local folded = false
for _, p in ipairs(model.cfg.processing) do if p == "fold_ln" then folded = true end end
local function residual_stack_to_logit_diff(residual_stack, c)
  local scaled = c:apply_ln_to_stack(residual_stack, -1, false, -1)
  if not folded then scaled = scaled * model.ln_final.w end
  return fp.einsum("... batch d_model, batch d_model -> ...", scaled, logit_diff_directions) / #prompts
end

-- parallel attention and MLP (GPT-NeoX) have no resid_mid to include
local accumulated_residual, lens_labels = cache:accumulated_resid(-1, not model.cfg.parallel_attn_mlp, -1)
local logit_lens = residual_stack_to_logit_diff(accumulated_residual, cache)
local per_layer_residual, layer_labels = cache:decompose_resid(-1, false, true, -1)
local per_layer = residual_stack_to_logit_diff(per_layer_residual, cache)
local per_head_residual = cache:stack_head_results(-1, -1)
local per_head = fp.rearrange(residual_stack_to_logit_diff(per_head_residual, cache), "(layer head) -> layer head", { layer = L })

-- Activation patching: each prompt's corrupted version is its partner with the names swapped.
local order = {}
for i = 0, #prompts - 1 do order[#order + 1] = i % 2 == 0 and i + 1 or i - 1 end
local corrupted_tokens = tokens:index_select(0, fp.tensor(order, "int"))
local clean_diff = ave_logit_diff
-- the metric reads only the last position: { positions = {-1} } computes only those logits
local corrupted_diff = logits_to_ave_logit_diff(model:forward(corrupted_tokens, { positions = { -1 } }))
local function ioi_metric(logits)
  return (logits_to_ave_logit_diff(logits) - corrupted_diff) / (clean_diff - corrupted_diff)
end
local patch_resid_pre = exp:time("patch_resid_pre", function()
  return patching.resid_pre(model, corrupted_tokens, cache, ioi_metric, { positions = { -1 } }) end)
local patch_head_out = exp:time("patch_heads", function()
  return patching.attn_head_out_all_pos(model, corrupted_tokens, cache, ioi_metric, { positions = { -1 } }) end)
local patch_head_v = exp:time("patch_heads", function()
  return patching.attn_head_v_all_pos(model, corrupted_tokens, cache, ioi_metric, { positions = { -1 } }) end)
cache:free()

-- Induction heads: torch.manual_seed(0); torch.randint(1000, 10000, (batch, seq_len)), repeated.
local seq_len = opts.quick and math.min(opts.seq_len, 20) or opts.seq_len
local batch = 4
local g = fp.torch_generator(0)
-- (ids 1000..9999 as the notebook; a smaller vocabulary: its upper nine tenths)
local high = math.min(10000, model.cfg.d_vocab)
local random_tokens = g:randint(math.min(1000, high // 10), high, { batch, seq_len })
local repeated_tokens = fp.repeat_(random_tokens, "batch seq_len -> batch (2 seq_len)")
local induction_score_store = fp.zeros(L, H)
local function induction_score_hook(pattern, hook)
  local induction_stripe = pattern:diagonal({ dim1 = -2, dim2 = -1, offset = 1 - seq_len })
  local induction_score = fp.reduce(induction_stripe, "batch index pos -> index", "mean")
  induction_score_store[{ hook.layer }] = induction_score
end
exp:time("induction", function()
  model:run_with_hooks(repeated_tokens, { return_type = "none",
    fwd_hooks = { { function(name) return name:sub(-7) == "pattern" end, induction_score_hook } } })
end)

local top_vals, top_where = utils.topk_nd(induction_score_store, 5)
local induction_heads = {}
for i, w in ipairs(top_where) do induction_heads[i] = { layer = w[1], head = w[2], score = top_vals[i - 1] } end
local top_dla_vals, top_dla = utils.topk_nd(per_head, 3)

-- Figures.
local figures = {}
if plot then
  local function save(fig, name) fig:save(opts.out .. "/" .. name); figures[#figures + 1] = name end
  save(plot.line({ { name = "logit diff", y = logit_lens } }, { x = lens_labels,
    title = "Logit difference from the accumulated residual stream", xlabel = "Layer", ylabel = "Logit diff" }), "logit_lens.svg")
  save(plot.imshow(per_head, { xlabel = "Head", ylabel = "Layer", title = "Logit difference from each head" }), "per_head.svg")
  save(plot.imshow(patch_resid_pre, { x = utils.position_labels(model, prompts[1], { prepend_bos = false }),
    xlabel = "Position", ylabel = "Layer", title = "resid_pre activation patching" }), "patch_resid_pre.svg")
  save(plot.imshow(patch_head_out, { xlabel = "Head", ylabel = "Layer", title = "Head output activation patching" }), "patch_heads.svg")
  save(plot.imshow(induction_score_store, { xlabel = "Head", ylabel = "Layer", title = "Induction score by head" }), "induction.svg")
end

local results = {
  model = model.cfg.model_name,
  prompts = prompts,
  per_prompt_diff = per_prompt_diff,
  ave_logit_diff = ave_logit_diff,
  corrupted_ave_logit_diff = corrupted_diff,
  logit_lens = logit_lens, logit_lens_labels = lens_labels,
  per_layer = per_layer, per_layer_labels = layer_labels,
  per_head = per_head,
  patch_resid_pre = patch_resid_pre,
  patch_head_out = patch_head_out,
  patch_head_v = patch_head_v,
  seq_len = seq_len,
  repeated_tokens = repeated_tokens,
  induction_scores = induction_score_store,
  induction_heads = induction_heads,
  figures = figures,
}

print(string.format("average logit diff %.3f (corrupted %.3f)", ave_logit_diff, corrupted_diff))
print(string.format("logit lens: %.3f after %s, %.3f at the end", logit_lens[{ L }], lens_labels[L + 1], logit_lens[{ -1 }]))
local dla = {}
for i, w in ipairs(top_dla) do dla[i] = string.format("L%dH%d %.3f", w[1], w[2], top_dla_vals[i - 1]) end
print("top heads by direct logit attribution: " .. table.concat(dla, ", "))
local ind = {}
for i, h in ipairs(induction_heads) do ind[i] = string.format("L%dH%d %.3f", h.layer, h.head, h.score) end
print("top induction heads: " .. table.concat(ind, ", "))
return exp:finish(results, "patching took %.1fs (resid_pre) + %.1fs (heads)", exp.seconds.patch_resid_pre, exp.seconds.patch_heads)
