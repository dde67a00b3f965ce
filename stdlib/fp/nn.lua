-- fp.nn: parametrizations whose trainable tensors feed the autograd tape.
--   local R = fp.nn.orthogonal(d, k)   -- R:weight() is d x k with orthonormal columns
--   local u = fp.nn.unit_vector(d)     -- u:weight() has norm 1
--   local opt = fp.optim.Adam(R:parameters(), { lr = 1e-2 })
local fp = require "fp"
local M = {}

-- An n x k matrix with orthonormal columns (k <= n), as the first k columns of a product of
-- k Householder reflections H_1 ... H_k (torch's "householder" orthogonal map). Whatever values
-- the reflection vectors take, the columns stay orthonormal to float precision.
function M.orthogonal(n, k, opts)
  k = k or n
  if math.type(n) ~= "integer" or math.type(k) ~= "integer" or n < 1 or k < 1 or k > n then
    error("orthogonal: expected integer sizes 1 <= k <= n, got n = " .. tostring(n) .. ", k = " .. tostring(k), 2)
  end
  local self = { n = n, k = k, vectors = fp.randn(k, n):requires_grad() }
  -- identity columns shifted by a random vector each: a random orthogonal start
  function self:weight()
    local V = self.vectors
    local X = fp.eye(n)[{ {}, { 0, k } }]:contiguous()
    for i = k - 1, 0, -1 do
      local v = V[{ i }]
      local vtx = v:matmul(X)                      -- [k]
      X = X - fp.outer(v, vtx) * (2 / (v * v):sum())
    end
    return X
  end
  function self:parameters() return { self.vectors } end
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
