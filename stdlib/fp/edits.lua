-- fp.edits: rank-1 weight edits (ROME-style) and the linear algebra they use.
-- Weights use fp's layout y = x @ W (W_in [d_model, d_mlp], W_out [d_mlp, d_model]).
--   local edits = require "fp.edits"
--   local row, null = edits.row_null_split(v, model.blocks[3].mlp.W_in)
--   local C = edits.mlp_covariance(model, 3, texts)                 -- [d_mlp, d_mlp]
--   edits.apply(model, model.blocks[3].mlp.W_out, a, b)             -- W <- W + a b^T (snapshot first)
--   edits.revert(model)                                             -- the original weights
local fp = require "fp"
local M = {}
-- models whose weights edits.apply has snapshotted (until edits.revert)
local snapshotted = setmetatable({}, { __mode = "k" })

local function check_tensor(fn, name, t, dims)
  if not fp.is_tensor(t) then error(fn .. ": " .. name .. " must be a tensor", 3) end
  if dims and t:dim() ~= dims then error(fn .. ": " .. name .. " must have " .. dims .. " dimension(s), got " .. t:dim(), 3) end
end

-- Splits a direction v [n] with respect to a weight W [m, n] (v lives in W's row space R^n):
-- v = row + null with row in span(rows of W) and W @ null = 0. Uses the reduced QR of W^T
-- (columns of Q: an orthonormal basis of the row space; rank by |diag R| > tol). Returns
-- row, null, Q.
function M.row_null_split(v, W, tol)
  check_tensor("row_null_split", "v", v, 1)
  check_tensor("row_null_split", "W", W, 2)
  if W.shape[2] ~= v.shape[1] then
    error(string.format("row_null_split: v has %d entries, W's rows have %d", v.shape[1], W.shape[2]), 2)
  end
  local Q, R = fp.linalg.qr(W:T():contiguous())
  local diag = fp.einsum("ii->i", R):abs()
  local keep = diag:gt((tol or 1e-5) * math.max(fp.item(diag:max()), 1e-30))
  local idx = keep:nonzero():reshape(-1)
  Q = Q:index_select(1, idx)
  local row = Q:matmul(Q:T():matmul(v))
  return row, v - row, Q
end

-- Moore-Penrose pseudo-inverse (LAPACK SVD).
function M.pinv(A, rcond) return fp.linalg.pinv(A, rcond) end

-- Second moment of the MLP activations (blocks.L.mlp.hook_post) over a sample of prompts:
-- C = (1/N) sum_k k k^T over every token position (opts.centered subtracts the mean; opts.pos
-- keeps one position per prompt). texts: a list of strings or token tensors [1, pos].
function M.mlp_covariance(model, layer, texts, opts)
  opts = require("fp.errors").check_options("mlp_covariance", opts, { "centered", "pos" })
  if type(texts) ~= "table" or #texts == 0 then error("mlp_covariance: texts must be a non-empty list", 2) end
  local name = "blocks." .. layer .. ".mlp.hook_post"
  local d = model.cfg.d_mlp
  local C, sum, n = fp.zeros(d, d), fp.zeros(d), 0
  fp.no_grad(function()
    for _, t in ipairs(texts) do
      local toks = type(t) == "string" and (model:to_tokens(t)) or t
      local _, cache = model:run_with_cache(toks, { names_filter = name })
      local K = cache[name]:reshape(-1, d)
      if opts.pos then K = cache[name][{ {}, opts.pos }]:reshape(-1, d) end
      C = C + K:T():matmul(K)
      sum = sum + K:sum(0)
      n = n + K.shape[1]
    end
  end)
  C = C / n
  if opts.centered then
    local mu = sum / n
    C = C - fp.outer(mu, mu)
  end
  return C
end

-- The rank-1 update that makes key k [d_in] map to value v [d_out] through W [d_in, d_out]
-- while changing W least in the metric of C (ROME): a = C^-1 k / (k^T C^-1 k), b = v - k W,
-- so that k (W + a b^T) = v. C defaults to the identity. Returns a, b.
function M.rank1_for_key(W, k, v, C)
  check_tensor("rank1_for_key", "W", W, 2)
  local ck = C and fp.linalg.solve(C, k:reshape(-1, 1)):reshape(-1) or k
  local a = ck / (k * ck):sum()
  local b = v - k:matmul(W)
  return a, b
end

-- W <- W + a b^T in place on a weight of `model` (e.g. model.blocks[L].mlp.W_out). Takes a
-- snapshot before the first edit since the last revert (opts.snapshot = false skips it), so
-- edits.revert restores the weights from before all of them.
function M.apply(model, W, a, b, opts)
  opts = require("fp.errors").check_options("apply", opts, { "snapshot" })
  check_tensor("apply", "W", W, 2)
  if a.shape[1] ~= W.shape[1] or b.shape[1] ~= W.shape[2] then
    error(string.format("apply: a [%d] and b [%d] do not fit W [%d, %d]", a.shape[1], b.shape[1], W.shape[1], W.shape[2]), 2)
  end
  if opts.snapshot ~= false and not snapshotted[model] then
    model:snapshot()
    snapshotted[model] = true
  end
  fp.no_grad(function() W:copy_(W + fp.outer(a:detach(), b:detach())) end)
end

-- Brings back the weights of the last snapshot.
function M.revert(model)
  model:restore()
  snapshotted[model] = nil
end

return M
