-- Prompt sets for the experiment scripts, built for one model's tokenizer:
--   ioi(model, opts)         IOI prompts (templates x names, ABBA/BABA) with corrupted variants
--   acronyms(model, opts)    "The Chief Executive Officer (CE" + "O" prompts with per-word corruptions
--   load_counterfact(path)   CounterFact-format JSON (a list of facts); facts() is the project's set
--   fact_prompt(entry)       prompt, subject, true and new target of one CounterFact entry
--   subject_span(model, prompt, subject)   first and last token position of the subject
--   text_tokens, word_token, answer_token, first_token(model, text)   a text's ids inside a prompt
-- Every position is 0-based and counts the BOS token when the model prepends one.
local fp = require "fp"
local json = require "fp.json"

local M = {}

-- stdlib/fp/data, found next to this file.
local here = (package.searchpath("fp.datasets", package.path) or ""):match("^(.*)[/\\]datasets%.lua$") or "."
M.data_dir = here .. "/data"

-- A small deterministic generator (64-bit LCG), so datasets do not depend on or disturb
-- fp's or Lua's global random state.
local function rng(seed)
  local state = (seed or 0) * 6364136223846793005 + 1442695040888963407
  return function(n)   -- an integer in 1..n
    state = state * 6364136223846793005 + 1442695040888963407
    return ((state >> 33) % n) + 1
  end
end
M.rng = rng

local function shuffle(list, rand)
  for i = #list, 2, -1 do
    local j = rand(i)
    list[i], list[j] = list[j], list[i]
  end
  return list
end

