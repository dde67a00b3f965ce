-- Bad-input corpus: diagonal, tril/triu, cumsum, logsumexp, repeat_interleave, tile, einops and
-- the torch-compatible generator (issue 17). Each call is an error naming the function; fp
-- keeps working afterwards.
local fp = require "fp"

local bad = bad_input   -- fp.testing: the error is asserted, then fp must still work

local a = fp.ones(3, 4)
local freed = fp.ones(2, 2); freed:free()

bad("diagonal: same dims", function() return a:diagonal(0, -1, 1) end, "diagonal: dim1 and dim2 cannot be the same dim")
bad("diagonal: offset not an integer", function() return fp.diagonal(a, 0.5) end, "bad argument #2 to 'diagonal'")
bad("diagonal: unknown option", function() return a:diagonal({ dim = 1 }) end, "diagonal: unknown option 'dim'")
bad("diagonal: freed", function() return freed:diagonal() end, "freed")
bad("tril: 1-D", function() return fp.ones(3):tril() end, "tril: expected a tensor with at least 2 dimensions")
bad("tril: string k", function() return fp.tril(a, "1") end, "bad argument #2 to 'tril'")
bad("triu: extra argument", function() return a:triu(0, 1) end, "bad argument #2 to 'triu' (unexpected argument")
bad("cumsum: missing dim", function() return fp.cumsum(a) end, "bad argument #2 to 'cumsum' (dim must be given")
bad("logsumexp: dim out of range", function() return fp.logsumexp(a, 2) end, "logsumexp: dim 2 out of range")
bad("repeat_interleave: float counts", function() return fp.repeat_interleave(a, fp.ones(3), 0) end, "repeats must be an integer or an int tensor")
bad("repeat_interleave: huge", function() return a:repeat_interleave(math.maxinteger, 0) end, "repeat_interleave: too many elements")
bad("tile: too many elements", function() return fp.tile(a, 1 << 40, 1 << 40) end, "tile:")
bad("tile: string", function() return a:tile("x") end, "bad argument #1 to 'tile'")
bad("rearrange: not a tensor", function() return fp.rearrange("x", "a -> a") end, "rearrange: expected a tensor, got string")
bad("rearrange: pattern without arrow", function() return fp.rearrange(a, "a b") end, "rearrange: pattern must have one '->'")
bad("rearrange: unknown character", function() return fp.rearrange(a, "a b -> a-b") end, "rearrange: unknown character '-'")
bad("rearrange: axes not a table", function() return fp.rearrange(a, "a b -> b a", 3) end, "rearrange: axis sizes must be a table")
bad("reduce: unknown reduction", function() return fp.reduce(a, "a b -> a", "median") end, "reduce: unknown reduction median")
bad("repeat_: size not an integer", function() return fp.repeat_(a, "a b -> a b n", { n = 1.5 }) end, "repeat_: size of axis n must be a positive integer")
bad("torch_generator: string seed", function() return fp.torch_generator("x") end, "bad argument #1 to 'torch_generator'")
bad("torch_generator: randperm negative", function() return fp.torch_generator(1):randperm(-1) end, "randperm: n must be non-negative")
bad("cumsum: table dim", function() return a:cumsum({ 0 }) end, "bad argument #1 to 'cumsum' (dim must be an integer, got table")
bad("logsumexp: list with other keys", function() return a:logsumexp({ 0, keepdim = true }) end, "other keys")
bad("triu: 0-d", function() return fp.triu(fp.tensor(1)) end, "triu: expected a tensor with at least 2 dimensions")
