-- scripts/acronyms.lua in quick mode on SmolLM2: the model gets most generated acronyms right,
-- and patching the clean corrupted-word position at layer 0 restores the letter.
local datasets = require "fp.datasets"
local model = fp.load_model("smollm2-135m")   -- fetched by scripts/fetch-models.sh: required

local out = os.tmpname(); os.remove(out)
local run = script_runner("scripts/acronyms.lua", { "--quick", "--out", out })

-- logit of the right letter minus the best other capital, computed here from a plain forward pass
local caps = datasets.capital_letters(model)
local function letter_diff(text, answer, i)
  local row = model:forward((model:to_tokens(text)))[{ 0, -4 + i }]
  local best = -math.huge
  for _, id in pairs(caps) do if id ~= answer and row[id] > best then best = row[id] end end
  return row[answer] - best
end

test("the clean logit diff is positive for most generated prompts, and for every kept one", function()
  local r = run()
  assert(r.candidates_right.all / r.candidates_right.of > 0.5,
    r.candidates_right.all .. " of " .. r.candidates_right.of .. " right")
  for i = 1, 3 do assert(r.candidates_right.per_letter[i] / r.candidates_right.of > 0.6, "letter " .. i) end
  for _, p in ipairs(r.prompts) do
    for i = 1, 3 do
      assert(p.clean_diffs[i] > 0)
      assert_close(p.clean_diffs[i], letter_diff(p.text, caps[p.acronym:sub(i, i)], i), 1e-4, p.text .. " letter " .. i)
    end
  end
end)

test("corrupting word i lowers letter i's logit diff; the batch means match plain forward passes per prompt", function()
  local r = run()
  assert_equal(#r.prompts, 2)
  for i = 1, 3 do
    local clean_sum, corrupted_sum = 0, 0
    for _, p in ipairs(r.prompts) do
      local answer = caps[p.acronym:sub(i, i)]
      local corrupted = letter_diff(p.corrupted[i], answer, i)
      assert(corrupted < p.clean_diffs[i] - 1, p.text .. " letter " .. i .. ": corrupted " .. corrupted)
      clean_sum, corrupted_sum = clean_sum + p.clean_diffs[i], corrupted_sum + corrupted
    end
    assert_close(r.clean_logit_diff[i], clean_sum / #r.prompts, 1e-4, "clean, letter " .. i)
    assert_close(r.corrupted_logit_diff[i], corrupted_sum / #r.prompts, 1e-4, "corrupted, letter " .. i)
  end
end)

test("resid_pre patching: layer 0 at the corrupted word restores the letter (1), other layer-0 cells before it do nothing (0)", function()
  local r = run()
  local words = { 1, 2, 3 }   -- positions of C1..C3 (SmolLM2 prepends no BOS)
  for i = 1, 3 do
    local resid = r.resid_pre[i]
    assert_close(resid[{ 0, words[i] }], 1, 1e-3, "letter " .. i)
    assert_close(r.word_layer0[i], 1, 1e-3)
    for p = 0, words[i] - 1 do assert_close(resid[{ 0, p }], 0, 1e-4, "letter " .. i .. " pos " .. p) end
    -- the last layer at the position that predicts letter i restores most of it (not all: the
    -- last layer's attention still reads the corrupted word)
    local last = resid[{ model.cfg.n_layers - 1, 3 + i }]
    assert(last > 0.85 and last < 1.05, "letter " .. i .. " last layer: " .. last)
  end
  -- heads: the top head of each letter restores a real part
  for i = 1, 3 do assert(r.top_heads[i][1].value > 0.2, "letter " .. i .. " top head " .. r.top_heads[i][1].value) end
  local json = require "fp.json"
  local saved = json.decode(assert(io.open(out .. "/results.json")):read("a"))
  assert_equal(saved.model, model.cfg.model_name)
  assert_equal(#saved.resid_pre, 3)
  os.execute("rm -rf '" .. out .. "'")
end)