-- Lines of a data file (or any path), without blanks and '#' comments.
function M.read_lines(name)
  local path = name:find("/", 1, true) and name or (M.data_dir .. "/" .. name)
  local f, err = io.open(path, "r")
  if not f then error("datasets: cannot read " .. path .. " (" .. tostring(err) .. ")", 2) end
  local out = {}
  for line in f:lines() do
    line = line:gsub("%s+$", "")
    if line ~= "" and not line:match("^#") then out[#out + 1] = line end
  end
  f:close()
  return out
end

-- The token ids `text` adds inside a prompt (a Lua list). Tokenizers that put "▁" in front of
-- every text they are given (Llama 2, Mistral v0.1, Phi-3) split " John" alone into "▁", "▁John",
-- while after other words it is the one token "▁John": a text that starts with a space is
-- therefore read after a context word, when the context's own tokens stay as they are.
local CONTEXT = "The"
function M.text_tokens(model, text)
  local plain = model:to_tokens(text, { prepend_bos = false })[0]:tolist()
  if text:sub(1, 1) ~= " " then return plain end
  local ctx = model:to_tokens(CONTEXT, { prepend_bos = false })[0]:tolist()
  local full = model:to_tokens(CONTEXT .. text, { prepend_bos = false })[0]:tolist()
  if #full <= #ctx then return plain end
  for i = 1, #ctx do if full[i] ~= ctx[i] then return plain end end
  return { table.unpack(full, #ctx + 1) }
end

-- The id of `text` (e.g. " John") when it is one token inside a prompt, else nil.
function M.word_token(model, text)
  local ids = M.text_tokens(model, text)
  return #ids == 1 and ids[1] or nil
end

-- The id of an answer that must be one token (e.g. " John"); an error that shows the tokens otherwise.
function M.answer_token(model, text, who)
  local id = M.word_token(model, text)
  if id then return id end
  local strs = {}
  for i, t in ipairs(M.text_tokens(model, text)) do strs[i] = string.format("%q", model:to_string(t)) end
  error(string.format("%s: %q is %d tokens for this model (%s), not one; choose another word",
    who or "answer_token", text, #strs, table.concat(strs, ", ")), 2)
end

-- Whether the model's tokenizer has a BOS token to prepend (Qwen's has none).
function M.has_bos(model)
  return (pcall(model.to_tokens, model, "a", { prepend_bos = true }))
end

-- The first token id of `text` inside a prompt (the answer's first token, as in CounterFact).
function M.first_token(model, text) return M.text_tokens(model, text)[1] end

-- The words that are exactly one token with `prefix` (default a space) in front, and their ids.
function M.single_tokens(model, words, prefix)
  prefix = prefix or " "
  local kept, ids = {}, {}
  for _, w in ipairs(words) do
    local id = M.word_token(model, prefix .. w)
    if id then
      kept[#kept + 1] = w
      ids[w] = id
    end
  end
  return kept, ids
end

local function bos_offset(model, opts)
  local bos = opts and opts.prepend_bos
  if bos == nil then bos = model.cfg.default_prepend_bos end
  return bos and 1 or 0
end

---------------------------------------------------------------------------------------------
-- IOI (Wang et al. 2022): "When Mary and John went to the store, John gave a drink to" -> Mary.
-- {IO} is the indirect object (the answer), {S} the subject, named twice (S1 and S2).
---------------------------------------------------------------------------------------------

M.ioi_templates = {
  "After {A} and {B} went to the {PLACE}, {S} gave a {OBJECT} to",
  "When {A} and {B} went to the {PLACE}, {S} gave a {OBJECT} to",
  "Then, {A} and {B} went to the {PLACE}. {S} gave a {OBJECT} to",
  "While {A} and {B} were working at the {PLACE}, {S} gave a {OBJECT} to",
  "When {A} and {B} got a {OBJECT} at the {PLACE}, {S} decided to give it to",
  "Friends {A} and {B} found a {OBJECT} at the {PLACE}. {S} gave it to",
}
M.ioi_places = { "store", "park", "school", "garden", "office", "station", "restaurant", "hospital", "market", "beach" }
M.ioi_objects = { "bottle of milk", "book", "ring", "drink", "bone", "basketball", "computer", "necklace", "toy", "snack" }

local function fill(template, a, b, s, place, object)
  return (template:gsub("{(%u+)}", { A = a, B = b, S = s, PLACE = place, OBJECT = object }))
end

-- Position of token id `id` in `tokens` [1, P] (the occurrence number `nth`, default 1).
local function find_token(tokens, id, nth)
  local seen = 0
  for p = 0, tokens.shape[2] - 1 do
    if tokens[{ 0, p }] == id then
      seen = seen + 1
      if seen == (nth or 1) then return p end
    end
  end
  return nil
end

-- IOI prompts. opts: n (default 20), seed, order ("ABBA", "BABA" or "both", alternating),
-- templates, names, places, objects (lists), prepend_bos. Names that are not one token (with
-- a leading space) for this model are dropped. Each item:
--   text       the clean prompt; answer io (the indirect object), wrong s (the subject)
--   flipped    S2 replaced by the IO name (nnsight's tutorial corruption: one token differs)
--   abc        IO, S1, S2 replaced by three other distinct names (the IOI paper's p_ABC)
--   io, s, io_token, s_token, order, template (index)
--   pos = { io =, s1 =, s2 =, last = } token positions in `text`
function M.ioi(model, opts)
  opts = require("fp.errors").check_options("datasets.ioi", opts, { "n", "seed", "names", "templates", "places", "objects", "order", "prepend_bos" })
  require("fp.errors").check_number("datasets.ioi", "n", opts.n, nil, { integer = true, min = 1 })
  local n = opts.n or 20
  local rand = rng(opts.seed or 0)
  local names, ids = M.single_tokens(model, opts.names or M.read_lines("names.txt"))
  if #names < 5 then error("datasets.ioi: fewer than 5 single-token names for this model", 2) end
  local templates = opts.templates or M.ioi_templates
  local places, objects = opts.places or M.ioi_places, opts.objects or M.ioi_objects
  local off = bos_offset(model, opts)
  local items = {}
  for i = 1, n do
    local t = ((i - 1) % #templates) + 1
    local order = opts.order or "both"
    if order == "both" then order = (i % 2 == 1) and "ABBA" or "BABA" end
    local pick = shuffle({ table.unpack(names) }, rand)
    local io, s = pick[1], pick[2]
    local place, object = places[rand(#places)], objects[rand(#objects)]
    local a, b = io, s
    if order == "BABA" then a, b = s, io end
    local item = {
      text = fill(templates[t], a, b, s, place, object),
      flipped = fill(templates[t], a, b, io, place, object),
      io = io, s = s, io_token = ids[io], s_token = ids[s], order = order, template = t,
    }
    -- p_ABC: three fresh names in the same places
    local x, y, z = pick[3], pick[4], pick[5]
    if order == "BABA" then item.abc = fill(templates[t], y, x, z, place, object)
    else item.abc = fill(templates[t], x, y, z, place, object) end
    local toks = model:to_tokens(item.text, { prepend_bos = off == 1 })
    local s1 = find_token(toks, ids[s], 1)
    item.pos = { io = find_token(toks, ids[io], 1), s1 = s1, s2 = find_token(toks, ids[s], 2), last = toks.shape[2] - 1 }
    items[#items + 1] = item
  end
  return items
end

---------------------------------------------------------------------------------------------
-- Acronyms (Garcia-Carrasco et al. 2024): "The Chief Executive Officer (CE" -> "O". The prompt
-- ends with the first two letters; the model predicts letter 1 at " (", letter 2 at letter 1
-- and letter 3 at letter 2, so the last three positions carry the three predictions.
---------------------------------------------------------------------------------------------

-- Token ids of the 26 capital letters as tokens of their own (nil when a letter is not one token).
function M.capital_letters(model)
  local ids = {}
  for c = 65, 90 do
    local t = model:to_tokens(string.char(c), { prepend_bos = false })
    if t.shape[2] == 1 then ids[string.char(c)] = t[{ 0, 0 }] end
  end
  return ids
end

-- The token strings a well-formed prompt must have: "The", " W1", " W2", " W3", " (", "L1", "L2".
local function acronym_ok(model, words, off)
  local prompt = "The " .. table.concat(words, " ") .. " (" .. words[1]:sub(1, 1) .. words[2]:sub(1, 1)
  local toks = model:to_str_tokens(prompt, { prepend_bos = off == 1 })
  local want = { "The", " " .. words[1], " " .. words[2], " " .. words[3], " (", words[1]:sub(1, 1), words[2]:sub(1, 1) }
  if #toks ~= #want + off then return nil end
  -- the first word may carry the prefix space of a SentencePiece tokenizer (" The")
  for i, w in ipairs(want) do
    if toks[i + off] ~= w and not (i == 1 and toks[i + off] == " " .. w) then return nil end
  end
  return prompt
end

-- Acronym prompts. opts: n (default 20), seed, words (list; default data/acronym_words.txt),
-- prepend_bos, max_tries. Words must be one token with a leading space; a prompt is kept only
-- when it tokenizes as "The", 3 words, " (", letter, letter (so every letter is its own token).
-- Each item:
--   text, words {w1, w2, w3}, acronym "CEO", answers {id1, id2, id3} (the letters' token ids)
--   corrupted[i] (i = 1..3): the prompt with word i replaced by a word with another initial
--   pos = { words = {p1, p2, p3}, paren =, letters = {p_L1, p_L2} }; the predictions are read
--   at positions paren, letters[1], letters[2] (the last three).
function M.acronyms(model, opts)
  opts = require("fp.errors").check_options("datasets.acronyms", opts, { "n", "seed", "words", "max_tries", "prepend_bos" })
  require("fp.errors").check_number("datasets.acronyms", "n", opts.n, nil, { integer = true, min = 1 })
  require("fp.errors").check_number("datasets.acronyms", "max_tries", opts.max_tries, nil, { integer = true, min = 1 })
  local n = opts.n or 20
  local rand = rng(opts.seed or 0)
  local off = bos_offset(model, opts)
  local words = M.single_tokens(model, opts.words or M.read_lines("acronym_words.txt"))
  local caps = M.capital_letters(model)
  local usable = {}
  for _, w in ipairs(words) do if caps[w:sub(1, 1)] then usable[#usable + 1] = w end end
  if #usable < 6 then error("datasets.acronyms: fewer than 6 usable words for this model", 2) end
  local items, seen = {}, {}
  local tries = 0
  while #items < n and tries < (opts.max_tries or 200 * n) do
    tries = tries + 1
    local w = { usable[rand(#usable)], usable[rand(#usable)], usable[rand(#usable)] }
    local key = table.concat(w, " ")
    if not seen[key] and w[1] ~= w[2] and w[2] ~= w[3] and w[1] ~= w[3] then
      seen[key] = true
      local prompt = acronym_ok(model, w, off)
      if prompt then
        local letters = { w[1]:sub(1, 1), w[2]:sub(1, 1), w[3]:sub(1, 1) }
        local item = {
          text = prompt, words = w, acronym = table.concat(letters),
          answers = { caps[letters[1]], caps[letters[2]], caps[letters[3]] },
          pos = { words = { off + 1, off + 2, off + 3 }, paren = off + 4, letters = { off + 5, off + 6 } },
          corrupted = {}, corrupt_words = {},
        }
        -- one word at a time, replaced by a word with another first letter (same token count)
        for i = 1, 3 do
          for _ = 1, 50 do
            local r = usable[rand(#usable)]
            if r:sub(1, 1) ~= letters[i] then
              local cw = { w[1], w[2], w[3] }
              cw[i] = r
              item.corrupted[i] = "The " .. table.concat(cw, " ") .. " (" .. letters[1] .. letters[2]
              item.corrupt_words[i] = r
              break
            end
          end
        end
        if item.corrupted[1] and item.corrupted[2] and item.corrupted[3] then items[#items + 1] = item end
      end
    end
  end
  return items
end

---------------------------------------------------------------------------------------------
-- Facts in CounterFact's format (Meng et al. 2022): a JSON list of
--   { case_id, requested_rewrite = { prompt = "The capital of {} is", subject, relation_id,
--     target_true = { str }, target_new = { str } }, paraphrase_prompts = {...}, ... }
---------------------------------------------------------------------------------------------

function M.load_counterfact(path)
  local f, err = io.open(path, "r")
  if not f then error("datasets.load_counterfact: cannot read " .. tostring(path) .. " (" .. tostring(err) .. ")", 2) end
  local text = f:read("a")
  f:close()
  local ok, data = pcall(json.decode, text)
  if not ok then error("datasets.load_counterfact: " .. tostring(path) .. ": " .. tostring(data), 2) end
  if type(data) ~= "table" or #data == 0 then
    error("datasets.load_counterfact: " .. path .. " must hold a non-empty JSON list of facts", 2)
  end
  for i, e in ipairs(data) do
    local rr = type(e) == "table" and e.requested_rewrite
    if type(rr) ~= "table" or type(rr.prompt) ~= "string" or not rr.prompt:find("{}", 1, true)
      or type(rr.subject) ~= "string" or type(rr.target_true) ~= "table" or type(rr.target_true.str) ~= "string" then
      error(string.format("datasets.load_counterfact: entry %d of %s lacks requested_rewrite.prompt (with {}), "
        .. ".subject or .target_true.str", i, path), 2)
    end
  end
  return data
end

-- The project's own fact set (stdlib/fp/data/facts.json), optionally only some relations:
-- facts({ relations = { "P36", "P17" } }).
function M.facts(opts)
  opts = require("fp.errors").check_options("datasets.facts", opts, { "relations" })
  local data = M.load_counterfact(M.data_dir .. "/facts.json")
  if not (opts and opts.relations) then return data end
  local want = {}
  for _, r in ipairs(opts.relations) do want[r] = true end
  local out = {}
  for _, e in ipairs(data) do if want[e.requested_rewrite.relation_id] then out[#out + 1] = e end end
  return out
end

-- prompt (subject filled in), subject, " " .. target_true, " " .. target_new (nil if absent).
function M.fact_prompt(entry)
  local rr = entry.requested_rewrite
  local prompt = rr.prompt:gsub("{}", function() return rr.subject end)
  return prompt, rr.subject, " " .. rr.target_true.str, rr.target_new and (" " .. rr.target_new.str) or nil
end

-- First and last token position of `subject` inside `prompt` (0-based, BOS counted), found by
-- tokenizing the text up to the subject's start and end. Errors when the subject's tokens do
-- not line up with the prompt's (a token that spans the subject's boundary).
function M.subject_span(model, prompt, subject, opts)
  opts = require("fp.errors").check_options("datasets.subject_span", opts, { "prepend_bos" })
  local s, e = prompt:find(subject, 1, true)
  if not s then error("datasets.subject_span: '" .. subject .. "' is not in '" .. prompt .. "'", 2) end
  local bos = bos_offset(model, opts) == 1
  local full = model:to_tokens(prompt, { prepend_bos = bos })
  local function count(text)
    if text == "" then return bos and 1 or 0 end
    return model:to_tokens(text, { prepend_bos = bos }).shape[2]
  end
  -- the text before the subject without its trailing space: the space belongs to the subject's first token
  local before = prompt:sub(1, s - 1):gsub("%s+$", "")
  local first, last = count(before), count(prompt:sub(1, e)) - 1
  local upto = model:to_tokens(prompt:sub(1, e), { prepend_bos = bos })
  for p = 0, last do
    if upto[{ 0, p }] ~= full[{ 0, p }] then
      error("datasets.subject_span: the tokens of '" .. subject .. "' do not line up with the prompt's", 2)
    end
  end
  return first, last
end

return M
