-- The acronym circuit (TransformerLens acronym notebook, Garcia-Carrasco et al.): prompts like
-- "The Chief Executive Officer (CE" where the model predicts the three letters at the last three
-- positions. The metric for letter i is its logit minus the largest logit of any other capital
-- letter. Corrupting word i (a word with another initial) breaks letter i; patching the clean
-- run's activations into that corrupted run shows where letter i's information travels.
--
--   fp run scripts/acronyms.lua [--model smollm2-135m] [--out out/acronyms] [--quick]
--
-- Writes into --out: resid_pre.svg/.html (3 facets: layer x position), heads.svg/.html (3 facets:
-- layer x head), results.json. Returns the results table.
local experiment = require "fp.experiment"
local patching = require "fp.patching"
local datasets = require "fp.datasets"
local utils = require "fp.utils"

local exp = experiment.start(arg, {
  model = "smollm2-135m",
  out = "out/acronyms",
  quick = false,
  n_prompts = { 6, "prompts to patch (the model must get all three letters right; quick: 2)" },
  candidates = { 40, "generated prompts to measure before keeping the ones the model gets right" },
  seed = { 0, "dataset seed" },
  top = { 5, "top heads listed per letter" },
}, { description = "Acronym prediction: per-letter corruption, resid_pre and attention-head patching." })
local opts, plot, has_plot = exp.opts, exp.plot, exp.plot ~= nil

local model = exp.model
local L, H = model.cfg.n_layers, model.cfg.n_heads
local n_prompts = opts.quick and math.min(opts.n_prompts, 2) or opts.n_prompts

