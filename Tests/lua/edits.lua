-- fp.edits on the tiny random GPT-2 fixture: row/null-space split checked by its defining
-- properties, the MLP covariance against an explicit sum over cached activations, pinv's
-- Penrose identities, and a ROME-style rank-1 edit that maps a key to a chosen value, changes
-- the logits, and is reverted exactly by edits.revert (model:restore()).
local edits = require "fp.edits"
local model = fp.load_model("Tests/fixtures/models/gpt2-tiny")
local toks = fp.tensor({ { 17, 301, 42, 5, 488, 133, 260 } }, "int")

test("row/null-space split of a direction w.r.t. W_in", function()
  fp.seed(2)
  local W = model.blocks[0].mlp.W_in           -- [d_model, d_mlp]: rows live in R^d_mlp
  local v = fp.randn(model.cfg.d_mlp)
  local row, null, Q = edits.row_null_split(v, W)
  assert(Q.shape[2] == model.cfg.d_model, "rank of W_in is d_model")
  assert_close(row + null, v, 1e-5)
  assert(fp.item(W:matmul(null):abs():max()) < 1e-3 * fp.item(W:abs():max()) * v:norm(), "W @ null = 0")
  -- row is in the row space: it equals its own projection via lstsq through pinv
  local coeffs = edits.pinv(W:T()):matmul(row)
  assert_close(W:T():matmul(coeffs), row, 1e-4)
  assert(math.abs(fp.item((row * null):sum())) < 1e-3, "the parts are orthogonal")
end)

test("pinv satisfies A A+ A = A and A+ A A+ = A+", function()
  fp.seed(4)
  local A = fp.randn(5, 3)
  local P = edits.pinv(A)
  assert_close(A:matmul(P):matmul(A), A, 1e-4)
  assert_close(P:matmul(A):matmul(P), P, 1e-4)
end)

test("MLP covariance equals the sum of outer products of cached activations", function()
  local prompts = { toks, fp.tensor({ { 3, 4, 5 } }, "int") }
  local C = edits.mlp_covariance(model, 1, prompts)
  local want, n = fp.zeros(model.cfg.d_mlp, model.cfg.d_mlp), 0
  for _, t in ipairs(prompts) do
    local _, cache = model:run_with_cache(t)
    local K = cache["blocks.1.mlp.hook_post"][{ 0 }]
    for p = 0, K.shape[1] - 1 do want = want + fp.outer(K[{ p }], K[{ p }]); n = n + 1 end
  end
  assert_close(C, want / n, 1e-4)
  assert_close(C, C:T(), 1e-6)
end)

test("a rank-1 key->value edit applies, changes the output, and reverts exactly", function()
  local before = model:forward(toks)
  local W = model.blocks[1].mlp.W_out
  local _, cache = model:run_with_cache(toks)
  local k = cache["blocks.1.mlp.hook_post"][{ 0, -1 }]:clone()
  local v = k:matmul(W) + fp.randn(model.cfg.d_model)
  local C = edits.mlp_covariance(model, 1, { toks }) + fp.eye(model.cfg.d_mlp) * 1e-2
  local a, b = edits.rank1_for_key(W, k, v, C)
  edits.apply(model, W, a, b)
  assert_close(k:matmul(W), v, 1e-3, "k maps to v after the edit")
  local after = model:forward(toks)
  assert(fp.item((after - before):abs():max()) > 1e-2, "the edit changes the logits")
  edits.apply(model, W, a, b)                  -- a second edit: revert goes back before both
  edits.revert(model)
  assert(fp.item((model:forward(toks) - before):abs():max()) == 0, "revert restores the original weights")
  expect_error(function() edits.apply(model, W, fp.zeros(3), b) end, "do not fit")
end)
