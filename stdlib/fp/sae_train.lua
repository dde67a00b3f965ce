-- Training sparse dictionaries the way SAELens 6's SAETrainer does (standard L1, TopK,
-- BatchTopK, JumpReLU): mean over the batch of the summed squared error plus the architecture's
-- sparsity or auxiliary loss, Adam, gradient norm clipped to 1, dead latents tracked over a
-- window of steps (they feed TopK's auxiliary loss). The numbers are fp tensor ops on the
-- autograd tape; the straight-through gradients of JumpReLU are built from detached terms.
-- Exposed as fp.sae.train / fp.sae.save / fp.sae.evaluate.
local fp = require "fp"
local raise = require("fp.errors").raise
local json = require "fp.json"
local files = require "fp.files"

local M = {}

local function check_options(fn, opts, allowed) return require("fp.sae").check_options(fn, opts, allowed) end

local defaults = {
  architecture = "topk", d_in = false, d_sae = false, k = 32, lr = 3e-4, betas = { 0.9, 0.999 },
  steps = false, batch_size = 4096, l1_coefficient = 1.0, l1_warm_up_steps = 0, l0_coefficient = 1.0,
  l0_warm_up_steps = 0, jumprelu_bandwidth = 0.05, jumprelu_init_threshold = 0.01, aux_loss_coefficient = 1.0,
  rescale_acts_by_decoder_norm = true, decoder_init_norm = 0.1, apply_b_dec_to_input = true,
  dead_feature_window = 1000, topk_threshold_lr = 0.01, clip_grad_norm = 1.0,
  normalize_activations = "none", n_batches_for_norm_estimate = 10,
  init = false, seed = false, batches = false, hook_name = false, model_name = false, log_every = false,
  on_step = false, fused = true, targets = false, d_out = false, skip_connection = false, hook_name_out = false,
}
local allowed = {}
for k in pairs(defaults) do allowed[k] = true end

-- Linear warm-up of a loss coefficient (SAELens's CoefficientScheduler): 0 at step 0, then
-- final * step / warm_up until warm_up.
local function coefficient(final, warm, step)
  if warm <= 0 then return final end
  return final * math.min(1, step / warm)
end

-- 1 where |u| < 1/2 (the rectangle kernel of the JumpReLU straight-through estimator).
local function rectangle(u) return u:gt(-0.5):logical_and(u:lt(0.5)):float() end

-- x where x > threshold, else 0; d/dx as the mask, d/dthreshold = -(threshold / bw) rect((x - threshold) / bw).
local function jumprelu(x, threshold, bw)
  local td = threshold:detach()
  local c = (rectangle((x:detach() - td) / bw) * (td / bw) * -1)
  local ste = threshold * c
  return fp.where(x:gt(td), x, 0) + (ste - ste:detach())
end

-- 1 where x > threshold; d/dthreshold = -(1 / bw) rect((x - threshold) / bw), no gradient to x.
local function step_fn(x, threshold, bw)
  local td = threshold:detach()
  local c = rectangle((x:detach() - td) / bw) * (-1 / bw)
  local ste = threshold * c
  return x:detach():gt(td):float() + (ste - ste:detach())
end

local function topk_mask(pre, k)
  local _, idx = pre:topk(k)
  return fp.zeros_like(pre):scatter(-1, idx, 1)
end

-- A new dictionary's parameters as SAELens initialises them: W_dec rows uniform random scaled
-- to decoder_init_norm, W_enc = W_dec^T, biases 0, JumpReLU thresholds jumprelu_init_threshold.
-- Transcoders (d_out ~= d_in) draw W_enc's columns the same way; W_skip starts at 0.
local function initial(o)
  if o.seed then fp.seed(o.seed) end
  local p = {}
  local function rows(n, d)
    local w = fp.rand(n, d) * 2 - 1
    return w / w:norm(2, 1, true) * o.decoder_init_norm
  end
  p.W_dec = rows(o.d_sae, o.d_out)
  p.W_enc = o.d_out == o.d_in and p.W_dec:T():contiguous() or rows(o.d_sae, o.d_in):T():contiguous()
  p.b_enc = fp.zeros(o.d_sae)
  p.b_dec = fp.zeros(o.d_out)
  if o.skip_connection then p.W_skip = fp.zeros(o.d_out, o.d_in) end
  if o.architecture == "jumprelu" then p.threshold = fp.full({ o.d_sae }, o.jumprelu_init_threshold) end
  return p
end

-- function(step) -> x[, y]: the step's inputs (and a transcoder's targets).
local function batch_source(o)
  local b, t = o.batches, o.targets
  if type(b) == "function" then
    if t then raise("sae.train: with a batches function, return the targets as its second result") end
    return b
  end
  if fp.is_tensor(b) then
    if b:dim() ~= 2 or b.shape[2] ~= o.d_in then raise("sae.train: batches must be [n, d_in] activations") end
    local n, bs = b.shape[1], o.batch_size
    if t and not (fp.is_tensor(t) and t:dim() == 2 and t.shape[1] == n) then
      raise("sae.train: targets must be an [n, d_out] tensor with one row per row of batches")
    end
    if bs > n then raise("sae.train: batch_size " .. bs .. " exceeds the " .. n .. " activations given") end
    local function rows(a, start)
      if start + bs <= n then return a[{ { start, start + bs } }] end
      return fp.cat({ a[{ { start } }], a[{ { 0, start + bs - n } }] }, 0)
    end
    return function(step)
      local start = (step * bs) % n
      return rows(b, start), t and rows(t, start) or nil
    end
  end
  raise("sae.train: opts.batches must be an [n, d_in] tensor of activations or a function(step) -> [batch, d_in]")
end

-- fp.sae.train(opts) -> sae, history. opts (SAELens's names):
--   architecture = "standard" | "topk" | "batchtopk" | "jumprelu"; d_in, d_sae; k (topk, batchtopk)
--   batches: an [n, d_in] activation tensor read in order in batch_size rows (wrapping), or
--     function(step) -> [batch, d_in] (0-based step); steps
--   lr, betas, clip_grad_norm (1), dead_feature_window (1000 steps), aux_loss_coefficient (1)
--   l1_coefficient, l1_warm_up_steps (standard); l0_coefficient, l0_warm_up_steps,
--   jumprelu_bandwidth, jumprelu_init_threshold (jumprelu); topk_threshold_lr (batchtopk);
--   rescale_acts_by_decoder_norm (true: TopK/BatchTopK treat the decoder rows as unit norm);
--   normalize_activations = "expected_average_only_in": inputs scaled to mean norm sqrt(d_in),
--     estimated from the first n_batches_for_norm_estimate (10) batches, folded in at the end;
--   init: a table of starting tensors (W_enc, W_dec, b_enc, b_dec, threshold) instead of
--   SAELens's initialisation (seed); hook_name, model_name: written into the saved config;
--   targets: a transcoder's [n, d_out] targets, row for row with batches (or the batches
--     function's second result): it learns x -> y (architecture standard or jumprelu, saved as
--     SAELens's transcoder / jumprelu_transcoder; skip_connection = true adds W_skip [d_out, d_in]
--     for the skip variants); d_out (from targets), hook_name_out (where the output goes);
--   log_every: print the losses every n steps; on_step(step, losses);
--   fused (true): TopK and BatchTopK steps run as one Swift kernel that uses the sparsity
--     (fp._sae_topk_step); false runs them on the autograd tape (the reference, slower).
-- Returns the dictionary in inference form (TopK decoder norms folded in; BatchTopK as JumpReLU)
-- and history = { loss = {...}, mse_loss = {...}, <aux>_loss = {...}, l0 = {...}, dead = {...} }.
function M.train(opts)
  opts = check_options("sae.train", opts, allowed)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  local arch = o.architecture
  if not ({ standard = 1, topk = 1, batchtopk = 1, jumprelu = 1 })[arch] then
    raise("sae.train: architecture must be standard, topk, batchtopk or jumprelu, got " .. tostring(arch))
  end
  for _, key in ipairs({ "d_in", "d_sae", "steps" }) do
    if math.type(o[key]) ~= "integer" or o[key] <= 0 then raise("sae.train: " .. key .. " must be a positive integer") end
  end
  if (arch == "topk" or arch == "batchtopk") and not (type(o.k) == "number" and o.k > 0 and o.k <= o.d_sae) then
    raise("sae.train: k must be in 1..d_sae")
  end
  local transcoder = o.targets ~= false or o.d_out ~= false or o.skip_connection
  if transcoder then
    if arch ~= "standard" and arch ~= "jumprelu" then
      raise("sae.train: transcoders are standard or jumprelu (SAELens's transcoder formats), got " .. arch)
    end
    if o.normalize_activations ~= "none" then raise("sae.train: transcoders take normalize_activations = none") end
    if fp.is_tensor(o.targets) and o.targets:dim() == 2 then o.d_out = o.d_out or o.targets.shape[2] end
    if math.type(o.d_out) ~= "integer" or o.d_out <= 0 then raise("sae.train: a transcoder needs d_out (or targets)") end
    if fp.is_tensor(o.targets) and o.targets.shape[2] ~= o.d_out then raise("sae.train: targets must have d_out columns") end
    o.apply_b_dec_to_input = false
  else
    o.d_out = o.d_in
  end
  local batch = batch_source(o)
  if o.normalize_activations ~= "none" and o.normalize_activations ~= "expected_average_only_in" then
    raise("sae.train: normalize_activations must be none or expected_average_only_in")
  end
  -- SAELens's ActivationScaler: scale inputs so their mean norm is sqrt(d_in); folded into the
  -- weights at the end, so the saved dictionary reads raw activations
  local scale = 1.0
  if o.normalize_activations == "expected_average_only_in" then
    local sum, n = 0, 0
    for i = 0, o.n_batches_for_norm_estimate - 1 do
      local b = batch(i)
      sum = sum + fp.item(b:norm(2, -1):sum()); n = n + b.shape[1]
    end
    scale = math.sqrt(o.d_in) / (sum / n)
  end
  local p = initial(o)
  if o.init then
    for name, t in pairs(o.init) do
      if p[name] then p[name] = t:clone():float() end
    end
    if arch == "jumprelu" and not o.init.threshold then p.threshold = fp.full({ o.d_sae }, o.jumprelu_init_threshold) end
  end
  local names = { "W_enc", "b_enc", "W_dec", "b_dec" }
  if arch == "jumprelu" then names[#names + 1] = "threshold" end
  if o.skip_connection then names[#names + 1] = "W_skip" end
  local params = {}
  for i, n in ipairs(names) do p[n]:requires_grad(); params[i] = p[n] end
  local opt = fp.optim.Adam(params, { lr = o.lr, betas = o.betas })
  local since_fired = fp.zeros(o.d_sae)
  local topk_threshold = 0.0
  local rescale = (arch == "topk" or arch == "batchtopk") and o.rescale_acts_by_decoder_norm
  local history = { loss = {}, mse_loss = {}, l0 = {}, dead = {} }
  local aux_name = ({ standard = "l1_loss", topk = "auxiliary_reconstruction_loss",
    batchtopk = "auxiliary_reconstruction_loss", jumprelu = "l0_loss" })[arch]
  history[aux_name] = {}
  -- TopK / BatchTopK: forward, backward and dead-latent clock in one Swift kernel, then the same
  -- clipping and Adam as the taped path
  local fused = o.fused and (arch == "topk" or arch == "batchtopk") and math.type(o.k) == "integer" and not transcoder
  local kernel_opts = { k = o.k, batch_topk = arch == "batchtopk", rescale_acts_by_decoder_norm = rescale and true or false,
    apply_b_dec_to_input = o.apply_b_dec_to_input, dead_feature_window = o.dead_feature_window,
    aux_loss_coefficient = o.aux_loss_coefficient, clip_grad_norm = o.clip_grad_norm }
  local function fused_step(x)
    local gWe, gbe, gWd, gbd, mse, aux, l0, n_dead, min_act = fp._sae_topk_step(x:contiguous(), p.W_enc, p.b_enc,
      p.W_dec, p.b_dec, since_fired, kernel_opts)
    if arch == "batchtopk" and min_act then
      topk_threshold = (1 - o.topk_threshold_lr) * topk_threshold + o.topk_threshold_lr * min_act
    end
    opt:zero_grad()
    p.W_enc.grad, p.b_enc.grad, p.W_dec.grad, p.b_dec.grad = gWe, gbe, gWd, gbd   -- already clipped
    opt:step()
    return { loss = mse + aux, mse_loss = mse, [aux_name] = aux, l0 = l0, dead = n_dead }
  end

  for step = 0, o.steps - 1 do
    local x, y = batch(step)
    if not (fp.is_tensor(x) and x:dim() == 2 and x.shape[2] == o.d_in) then
      raise("sae.train: batch " .. step .. " must be a [batch, " .. o.d_in .. "] tensor")
    end
    if transcoder and not (fp.is_tensor(y) and y:dim() == 2 and y.shape[1] == x.shape[1] and y.shape[2] == o.d_out) then
      raise("sae.train: batch " .. step .. " needs its [batch, " .. o.d_out .. "] targets")
    end
    x = x:float():detach()
    y = transcoder and y:float():detach() or nil
    if scale ~= 1.0 then x = x * scale end
    local dead = since_fired:gt(o.dead_feature_window)
    local n_dead = fp.item(dead:float():sum())
    if fused then
      local losses = fused_step(x)
      for k, v in pairs(losses) do history[k][#history[k] + 1] = v end
      if o.on_step then o.on_step(step, losses) end
      if o.log_every and (step + 1) % o.log_every == 0 then
        io.stderr:write(string.format("sae.train step %d: loss %.4g mse %.4g %s %.4g l0 %.3g dead %d\n", step + 1,
          losses.loss, losses.mse_loss, aux_name, losses[aux_name], losses.l0, losses.dead))
      end
      goto continue
    end
    if arch == "jumprelu" then fp.no_grad(function() p.threshold:copy_(p.threshold:detach():clamp(0)) end) end
    local sae_in = o.apply_b_dec_to_input and (x - p.b_dec) or x
    local pre = sae_in:matmul(p.W_enc) + p.b_enc
    local norms = rescale and p.W_dec:norm(2, -1) or nil
    if rescale then pre = pre * norms end
    local acts
    if arch == "standard" then
      acts = pre:relu()
    elseif arch == "topk" then
      acts = pre:relu() * topk_mask(pre, o.k)
    elseif arch == "batchtopk" then
      local r = pre:relu()
      local flat = r:reshape(-1)
      local n = math.floor(o.k * x.shape[1])
      local _, idx = flat:detach():topk(n)
      acts = (r:reshape(-1) * fp.zeros_like(flat):scatter(0, idx, 1)):reshape(x.shape[1], o.d_sae)
    else
      acts = jumprelu(pre, p.threshold, o.jumprelu_bandwidth)
    end
    local dec_in = rescale and acts * (1 / norms) or acts
    local out = dec_in:matmul(p.W_dec) + p.b_dec
    if p.W_skip then out = out + x:matmul(p.W_skip:T()) end
    local target = y or x
    local mse = (out - target):square():sum(-1):mean()
    local aux
    if arch == "standard" then
      local c = coefficient(o.l1_coefficient, o.l1_warm_up_steps, step)
      aux = ((acts * p.W_dec:norm(2, 1)):abs():sum(-1) * c):mean()
    elseif arch == "jumprelu" then
      local c = coefficient(o.l0_coefficient, o.l0_warm_up_steps, step)
      aux = (step_fn(pre, p.threshold, o.jumprelu_bandwidth):sum(-1) * c):mean()
    elseif n_dead > 0 then
      -- TopK auxiliary loss: the k_aux largest pre-activations of dead latents reconstruct the residual
      local residual = (target - out):detach()
      local k_aux = o.d_in // 2
      local scale = math.min(n_dead / k_aux, 1.0)
      k_aux = math.min(k_aux, n_dead)
      local masked = fp.where(dead, pre, -math.huge)
      local _, idx = masked:detach():topk(k_aux)
      local aux_acts = pre * fp.zeros_like(pre):scatter(-1, idx, 1)
      local aux_in = rescale and aux_acts * (1 / norms) or aux_acts
      aux = (aux_in:matmul(p.W_dec) - residual):square():sum(-1):mean() * (o.aux_loss_coefficient * scale)
    end
    local loss = aux and (mse + aux) or mse
    -- dead-latent bookkeeping (before the update, as SAELens)
    local fired = acts:detach():gt(0):any(0)
    since_fired = (since_fired + 1):masked_fill(fired, 0)
    if arch == "batchtopk" then
      local a = acts:detach()
      local pos = a[a:gt(0)]
      if pos:numel() > 0 then
        topk_threshold = (1 - o.topk_threshold_lr) * topk_threshold + o.topk_threshold_lr * fp.item(pos:min())
      end
    end
    opt:zero_grad()
    loss:backward()
    fp.optim.clip_grad_norm(params, o.clip_grad_norm)
    opt:step()
    local losses = { loss = fp.item(loss), mse_loss = fp.item(mse), [aux_name] = aux and fp.item(aux) or 0.0,
      l0 = fp.item(acts:detach():gt(0):float():sum(-1):mean()), dead = n_dead }
    for k, v in pairs(losses) do history[k][#history[k] + 1] = v end
    if o.on_step then o.on_step(step, losses) end
    if o.log_every and (step + 1) % o.log_every == 0 then
      io.stderr:write(string.format("sae.train step %d: loss %.4g mse %.4g %s %.4g l0 %.3g dead %d\n", step + 1,
        losses.loss, losses.mse_loss, aux_name, losses[aux_name], losses.l0, n_dead))
    end
    ::continue::
  end

  -- the inference dictionary
  local w = {}
  for _, n in ipairs(names) do w[n] = p[n]:detach():clone() end
  local inf_arch, k = arch, o.k
  if scale ~= 1.0 then   -- SAELens's fold_activation_norm_scaling_factor (then the TopK norm fold)
    w.W_enc = w.W_enc * scale
    w.W_dec = w.W_dec / scale
    w.b_dec = w.b_dec / scale
    if rescale then topk_threshold = topk_threshold / scale end
  end
  if rescale then
    local n = w.W_dec:norm(2, -1):clamp(1e-8)
    w.b_enc = w.b_enc * n
    w.W_dec = w.W_dec / n:unsqueeze(1)
    w.W_enc = w.W_enc * n:unsqueeze(0)
  end
  if arch == "batchtopk" then
    inf_arch = "jumprelu"
    w.threshold = fp.full({ o.d_sae }, topk_threshold)
  end

  if transcoder then
    inf_arch = (arch == "jumprelu" and "jumprelu_" or "") .. (o.skip_connection and "skip_" or "") .. "transcoder"
  end
  local sae = M.from_weights(w, { architecture = inf_arch, k = k, hook_name = o.hook_name or nil,
    model_name = o.model_name or nil, apply_b_dec_to_input = o.apply_b_dec_to_input,
    rescale_acts_by_decoder_norm = rescale or nil, hook_name_out = o.hook_name_out or nil })
  return sae, history
end

-- A dictionary from tensors (SAELens names) and its config; architectures whose name says
-- transcoder map d_in -> d_out (W_dec's columns) and write hook_name_out.
function M.from_weights(w, cfg)
  local SAE = require("fp.sae").SAE
  local arch = cfg.architecture
  local transcoder = arch:find("transcoder", 1, true) ~= nil
  local d_in, d_sae = w.W_enc.shape[1], w.W_enc.shape[2]
  return setmetatable({
    format = "saelens", architecture = arch, kind = transcoder and (arch:find("jumprelu", 1, true) and "jumprelu" or "standard") or arch,
    transcoder = transcoder, d_in = d_in, d_sae = d_sae, d_out = w.W_dec.shape[2],
    k = arch == "topk" and cfg.k or nil, hook_name = cfg.hook_name, model_name = cfg.model_name,
    hook_name_out = transcoder and (cfg.hook_name_out or cfg.hook_name) or nil,
    rescale_acts_by_decoder_norm = cfg.rescale_acts_by_decoder_norm == true and arch == "topk",
    normalize_activations = "none", reshape_activations = "none",
    apply_b_dec_to_input = not transcoder and cfg.apply_b_dec_to_input ~= false,
    W_enc = w.W_enc, W_dec = w.W_dec, b_enc = w.b_enc, b_dec = w.b_dec, threshold = w.threshold, W_skip = w.W_skip,
  }, SAE)
end

-- fp.sae.save(sae, folder): SAELens 6's inference format (cfg.json + sae_weights.safetensors),
-- which SAE.load_from_disk reads.
function M.save(sae, dir)
  if getmetatable(sae) ~= require("fp.sae").SAE then raise("sae.save: expected a dictionary") end
  if type(dir) ~= "string" then raise("sae.save: expected a folder path") end
  local arch = sae.architecture
  if sae.transcoder and not arch:find("transcoder", 1, true) then   -- e.g. a Gemma Scope 2 transcoder
    if sae.kind ~= "standard" and sae.kind ~= "jumprelu" then
      raise("sae.save: SAELens has no " .. arch .. " transcoder format")
    end
    arch = (sae.kind == "jumprelu" and "jumprelu_" or "") .. (sae.W_skip and "skip_" or "") .. "transcoder"
  end
  files.make_dirs(dir, "sae.save")
  local cfg = {
    architecture = arch, d_in = sae.d_in, d_sae = sae.d_sae, dtype = "float32", device = "cpu",
    apply_b_dec_to_input = sae.apply_b_dec_to_input, normalize_activations = sae.normalize_activations or "none",
    reshape_activations = sae.reshape_activations or "none",
    metadata = { hook_name = sae.hook_name or json.null, model_name = sae.model_name or json.null, sae_lens_version = "6.54.12",
      sae_lens_training_version = "6.54.12", written_by = "fp" },
  }
  if sae.transcoder then
    cfg.d_out = sae.d_out
    cfg.metadata.hook_name_out = sae.hook_name_out or json.null
  end
  if sae.architecture == "topk" then
    cfg.k = sae.k
    cfg.rescale_acts_by_decoder_norm = sae.rescale_acts_by_decoder_norm == true
  end
  files.write_atomic(dir .. "/cfg.json", json.encode(cfg), "sae.save")
  fp.save(dir .. "/sae_weights.safetensors", sae:parameters())
  return dir
end

-- fp.sae.evaluate(model, sae, tokens[, opts]): SAELens's headline evaluations on a batch of
-- token sequences [batch, pos]: L0 (mean number of firing features per token), explained
-- variance of the reconstruction, MSE, the fraction of features that never fired (dead) and of
-- those firing on more than opts.dense_threshold (default 0.1) of tokens (dense) (all without
-- position 0 when opts.skip_first_position), and the model's
-- loss clean, with the dictionary spliced in (no error term) and with the hook zero-ablated:
-- ce_loss_recovered = (zero - spliced) / (zero - clean).
function M.evaluate(model, sae, tokens, opts)
  opts = check_options("sae.evaluate", opts, { dense_threshold = true, attention_mask = true, skip_first_position = true })
  local hook, out_hook = sae.hook_name, sae.transcoder and sae.hook_name_out or sae.hook_name
  local _, cache = model:run_with_cache(tokens, { names_filter = { hook, out_hook }, attention_mask = opts.attention_mask })
  local x, y = cache[hook], cache[out_hook]
  -- position 0 (BOS or the attention sink, whose norm is far larger) is left out of the
  -- reconstruction figures when opts.skip_first_position, as training leaves it out
  if opts.skip_first_position then x, y = x[{ {}, { 1 } }], y[{ {}, { 1 } }] end
  local f = sae:encode(x)
  local x_hat = sae:decode(f)
  if sae.W_skip then x_hat = x_hat + x:matmul(sae.W_skip:T()) end
  -- a transcoder's reconstruction is of its output hook
  local d = y:reshape(-1, sae.d_out)
  local r = (d - x_hat:reshape(-1, sae.d_out))
  local ev = 1 - fp.item(r:square():sum()) / fp.item((d - d:mean(0, true)):square():sum())
  local fires = f:reshape(-1, sae.d_sae):gt(0):float()
  local density = fires:mean(0)
  local clean = fp.item(model:forward(tokens, { return_type = "loss", attention_mask = opts.attention_mask }))
  local spliced = fp.item(model:run_with_saes(tokens, sae, { return_type = "loss", attention_mask = opts.attention_mask }))
  local zero = fp.item(model:run_with_hooks(tokens, { return_type = "loss", attention_mask = opts.attention_mask,
    fwd_hooks = { { sae.hook_name_out or hook, function(a) return fp.zeros_like(a) end } } }))
  return {
    l0 = fp.item(fires:sum(-1):mean()), explained_variance = ev, mse = fp.item(r:square():sum(-1):mean()),
    dead_fraction = fp.item(density:eq(0):float():mean()),
    dense_fraction = fp.item(density:gt(opts.dense_threshold or 0.1):float():mean()),
    ce_loss_clean = clean, ce_loss_with_sae = spliced, ce_loss_zero_ablation = zero,
    ce_loss_recovered = (zero - spliced) / (zero - clean), density = density,
  }
end

return M