-- Capital letters as token ids (the candidates for the "largest wrong letter").
local caps = datasets.capital_letters(model)
local cap_ids = {}
for _, id in pairs(caps) do cap_ids[#cap_ids + 1] = id end
table.sort(cap_ids)
local cap_index = fp.tensor(cap_ids, "int")

-- logit(letter i) - max logit over the other capitals, for the three letters: a Lua list.
-- logits: [1, 3, vocab] (the last three positions).
local function letter_diffs(logits, answers)
  local out = {}
  for i = 1, 3 do
    local row = logits[{ 0, i - 1 }]
    local correct = row[answers[i]]
    local others = row:index_select(0, cap_index):masked_fill(cap_index:eq(answers[i]), -math.huge)
    out[i] = correct - others:max()
  end
  return out
end
local last3 = { positions = { -3, -2, -1 } }

-- Measure the generated prompts; keep the ones where all three letters win.
local candidates = datasets.acronyms(model, { n = opts.quick and math.max(10, 3 * n_prompts) or opts.candidates, seed = opts.seed })
if #candidates == 0 then
  error("acronyms.lua: no generated prompt tokenizes as 'The', three words, ' (', letter, letter for this model", 0)
end
local kept, per_letter_right, measured, all_right = {}, { 0, 0, 0 }, {}, 0
for _, it in ipairs(candidates) do
  local d = letter_diffs(model:forward(model:to_tokens(it.text), last3), it.answers)
  measured[#measured + 1] = { text = it.text, acronym = it.acronym, diffs = d }
  local all = true
  for i = 1, 3 do
    if d[i] > 0 then per_letter_right[i] = per_letter_right[i] + 1 else all = false end
  end
  if all then all_right = all_right + 1 end
  if all and #kept < n_prompts then it.clean_diffs = d; kept[#kept + 1] = it end
end
if #kept == 0 then
  -- a model that gets none right (a small or random one): patch the best candidates anyway
  io.stderr:write("acronyms.lua: the model gets no generated acronym right on all three letters; using the best ones\n")
  local ranked = { table.unpack(measured) }
  table.sort(ranked, function(a, b) return math.min(table.unpack(a.diffs)) > math.min(table.unpack(b.diffs)) end)
  for _, m in ipairs(ranked) do
    for _, it in ipairs(candidates) do
      if it.text == m.text and #kept < n_prompts then it.clean_diffs = m.diffs; kept[#kept + 1] = it end
    end
  end
end

-- Patching, as in the notebook: all prompts in one batch. For letter i, the clean run is
-- patched into the run with word i corrupted; metric = letter i's logit diff averaged over the
-- prompts.
local texts = {}
for n, it in ipairs(kept) do texts[n] = it.text end
local clean_toks = model:to_tokens(texts)                          -- [N, P]: every prompt has 7 tokens (+ BOS)
local P = clean_toks.shape[2]
local function wanted(name)
  return name:find("hook_resid_pre", 1, true) ~= nil or name:find("attn.hook_z", 1, true) ~= nil
end
local _, clean_cache = model:run_with_cache(clean_toks, { names_filter = wanted })

-- letter i's logit diff for every prompt of a batch: logits [N, 3, vocab] -> [N]
local function batch_letter_diff(logits, answers, i)
  local rows = logits[{ {}, i - 1 }]                                 -- [N, vocab]
  local correct = rows:gather(1, answers:reshape(-1, 1)):reshape(-1)
  local others = rows:index_select(1, cap_index)                     -- [N, 26]
  others = others:masked_fill(cap_index:reshape(1, -1):eq(answers:reshape(-1, 1)), -math.huge)
  return correct - others:amax(1)
end

local resid_raw, heads_raw, clean_mean, corrupted_mean = {}, {}, {}, {}
exp:time("patching", function()
for i = 1, 3 do
  local corrupted_texts, answer_ids = {}, {}
  for n, it in ipairs(kept) do corrupted_texts[n] = it.corrupted[i]; answer_ids[n] = it.answers[i] end
  local answers = fp.tensor(answer_ids, "int")
  local corrupted_toks = model:to_tokens(corrupted_texts)
  local function metric(logits) return batch_letter_diff(logits, answers, i):mean() end
  clean_mean[i] = fp.item(metric(model:forward(clean_toks, last3)))
  corrupted_mean[i] = fp.item(metric(model:forward(corrupted_toks, last3)))
  local popts = { positions = { -3, -2, -1 } }
  resid_raw[i] = patching.resid_pre(model, corrupted_toks, clean_cache, metric, popts)
  heads_raw[i] = patching.attn_head_out_all_pos(model, corrupted_toks, clean_cache, metric, popts)
end
end)

-- Normalized: 0 = the corrupted mean, 1 = the clean mean, per letter.
local resid, heads, top = {}, {}, {}
for i = 1, 3 do
  local scale = clean_mean[i] - corrupted_mean[i]
  resid[i] = (resid_raw[i] - corrupted_mean[i]) / scale
  heads[i] = (heads_raw[i] - corrupted_mean[i]) / scale
  local vals, where = utils.topk_nd(heads[i], math.min(opts.top, L * H))
  top[i] = {}
  for j, w in ipairs(where) do top[i][j] = { layer = w[1], head = w[2], name = "L" .. w[1] .. "H" .. w[2], value = vals[j - 1] } end
end

-- Position labels: BOS (if any), The, C1, C2, C3, " (", A1, A2.
local labels = {}
if P == 8 then labels = { "BOS" } end
for _, s in ipairs({ "The", "C1", "C2", "C3", " (", "A1", "A2" }) do labels[#labels + 1] = s end
local off = P - 7
local word_pos = { off + 1, off + 2, off + 3 }

local figures = {}
if has_plot then
  local layer_labels, head_labels = {}, {}
  for l = 0, L - 1 do layer_labels[#layer_labels + 1] = tostring(l) end
  for h = 0, H - 1 do head_labels[#head_labels + 1] = tostring(h) end
  local facets = { "Letter 1 (word 1 corrupted)", "Letter 2 (word 2 corrupted)", "Letter 3 (word 3 corrupted)" }
  local fig = plot.imshow(fp.stack(resid, 0), { x = labels, y = layer_labels, facets = facets, xlabel = "Position",
    ylabel = "Layer", title = "Acronyms: resid_pre patching, normalized letter logit diff (" .. model.cfg.model_name .. ")" })
  fig:save(opts.out .. "/resid_pre.svg"); fig:save(opts.out .. "/resid_pre.html")
  fig = plot.imshow(fp.stack(heads, 0), { x = head_labels, y = layer_labels, facets = facets, xlabel = "Head",
    ylabel = "Layer", title = "Acronyms: attention-head patching (all positions), normalized letter logit diff" })
  fig:save(opts.out .. "/heads.svg"); fig:save(opts.out .. "/heads.html")
  figures = { "resid_pre.svg", "resid_pre.html", "heads.svg", "heads.html" }
end

local prompts = {}
for _, it in ipairs(kept) do
  prompts[#prompts + 1] = { text = it.text, acronym = it.acronym, corrupted = it.corrupted, clean_diffs = it.clean_diffs }
end
local results = {
  model = model.cfg.model_name,
  settings = { n_prompts = #kept, candidates = #candidates, seed = opts.seed, quick = opts.quick,
               direction = "clean activations patched into the run with word i corrupted" },
  candidates_right = { all = all_right, per_letter = per_letter_right, of = #candidates },
  measured = measured,
  prompts = prompts,
  position_labels = labels,
  clean_logit_diff = clean_mean,
  corrupted_logit_diff = corrupted_mean,
  resid_pre = resid,
  heads = heads,
  top_heads = top,
  word_layer0 = { resid[1][{ 0, word_pos[1] }], resid[2][{ 0, word_pos[2] }], resid[3][{ 0, word_pos[3] }] },
  figures = figures,
}

print(string.format("model %s: %d of %d generated acronyms right on all three letters (letters: %d, %d, %d)",
  model.cfg.model_name, all_right, #candidates, per_letter_right[1], per_letter_right[2], per_letter_right[3]))
local shown = {}
for _, it in ipairs(kept) do shown[#shown + 1] = it.acronym end
print(string.format("patched %d prompts: %s (e.g. %q)", #kept, table.concat(shown, " "), kept[1].text))
for i = 1, 3 do
  local tops = {}
  for _, h in ipairs(top[i]) do tops[#tops + 1] = string.format("%s %.2f", h.name, h.value) end
  print(string.format("letter %d: clean %.2f, word %d corrupted %.2f; layer 0 at C%d %.2f; top heads %s", i,
    clean_mean[i], i, corrupted_mean[i], i, results.word_layer0[i], table.concat(tops, ", ")))
end
return exp:finish(results, "patching took %.1fs", exp.seconds.patching)
