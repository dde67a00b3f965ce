-- DAS on SmolLM2-135M (real weights): a 1-D rotated subspace at a middle layer, patched from the
-- last subject token of "Rio is in the country of" ("R" "io") into the last subject token of
-- "Paris is in the country of", trained to predict " Brazil". p(" Brazil") with the trained
-- intervention must be well above its value with the untrained one (at least 0.2 and 5x).
-- Prints held-out continent/language top-3 before and after.
local das = require "fp.das"

local model = fp.load_model("smollm2-135m")
local LAYER = 8
local HOOK = "blocks." .. LAYER .. ".hook_resid_pre"
-- a BOS token in front: without it the subject is token 0, the attention sink
local BOS = { prepend_bos = true }

local function last_subject_pos(subject) return #model:to_str_tokens(subject, BOS) - 1 end

local function show(label, rows)
  local parts = {}
  for _, r in ipairs(rows) do parts[#parts + 1] = string.format("%q %.3f", r.token, r.p) end
  print(string.format("  %-44s %s", label, table.concat(parts, ", ")))
end

test("DAS 1-D subspace moves Paris to Brazil (SmolLM2)", function()
  local base, source = "Paris is in the country of", "Rio is in the country of"
  local bpos, spos = last_subject_pos("Paris"), last_subject_pos("Rio")
  assert(spos == 2, "Rio is two tokens in SmolLM2 (after BOS)")
  local brazil = model:to_single_token(" Brazil")
  fp.seed(0)
  local param = fp.nn.orthogonal(model.cfg.d_model, 1)
  local src = das.source_activation(model, (model:to_tokens(source, BOS)), HOOK, spos)
  local hooks = { { HOOK, das.interchange_hook(param, bpos, src) } }
  local p_before = das.last_probs(model, (model:to_tokens(base, BOS)), hooks)[brazil]
  local t0 = fp.time()
  local run = das.train(model, { base = base, source = source, hook = HOOK, base_pos = bpos, source_pos = spos,
                                 target = brazil, param = param, steps = 15, lr = 1.0 })
  local secs = fp.time() - t0
  local p_after = das.last_probs(model, (model:to_tokens(base, BOS)), hooks)[brazil]
  print(string.format("  p(' Brazil'): before %.4f, after %.4f (plain base %.4f); 15 steps in %.1f s; loss %.3f -> %.3f",
    p_before, p_after, das.last_probs(model, (model:to_tokens(base, BOS)))[brazil], secs, run.losses[1], run.best_loss))
  assert(p_after >= 0.2 and p_after >= 5 * p_before, "training raised p(' Brazil') well above its starting value")

  -- held-out prompts with the same subspace (source activation from the matching Rio prompt)
  for _, pair in ipairs({ { "Paris is in the continent of", "Rio is in the continent of" },
                          { "Paris is a city where people speak", "Rio is a city where people speak" } }) do
    local s = das.source_activation(model, (model:to_tokens(pair[2], BOS)), HOOK, spos)
    local h = { { HOOK, das.interchange_hook(param, bpos, s) } }
    show(pair[1] .. " (plain)", das.top_k(model, pair[1], 3))
    show(pair[1] .. " (DAS, trained)", das.top_k(model, pair[1], 3, h))
  end
end)
