-- Every experiment script (scripts/*.lua) in --quick mode on a tiny random model of every family,
-- each with its family's tokenizer (Tests/fixtures/models/<family>-tok, written by
-- Tests/fixtures/families/make_with_tokenizers.py). Random weights find nothing, so this checks
-- what holds on any weights: the folder tokenizes and computes as transformers does; each script
-- runs, writes results.json (it parses) and its figures; the result shapes follow the model
-- (n_layers, n_heads, n_key_value_heads, tokens); and the exact identities of the analyses —
-- patching layer 0 restores exactly the positions that differ, the residual decomposition sums
-- to the logit difference where nothing nonlinear follows it (no post-norms, no soft-cap).
local json = require "fp.json"

local FAMILIES = { "qwen2", "qwen3", "mistral", "gemma2", "gemma3", "gpt_neox", "phi3", "olmo2", "llama", "gpt2" }
local ROOT = "Tests/fixtures/models/"

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function read_json(path)
  local s = read_file(path)
  assert(s, path .. " was not written")
  return json.decode(s)
end

-- dims of a nested Lua list: { 3, 4 } for a 3 x 4 list of lists
local function dims(v)
  local out = {}
  while type(v) == "table" and #v > 0 do out[#out + 1] = #v; v = v[1] end
  return out
end

local function expect_dims(v, want, what) assert_equal(dims(v), want, what) end

local function expect_files(out, names)
  for _, n in ipairs(names) do assert(read_file(out .. "/" .. n), out .. "/" .. n .. " missing") end
end

local has_plot = package.searchpath("fp.plot", package.path) ~= nil

-- One run per (script, family), quiet; returns the script's result table, the out folder and the model.
local models, runs = {}, {}
local function model_of(family)
  models[family] = models[family] or fp.load_model(ROOT .. family .. "-tok")
  return models[family]
end
local function run(script, family)
  local key = script .. "/" .. family
  if not runs[key] then
    local out = os.tmpname(); os.remove(out)
    if script == "ioi_heads" then
      -- fp.shard (results keyed by the model's hash) needs `fp run`: a child fp, the same binary
      -- (its path, also after a rebuild replaced the file: " (deleted)" dropped)
      local p = io.popen("\"$(readlink /proc/$PPID/exe | sed 's/ (deleted)$//')\" run scripts/ioi_heads.lua --model " .. ROOT .. family
        .. "-tok --out " .. out .. " --quick 2>&1; echo \"rc=$?\"")
      local text = p:read("a")
      p:close()
      if not text:find("rc=0", 1, true) then error("ioi_heads.lua on " .. family .. ":\n" .. text, 0) end
      runs[key] = { out = out }
      return nil, out, model_of(family)
    end
    local saved_print, saved_arg = print, arg
    print = function() end
    arg = { [0] = "scripts/" .. script .. ".lua", "--model", ROOT .. family .. "-tok", "--out", out, "--quick" }
    if script == "demo" then arg = { [0] = "scripts/demo.lua", "--model", ROOT .. family .. "-tok" } end
    local ok, r = pcall(dofile, arg[0])
    print, arg = saved_print, saved_arg
    if not ok then error(script .. ".lua on " .. family .. ": " .. tostring(r), 0) end
    runs[key] = { r = r, out = out }
  end
  return runs[key].r, runs[key].out, model_of(family)
end

local function no_soft_cap(m) return (m.cfg.output_logits_soft_cap or -1) <= 0 end
local function pre_norm_only(m) return m.cfg.normalization_position == "pre" end

local checks = {}

function checks.ioi(family)
  local r, out, m = run("ioi", family)
  local L, H = m.cfg.n_layers, m.cfg.n_heads
  local saved = read_json(out .. "/results.json")
  local P = model_of(family):to_tokens(saved.settings.clean).shape[2]
  assert_equal(saved.model, m.cfg.model_name)
  expect_dims(saved.resid_pre, { L, P }, "resid_pre")
  expect_dims(saved.heads, { L, H }, "heads")
  local clean, corrupted = m:to_tokens(saved.settings.clean)[0]:tolist(), m:to_tokens(saved.settings.corrupted)[0]:tolist()
  local differ = {}
  for i = 1, P do if clean[i] ~= corrupted[i] then differ[#differ + 1] = i - 1 end end
  assert_equal(#differ, 1)   -- " Mary" / " John"
  assert_equal(saved.differing_positions, differ)
  -- layer 0: the clean residual at the one differing position gives the clean run, elsewhere nothing
  local gap = math.abs(r.clean_logit_diff - r.corrupted_logit_diff)
  if gap > 1e-2 then
    for p = 0, P - 1 do
      assert_close(saved.resid_pre[1][p + 1], p == differ[1] and 1 or 0, 1e-3 / gap, "layer 0 pos " .. p)
    end
  end
  if has_plot then expect_files(out, { "resid_pre.svg", "resid_pre.html", "heads.svg", "top_heads.svg" }) end
end

function checks.ioi_heads(family)
  local _, out, m = run("ioi_heads", family)
  local saved = read_json(out .. "/results.json")
  assert_equal(#saved.items, 8)
  for _, it in ipairs(saved.items) do expect_dims(it.result.effects, { m.cfg.n_layers, m.cfg.n_heads }, it.key) end
  local effects = fp.load_tensor(out .. "/results.npz")
  if type(effects) == "table" then effects = effects.effects end
  assert_equal(effects.shape, { 8, m.cfg.n_layers, m.cfg.n_heads })
end

function checks.acronyms(family)
  local r, out, m = run("acronyms", family)
  local saved = read_json(out .. "/results.json")
  local L, H = m.cfg.n_layers, m.cfg.n_heads
  local P = #saved.position_labels
  expect_dims(saved.resid_pre, { 3, L, P }, "resid_pre")
  expect_dims(saved.heads, { 3, L, H }, "heads")
  assert(#saved.prompts >= 1)
  if has_plot then expect_files(out, { "resid_pre.svg", "heads.svg" }) end
  assert(r.model == m.cfg.model_name)
end

function checks.facts(family)
  local _, out, m = run("facts", family)
  local saved = read_json(out .. "/results.json")
  local L, H = m.cfg.n_layers, m.cfg.n_heads
  local embeds = m.cfg.positional_embedding_type == "standard" and 2 or 1
  -- every head, every MLP, the embeddings and the summed biases
  assert_equal(#saved.dla.components, L * H + L + embeds + 1)
  assert_equal(#saved.dla.values, #saved.dla.components)
  local hl, hh = saved.head.layer, saved.head.head
  assert(hl >= 0 and hl < L and hh >= 0 and hh < H, "head " .. saved.head.name)
  assert_equal(#saved.ov_projection.values, hl * H + hl + embeds + 1)
  if pre_norm_only(m) and no_soft_cap(m) then
    local ld = saved.dla.logit_diff
    assert_close(saved.dla.sum, ld, 1e-3 * math.max(1, math.abs(ld)), "DLA sum = logit diff")
  end
  if has_plot then expect_files(out, { "dla.svg", "pattern.svg", "ov_projection.svg", "ablation.svg" }) end
end

function checks.das_paris(family)
  local r, out, m = run("das_paris", family)
  local saved = read_json(out .. "/results.json")
  assert(saved.layer >= 0 and saved.layer < m.cfg.n_layers)
  assert_equal(saved.hook, "blocks." .. saved.layer .. ".hook_resid_pre")
  assert_equal(#saved.interventions, 5)
  assert(#r.losses.country >= 1)
  if has_plot then expect_files(out, { "probs.svg", "probs.html" }) end
end

function checks.fact_patching(family)
  local r, out, m = run("fact_patching", family)
  local saved = read_json(out .. "/results.json")
  assert(saved.layer >= 0 and saved.layer < m.cfg.n_layers)
  assert(saved.n_pairs > 0)
  assert_equal(#saved.edits, saved.n_pairs)
  assert_equal(#saved.pairs, saved.n_pairs)
  assert_equal(saved.known_pairs, r.known_pairs)
  local dirs = fp.load_tensor(out .. "/directions.npy")
  assert_equal(dirs.shape, { saved.n_pairs, m.cfg.d_mlp })
  assert(read_file(out .. "/table.csv"), "table.csv")
end

function checks.tl_demo(family)
  local _, out, m = run("tl_demo", family)
  local saved = read_json(out .. "/results.json")
  local L, H, KV = m.cfg.n_layers, m.cfg.n_heads, m.cfg.n_key_value_heads or m.cfg.n_heads
  local P = m:to_tokens(saved.prompts[1], { prepend_bos = false }).shape[2]
  expect_dims(saved.per_head, { L, H }, "per_head")
  expect_dims(saved.patch_resid_pre, { L, P }, "patch_resid_pre")
  expect_dims(saved.patch_head_out, { L, H }, "patch_head_out")
  expect_dims(saved.patch_head_v, { L, KV }, "patch_head_v")          -- one per key-value head
  expect_dims(saved.induction_scores, { L, H }, "induction_scores")
  -- accumulated residual: each layer's start (and its middle, except parallel blocks), then the end
  assert_equal(#saved.logit_lens, (m.cfg.parallel_attn_mlp and 1 or 2) * L + 1)
  if no_soft_cap(m) then
    -- the final residual through the final norm gives the logit difference exactly; so do the layers' parts
    assert_close(saved.logit_lens[#saved.logit_lens], saved.ave_logit_diff, 1e-4, "logit lens at the end")
    local s = 0
    for _, v in ipairs(saved.per_layer) do s = s + v end
    assert_close(s, saved.ave_logit_diff, 1e-4, "sum of the per-layer parts")
  end
  if has_plot then expect_files(out, { "logit_lens.svg", "per_head.svg", "patch_resid_pre.svg", "induction.svg" }) end
end

function checks.sae_smollm2(family)
  local r, out, m = run("sae_smollm2", family)
  local saved = read_json(out .. "/results.json")
  assert_equal(saved.d_sae, 2 * m.cfg.d_model)   -- --quick: expansion 2
  local layer = tonumber(saved.hook:match("^blocks%.(%d+)%.hook_resid_post$"))
  assert(layer and layer < m.cfg.n_layers, saved.hook)
  assert(r.loss_last < r.loss_first, "training lowers the loss")
  local sae = fp.load_sae(out .. "/sae")
  assert(sae.d_sae == saved.d_sae and sae.hook_name == saved.hook)
end

function checks.demo(family)
  run("demo", family)   -- prints only; it must run to the end
end

for _, family in ipairs(FAMILIES) do
  test(family .. "-tok: tokens, BOS default and last-position logits equal transformers'", function()
    local m = model_of(family)
    local want = read_json(ROOT .. family .. "-tok/expected.json")
    assert_equal(m.cfg.d_vocab, want.vocab_size)
    assert_equal(m.cfg.n_layers, want.n_layers)
    for _, p in ipairs(want.prompts) do
      local toks = m:to_tokens(p.text, { prepend_bos = p.bos })
      assert_equal(toks[0]:tolist(), p.ids, p.text)
      -- GPT-2 prepends BOS by TransformerLens's convention; the others follow their tokenizer
      if family ~= "gpt2" then assert_equal(m.cfg.default_prepend_bos, p.bos, "BOS default") end
      local last = m:forward(toks)[{ 0, -1 }]
      assert_equal(last:argmax(), p.top_ids[1], "argmax")
      for i, id in ipairs(p.top_ids) do
        assert_close(last[id], p.top_logits[i], 1e-4 * math.max(1, math.abs(p.top_logits[i])), "logit " .. id)
      end
    end
  end)
  for _, script in ipairs({ "ioi", "ioi_heads", "acronyms", "facts", "das_paris", "fact_patching", "tl_demo", "sae_smollm2", "demo" }) do
    test(family .. "-tok: scripts/" .. script .. ".lua --quick", function() checks[script](family) end)
  end
end

test("cleanup", function()
  for _, r in pairs(runs) do if r.out then os.execute("rm -rf '" .. r.out .. "'") end end
end)

test("load_model { tokenizer = PATH } gives a folder or a GGUF file another tokenizer", function()
  -- qwen3-tok carries the same Qwen 2 tokenizer as qwen2-tok: as a folder and as a tokenizer.json file
  local want = fp.load_model(ROOT .. "qwen3-tok")
  for _, path in ipairs({ ROOT .. "qwen2-tok", ROOT .. "qwen2-tok/tokenizer.json" }) do
    local m = fp.load_model(ROOT .. "qwen3-tok", { tokenizer = path })
    assert_equal(m:to_tokens("When Mary and John went to the store")[0]:tolist(),
                 want:to_tokens("When Mary and John went to the store")[0]:tolist(), path)
  end
  -- a model without a tokenizer gets one; the ids must fit its vocabulary
  expect_error(function() fp.load_model(ROOT .. "qwen2-tiny"):to_tokens("a") end, "has no tokenizer")
  expect_error(function() fp.load_model(ROOT .. "qwen2-tiny", { tokenizer = ROOT .. "qwen2-tok" }) end,
    "has 1601 tokens but the model's vocabulary is 512")
  expect_error(function() fp.load_model(ROOT .. "qwen2-tiny/model.gguf", { tokenizer = ROOT .. "qwen2-tok" }) end,
    "has 1601 tokens but the model's vocabulary is 512")
  expect_error(function() fp.load_model(ROOT .. "qwen2-tok", { tokenizer = ROOT .. "no-such-folder" }) end, "not found")
  -- a tiktoken rank file is read as one (GPT-2's 50257 ranks: too many for this vocabulary)
  local tiktoken = (os.getenv("FP_MODELS") or (os.getenv("HOME") .. "/.cache/fp/models")) .. "/gpt2.tiktoken"
  expect_error(function() fp.load_model(ROOT .. "qwen2-tiny", { tokenizer = tiktoken }) end,
    "has 50257 tokens but the model's vocabulary is 512")
end)
