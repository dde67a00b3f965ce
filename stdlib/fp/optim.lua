-- fp.optim: optimizers and learning-rate schedules with PyTorch's semantics and defaults.
-- The update math runs in Swift (fp._sgd_step / fp._adam_step, in place, SIMD); this module
-- keeps the per-parameter state and the schedules.
--   local opt = fp.optim.Adam({ v }, { lr = 1e-3 })
--   opt:zero_grad(); loss:backward(); opt:step()
--   local sched = fp.optim.CosineAnnealingLR(opt, { T_max = 100 }); sched:step()
local fp = require "fp"
local errors = require "fp.errors"
local M = {}

local function check_params(fn, params)
  if type(params) ~= "table" or #params == 0 then error(fn .. ": params must be a non-empty list of tensors", 3) end
  for i, p in ipairs(params) do
    if not fp.is_tensor(p) then error(fn .. ": params[" .. i .. "] is not a tensor", 3) end
    if not p.needs_grad then error(fn .. ": params[" .. i .. "] does not require grad (call :requires_grad())", 3) end
    if not p:is_contiguous() then error(fn .. ": params[" .. i .. "] must be contiguous", 3) end
  end
end

-- The range of each numeric setting (torch's checks, and eps > 0 so Adam never divides by 0).
local ranges = {
  lr = { min = 0 }, momentum = { min = 0 }, weight_decay = { min = 0 }, eps = { above = 0 },
}

local Optimizer = {}
Optimizer.__index = Optimizer

-- Clears the gradients of every parameter (set_to_none, torch's default).
function Optimizer:zero_grad()
  for _, p in ipairs(self.params) do p.grad = nil end
end

function Optimizer:step()
  -- the settings may have changed since construction (opt.lr = x, a schedule)
  for k, r in pairs(ranges) do
    if self[k] ~= nil then errors.check_number(self.kind .. ":step", k, self[k], nil, r) end
  end
  self.steps = self.steps + 1
  fp.no_grad(function()
    for i, p in ipairs(self.params) do
      local g = p.grad
      if g ~= nil then self:_update(i, p, g:contiguous()) end
    end
  end)
end

local function new(kind, params, opts, defaults, extra)
  check_params(kind, params)
  local known = { table.unpack(extra or {}) }
  for k in pairs(defaults) do known[#known + 1] = k end
  opts = errors.check_options(kind, opts, known)
  local self = setmetatable({ kind = kind, params = params, state = {}, steps = 0 }, Optimizer)
  for k, v in pairs(defaults) do
    if type(v) == "boolean" then
      local o = opts[k]; if o == nil then o = v end
      if type(o) ~= "boolean" then errors.raise(kind .. ": option " .. k .. " must be a boolean, got " .. type(o)) end
      self[k] = o
    else
      self[k] = errors.check_number(kind, k, opts[k], v, ranges[k])
    end
  end
  self.initial_lr = self.lr
  return self
end

-- SGD(params, { lr = 1e-3, momentum = 0, weight_decay = 0, nesterov = false })
function M.SGD(params, opts)
  local self = new("SGD", params, opts, { lr = 1e-3, momentum = 0, weight_decay = 0, nesterov = false })
  if self.nesterov and self.momentum == 0 then errors.raise("SGD: nesterov needs a momentum > 0") end
  function self:_update(i, p, g)
    local buf = self.state[i]
    local first = buf == nil
    if self.momentum ~= 0 and first then buf = fp.zeros(p.shape); self.state[i] = buf end
    fp._sgd_step(p, g, self.momentum ~= 0 and buf or nil, self.lr, self.momentum, self.weight_decay, self.nesterov, first)
  end
  return self
end

local function adam_like(kind, decoupled, default_wd)
  return function(params, opts)
    local self = new(kind, params, opts, { lr = 1e-3, eps = 1e-8, weight_decay = default_wd }, { "betas" })
    local betas = opts and opts.betas or { 0.9, 0.999 }
    if type(betas) ~= "table" or #betas ~= 2 then errors.raise(kind .. ": betas must be a list of two numbers {beta1, beta2}") end
    self.beta1 = errors.check_number(kind, "betas[1]", betas[1], nil, { min = 0, below = 1 })
    self.beta2 = errors.check_number(kind, "betas[2]", betas[2], nil, { min = 0, below = 1 })
    function self:_update(i, p, g)
      local s = self.state[i]
      if s == nil then s = { m = fp.zeros(p.shape), v = fp.zeros(p.shape), t = 0 }; self.state[i] = s end
      s.t = s.t + 1
      fp._adam_step(p, g, s.m, s.v, s.t, self.lr, self.beta1, self.beta2, self.eps, self.weight_decay, decoupled)
    end
    return self
  end
end

-- Adam(params, { lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0 }) (L2 in the gradient)
M.Adam = adam_like("Adam", false, 0)
-- AdamW: decoupled weight decay, default 0.01 as torch
M.AdamW = adam_like("AdamW", true, 0.01)

-- Schedules: sched:step() after opt:step() sets opt.lr for the next step (torch's order);
-- lr_at(e) is the learning rate after e schedule steps (closed forms of torch's schedules).
local function schedule(opt, lr_at)
  local s = { optimizer = opt, last_epoch = 0 }
  opt.lr = lr_at(0)
  function s:step()
    self.last_epoch = self.last_epoch + 1
    opt.lr = lr_at(self.last_epoch)
  end
  function s:get_last_lr() return { opt.lr } end
  return s
end

-- LinearLR(opt, { start_factor = 1/3, end_factor = 1, total_iters = 5 })
function M.LinearLR(opt, o)
  o = errors.check_options("LinearLR", o, { "start_factor", "end_factor", "total_iters" })
  local a = errors.check_number("LinearLR", "start_factor", o.start_factor, 1 / 3, { above = 0, max = 1 })
  local b = errors.check_number("LinearLR", "end_factor", o.end_factor, 1, { min = 0, max = 1 })
  local n = errors.check_number("LinearLR", "total_iters", o.total_iters, 5, { integer = true, min = 1 })
  local base = opt.initial_lr
  return schedule(opt, function(e) return base * (a + (b - a) * math.min(e, n) / n) end)
end

-- StepLR(opt, { step_size = n, gamma = 0.1 })
function M.StepLR(opt, o)
  o = errors.check_options("StepLR", o, { "step_size", "gamma" })
  if o.step_size == nil then errors.raise("StepLR: option step_size (a number) is required") end
  local size = errors.check_number("StepLR", "step_size", o.step_size, nil, { integer = true, min = 1 })
  local base, g = opt.initial_lr, errors.check_number("StepLR", "gamma", o.gamma, 0.1, { min = 0 })
  return schedule(opt, function(e) return base * g ^ (e // size) end)
end

-- CosineAnnealingLR(opt, { T_max = n, eta_min = 0 })
function M.CosineAnnealingLR(opt, o)
  o = errors.check_options("CosineAnnealingLR", o, { "T_max", "eta_min" })
  if o.T_max == nil then errors.raise("CosineAnnealingLR: option T_max (a number) is required") end
  local T = errors.check_number("CosineAnnealingLR", "T_max", o.T_max, nil, { integer = true, min = 1 })
  local base, eta = opt.initial_lr, errors.check_number("CosineAnnealingLR", "eta_min", o.eta_min, 0, { min = 0 })
  return schedule(opt, function(e) return eta + (base - eta) * (1 + math.cos(math.pi * e / T)) / 2 end)
end

-- Scales the gradients of params in place so that their total 2-norm is at most max_norm;
-- returns the norm before clipping (torch.nn.utils.clip_grad_norm_).
function M.clip_grad_norm(params, max_norm)
  if max_norm == nil then errors.raise("clip_grad_norm: max_norm must be a number, got nil") end
  errors.check_number("clip_grad_norm", "max_norm", max_norm, nil, { min = 0 })
  return fp.no_grad(function()
    local sq = 0
    for _, p in ipairs(params) do
      if p.grad ~= nil then sq = sq + fp.item((p.grad * p.grad):sum()) end
    end
    local total = math.sqrt(sq)
    local coef = max_norm / (total + 1e-6)
    if coef < 1 then
      for _, p in ipairs(params) do
        if p.grad ~= nil then p.grad = p.grad * coef end
      end
    end
    return total
  end)
end

return M
