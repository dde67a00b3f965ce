-- Small helpers that interpretability notebooks use (TransformerLens utils and friends).
local fp = require "fp"
local raise = require("fp.errors").raise

local M = {}

-- The k largest entries of a tensor of any shape: values (a 1-D tensor) and their 0-based
-- multi-indices as Lua lists, largest first (TransformerLens's topk_of_Nd_tensor).
--   local v, where = utils.topk_nd(head_scores, 3)   -- where[1] = {layer, head}
function M.topk_nd(t, k, opts)
  if not fp.is_tensor(t) then raise("topk_nd: argument 1 must be a tensor, got " .. type(t)) end
  opts = require("fp.errors").check_options("topk_nd", opts, { "largest" })
  local largest = opts.largest ~= false
  local values, flat = t:reshape(-1):topk(k, { largest = largest })
  local shape, where = t.shape, {}
  for i = 0, flat:numel() - 1 do
    local rest, idx = flat[{ i }], {}
    for d = #shape, 1, -1 do
      idx[d] = rest % shape[d]
      rest = rest // shape[d]
    end
    where[#where + 1] = idx
  end
  return values, where
end

-- logits[:, pos, a] - logits[:, pos, b] averaged over the batch (pos defaults to -1).
-- a and b are token ids or int tensors of one id per prompt; { per_prompt = true } returns the
-- per-prompt differences as a tensor.
function M.logit_diff(logits, a, b, opts)
  opts = require("fp.errors").check_options("logit_diff", opts, { "pos", "per_prompt" })
  local pos = opts.pos or -1
  local last = logits[{ {}, pos }]                      -- [batch, vocab]
  local function pick(tok)
    if type(tok) == "number" then return last[{ {}, tok }] end
    if not fp.is_tensor(tok) then raise("logit_diff: token ids must be numbers or int tensors, got " .. type(tok)) end
    return last:gather(1, tok:reshape(-1, 1)):reshape(-1)
  end
  local d = pick(a) - pick(b)
  if opts.per_prompt then return d end
  return d:mean()
end

-- TransformerLens's utils.get_act_name: a short name (and layer, layer type) -> the hook point's
-- full name. act_name("resid_pre", 3) = "blocks.3.hook_resid_pre", act_name("attn", 3) =
-- "blocks.3.attn.hook_pattern", act_name("k6") = "blocks.6.attn.hook_k", act_name("scale4ln1") =
-- "blocks.4.ln1.hook_scale", act_name("scale") = "ln_final.hook_scale", act_name("embed") = "hook_embed".
-- A negative layer needs the model's n_layers: use cache:act(name, -1). "scale"/"normalized" at a
-- layer need the layer type "ln1" or "ln2" (TransformerLens would return a name no model has).
local act_alias = { attn = "pattern", attn_logits = "attn_scores", key = "k", query = "q", value = "v",
                    mlp_pre = "pre", mlp_mid = "mid", mlp_post = "post" }
local layer_type_alias = { a = "attn", m = "mlp", b = "", block = "", blocks = "", attention = "attn" }
local attn_acts = { k = 1, v = 1, q = 1, z = 1, rot_k = 1, rot_q = 1, result = 1, pattern = 1, attn_scores = 1 }
local mlp_acts = { pre = 1, post = 1, mid = 1, pre_linear = 1 }
function M.act_name(name, layer, layer_type)
  if type(name) ~= "string" then raise("act_name: name must be a string, got " .. type(name)) end
  if layer ~= nil and math.type(layer) ~= "integer" then
    raise("act_name: layer must be an integer, got " .. (type(layer) == "number" and tostring(layer) or type(layer)))
  end
  if layer_type ~= nil and type(layer_type) ~= "string" then raise("act_name: layer_type must be a string, got " .. type(layer_type)) end
  if (name:find(".", 1, true) or name:sub(1, 5) == "hook_") and layer == nil and layer_type == nil then return name end
  local base, digits, rest = name:match("^([a-z]+)(%d+)(.*)$")
  if base then name, layer, layer_type = base, math.tointeger(tonumber(digits)), rest end
  if layer ~= nil and layer < 0 then
    raise("act_name: layer " .. layer .. " is negative; negative layers count from the model's end: use cache:act(\"" .. name .. "\", " .. layer .. ")")
  end
  name = act_alias[name] or name
  if attn_acts[name] then layer_type = "attn"
  elseif mlp_acts[name] then layer_type = "mlp"
  elseif layer_type ~= nil and layer_type_alias[layer_type] then layer_type = layer_type_alias[layer_type] end
  if (name == "scale" or name == "normalized") and layer ~= nil and (layer_type == nil or layer_type == "") then
    raise("act_name: '" .. name .. "' at layer " .. layer .. " needs the layer type \"ln1\" (before attention) or \"ln2\" (before the MLP)")
  end
  local full = layer ~= nil and ("blocks." .. layer .. ".") or ""
  if layer_type ~= nil and layer_type ~= "" then full = full .. layer_type .. "." end
  full = full .. "hook_" .. name
  if (name == "scale" or name == "normalized") and layer == nil then full = "ln_final." .. full end
  return full
end

-- Python's repr of a str, as TransformerLens prints token lists.
local function pyrepr(s)
  local q = (s:find("'", 1, true) and not s:find('"', 1, true)) and '"' or "'"
  local body = s:gsub("[%c\\'\"]", function(c)
    if c == "\\" then return "\\\\" end
    if c == q then return "\\" .. c end
    if c == "'" or c == '"' then return c end
    if c == "\n" then return "\\n" elseif c == "\r" then return "\\r" elseif c == "\t" then return "\\t" end
    return string.format("\\x%02x", c:byte())
  end)
  return q .. body .. q
end

local function pylist(xs, fmt)
  local parts = {}
  for i, x in ipairs(xs) do parts[i] = fmt(x) end
  return "[" .. table.concat(parts, ", ") .. "]"
end

-- TransformerLens's utils.test_prompt: prints the tokenized prompt and answer, then for each
-- answer token its rank, logit and probability and the top_k tokens at that position, and the
-- answer tokens' ranks. answer: a string (several tokens are checked one after another) or a
-- list of strings (each answer's first token, as alternatives). Returns the ranks: a list of
-- {token_string, rank} per answer position (a list of such lists for several answers).
-- opts: prepend_space_to_answer (true), print_details (true), prepend_bos (the model's default),
-- top_k (10), print (a function(line) instead of print).
function M.test_prompt(model, prompt, answer, opts)
  opts = require("fp.errors").check_options("test_prompt", opts,
    { "prepend_space_to_answer", "print_details", "prepend_bos", "top_k", "print" })
  if type(prompt) ~= "string" then raise("test_prompt: prompt must be a string, got " .. type(prompt)) end
  local answers
  if type(answer) == "string" then answers = { answer }
  elseif type(answer) == "table" and #answer > 0 then
    answers = {}
    for i, a in ipairs(answer) do
      if type(a) ~= "string" then raise("test_prompt: answer " .. i .. " must be a string, got " .. type(a)) end
      answers[i] = a
    end
  else raise("test_prompt: answer must be a string or a non-empty list of strings, got " .. type(answer)) end
  local top_k = require("fp.errors").check_number("test_prompt", "top_k", opts.top_k, 10, { integer = true, min = 0 })
  local out = opts.print or print
  local details = opts.print_details ~= false
  local multi = #answers > 1
  if opts.prepend_space_to_answer ~= false then
    for i, a in ipairs(answers) do if a:sub(1, 1) ~= " " then answers[i] = " " .. a end end
  end
  local bos = opts.prepend_bos ~= nil and { prepend_bos = opts.prepend_bos } or nil
  local prompt_str = model:to_str_tokens(prompt, bos)
  local prompt_ids = model:to_tokens(prompt, bos)[{ 0 }]:tolist()
  local answer_str, answer_ids = {}, {}
  for i, a in ipairs(answers) do
    answer_str[i] = model:to_str_tokens(a, { prepend_bos = false })
    answer_ids[i] = model:to_tokens(a, { prepend_bos = false })[{ 0 }]:tolist()
    if #answer_ids[i] == 0 then raise("test_prompt: answer " .. pyrepr(a) .. " has no tokens") end
  end
  local n_pos = multi and 1 or #answer_ids[1]
  if details then
    out("Tokenized prompt: " .. pylist(prompt_str, pyrepr))
    if multi then out("Tokenized answers: " .. pylist(answer_str, function(l) return pylist(l, pyrepr) end))
    else out("Tokenized answer: " .. pylist(answer_str[1], pyrepr)) end
  end
  -- one row per answer: the prompt then that answer's tokens (only the first with several answers)
  local rows = {}
  for i = 1, #answers do
    local r = {}
    for _, t in ipairs(prompt_ids) do r[#r + 1] = t end
    for j = 1, n_pos do r[#r + 1] = answer_ids[i][j] end
    rows[i] = r
  end
  local logits = model:forward(fp.tensor(rows, "int"))
  local P = #prompt_ids
  local ranks = {}
  for j = 1, n_pos do
    local at = logits[{ {}, P + j - 2 }]            -- [answers, vocab]: predicts answer token j
    local probs = at:softmax(-1)
    local lines, here = {}, {}
    for i = 1, #answers do
      local id = answer_ids[i][j]
      local p = probs[{ i - 1, id }]
      local rank = fp.item(probs[{ i - 1 }]:gt(p):sum())
      here[i] = { answer_str[i][j], math.tointeger(rank) }
      lines[i] = string.format("Rank: %-8d Logit: %5.2f Prob: %6s Token: |%s|", rank, at[{ i - 1, id }],
        string.format("%.2f%%", 100 * p), answer_str[i][j])
    end
    ranks[j] = multi and here or here[1]
    if details then
      out("Performance on answer token" .. (multi and "s" or "") .. ":\n" .. table.concat(lines, "\n"))
      if top_k > 0 then
        local pv, pi = probs[{ 0 }]:topk(math.min(top_k, model.cfg.d_vocab))
        for k = 0, pv:numel() - 1 do
          local id = pi[{ k }]
          out(string.format("Top %dth token. Logit: %5.2f Prob: %6s Token: |%s|", k, at[{ 0, id }],
            string.format("%.2f%%", 100 * pv[{ k }]), model:to_string(id)))
        end
      end
    end
  end
  local function pair(r) return "(" .. pyrepr(r[1]) .. ", " .. r[2] .. ")" end
  if multi then out("Ranks of the answer tokens: " .. pylist(ranks, function(l) return pylist(l, pair) end))
  else out("Ranks of the answer tokens: " .. pylist(ranks, pair)) end
  return ranks
end

-- Token strings with their 0-based position, for plot labels: {"After_0", " John_1", ...}.
function M.position_labels(model, input, opts)
  local toks = model:to_str_tokens(input, opts)
  local out = {}
  for i, t in ipairs(toks) do out[i] = t .. "_" .. (i - 1) end
  return out
end

return M
