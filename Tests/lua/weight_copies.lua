-- A small model's weights get blocked copies for its products of a few rows (FP_GEMM=auto,
-- GemmDispatch.smallModelBytes): on SmolLM2-135M (real weights, 540 MB in float32) a prompt of
-- up to 24 tokens runs its layer products on oneDNN's blocked copies, made on the first such
-- forward and kept. Checked against the copy-free paths in the same process: the first positions
-- of a 40-token prompt (products of 40 rows: sgemm, no copies) equal the short prompt's, before
-- and after a weight edit, so an edit reaches the copy.
local model = fp.load_model("smollm2-135m")
local ids = { 1, 504, 3458, 314, 253, 1686, 282, 2113, 30, 1102 }
local short = fp.tensor({ ids }, "int")
for i = #ids + 1, 40 do ids[i] = 100 + 7 * i end
local long = fp.tensor({ ids }, "int")
local P = short.shape[2]

local function maxdiff(a, b) return fp.item((a - b):abs():max()) end
-- the short prompt's logits against the same positions of the long one (causal: equal up to
-- float32 rounding of the different product paths)
local function agree(label)
  local a, b = model:forward(short), model:forward(long)[{ {}, { 0, P } }]
  local d, scale = maxdiff(a, b), fp.item(a:abs():max())
  assert(d < 1e-4 * scale, ("%s: short and long prompts differ by %g (logits up to %g)"):format(label, d, scale))
end

-- 540 MB: under the default FP_WEIGHT_COPIES_MB (1024); none without oneDNN's AVX-512 kernels
local config = fp.config()
local copies = config.onednn_isa:sub(1, 11) == "avx512_core" and config.gemm == "auto" and config.weight_copies_mb >= 540

test("a short prompt's forward makes the copies once and then reuses them", function()
  local bytes = fp.config().weight_pack_bytes
  model:forward(short)
  local added = fp.config().weight_pack_bytes - bytes
  local cfg = model.cfg
  local q, kv = cfg.n_heads * cfg.d_head, cfg.n_key_value_heads * cfg.d_head
  local layer = cfg.d_model * (q + 2 * kv) + q * cfg.d_model + 3 * cfg.d_model * cfg.d_mlp
  if copies then
    assert(added >= 4 * cfg.n_layers * layer, ("every layer's projections copied (%d bytes)"):format(added))
    assert(added < 2 * 4 * cfg.n_layers * layer, "only the [in, out] projections, not the tied unembedding")
  else
    assert(added == 0 or config.gemm ~= "auto", "no copies without AVX-512 or over FP_WEIGHT_COPIES_MB")
  end
  local reorders = fp.config().weight_reorders
  model:forward(short)
  assert(fp.config().weight_reorders == reorders, "a second forward reorders nothing")
end)

test("the copies give the copy-free paths' logits, and follow an edit and a restore", function()
  agree("as loaded")
  model:snapshot()
  local w = model.blocks[3].mlp.W_in
  local reorders = fp.config().weight_reorders
  w[{ { 0, 64 }, {} }] = w[{ { 0, 64 }, {} }] * 3
  local edited = model:forward(short)
  agree("after an edit")
  if copies then assert(fp.config().weight_reorders == reorders + 1, "the edited weight's copy is made again") end
  model:restore()
  agree("after restore")
  assert(maxdiff(model:forward(short), edited) > 1e-3, "the edit changed the logits and restore undid it")
end)
