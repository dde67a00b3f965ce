-- Data for training dictionaries: a text corpus (scripts/fetch-corpus.sh writes the Python
-- documentation's sources from Debian's python3.11-doc), tokenized and packed into fixed-length
-- contexts, and a stream of a model's activations at a hook point over those contexts, shuffled
-- in a buffer (SAELens's activation store). Exposed as fp.sae.*.
local fp = require "fp"
local raise = require("fp.errors").raise

local M = {}

local function check_options(fn, opts, allowed) return require("fp.sae").check_options(fn, opts, allowed) end

-- Where scripts/fetch-corpus.sh writes the corpus.
function M.default_corpus()
  local dir = os.getenv("FP_CORPUS_DIR") or ((os.getenv("HOME") or ".") .. "/.cache/fp/corpus")
  return dir .. "/python3.11-doc.txt"
end

-- fp.sae.read_corpus([path][, opts]): the documents of a corpus file (form-feed lines separate
-- them), as a list of strings; opts.max_documents stops early, opts.min_chars drops short ones.
function M.read_corpus(path, opts)
  opts = check_options("read_corpus", opts, { max_documents = true, min_chars = true })
  path = path or M.default_corpus()
  local f, err = io.open(path, "rb")
  if not f then raise("read_corpus: cannot read " .. path .. " (" .. tostring(err) .. "); scripts/fetch-corpus.sh writes it") end
  local text = f:read("a")
  f:close()
  local docs, min = {}, opts.min_chars or 1
  for doc in (text .. "\n\f\n"):gmatch("(.-)\n\f\n") do
    if #doc >= min then docs[#docs + 1] = doc end
    if opts.max_documents and #docs >= opts.max_documents then break end
  end
  return docs
end

-- fp.sae.pack_tokens(model, docs, context_size[, opts]): the documents' tokens joined into one
-- stream (each document followed by the end-of-text token when the tokenizer has one) and cut
-- into contexts of context_size tokens, each starting with BOS when the model's convention
-- prepends one (opts.prepend_bos overrides). Stops at opts.max_contexts. Returns int [n, context_size].
function M.pack_tokens(model, docs, context_size, opts)
  opts = check_options("pack_tokens", opts, { max_contexts = true, prepend_bos = true, separator = true })
  if math.type(context_size) ~= "integer" or context_size < 2 then raise("pack_tokens: context_size must be an integer >= 2") end
  -- BOS: the model's convention unless opts.prepend_bos says otherwise
  local bare = model:to_tokens("a", { prepend_bos = false }).shape[2]
  local bos = opts.prepend_bos
  if bos == nil then bos = model:to_tokens("a").shape[2] > bare end
  local bos_id
  if bos then
    local with = model:to_tokens("a", { prepend_bos = true })
    if with.shape[2] > bare then bos_id = with[{ 0, 0 }] end
  end
  local sep = opts.separator
  local body = bos_id and context_size - 1 or context_size
  local rows, buf = {}, {}
  local max = opts.max_contexts or math.huge
  for _, doc in ipairs(docs) do
    local ids = model:to_tokens(doc, { prepend_bos = false })[0]:tolist()
    for _, id in ipairs(ids) do buf[#buf + 1] = id end
    if sep then buf[#buf + 1] = sep end
    local start = 1
    while #buf - start + 1 >= body and #rows < max do
      local row = {}
      if bos_id then row[1] = bos_id end
      table.move(buf, start, start + body - 1, #row + 1, row)
      rows[#rows + 1] = row
      start = start + body
    end
    if start > 1 then buf = table.move(buf, start, #buf, 1, {}) end
    if #rows >= max then break end
  end
  if #rows == 0 then raise("pack_tokens: the documents make no full context of " .. context_size .. " tokens") end
  return fp.tensor(rows, "int")
end

-- fp.sae.activation_batches(model, hook, contexts[, opts]) -> function(step) -> [batch_size, d]:
-- the model's activations at `hook` over the contexts, computed opts.contexts_per_fill contexts
-- at a time (default 16) and served in a random order within each fill (seeded by opts.seed),
-- cycling through the contexts. Position 0 (BOS, whose norm is far larger) is left out unless
-- opts.keep_first_position. opts.batch_size (default 4096).
function M.activation_batches(model, hook, contexts, opts)
  opts = check_options("activation_batches", opts, { batch_size = true, contexts_per_fill = true, seed = true,
    keep_first_position = true })
  if not (fp.is_tensor(contexts) and contexts:dim() == 2) then raise("activation_batches: contexts must be int [n, pos]") end
  local bs, per = opts.batch_size or 4096, opts.contexts_per_fill or 16
  local n, P = contexts.shape[1], contexts.shape[2]
  local first = opts.keep_first_position and 0 or 1
  local stop = require("fp.hook_layers").stop_layer_for(model, hook)
  local buffer, used = nil, 0
  local next_ctx = 0
  local fills = 0
  local function shuffled(m)
    fills = fills + 1
    return M.permutation(m, (opts.seed or 0) * 100003 + fills)
  end
  local function fill()
    local rows = {}
    for i = 1, per do rows[i] = contexts[{ { (next_ctx + i - 1) % n, (next_ctx + i - 1) % n + 1 } }] end
    next_ctx = (next_ctx + per) % n
    local toks = fp.cat(rows, 0)
    local _, cache = model:run_with_cache(toks, { names_filter = hook, stop_at_layer = stop })
    local a = cache[hook][{ {}, { first } }]
    a = a:reshape(-1, a.shape[#a.shape])
    buffer, used = a:index_select(0, shuffled(a.shape[1])), 0
  end
  return function()
    local parts, need = {}, bs
    while need > 0 do
      if not buffer or used >= buffer.shape[1] then fill() end
      local take = math.min(need, buffer.shape[1] - used)
      parts[#parts + 1] = buffer[{ { used, used + take } }]
      used, need = used + take, need - take
    end
    return #parts == 1 and parts[1] or fp.cat(parts, 0)
  end
end

-- fp.sae.collect_activations(model, hook, contexts[, opts]): all the activations at `hook` over
-- the contexts as one [n, d] tensor in a shuffled order (position 0 left out unless
-- opts.keep_first_position), computed opts.contexts_per_run contexts at a time (default 16).
-- For a corpus whose activations fit in memory; fp.sae.train reads it in batches, wrapping.
function M.collect_activations(model, hook, contexts, opts)
  opts = check_options("collect_activations", opts, { contexts_per_run = true, seed = true, keep_first_position = true })
  local n = contexts.shape[1]
  local per = opts.contexts_per_run or 16
  local stop = require("fp.hook_layers").stop_layer_for(model, hook)
  local first = opts.keep_first_position and 0 or 1
  local parts = {}
  for s = 0, n - 1, per do
    local toks = contexts[{ { s, math.min(n, s + per) } }]
    local _, cache = model:run_with_cache(toks, { names_filter = hook, stop_at_layer = stop })
    local a = cache[hook][{ {}, { first } }]
    parts[#parts + 1] = a:reshape(-1, a.shape[#a.shape])
  end
  local all = fp.cat(parts, 0)
  return all:index_select(0, M.permutation(all.shape[1], opts.seed or 0))
end

-- A permutation of 0..m-1 as an int tensor, from its own seeded 48-bit LCG (fp.seed's stream is
-- neither read nor changed).
function M.permutation(m, seed)
  local state = (seed or 0) * 2654435761 % 281474976710656 + 1
  local list = {}
  for i = 1, m do list[i] = i - 1 end
  for i = m, 2, -1 do
    state = (state * 25214903917 + 11) % 281474976710656
    local j = state % i + 1
    list[i], list[j] = list[j], list[i]
  end
  return fp.tensor(list, "int")
end

return M
