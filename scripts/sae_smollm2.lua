-- Train a TopK sparse autoencoder on SmolLM2's middle-layer residual stream over the Python
-- documentation (Debian's python3.11-doc, written by scripts/fetch-corpus.sh), evaluate it the
-- way SAELens does (L0, explained variance, dead / dense latents, CE loss recovered), write
-- feature dashboards for a sample of features, and use one feature in a patching experiment:
-- ablate it where it fires most (the model with the dictionary spliced in, error term on, so
-- only that feature changes) and steer generation with it.
--
--   fp run scripts/sae_smollm2.lua [--model smollm2-135m] [--out out/sae_smollm2] [--quick]
--                                  [--layer 15] [--k 32] [--expansion 8] [--steps 600]
--
-- Writes into --out: sae/ (cfg.json + sae_weights.safetensors, SAELens's format),
-- dashboards/feature_N.html, density.html, results.json. Returns the results table.
local args = require "fp.args"
local json = require "fp.json"

local opts = args.parse(arg, {
  model = "smollm2-135m",
  out = "out/sae_smollm2",
  quick = false,
  layer = { "auto", "residual stream after this block (blocks.L.hook_resid_post); auto: the middle layer (15 of SmolLM2's 30)" },
  k = { 32, "TopK: features active per token" },
  expansion = { 8, "d_sae = expansion * d_model" },
  steps = { 600, "training steps" },
  batch_size = { 1024, "activations per step" },
  lr = { 1e-3, "Adam learning rate" },
  context_size = { 128, "tokens per context" },
  contexts = { 384, "training contexts packed from the corpus" },
  eval_contexts = { 16, "held-out contexts for the evaluations and dashboards" },
  dashboards = { 6, "features with a dashboard" },
  seed = { 0, "random seed (initialisation, shuffling)" },
}, { description = "Train and evaluate a TopK SAE on SmolLM2's residual stream; dashboards; a feature patching experiment." })

if opts.quick then
  opts.steps, opts.batch_size, opts.context_size, opts.contexts, opts.eval_contexts = 40, 128, 48, 12, 3
  opts.expansion, opts.k, opts.dashboards = 2, 16, 2
end

local t_start = fp.time()
local model = fp.load_model(opts.model)
opts.layer = args.layer(opts.layer, model.cfg.n_layers, 15, 30, "sae_smollm2.lua: --layer")
local hook = "blocks." .. opts.layer .. ".hook_resid_post"
local d = model.cfg.d_model
local docs = fp.sae.read_corpus(nil, { min_chars = 200, max_documents = opts.quick and 20 or nil })
local all = fp.sae.pack_tokens(model, docs, opts.context_size, { max_contexts = opts.contexts + opts.eval_contexts })
local n_train = all.shape[1] - opts.eval_contexts
local train_ctx, eval_ctx = all[{ { 0, n_train } }], all[{ { n_train } }]
print(string.format("corpus: %d documents -> %d training + %d held-out contexts of %d tokens", #docs, n_train,
  opts.eval_contexts, opts.context_size))

-- training
-- the activations of the training contexts, once (they fit in memory), read in shuffled order
local t0 = fp.time()
local acts = fp.sae.collect_activations(model, hook, train_ctx, { seed = opts.seed })
local act_secs = fp.time() - t0
print(string.format("activations: %d x %d in %.1f s (%.0f tokens/s)", acts.shape[1], acts.shape[2], act_secs,
  acts.shape[1] / act_secs))
t0 = fp.time()
local sae, history = fp.sae.train({ architecture = "topk", d_in = d, d_sae = opts.expansion * d, k = opts.k,
  batches = acts, batch_size = opts.batch_size, steps = opts.steps, lr = opts.lr, seed = opts.seed, hook_name = hook,
  model_name = opts.model, normalize_activations = "expected_average_only_in",
  dead_feature_window = opts.quick and 10 or 200, log_every = opts.quick and nil or 50 })
local train_secs = fp.time() - t0
fp.sae.save(sae, opts.out .. "/sae")
print(string.format("trained %s in %.1f s (%d steps x %d activations; loss %.1f -> %.1f)", tostring(sae), train_secs,
  opts.steps, opts.batch_size, history.loss[1], history.loss[#history.loss]))

-- evaluation on held-out contexts (position 0, SmolLM2's attention sink, left out as in training)
local ev = fp.sae.evaluate(model, sae, eval_ctx, { skip_first_position = true })
print(string.format("L0 %.1f, explained variance %.3f, dead %.1f%%, dense %.1f%%; CE loss clean %.3f, with SAE %.3f, zero-ablated %.3f -> recovered %.3f",
  ev.l0, ev.explained_variance, 100 * ev.dead_fraction, 100 * ev.dense_fraction, ev.ce_loss_clean, ev.ce_loss_with_sae,
  ev.ce_loss_zero_ablation, ev.ce_loss_recovered))

-- dashboards: features that fire on the held-out text, neither dead nor dense, spread over densities
local texts = {}
for i = 0, eval_ctx.shape[1] - 1 do texts[#texts + 1] = eval_ctx[{ { i, i + 1 } }] end
local stats = fp.sae.activation_stats(model, sae, texts, { k = 8, skip_first_position = true })
local alive = {}
for j = 0, sae.d_sae - 1 do
  local dj = stats.density[j]
  if dj > 0 and dj < 0.1 then alive[#alive + 1] = { j = j, max = stats.max[j] } end
end
table.sort(alive, function(a, b) return a.max > b.max end)
local picked = {}
for i = 1, math.min(opts.dashboards, #alive) do
  local e = alive[math.floor((i - 1) * #alive / opts.dashboards) + 1]
  picked[#picked + 1] = e.j
  fp.sae.dashboard(model, sae, e.j, stats, { path = string.format("%s/dashboards/feature_%d.html", opts.out, e.j) })
end
fp.sae.density_histogram(stats):save(opts.out .. "/density.html")
print("dashboards: features " .. table.concat(picked, ", ") .. " in " .. opts.out .. "/dashboards/")

-- the patching experiment: the strongest sampled feature at its top context
local feature = alive[1] and alive[1].j
local experiment
if feature then
  local top = stats.top[feature][1]
  local toks = stats.tokens[top.text][{ {}, { 0, top.pos + 2 <= opts.context_size and top.pos + 2 or top.pos + 1 } }]
  local p = top.pos
  local has_next = toks.shape[2] > p + 1
  local next_id = has_next and toks[{ 0, p + 1 }] or nil
  local point = hook .. ".hook_sae_acts_post"
  local function logprob(hooks)
    local logits = model:run_with_saes(toks, sae, { use_error_term = true, fwd_hooks = hooks })
    return logits[{ 0, p }]:log_softmax(-1)
  end
  local clean = logprob({})
  local ablated = logprob({ { point, fp.sae.set_features_hook(feature, 0, { positions = { p } }) } })
  local le = fp.sae.logit_effects(model, sae, feature, 5)
  local raised = {}
  for _, e in ipairs(le.top) do raised[#raised + 1] = e.token end
  -- steering: generation from a neutral prompt with the feature's decoder direction added
  local prompt = "The"
  local steered = fp.sae.steer(model, sae, { [feature] = 4 * top.value }, function()
    return model:generate(prompt, { max_new_tokens = opts.quick and 4 or 12 })
  end)
  local plain = model:generate(prompt, { max_new_tokens = opts.quick and 4 or 12 })
  experiment = {
    feature = feature, activation = top.value, position = p,
    context = model:to_string(toks[0]):sub(-120),
    next_token = has_next and model:to_string(next_id) or nil,
    logprob_next_clean = has_next and clean[next_id] or nil,
    logprob_next_ablated = has_next and ablated[next_id] or nil,
    kl_ablation = fp.item((clean:exp() * (clean - ablated)):sum()),
    top_logit_tokens = raised, generate_plain = plain, generate_steered = steered,
  }
  print(string.format("feature %d (max %.2f) at \"...%s\": raises %s", feature, top.value,
    experiment.context:sub(-40):gsub("\n", " "), table.concat(raised, " | ")))
  if has_next then
    print(string.format("  ablating it there: log p(next %q) %.3f -> %.3f (KL %.4f)", experiment.next_token,
      experiment.logprob_next_clean, experiment.logprob_next_ablated, experiment.kl_ablation))
  end
  print(string.format("  generate %q: %q; steered: %q", prompt, plain, steered))
end

local results = {
  model = opts.model, hook = hook, d_sae = sae.d_sae, k = opts.k, steps = opts.steps, batch_size = opts.batch_size,
  activation_seconds = act_secs, activation_tokens_per_second = acts.shape[1] / act_secs,
  train_seconds = train_secs, train_tokens_per_second = opts.steps * opts.batch_size / train_secs,
  loss_first = history.loss[1], loss_last = history.loss[#history.loss],
  l0 = ev.l0, explained_variance = ev.explained_variance, dead_fraction = ev.dead_fraction, dense_fraction = ev.dense_fraction,
  ce_loss_clean = ev.ce_loss_clean, ce_loss_with_sae = ev.ce_loss_with_sae, ce_loss_zero_ablation = ev.ce_loss_zero_ablation,
  ce_loss_recovered = ev.ce_loss_recovered, dashboards = picked, experiment = experiment or json.null,
  seconds = fp.time() - t_start,
}
fp.save(opts.out .. "/results.json", results)
print(string.format("results in %s/results.json (%.0f s)", opts.out, results.seconds))
return results
