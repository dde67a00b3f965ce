-- Helpers of the fixture tests (families.lua, rope_scaling.lua), loaded with
-- `dofile("Tests/lua/lib/fixtures.lua")`; it defines no tests (fp test runs it as an empty file).
local M = {}

--- Asserts that model's logits on each fixture prompt (`input_ids_0`, `input_ids_1` of
--- `inputs`, an expected.npz) equal `want`'s `logits_0`, `logits_1` within 1e-4.
function M.assert_prompt_logits(model, inputs, want, what)
  for i = 0, 1 do
    assert_close(model:forward(inputs["input_ids_" .. i]), want["logits_" .. i], 1e-4,
                 (what and what .. ", " or "") .. "prompt " .. i)
  end
end

return M
