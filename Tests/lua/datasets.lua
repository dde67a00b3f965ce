-- fp.datasets: IOI and acronym prompts built for SmolLM2's tokenizer, the CounterFact loader
-- and fp's own fact set. Positions are checked against the tokens themselves.
local datasets = require "fp.datasets"

local model = fp.load_model("smollm2-135m")   -- fetched by scripts/fetch-models.sh: required

local function toks(text) return model:to_tokens(text) end
local function differing(a, b)
  local ta, tb = toks(a), toks(b)
  assert_equal(ta.shape[2], tb.shape[2], "token count of '" .. a .. "' vs '" .. b .. "'")
  local out = {}
  for p = 0, ta.shape[2] - 1 do if ta[{ 0, p }] ~= tb[{ 0, p }] then out[#out + 1] = p end end
  return out
end

test("single_tokens keeps only one-token words and gives their ids", function()
  local kept, ids = datasets.single_tokens(model, { "Mary", "Johnny Mary", "John" })
  assert_equal(kept, { "Mary", "John" })
  assert_equal(ids.Mary, model:to_single_token(" Mary"))
  assert_equal(ids["Johnny Mary"], nil)
end)

test("ioi: names at the recorded positions, ABBA/BABA, flipped differs only at S2, abc uses three new names", function()
  local items = datasets.ioi(model, { n = 12, seed = 3 })
  assert_equal(#items, 12)
  for i, it in ipairs(items) do
    assert_equal(it.order, i % 2 == 1 and "ABBA" or "BABA", "order of item " .. i)
    assert(it.io ~= it.s)
    local t = toks(it.text)
    assert_equal(t[{ 0, it.pos.io }], it.io_token, it.text .. " io")
    assert_equal(t[{ 0, it.pos.s1 }], it.s_token, it.text .. " s1")
    assert_equal(t[{ 0, it.pos.s2 }], it.s_token, it.text .. " s2")
    assert_equal(it.pos.last, t.shape[2] - 1)
    assert(it.pos.s1 < it.pos.s2)
    if it.order == "ABBA" then assert(it.pos.io < it.pos.s1) else assert(it.pos.s1 < it.pos.io) end
    assert_equal(differing(it.text, it.flipped), { it.pos.s2 })
    assert_equal(toks(it.flipped)[{ 0, it.pos.s2 }], it.io_token)
    -- p_ABC: the three name positions hold three distinct names, none of them IO or S
    local a = toks(it.abc)
    local seen = {}
    for _, p in ipairs({ it.pos.io, it.pos.s1, it.pos.s2 }) do
      local id = a[{ 0, p }]
      assert(id ~= it.io_token and id ~= it.s_token and not seen[id], it.abc)
      seen[id] = true
    end
    assert_equal(differing(it.text, it.abc), { math.min(it.pos.io, it.pos.s1), math.max(it.pos.io, it.pos.s1), it.pos.s2 })
  end
  -- the same seed gives the same prompts, another seed others
  assert_equal(datasets.ioi(model, { n = 12, seed = 3 })[5].text, items[5].text)
  local other = datasets.ioi(model, { n = 12, seed = 4 })
  local same = 0
  for i = 1, 12 do if other[i].text == items[i].text then same = same + 1 end end
  assert(same < 12)
end)

test("acronyms: 7 tokens (The, 3 words, ' (', 2 letters), answers are the initials, corruptions change one word", function()
  local items = datasets.acronyms(model, { n = 15 })
  assert_equal(#items, 15)
  local caps = datasets.capital_letters(model)
  for _, it in ipairs(items) do
    local s = model:to_str_tokens(it.text)
    assert_equal(#s, 7, it.text)
    assert_equal(s[1], "The"); assert_equal(s[5], " (")
    for i = 1, 3 do
      assert_equal(s[1 + i], " " .. it.words[i])
      assert_equal(it.answers[i], caps[it.words[i]:sub(1, 1)])
      assert_equal(it.acronym:sub(i, i), it.words[i]:sub(1, 1))
    end
    assert_equal(s[6], it.acronym:sub(1, 1)); assert_equal(s[7], it.acronym:sub(2, 2))
    assert_equal(model:to_tokens(it.text)[{ 0, it.pos.letters[1] }], it.answers[1])
    assert_equal(model:to_tokens(it.text)[{ 0, it.pos.letters[2] }], it.answers[2])
    for i = 1, 3 do
      assert_equal(differing(it.text, it.corrupted[i]), { it.pos.words[i] })
      assert(it.corrupt_words[i]:sub(1, 1) ~= it.acronym:sub(i, i))
    end
  end
  -- SmolLM2 merges some letter pairs ("CE" is one token): such prompts are never produced
  assert_equal(#model:to_str_tokens("The Chief Executive Officer (CE"), 6)
  for _, it in ipairs(items) do assert(it.acronym:sub(1, 2) ~= "CE") end
end)

test("fp's fact set: CounterFact format, >= 100 facts over >= 5 relations, targets differ", function()
  local facts = datasets.facts()
  assert(#facts >= 100, #facts .. " facts")
  local rels, ids = {}, {}
  for i, e in ipairs(facts) do
    local rr = e.requested_rewrite
    assert(rr.prompt:find("{}", 1, true) and rr.subject ~= "" and rr.relation_id:match("^P%d+$"))
    assert(rr.target_true.str ~= rr.target_new.str, "entry " .. i)
    assert(type(e.paraphrase_prompts) == "table" and #e.paraphrase_prompts >= 1)
    assert(not ids[e.case_id]); ids[e.case_id] = true
    rels[rr.relation_id] = (rels[rr.relation_id] or 0) + 1
  end
  local n = 0
  for _ in pairs(rels) do n = n + 1 end
  assert(n >= 5, n .. " relations")
  local capitals = datasets.facts({ relations = { "P36" } })
  assert_equal(#capitals, rels.P36)
  local prompt, subject, t, new = datasets.fact_prompt(facts[1])
  assert_equal(prompt, "The capital of France is"); assert_equal(subject, "France")
  assert_equal(t, " Paris"); assert(new ~= nil and new ~= t)
end)

test("load_counterfact reads a CounterFact file and rejects malformed ones with a clear error", function()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write('[{"case_id": 7, "requested_rewrite": {"prompt": "{} plays the", "subject": "Miles Davis", '
    .. '"relation_id": "P1303", "target_new": {"str": "piano", "id": "Q5994"}, "target_true": {"str": "trumpet", "id": "Q8338"}}, '
    .. '"paraphrase_prompts": ["Miles Davis is known for the"], "neighborhood_prompts": [], "attribute_prompts": [], "generation_prompts": []}]')
  f:close()
  local data = datasets.load_counterfact(path)
  assert_equal(#data, 1); assert_equal(data[1].case_id, 7)
  local prompt, subject, t, new = datasets.fact_prompt(data[1])
  assert_equal(prompt, "Miles Davis plays the"); assert_equal(t, " trumpet"); assert_equal(new, " piano")
  f = assert(io.open(path, "w")); f:write('[{"case_id": 1, "requested_rewrite": {"prompt": "no slot", "subject": "x", "target_true": {"str": "y"}}}]'); f:close()
  expect_error(function() datasets.load_counterfact(path) end, "entry 1 of")
  f = assert(io.open(path, "w")); f:write('{"not": "a list"'); f:close()
  expect_error(function() datasets.load_counterfact(path) end, "datasets.load_counterfact")
  os.remove(path)
  expect_error(function() datasets.load_counterfact(path) end, "cannot read")
end)

test("subject_span finds the subject's first and last token (multi-token subjects, subject first)", function()
  local cases = {
    { "The capital of the United Kingdom is", "the United Kingdom" },
    { "Rio de Janeiro is located in the country of", "Rio de Janeiro" },
    { "The currency of Japan is the", "Japan" },
  }
  for _, c in ipairs(cases) do
    local first, last = datasets.subject_span(model, c[1], c[2])
    local t = model:to_tokens(c[1])
    assert_equal(model:to_string(t[{ 0, { first, last + 1 } }]):gsub("^ ", ""), c[2], c[1])
  end
  local first, last = datasets.subject_span(model, "Rio de Janeiro is located in the country of", "Rio de Janeiro")
  assert_equal(first, 0)
  assert(last >= 2)   -- SmolLM2 splits "Rio" into "R" "io"
  expect_error(function() datasets.subject_span(model, "The capital of France is", "Spain") end, "is not in")
end)

test("answers are read as tokens inside a prompt: a tokenizer that puts ▁ before every text (Llama 2)", function()
  local m = fp.load_model("Tests/fixtures/models/llama-tok")
  -- alone, " John" is "▁" + "▁John"; inside the prompt it is one token
  assert_equal(m:to_tokens(" John", { prepend_bos = false }).shape[2], 2)
  local inside = m:to_tokens("When John", { prepend_bos = false })[0]:tolist()
  assert_equal(#inside, 2)
  assert_equal(datasets.word_token(m, " John"), inside[2])
  assert_equal(datasets.answer_token(m, " John"), inside[2])
  assert_equal(datasets.text_tokens(m, " John"), { inside[2] })
  local paris = m:to_tokens("The capital of France is Paris", { prepend_bos = false })[0]:tolist()
  assert_equal(datasets.first_token(m, " Paris"), paris[#paris])
  assert_equal(datasets.word_token(m, " Xylophonist"), nil)
  expect_error(function() datasets.answer_token(m, " Xylophonist", "my.lua") end, "my.lua: \" Xylophonist\" is %d+ tokens for this model")
  -- a byte-level tokenizer: the same ids as tokenizing the text alone
  local q = fp.load_model("Tests/fixtures/models/qwen2-tok")
  assert_equal(datasets.word_token(q, " John"), q:to_single_token(" John"))
  assert_equal(datasets.has_bos(q), false)
  assert_equal(datasets.has_bos(m), true)
end)
