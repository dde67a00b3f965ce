-- fp demo (the main job until model loading lands): a toy attention head in plain tensor
-- operations, the way an interpretability notebook would probe one.
--   fp run scripts/demo.lua [--seq N] [--d-model D]
local seq, d_model, d_head = 8, 64, 16
for i = 1, #arg do
  if arg[i] == "--seq" then seq = tonumber(arg[i + 1]) end
  if arg[i] == "--d-model" then d_model = tonumber(arg[i + 1]) end
end
fp.seed(0)
print(string.format("fp demo: one attention head, seq=%d, d_model=%d, d_head=%d", seq, d_model, d_head))
print("BLAS core: " .. fp.config().blas_core .. ", threads: " .. fp.config().threads)

-- residual stream and weights (TransformerLens shapes: W_Q [d_model, d_head])
local resid = fp.randn(1, seq, d_model)
local W_Q, W_K, W_V = fp.randn(d_model, d_head) / 8, fp.randn(d_model, d_head) / 8, fp.randn(d_model, d_head) / 8
local W_O = fp.randn(d_head, d_model) / 4

local q = fp.einsum("batch pos d_model, d_model d_head -> batch pos d_head", resid, W_Q)
local k = fp.einsum("batch pos d_model, d_model d_head -> batch pos d_head", resid, W_K)
local v = resid:matmul(W_V)
local scores = fp.einsum("bqh,bkh->bqk", q, k) / math.sqrt(d_head)

-- causal mask: key positions after the query are -inf
local causal = fp.arange(seq):unsqueeze(1):lt(fp.arange(seq):unsqueeze(0))
local pattern = scores:masked_fill(causal, -math.huge):softmax(-1)
print("attention pattern of the last query (0-based positions):")
print(pattern[{0, -1}])
print(string.format("rows sum to 1: max |sum - 1| = %.2e", (pattern:sum(-1) - 1):abs():max()))

-- where does the last position look, and how much does the head write?
local top_w, top_pos = pattern[{0, -1}]:topk(3)
for i = 0, 2 do
  print(string.format("  key pos %d  weight %.3f", top_pos[{i}], top_w[{i}]))
end
local z = pattern:matmul(v)
local out = z:matmul(W_O)
print(string.format("head output norm per position: %s", tostring(out:norm(2, -1)[{0}])))

-- a rank-1 edit to W_O and its effect, undone afterwards (clone keeps the original)
local original = W_O:clone()
local u, s, vh = fp.linalg.svd(W_O)
W_O:copy_(W_O - fp.outer(u[{ {}, 0 }], vh[{0}]) * s[{0}])
print(string.format("removing the top singular direction (sigma=%.3f) changes the output by %.3f",
  s[{0}], (z:matmul(W_O) - out):norm()))
W_O:copy_(original)
print(string.format("restored: max |W_O - original| = %g", (W_O - original):abs():max()))

-- throughput of the operation every forward pass is made of
local a, b = fp.randn(256, 768), fp.randn(768, 3072)
a:matmul(b)
local t0 = fp.time()
for _ = 1, 20 do a:matmul(b) end
local dt = (fp.time() - t0) / 20
print(string.format("matmul 256x768 @ 768x3072: %.2f ms (%.0f GFLOP/s)", dt * 1e3, 2 * 256 * 768 * 3072 / dt / 1e9))
