-- fp.nn: parametrizations whose trainable tensors feed the autograd tape.
--   local R = fp.nn.orthogonal(d, k)   -- R:weight() is d x k with orthonormal columns
--   local u = fp.nn.unit_vector(d)     -- u:weight() has norm 1
--   local opt = fp.optim.Adam(R:parameters(), { lr = 1e-2 })
local fp = require "fp"
local M = {}

-- exp(S) of a square taped matrix by scaling and squaring with a degree-12 Taylor sum (all
-- matmuls, so the gradient flows through the same ops).
local function expm(S)
  local n = S.shape[1]
  local norm = fp.no_grad(function() return fp.item(S:detach():abs():sum(0):max()) end)
  local s = norm > 0.5 and math.ceil(math.log(norm / 0.5, 2)) or 0
  local X = S / (2 ^ s)
  local I = fp.eye(n)
  local term, out = I, I
  for j = 1, 12 do
    term = term:matmul(X) / j
    out = out + term
  end
  for _ = 1, s do out = out:matmul(out) end
  return out
end

-- An n x k matrix with orthonormal columns (k <= n). Two maps, as torch's orthogonal
-- parametrization offers:
--   "householder" (default for k <= 32): the first k columns of H_1 ... H_k, one reflection per
--     column; O(n k) parameters and work, orthonormal to float precision whatever the values.
--   "matrix_exp" (default otherwise, e.g. a full rotation): the first k columns of exp(A - A^T)
--     for a trainable n x n A (O(n^3) per call, memory independent of k).
-- opts.map picks one. :weight() is the matrix, :parameters() the trainable tensors.
function M.orthogonal(n, k, opts)
  k = k or n
  opts = require("fp.errors").check_options("orthogonal", opts, { "map" })
  if math.type(n) ~= "integer" or math.type(k) ~= "integer" or n < 1 or k < 1 or k > n then
    error("orthogonal: expected integer sizes 1 <= k <= n, got n = " .. tostring(n) .. ", k = " .. tostring(k), 2)
  end
  local map = opts.map or (k <= 32 and "householder" or "matrix_exp")
  local self = { n = n, k = k, map = map }
  if map == "householder" then
    self.vectors = fp.randn(k, n):requires_grad()   -- random reflections: a random start
    function self:weight()
      local V = self.vectors
      local X = fp.eye(n)[{ {}, { 0, k } }]:contiguous()
      for i = k - 1, 0, -1 do
        local v = V[{ i }]
        X = X - fp.outer(v, v:matmul(X)) * (2 / (v * v):sum())
      end
      return X
    end
    function self:parameters() return { self.vectors } end
  elseif map == "matrix_exp" then
    self.A = (fp.randn(n, n) * (1 / math.sqrt(n))):requires_grad()
    function self:weight()
      local Q = expm(self.A - self.A:T())
      -- one Newton-Schulz step pulls Q back onto the orthogonal matrices (float32 round-off
      -- of the squarings is ~1e-5 at n = 576; after it ~1e-6)
      Q = Q:matmul(fp.eye(n) * 1.5 - Q:T():matmul(Q) * 0.5)
      return k == n and Q or Q[{ {}, { 0, k } }]
    end
    function self:parameters() return { self.A } end
  else
    error("orthogonal: map must be \"householder\" or \"matrix_exp\", got " .. tostring(map), 2)
  end
  return self
end

-- A vector of norm 1: w / |w| for a trainable w.
function M.unit_vector(n, init)
  if math.type(n) ~= "integer" or n < 1 then error("unit_vector: expected a positive integer size, got " .. tostring(n), 2) end
  local w = init and init:clone() or fp.randn(n)
  local self = { raw = w:requires_grad() }
  function self:weight() return self.raw / self.raw:norm() end
  function self:parameters() return { self.raw } end
  return self
end

return M
