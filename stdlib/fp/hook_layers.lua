-- Internal: which layers a hook point needs (for the stdlib's cheaper runs; not part of the API).
local M = {}

-- The stop_at_layer that still computes hook point `hook` (a blocks.L.* point is known after
-- layer L), or nil when the run must go to the end (ln_final, unembed, the last layer's points).
function M.stop_layer_for(model, hook)
  local L = tonumber(hook:match("^blocks%.(%d+)%."))
  if L and L + 1 < model.cfg.n_layers then return L + 1 end
  return nil
end

return M
