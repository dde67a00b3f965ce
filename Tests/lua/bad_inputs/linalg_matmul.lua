-- Bad-input corpus: matmul, einsum, outer, linear algebra, cosine similarity.
local fp = require "fp"

local bad = bad_input   -- fp.testing: the error is asserted, then fp must still work

local sq = fp.tensor({ { 2, 1 }, { 1, 3 } })
local nan = 0 / 0

bad("matmul: 0-d", function() return fp.matmul(fp.tensor(1), sq) end, "matmul: both arguments need at least 1 dimension")
bad("matmul: int and float mismatch shapes", function() return fp.zeros(2, 3):matmul(fp.zeros(2, 3)) end, "matmul: shapes [2, 3] and [2, 3] cannot be multiplied")
bad("matmul: table argument", function() return sq:matmul({ { 1 } }) end, "bad argument #1 to 'matmul' (tensor expected, got table)")
bad("matmul: freed operand", function() local t = fp.ones(2, 2); t:free(); return sq:matmul(t) end, "freed")
bad("bmm: 2-D", function() return sq:bmm(sq) end, "bmm: expected 3-D tensors")
bad("outer: 2-D", function() return fp.outer(sq, sq) end, "outer: expected 1-D tensors")
bad("outer method: missing", function() return fp.ones(2):outer() end, "bad argument #1 to 'outer'")
bad("einsum: no equation", function() return fp.einsum() end, "bad argument #1 to 'einsum' (string expected, got no value)")
bad("einsum: non-tensor operand", function() return fp.einsum("i->i", 3) end, "bad argument #2 to 'einsum' (tensor expected, got number)")
bad("einsum: empty equation", function() return fp.einsum("", sq) end, "einsum")
bad("einsum: table with a string", function() return fp.einsum("i,i->", { fp.ones(2), "x" }) end, "bad argument #2 to 'einsum' (table of tensors expected, element 2 is string)")
bad("einsum: too many operands", function() return fp.einsum("i->i", fp.ones(2), fp.ones(2)) end, "einsum")
bad("einsum: broadcast mismatch", function() return fp.einsum("ij,ij->i", fp.ones(2, 3), fp.ones(3, 2)) end, "einsum: axis")
bad("qr: 1-D", function() return fp.linalg.qr(fp.ones(3)) end, "qr")
bad("qr: not a tensor", function() return fp.linalg.qr("x") end, "bad argument #1 to 'linalg.qr' (tensor expected, got string)")
bad("svd: 1-D", function() return fp.linalg.svd(fp.ones(3)) end, "svd")
bad("svd: NaN input", function() return fp.linalg.svd(fp.full({ 2, 2 }, nan)) end, "svd")
bad("svd: bad option", function() return fp.linalg.svd(sq, { full_matrices = 1 }) end, "svd: option 'full_matrices' must be a boolean")
bad("pinv: string rcond", function() return fp.linalg.pinv(sq, "x") end, "bad argument #2 to 'linalg.pinv' (number expected, got string)")
bad("pinv: 1-D", function() return fp.linalg.pinv(fp.ones(3)) end, "pinv")
bad("solve: singular", function() return fp.linalg.solve(fp.zeros(2, 2), fp.ones(2)) end, "solve")
bad("solve: non-square", function() return fp.linalg.solve(fp.ones(2, 3), fp.ones(2)) end, "solve")
bad("solve: rhs mismatch", function() return fp.linalg.solve(sq, fp.ones(5)) end, "solve")
bad("eigh: non-square", function() return fp.linalg.eigh(fp.ones(2, 3)) end, "eigh")
bad("eigh: nil", function() return fp.linalg.eigh() end, "bad argument #1 to 'linalg.eigh' (tensor expected, got no value)")
bad("linalg.norm: dim out of range", function() return fp.linalg.norm(sq, 3) end, "dim 3 out of range")
bad("norm: negative p", function() return sq:norm(-1) end, "norm: p must be positive")
bad("cosine_similarity: shape mismatch", function() return fp.cosine_similarity(fp.ones(3), fp.ones(4)) end, "cannot be broadcast")
bad("cosine_similarity: dim out of range", function() return fp.cosine_similarity(fp.ones(3), fp.ones(3), 2) end, "dim 2 out of range")
bad("cosine_similarity: missing b", function() return fp.cosine_similarity(fp.ones(3)) end, "bad argument #2 to 'cosine_similarity' (tensor expected, got no value)")
