-- fp.optim: optimizers and learning-rate schedules with PyTorch's semantics and defaults.
-- The update math runs in Swift (fp._sgd_step / fp._adam_step, in place, SIMD); this module
-- keeps the per-parameter state and the schedules.
--   local opt = fp.optim.Adam({ v }, { lr = 1e-3 })
--   opt:zero_grad(); loss:backward(); opt:step()
--   local sched = fp.optim.CosineAnnealingLR(opt, { T_max = 100 }); sched:step()
local fp = require "fp"
local M = {}

local function check_params(fn, params)
  if type(params) ~= "table" or #params == 0 then error(fn .. ": params must be a non-empty list of tensors", 3) end
  for i, p in ipairs(params) do
    if not fp.is_tensor(p) then error(fn .. ": params[" .. i .. "] is not a tensor", 3) end
    if not p.needs_grad then error(fn .. ": params[" .. i .. "] does not require grad (call :requires_grad())", 3) end
    if not p:is_contiguous() then error(fn .. ": params[" .. i .. "] must be contiguous", 3) end
  end
end

local function opt_number(fn, opts, key, default)
  local v = opts[key]
  if v == nil then return default end
  if type(v) ~= "number" then error(fn .. ": option " .. key .. " must be a number", 3) end
  return v
end

local Optimizer = {}
Optimizer.__index = Optimizer

-- Clears the gradients of every parameter (set_to_none, torch's default).
function Optimizer:zero_grad()
  for _, p in ipairs(self.params) do p.grad = nil end
end

function Optimizer:step()
  self.steps = self.steps + 1
  fp.no_grad(function()
    for i, p in ipairs(self.params) do
      local g = p.grad
      if g ~= nil then self:_update(i, p, g:contiguous()) end
    end
  end)
end

local function new(kind, params, opts, defaults)
  check_params(kind, params)
  opts = opts or {}
  if type(opts) ~= "table" then error(kind .. ": options table expected", 3) end
  local self = setmetatable({ kind = kind, params = params, state = {}, steps = 0 }, Optimizer)
  for k, v in pairs(defaults) do
    if type(v) == "boolean" then
      local o = opts[k]; if o == nil then o = v end
      if type(o) ~= "boolean" then error(kind .. ": option " .. k .. " must be a boolean", 3) end
      self[k] = o
    else
      self[k] = opt_number(kind, opts, k, v)
    end
  end
  for k in pairs(opts) do
    if defaults[k] == nil and k ~= "betas" then error(kind .. ": unknown option '" .. tostring(k) .. "'", 3) end
  end
  self.initial_lr = self.lr
  return self
end

-- SGD(params, { lr = 1e-3, momentum = 0, weight_decay = 0, nesterov = false })
function M.SGD(params, opts)
  local self = new("SGD", params, opts, { lr = 1e-3, momentum = 0, weight_decay = 0, nesterov = false })
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
    opts = opts or {}
    local betas = opts.betas or { 0.9, 0.999 }
    local self = new(kind, params, opts, { lr = 1e-3, eps = 1e-8, weight_decay = default_wd })
    self.beta1, self.beta2 = betas[1], betas[2]
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
  o = o or {}
  local a, b, n = o.start_factor or 1 / 3, o.end_factor or 1, o.total_iters or 5
  local base = opt.initial_lr
  return schedule(opt, function(e) return base * (a + (b - a) * math.min(e, n) / n) end)
end

-- StepLR(opt, { step_size = n, gamma = 0.1 })
function M.StepLR(opt, o)
  o = o or {}
  if type(o.step_size) ~= "number" then error("StepLR: option step_size (a number) is required", 2) end
  local base, g = opt.initial_lr, o.gamma or 0.1
  return schedule(opt, function(e) return base * g ^ (e // o.step_size) end)
end

-- CosineAnnealingLR(opt, { T_max = n, eta_min = 0 })
function M.CosineAnnealingLR(opt, o)
  o = o or {}
  if type(o.T_max) ~= "number" then error("CosineAnnealingLR: option T_max (a number) is required", 2) end
  local base, eta = opt.initial_lr, o.eta_min or 0
  return schedule(opt, function(e) return eta + (base - eta) * (1 + math.cos(math.pi * e / o.T_max)) / 2 end)
end

-- Scales the gradients of params in place so that their total 2-norm is at most max_norm;
-- returns the norm before clipping (torch.nn.utils.clip_grad_norm_).
function M.clip_grad_norm(params, max_norm)
  if type(max_norm) ~= "number" then error("clip_grad_norm: max_norm must be a number", 2) end
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
