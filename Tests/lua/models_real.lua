-- Real weights: SmolLM2-135M-Instruct (GGUF Q4_1, from scripts/fetch-models.sh: required) and
-- the llama2.c TinyStories model in ../shared/models (skipped when ../shared is absent).
local smol = fp.load_model("smollm2-135m")

local function top_token(model, prompt)
  local logits = model:forward(prompt)
  local _, i = logits[{ 0, -1 }]:max(-1)
  return model:to_string(i:item())
end

test("SmolLM2: the Eiffel Tower is in Paris", function()
  assert(top_token(smol, "The Eiffel Tower is located in the city of") == " Paris")
end)

test("SmolLM2: IOI prompt completes with the indirect object", function()
  assert(top_token(smol, "After John and Mary went to the store, John gave a bottle of milk to") == " Mary")
end)

test("SmolLM2: GGUF tokenizer, no BOS by default, single tokens", function()
  assert(smol.cfg.default_prepend_bos == false)
  assert(smol:to_single_token(" Mary") == 5099 and smol:to_single_token(" John") == 2322)
  local toks = smol:to_tokens("After John and Mary went to the store")
  assert(toks.shape[1] == 1 and toks[{ 0, 0 }] ~= smol:to_single_token("<|im_start|>"))
  expect_error(function() smol:to_single_token(" Eiffel Tower") end, "to_single_token: \" Eiffel Tower\" is")
  assert(smol:to_string(toks) [1] == "After John and Mary went to the store")
end)

test("SmolLM2: a left-padded batch gives the same last-token logits as each prompt alone", function()
  local prompts = { "The Eiffel Tower is located in the city of", "Paris is the capital of" }
  local toks, mask = smol:to_tokens(prompts, { padding_side = "left" })
  local batch = smol:forward(toks, { attention_mask = mask })
  for i, p in ipairs(prompts) do
    local alone = smol:forward(p)
    assert_close(batch[{ i - 1, -1 }], alone[{ 0, -1 }], 1e-3, p)
  end
end)

test("SmolLM2: greedy generation with the KV cache equals argmax without it", function()
  local prompt = smol:to_tokens("The capital of France is")
  local out = smol:generate(prompt, { max_new_tokens = 6 })
  local seq = prompt
  for _ = 1, 6 do
    local logits = smol:forward(seq)
    local _, nxt = logits[{ 0, -1 }]:max(-1)
    seq = fp.cat({ seq, fp.tensor({ { nxt:item() } }, "int") }, 1)
  end
  assert(out:eq(seq):all(), "cache " .. tostring(out) .. " vs recompute " .. tostring(seq))
end)

local stories = "../shared/models/stories260K/stories260K.bin"
test("llama2.c stories260K: greedy continuation of 'Once upon a time'", function()
  local f = io.open(stories, "rb")
  if not f then skip("../shared/models/stories260K not present") end
  f:close()
  local m = fp.load_model(stories)
  local text = m:generate("Once upon a time", { max_new_tokens = 40 })
  assert(text:find("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.", 1, true), text)
end)
