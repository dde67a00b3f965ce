-- fp.das: Distributed Alignment Search, a rotated-subspace interchange intervention.
-- At a hook point and position, the base activation b takes the source activation s's
-- coordinates in a learned k-dim orthonormal subspace W (d x k, fp.nn.orthogonal):
--     b <- b + W W^T (s - b)
-- (k = d is the full rotation). `train` fits W so that the intervened run predicts a target.
--   local das = require "fp.das"
--   local run = das.train(model, { base = "Paris is in the country of", source = "Rio is in the country of",
--     hook = "blocks.8.hook_resid_post", base_pos = 1, source_pos = 2, target = " Brazil", k = 1, steps = 20 })
--   (positions count the BOS token that strings get; on SmolLM2 "Rio" is "R" "io")
local fp = require "fp"
local M = {}

-- The source activation at `hook`, position `pos` (batch 0), as a plain [d] tensor (the run
-- stops after the hook's layer).
function M.source_activation(model, tokens, hook, pos)
  local _, cache = model:run_with_cache(tokens, { names_filter = hook, stop_at_layer = require("fp.hook_layers").stop_layer_for(model, hook) })
  return cache[hook][{ 0, pos }]:clone()
end

-- A forward hook that applies the interchange with W = param:weight() at `pos`.
function M.interchange_hook(param, pos, source)
  return function(act)
    local W = param:weight()                       -- [d, k]
    local b = act[{ 0, pos }]:clone()              -- clone: b is read again after the write
    act[{ 0, pos }] = b + W:matmul((source - b):matmul(W))
  end
end

-- Strings get a BOS token unless prepend_bos = false is given: without it the subject is often
-- the first token, the attention sink, and a patch there barely trains (measured on SmolLM2).
local function tokens_of(model, x, prepend_bos)
  if type(x) == "string" then return (model:to_tokens(x, { prepend_bos = prepend_bos ~= false })) end
  return x
end

-- Probability of each of `ids` (and top-k completions) at the last position, with `hooks`.
function M.last_probs(model, tokens, hooks)
  return fp.no_grad(function()
    local logits = hooks and model:run_with_hooks(tokens, { fwd_hooks = hooks }) or model:forward(tokens)
    return logits[{ 0, -1 }]:softmax(-1)
  end)
end

-- Top-k completions {token = str, p = prob} of a prompt, plain or with the interchange.
function M.top_k(model, prompt, k, hooks)
  local probs = M.last_probs(model, tokens_of(model, prompt), hooks)
  local v, i = probs:topk(k)
  local out = {}
  for j = 0, k - 1 do out[#out + 1] = { token = model:to_string(i[j]), p = v[j] } end
  return out
end

-- The k-dim subspace a DAS run trains: a d x k orthonormal matrix (fp.nn.orthogonal), or with
-- opts.full_rotation the first k columns of a trained full d x d rotation (pyvene's
-- RotatedSpaceIntervention shape). Either has :weight() (d x k) and :parameters().
function M.subspace(d, k, opts)
  opts = require("fp.errors").check_options("das.subspace", opts, { "full_rotation", "map" })
  if not opts.full_rotation then return fp.nn.orthogonal(d, k, { map = opts.map }) end
  local R = fp.nn.orthogonal(d, d, { map = opts.map })
  return { rotation = R, k = k,
           weight = function(self) local W = R:weight(); return k == d and W or W[{ {}, { 0, k } }] end,
           parameters = function() return R:parameters() end }
end

-- Trains an interchange subspace. opts: base, source (text or tokens; prepend_bos = false to
-- tokenize strings without BOS) or source_activation (the [d] activation, e.g. from
-- das.source_activation, to train several subspaces against one source), hook, base_pos,
-- source_pos, target (token string or id), k (1), full_rotation (false), steps (20), lr (1e-2),
-- seed, param (an existing parametrization to continue), log_every (print the loss to stderr
-- every n steps), reuse_prefix (true: layers before the hook's run once, not every step). Loss: -log p(target) at the base's last position.
-- Returns { param, hook_fn, losses, best_loss } with param restored to the best step.
local TRAIN_OPTS = { "base", "source", "hook", "base_pos", "source_pos", "target", "k", "full_rotation", "map",
                     "steps", "lr", "seed", "param", "log_every", "reuse_prefix", "prepend_bos",
                     "source_activation" }
function M.train(model, opts)
  if opts == nil then require("fp.errors").raise("das.train: options table expected (base, source, hook, target, ...)") end
  opts = require("fp.errors").check_options("das.train", opts, TRAIN_OPTS)
  local check = require("fp.errors").check_number
  check("das.train", "steps", opts.steps, nil, { integer = true, min = 1 })
  check("das.train", "k", opts.k, nil, { integer = true, min = 1 })
  check("das.train", "lr", opts.lr, nil, { above = 0 })
  check("das.train", "log_every", opts.log_every, nil, { integer = true, min = 1 })
  local base = tokens_of(model, opts.base, opts.prepend_bos)
  local d = model.cfg.d_model
  local src = opts.source_activation
  if src ~= nil then
    if opts.source ~= nil then require("fp.errors").raise("das.train: give source or source_activation, not both") end
    if not (fp.is_tensor(src) and src.dtype == "float32" and src:dim() == 1 and src.shape[1] == d) then
      require("fp.errors").raise("das.train: source_activation must be a float tensor [d_model = " .. d .. "]")
    end
  else
    src = M.source_activation(model, tokens_of(model, opts.source, opts.prepend_bos), opts.hook, opts.source_pos)
  end
  local target = opts.target
  if type(target) == "string" then target = require("fp.datasets").answer_token(model, target, "das.train: target") end
  if opts.seed then fp.seed(opts.seed) end
  local param = opts.param or M.subspace(d, opts.k or 1, { full_rotation = opts.full_rotation, map = opts.map })
  local hook_fn = M.interchange_hook(param, opts.base_pos, src)
  local opt = fp.optim.Adam(param:parameters(), { lr = opts.lr or 1e-2 })
  local steps = opts.steps or 20
  -- layers before the hook's layer do not change between steps: run them once and start each
  -- step from that residual stream (opts.reuse_prefix = false runs the whole model each step)
  local layer = tonumber(opts.hook:match("^blocks%.(%d+)%."))
  local input, run_opts = base, { fwd_hooks = { { opts.hook, hook_fn } }, positions = { -1 } }
  if layer and layer > 0 and opts.reuse_prefix ~= false then
    input = fp.no_grad(function() return model:forward(base, { stop_at_layer = layer }) end)
    run_opts.start_at_layer = layer
  end
  local losses, best, best_state = {}, math.huge, nil
  local tick = require("fp.progress").bar("DAS", steps)
  for step = 1, steps do
    opt:zero_grad()
    local logits = model:run_with_hooks(input, run_opts)
    local loss = -logits[{ 0, -1 }]:log_softmax(-1)[target]
    loss:backward()
    local l = fp.item(loss)
    losses[#losses + 1] = l
    if l < best then
      best = l
      best_state = {}
      for i, p in ipairs(param:parameters()) do best_state[i] = p:detach():clone() end
    end
    opt:step()
    tick(1, string.format("loss %.4f", l))
    if opts.log_every and step % opts.log_every == 0 then
      io.stderr:write(string.format("das step %d/%d loss %.4f (best %.4f)\n", step, steps, l, best))
    end
  end
  -- keep the best checkpoint (the loss after the last step is not measured)
  fp.no_grad(function()
    for i, p in ipairs(param:parameters()) do p:detach():copy_(best_state[i]) end
  end)
  return { param = param, hook_fn = hook_fn, losses = losses, best_loss = best, source = src }
end

return M
