-- The skeleton every experiment script shares: its arguments (fp.args, with --model, --out and
-- --quick), the model, timing of its phases, progress bars (fp.progress) and results.json.
--
--   local exp = require("fp.experiment").start(arg, spec, { description = "..." })
--   (a fourth argument is passed to fp.load_model: { fold_ln = true, ... } as from_pretrained;
--   or M.tl_processing, TransformerLens's from_pretrained defaults where the model allows them)
--   local opts, model, plot = exp.opts, exp.model, exp.plot      -- plot: nil without fp.plot
--   local r = exp:time("patching", function() return patching.resid_pre(...) end)
--   local tick = exp:progress("ablating facts", n)               -- tick() per item done
--   return exp:finish(results, "ablations took %.1fs", exp.seconds.patching)
--
-- finish stores the phases' seconds (and the total) in results.seconds, writes
-- OUT/results.json and prints what it wrote; it returns results (for tests that run the script).
local fp = require "fp"

local M = {}
local Experiment = {}
Experiment.__index = Experiment

function M.start(argv, spec, about, load_opts)
  local self = setmetatable({ seconds = {}, t_start = fp.time() }, Experiment)
  self.opts = require("fp.args").parse(argv, spec, about)
  local has_plot, plot = pcall(require, "fp.plot")
  self.plot = has_plot and plot or nil
  if spec.model ~= nil then
    if type(load_opts) == "function" then
      -- the options depend on the model: read its unprocessed config first
      local plain = fp.load_model(self.opts.model)
      load_opts = load_opts(plain.cfg)
      plain = nil
      collectgarbage()
    end
    self.model = fp.load_model(self.opts.model, load_opts)
  end
  return self
end

-- TransformerLens's from_pretrained processing (fold_ln, center_writing_weights, center_unembed,
-- fold_value_biases), less what TransformerLens itself turns off for a model: folding the norms
-- of a model whose norms come after attention and the MLP (OLMo 2), centering the unembedding
-- under a final soft-cap (Gemma 2). fp refuses those requests; TransformerLens drops them with a
-- warning, and so does this (on stderr). Pass it as start's fourth argument.
function M.tl_processing(cfg)
  local post_only = cfg.normalization_position == "post"
  local capped = (cfg.output_logits_soft_cap or -1) > 0
  local opts = { fold_ln = not post_only, center_writing_weights = not post_only, center_unembed = not capped,
                 fold_value_biases = true }
  if post_only then io.stderr:write("fp.experiment: fold_ln and center_writing_weights off: " .. cfg.model_name .. " has no norms before attention and the MLP\n") end
  if capped then io.stderr:write("fp.experiment: center_unembed off: " .. cfg.model_name .. "'s logits are soft-capped\n") end
  return opts
end

-- Runs fn() and records its seconds under `name`; returns what fn returns.
function Experiment:time(name, fn)
  local t0 = fp.time()
  local out = table.pack(fn())
  self.seconds[name] = (self.seconds[name] or 0) + fp.time() - t0
  return table.unpack(out, 1, out.n)
end

-- A progress bar on stderr (only on a terminal): tick(n) per n items done.
function Experiment:progress(label, total)
  return require("fp.progress").bar(label, total)
end

-- Seconds since start.
function Experiment:elapsed() return fp.time() - self.t_start end

-- results.seconds, OUT/results.json and a summary line: `summary` (a format string with its
-- arguments) first, then the total and what was written.
function Experiment:finish(results, summary, ...)
  local seconds = { total = self:elapsed() }
  for k, v in pairs(self.seconds) do seconds[k] = v end
  results.seconds = seconds
  fp.save(self.opts.out .. "/results.json", results)
  local head = summary and (string.format(summary, ...) .. "; ") or ""
  print(string.format("%stotal %.1fs; wrote %s/results.json%s", head, seconds.total, self.opts.out,
    self.plot and " and figures" or " (fp.plot not found: no figures)"))
  return results
end

return M
