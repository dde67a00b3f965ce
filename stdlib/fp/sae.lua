-- Sparse dictionaries (SAEs and transcoders): loading the formats people download, encode /
-- decode with SAELens's semantics, and splicing into a model at a hook point with SAELens's
-- sub-hook points (`<hook>.hook_sae_acts_post`, ...), so run_with_cache, run_with_hooks and
-- autograd work on features. The numbers are fp tensor ops (Swift kernels, taped when a
-- gradient is wanted); this file only arranges them.
--
-- local sae = fp.load_sae("path/to/folder")          -- cfg.json + sae_weights.safetensors, ...
-- local f = sae:encode(x); local x_hat = sae:decode(f)
-- model:add_sae(sae, { use_error_term = true })
-- local logits, cache = model:run_with_cache(toks)  -- cache["blocks.6.hook_resid_post.hook_sae_acts_post"]
local fp = require "fp"
local raise = require("fp.errors").raise
local json = require "fp.json"

local M = {}
local SAE = {}
SAE.__index = SAE
SAE.__name = "fp.SAE"
M.SAE = SAE

-- The names of SAELens's hook points on a spliced dictionary, in the order they fire.
M.hook_point_names = { "hook_sae_input", "hook_sae_acts_pre", "hook_sae_acts_post",
  "hook_sae_recons", "hook_sae_error", "hook_sae_output" }

---------------------------------------------------------------------------------------------
-- options

local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- Rejects an options table with a key that is not in `allowed` (naming the nearest valid one).
function M.check_options(fn, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then raise(fn .. ": options must be a table, got " .. type(opts)) end
  for k in pairs(opts) do
    if type(k) ~= "string" or not allowed[k] then
      local best, bestd = nil, math.huge
      if type(k) == "string" then
        for name in pairs(allowed) do
          local d = distance(k, name)
          if d < bestd or (d == bestd and name < best) then best, bestd = name, d end
        end
      end
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      table.sort(names)
      raise(fn .. ": unknown option '" .. tostring(k) .. "'" .. (best and (" (did you mean '" .. best .. "'?)") or "")
        .. "; valid options: " .. table.concat(names, ", "))
    end
  end
  return opts
end
local check_options = M.check_options

---------------------------------------------------------------------------------------------
-- loading

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close(); return true end
  return false
end

local function read_json(path)
  local s, err = read_file(path)
  if not s then raise("load_sae: cannot read " .. path .. " (" .. tostring(err) .. ")") end
  local ok, v = pcall(json.decode, s)
  if not ok then raise("load_sae: " .. path .. " is not valid JSON: " .. tostring(v)) end
  if type(v) ~= "table" then raise("load_sae: " .. path .. " must hold a JSON object") end
  return v
end

local function want(path, cond, msg)
  if not cond then raise("load_sae: " .. path .. ": " .. msg) end
end

local function is_null(v) return v == nil or v == json.null end

-- the value of key in t or nil (JSON null is nil)
local function get(t, key)
  if type(t) ~= "table" then return nil end
  local v = t[key]
  if is_null(v) then return nil end
  return v
end

local architectures = {
  standard = "standard", gated = "gated", topk = "topk", jumprelu = "jumprelu",
  transcoder = "standard", skip_transcoder = "standard",
  jumprelu_transcoder = "jumprelu", jumprelu_skip_transcoder = "jumprelu",
}
local normalisations = { none = true, expected_average_only_in = true, constant_norm_rescale = true, layer_norm = true }

-- Checks a weight: present, float, the given shape.
local function weight(path, w, name, shape)
  local t = w[name]
  want(path, t ~= nil, "no tensor '" .. name .. "'")
  want(path, fp.is_tensor(t) and t.dtype == "float32", "'" .. name .. "' must be a float tensor")
  local s = t.shape
  local ok = #s == #shape
  for i = 1, #shape do ok = ok and s[i] == shape[i] end
  if not ok then
    raise("load_sae: " .. path .. ": '" .. name .. "' has shape [" .. table.concat(s, ", ") .. "], expected ["
      .. table.concat(shape, ", ") .. "]")
  end
  return t
end

local function positive_int(path, v, what)
  want(path, math.type(v) == "integer" and v > 0, what .. " must be a positive integer, got " .. tostring(v))
  return v
end

local function new_sae(fields)
  return setmetatable(fields, SAE)
end

-- SAELens 5 and 6: cfg.json (+ metadata in 6) and sae_weights.safetensors.
local function load_saelens(dir)
  local cfg_path = dir .. "/cfg.json"
  local cfg = read_json(cfg_path)
  local meta = get(cfg, "metadata") or {}
  local arch = get(cfg, "architecture") or "standard"
  -- SAELens 5 configs: topk as an activation function, normalisation as a boolean
  if get(cfg, "activation_fn") == "topk" or get(cfg, "activation_fn_str") == "topk" then
    arch = "topk"
  end
  want(cfg_path, architectures[arch], "architecture '" .. tostring(arch) .. "' is not supported (standard, gated, topk, "
    .. "jumprelu, transcoder, skip_transcoder, jumprelu_transcoder, jumprelu_skip_transcoder)")
  local norm = get(cfg, "normalize_activations")
  if norm == true then norm = "expected_average_only_in" elseif norm == false or norm == nil then norm = "none" end
  want(cfg_path, normalisations[norm], "normalize_activations '" .. tostring(norm) .. "' is not supported (none, "
    .. "expected_average_only_in, constant_norm_rescale, layer_norm)")
  local d_in = positive_int(cfg_path, get(cfg, "d_in"), "d_in")
  local d_sae = positive_int(cfg_path, get(cfg, "d_sae"), "d_sae")
  local transcoder = arch:find("transcoder", 1, true) ~= nil
  local d_out = transcoder and positive_int(cfg_path, get(cfg, "d_out") or d_in, "d_out") or d_in
  local hook = get(meta, "hook_name") or get(cfg, "hook_name") or get(cfg, "hook_point")
  want(cfg_path, type(hook) == "string", "no hook_name (metadata.hook_name in SAELens 6, hook_name in 5)")
  local hook_out = get(meta, "hook_name_out") or get(cfg, "hook_name_out")
  local k = get(cfg, "k") or get(get(cfg, "activation_fn_kwargs"), "k")
  if arch == "topk" then k = positive_int(cfg_path, k, "k") end
  local reshape = get(cfg, "reshape_activations")
  if reshape == nil then reshape = hook:find("hook_z", 1, true) and "hook_z" or "none" end
  want(cfg_path, reshape == "none" or reshape == "hook_z", "reshape_activations must be none or hook_z")
  local apply_b_dec = get(cfg, "apply_b_dec_to_input")
  if apply_b_dec == nil then apply_b_dec = not transcoder end
  local wpath = dir .. "/sae_weights.safetensors"
  want(wpath, exists(wpath), "not found")
  local w = fp.load_tensors(wpath)
  -- JumpReLU SAEs saved with log_threshold (SAELens's process_state_dict_for_loading)
  if w.log_threshold and not w.threshold then w.threshold = w.log_threshold:exp() end
  local s = {
    format = "saelens", architecture = arch, kind = architectures[arch], transcoder = transcoder,
    d_in = d_in, d_sae = d_sae, d_out = d_out, hook_name = hook, hook_name_out = hook_out,
    model_name = get(meta, "model_name") or get(cfg, "model_name"), k = k,
    rescale_acts_by_decoder_norm = get(cfg, "rescale_acts_by_decoder_norm") == true,
    normalize_activations = norm, reshape_activations = transcoder and "none" or reshape,
    apply_b_dec_to_input = (not transcoder) and apply_b_dec == true, cfg = cfg, path = dir,
    W_enc = weight(wpath, w, "W_enc", { d_in, d_sae }),
    W_dec = weight(wpath, w, "W_dec", { d_sae, d_out }),
    b_dec = weight(wpath, w, "b_dec", { d_out }),
  }
  if arch == "gated" then
    s.b_gate = weight(wpath, w, "b_gate", { d_sae })
    s.b_mag = weight(wpath, w, "b_mag", { d_sae })
    s.r_mag = weight(wpath, w, "r_mag", { d_sae })
  else
    s.b_enc = weight(wpath, w, "b_enc", { d_sae })
  end
  if s.kind == "jumprelu" then s.threshold = weight(wpath, w, "threshold", { d_sae }) end
  if arch:find("skip", 1, true) then s.W_skip = weight(wpath, w, "W_skip", { d_out, d_in }) end
  return new_sae(s)
end

-- sparsify names a dictionary's folder after the Hugging Face module whose output it reads.
local function sparsify_hook(folder, transcode)
  local L = folder:match("^layers%.(%d+)$") or folder:match("^model%.layers%.(%d+)$")
  if L and not transcode then return "blocks." .. L .. ".hook_resid_post" end
  L = folder:match("^layers%.(%d+)%.mlp$") or folder:match("^model%.layers%.(%d+)%.mlp$")
  if L and not transcode then return "blocks." .. L .. ".hook_mlp_out" end
  return nil
end

-- EleutherAI sparsify: cfg.json (k, num_latents, transcode, skip_connection) + sae.safetensors
-- (encoder.weight [F, d], encoder.bias, W_dec [F, d], b_dec, W_skip). The hook comes from the
-- folder's name (layers.6 -> blocks.6.hook_resid_post, layers.6.mlp -> blocks.6.hook_mlp_out)
-- unless opts.hook_name says otherwise; transcoders need opts.hook_name and hook_name_out.
local function load_sparsify(dir, opts)
  local cfg_path = dir .. "/cfg.json"
  local cfg = read_json(cfg_path)
  local wpath = dir .. "/sae.safetensors"
  local w = fp.load_tensors(wpath)
  local enc = w["encoder.weight"]
  want(wpath, fp.is_tensor(enc) and enc:dim() == 2, "no 2-D 'encoder.weight'")
  local d_sae, d_in = enc.shape[1], enc.shape[2]
  local d_out = w.W_dec and w.W_dec.shape[2] or d_in
  local transcode = get(cfg, "transcode") == true
  local s = {
    format = "sparsify", architecture = "topk", kind = "topk", transcoder = transcode, sparsify_relu = true,
    d_in = d_in, d_sae = d_sae, d_out = d_out, k = positive_int(cfg_path, get(cfg, "k"), "k"),
    hook_name = opts.hook_name or sparsify_hook(dir:match("([^/]+)/*$"), transcode), hook_name_out = opts.hook_name_out,
    normalize_activations = "none", reshape_activations = "none", apply_b_dec_to_input = not transcode,
    cfg = cfg, path = dir,
    W_enc = enc:T():contiguous(), b_enc = weight(wpath, w, "encoder.bias", { d_sae }),
    W_dec = weight(wpath, w, "W_dec", { d_sae, d_out }), b_dec = weight(wpath, w, "b_dec", { d_out }),
  }
  if w.W_skip then s.W_skip = weight(wpath, w, "W_skip", { d_out, d_in }) end
  return new_sae(s)
end

-- Gemma Scope: params.npz (W_enc, W_dec, b_enc, b_dec, threshold); Gemma Scope 2:
-- params.safetensors with lowercase names (w_enc, w_dec, ...) and an optional affine skip.
-- JumpReLU; the hook comes from opts.hook_name (the releases name it in their folder layout).
local function load_gemma_scope(dir, file, opts)
  local w = fp.load_tensors(dir .. "/" .. file)
  local function pick(upper, lower) return w[upper] or w[lower] end
  local W_enc = pick("W_enc", "w_enc")
  want(dir .. "/" .. file, fp.is_tensor(W_enc) and W_enc:dim() == 2, "no 2-D W_enc / w_enc")
  local d_in, d_sae = W_enc.shape[1], W_enc.shape[2]
  local W_dec = pick("W_dec", "w_dec")
  want(dir .. "/" .. file, fp.is_tensor(W_dec) and W_dec:dim() == 2 and W_dec.shape[1] == d_sae, "W_dec / w_dec must be [d_sae, d_out]")
  local d_out = W_dec.shape[2]
  local skip = pick("affine_skip_connection", "W_skip")
  local s = {
    format = file == "params.npz" and "gemma_scope" or "gemma_scope_2", architecture = "jumprelu", kind = "jumprelu",
    d_in = d_in, d_sae = d_sae, d_out = d_out, hook_name = opts.hook_name, hook_name_out = opts.hook_name_out,
    transcoder = d_out ~= d_in or opts.hook_name_out ~= nil, normalize_activations = "none", reshape_activations = "none",
    apply_b_dec_to_input = false, path = dir,
    W_enc = W_enc, W_dec = W_dec, b_enc = pick("b_enc", "b_enc"), b_dec = pick("b_dec", "b_dec"),
    threshold = pick("threshold", "threshold"),
  }
  for _, n in ipairs({ "b_enc", "b_dec", "threshold" }) do
    want(dir .. "/" .. file, fp.is_tensor(s[n]), "no '" .. n .. "'")
  end
  if skip then s.W_skip = skip:T():contiguous() end   -- stored [d_in, d_out]: x @ skip
  return new_sae(s)
end

-- dictionary_learning: ae.pt (torch.save of the state dict, read by fp's restricted checkpoint
-- reader: tensors only, nothing unpickled) + config.json ({"trainer": {dict_class, k, layer,
-- submodule_name, lm_name, ...}}). Layouts: AutoEncoder (encoder.weight [F, d], encoder.bias,
-- decoder.weight [d, F], bias), GatedAutoEncoder (+ gate_bias, mag_bias, r_mag, decoder_bias),
-- JumpReluAutoEncoder (W_enc, b_enc, W_dec, b_dec, threshold), AutoEncoderTopK and
-- BatchTopKSAE (encoder.*, decoder.weight, b_dec, k, threshold; BatchTopK encodes with its
-- threshold, i.e. as a JumpReLU).
local dl_hooks = { resid_post = "hook_resid_post", resid_pre = "hook_resid_pre", mlp_out = "hook_mlp_out",
  mlp = "hook_mlp_out", attn_out = "hook_attn_out", attn = "hook_attn_out" }

local function dl_hook(trainer)
  local layer, name = get(trainer, "layer"), get(trainer, "submodule_name")
  if math.type(layer) ~= "integer" or type(name) ~= "string" then return nil end
  for _, key in ipairs({ "resid_post", "resid_pre", "mlp_out", "attn_out", "mlp", "attn" }) do
    if name:find(key, 1, true) then return "blocks." .. layer .. "." .. dl_hooks[key] end
  end
  return nil
end

local function load_dictionary_learning(dir, opts)
  local wpath = dir .. "/ae.pt"
  local w = fp.load_tensors(wpath)
  local cfg_path = dir .. "/config.json"
  local cfg = exists(cfg_path) and read_json(cfg_path) or {}
  local trainer = get(cfg, "trainer") or {}
  local class = get(trainer, "dict_class")
  local function T(name, shape) return weight(wpath, w, name, shape):T():contiguous() end
  local s = { format = "dictionary_learning", transcoder = false, normalize_activations = "none",
    reshape_activations = "none", apply_b_dec_to_input = true, cfg = cfg, path = dir,
    hook_name = opts.hook_name or dl_hook(trainer), model_name = get(trainer, "lm_name") }
  if w.W_enc then   -- JumpReluAutoEncoder
    want(wpath, w.W_enc:dim() == 2, "W_enc must be 2-D")
    local d_in, d_sae = w.W_enc.shape[1], w.W_enc.shape[2]
    s.architecture, s.kind, s.d_in, s.d_sae = "jumprelu", "jumprelu", d_in, d_sae
    s.W_enc, s.b_enc = weight(wpath, w, "W_enc", { d_in, d_sae }), weight(wpath, w, "b_enc", { d_sae })
    s.W_dec, s.b_dec = weight(wpath, w, "W_dec", { d_sae, d_in }), weight(wpath, w, "b_dec", { d_in })
    s.threshold = weight(wpath, w, "threshold", { d_sae })
    -- the class's default; its from_pretrained reads the flag only from SAELens configs
    local a = get(trainer, "apply_b_dec_to_input")
    s.apply_b_dec_to_input = a == true
  else
    local enc = w["encoder.weight"]
    want(wpath, fp.is_tensor(enc) and enc:dim() == 2, "no W_enc or 2-D encoder.weight: not a dictionary_learning layout")
    local d_sae, d_in = enc.shape[1], enc.shape[2]
    s.d_in, s.d_sae = d_in, d_sae
    s.W_enc = T("encoder.weight", { d_sae, d_in })
    s.W_dec = T("decoder.weight", { d_in, d_sae })
    if w.gate_bias then   -- GatedAutoEncoder
      s.architecture, s.kind = "gated", "standard"
      s.b_gate, s.b_mag = weight(wpath, w, "gate_bias", { d_sae }), weight(wpath, w, "mag_bias", { d_sae })
      s.r_mag, s.b_dec = weight(wpath, w, "r_mag", { d_sae }), weight(wpath, w, "decoder_bias", { d_in })
    elseif w.bias then    -- AutoEncoder
      s.architecture, s.kind = "standard", "standard"
      s.b_enc, s.b_dec = weight(wpath, w, "encoder.bias", { d_sae }), weight(wpath, w, "bias", { d_in })
    else                  -- AutoEncoderTopK / BatchTopKSAE
      s.b_enc, s.b_dec = weight(wpath, w, "encoder.bias", { d_sae }), weight(wpath, w, "b_dec", { d_in })
      want(wpath, fp.is_tensor(w.k) and w.k:numel() == 1, "no 'k' (a TopK / BatchTopK dictionary stores k)")
      want(cfg_path, class == "AutoEncoderTopK" or class == "BatchTopKSAE",
        "trainer.dict_class must say AutoEncoderTopK or BatchTopKSAE (they store the same tensors), got " .. tostring(class))
      if class == "AutoEncoderTopK" then
        s.architecture, s.kind, s.k = "topk", "topk", positive_int(wpath, math.tointeger(w.k:item()), "k")
      else
        -- BatchTopKSAE.encode keeps relu(pre) > threshold (a threshold < 0, never set, keeps all of relu(pre))
        local t = math.max(weight(wpath, w, "threshold", {}):item(), 0)
        s.architecture, s.kind, s.threshold = "jumprelu", "jumprelu", fp.full({ d_sae }, t)
        s.k = math.tointeger(w.k:item())
      end
    end
  end
  return new_sae(s)
end

-- fp.load_sae(folder[, opts]): the dictionary in `folder`, its format found from the files.
-- opts.hook_name / hook_name_out override (or, for Gemma Scope, give) the hook points.
function M.load(path, opts)
  opts = check_options("load_sae", opts, { hook_name = true, hook_name_out = true })
  if type(path) ~= "string" then raise("load_sae: expected a folder path, got " .. type(path)) end
  local dir = path:gsub("/+$", "")
  local s
  if exists(dir .. "/sae_weights.safetensors") or (exists(dir .. "/cfg.json") and not exists(dir .. "/sae.safetensors")) then
    s = load_saelens(dir)
  elseif exists(dir .. "/sae.safetensors") then
    s = load_sparsify(dir, opts)
  elseif exists(dir .. "/params.npz") then
    s = load_gemma_scope(dir, "params.npz", opts)
  elseif exists(dir .. "/params.safetensors") then
    s = load_gemma_scope(dir, "params.safetensors", opts)
  elseif exists(dir .. "/ae.pt") then
    s = load_dictionary_learning(dir, opts)
  else
    raise("load_sae: " .. dir .. " has no dictionary (cfg.json + sae_weights.safetensors, cfg.json + sae.safetensors, "
      .. "params.npz, params.safetensors or ae.pt)")
  end
  if opts.hook_name then s.hook_name = opts.hook_name end
  if opts.hook_name_out then s.hook_name_out = opts.hook_name_out end
  if type(s.hook_name) ~= "string" then raise("load_sae: " .. dir .. ": no hook name in the files; pass opts.hook_name") end
  if s.transcoder and not s.hook_name_out then s.hook_name_out = s.hook_name end
  return s
end

---------------------------------------------------------------------------------------------
-- encode / decode (SAELens's semantics; `point(name, t)` is the hook-point callback of a splice)

local function no_point(_, t) return t end

local function check_input(fn, s, x, d)
  if not fp.is_tensor(x) or x.dtype ~= "float32" then raise("sae:" .. fn .. ": expected a float tensor") end
  local n = x.shape[#x.shape]
  if s.reshape_activations == "hook_z" and fn ~= "decode" then
    if x:dim() < 2 or x.shape[#x.shape] * x.shape[#x.shape - 1] ~= d then
      raise("sae:" .. fn .. ": a hook_z dictionary takes [..., n_heads, d_head] with n_heads * d_head = " .. d)
    end
    return
  end
  if n ~= d then raise("sae:" .. fn .. ": last dim must be " .. d .. ", got " .. tostring(n)) end
end

-- The input as the encoder sees it: reshaped (hook_z), hooked, normalised, minus b_dec.
function SAE:process_input(x, point)
  point = point or no_point
  if self.reshape_activations == "hook_z" then
    local s = x.shape
    self._d_head = s[#s]
    local flat = {}
    for i = 1, #s - 2 do flat[i] = s[i] end
    flat[#flat + 1] = s[#s] * s[#s - 1]
    x = x:reshape(table.unpack(flat))
  end
  x = point("hook_sae_input", x)
  local norm = self.normalize_activations
  if norm == "constant_norm_rescale" then
    local coeff = (self.d_in ^ 0.5) / x:norm(2, -1, true)
    self._norm = { coeff = coeff }
    x = x * coeff
  elseif norm == "layer_norm" then
    local mu = x:mean(-1, true)
    x = x - mu
    local std = x:std(-1, true)
    self._norm = { mu = mu, std = std }
    x = x / (std + 1e-5)
  end
  if self.apply_b_dec_to_input then x = x - self.b_dec end
  return x
end

-- TopK: relu of the k largest pre-activations, zero elsewhere (ties at the k-th value keep
-- topk's choice). The mask carries no gradient; the kept values do.
local function topk_acts(pre, k)
  local _, idx = pre:topk(k)
  local mask = fp.zeros_like(pre):scatter(-1, idx, 1)
  return pre:relu() * mask
end

function SAE:encode(x, point)
  check_input("encode", self, x, self.d_in)
  point = point or no_point
  local sae_in = self:process_input(x, point)
  local kind = self.kind
  if self.architecture == "gated" then
    local active = (sae_in:matmul(self.W_enc) + self.b_gate):gt(0)
    local mag = point("hook_sae_acts_pre", sae_in:matmul(self.W_enc * self.r_mag:exp()) + self.b_mag)
    return point("hook_sae_acts_post", fp.where(active, mag:relu(), 0))
  end
  local pre = point("hook_sae_acts_pre", sae_in:matmul(self.W_enc) + self.b_enc)
  local post
  if kind == "topk" then
    if self.rescale_acts_by_decoder_norm then pre = pre * self.W_dec:norm(2, -1) end
    if self.sparsify_relu then pre = pre:relu() end
    post = topk_acts(pre, math.min(self.k, self.d_sae))
  elseif kind == "jumprelu" then
    post = fp.where(pre:gt(self.threshold), pre:relu(), 0)
  else
    post = pre:relu()
  end
  return point("hook_sae_acts_post", post)
end

function SAE:decode(f, point)
  if not fp.is_tensor(f) or f.dtype ~= "float32" or f.shape[#f.shape] ~= self.d_sae then
    raise("sae:decode: expected a float tensor whose last dim is d_sae = " .. self.d_sae)
  end
  point = point or no_point
  if self.kind == "topk" and self.rescale_acts_by_decoder_norm then f = f * (1 / self.W_dec:norm(2, -1)) end
  local out = point("hook_sae_recons", f:matmul(self.W_dec) + self.b_dec)
  if self.transcoder then return out end
  local n = self._norm
  if self.normalize_activations == "constant_norm_rescale" or self.normalize_activations == "layer_norm" then
    if not n then raise("sae:decode: this dictionary normalises its input (" .. self.normalize_activations
      .. "): decode the output of encode (or call forward)") end
    self._norm = nil
    if n.coeff then out = out / n.coeff else out = out * n.std + n.mu end
  end
  if self.reshape_activations == "hook_z" and self._d_head then
    local s = out.shape
    local shape = {}
    for i = 1, #s - 1 do shape[i] = s[i] end
    shape[#shape + 1] = s[#s] // self._d_head
    shape[#shape + 1] = self._d_head
    out = out:reshape(table.unpack(shape))
  end
  return out
end

-- decode(encode(x)), plus x @ W_skip^T for skip transcoders (SAELens's forward without error term).
function SAE:forward(x)
  local out = self:decode(self:encode(x))
  if self.W_skip then out = out + x:matmul(self.W_skip:T()) end
  return out
end

function SAE:__tostring()
  return string.format("SAE(%s, %s, d_in=%d, d_sae=%d%s, hook=%s%s)", self.format, self.architecture, self.d_in,
    self.d_sae, self.transcoder and (", d_out=" .. self.d_out) or "", self.hook_name,
    self.hook_name_out and self.hook_name_out ~= self.hook_name and (" -> " .. self.hook_name_out) or "")
end

-- The dictionary's tensors by SAELens name (what save writes).
function SAE:parameters()
  local out = {}
  for _, n in ipairs({ "W_enc", "W_dec", "b_enc", "b_dec", "threshold", "b_gate", "b_mag", "r_mag", "W_skip" }) do
    if self[n] then out[n] = self[n] end
  end
  return out
end

---------------------------------------------------------------------------------------------
-- splicing into a model

local Model = fp.Model
local spliced = setmetatable({}, { __mode = "k" })   -- model -> { list = {entry...}, run = ctx or nil }

local function state(model)
  local st = spliced[model]
  if not st then st = { list = {} }; spliced[model] = st end
  return st
end

local function is_sae(v) return getmetatable(v) == SAE end

-- The activation of one SAE hook point inside a spliced forward: the run's hooks on that
-- name fire (a returned tensor replaces it), then run_with_cache keeps a copy.
local function fire(model, full, t)
  local ctx = spliced[model] and spliced[model].run
  if not ctx then return t end
  for _, h in ipairs(ctx.hooks) do
    local hit = (type(h[1]) == "string" and h[1] == full) or (type(h[1]) == "function" and h[1](full))
    if hit then
      local r = h[2](t, { name = full })
      if r ~= nil then
        if not fp.is_tensor(r) then raise("hook '" .. full .. "' returned a " .. type(r) .. "; a hook returns nothing or a replacement tensor") end
        t = r
      end
    end
  end
  if ctx.cache and ctx.keep(full) then
    local kept = t
    if ctx.pos_slice and kept:dim() >= 2 then
      local a, b = ctx.pos_slice[1], ctx.pos_slice[2]
      kept = b and kept[{ {}, { a, b } }] or kept[{ {}, { a } }]
    end
    ctx.cache[full] = kept:clone()
  end
  return t
end

-- The hook body at the dictionary's output point (SAELens's _SAEWrapper.forward).
local function splice(model, e, original)
  local s = e.sae
  local x = e.captured or original
  e.captured = nil
  -- a dictionary trained on another model (a Gemma Scope SAE on a smaller Gemma, ...); values per
  -- position: hook_z's heads count together, as the dictionary reads them flattened
  local function width(t) local n = 1; for i = 3, #t.shape do n = n * t.shape[i] end; return n end
  if width(x) ~= s.d_in or width(original) ~= s.d_out then
    raise(string.format("add_sae: the dictionary at '%s' reads %d and writes %d values per position, but this model's "
      .. "activations there have %d and %d: it was trained on another model (or another hook point)",
      e.hook_out, s.d_in, s.d_out, width(x), width(original)))
  end
  local function point(name, t) return fire(model, e.hook_out .. "." .. name, t) end
  local out = s:decode(s:encode(x, point), point)
  if s.W_skip and e.skip then out = out + x:matmul(s.W_skip:T()) end
  if e.use_error_term then
    local err = fp.no_grad(function()
      local clean = s:decode(s:encode(x))
      if s.W_skip and e.skip then clean = clean + x:matmul(s.W_skip:T()) end
      return original:detach() - clean
    end)
    out = out + point("hook_sae_error", err)
  end
  return point("hook_sae_output", out)
end

local function hook_names(model)
  local names = {}
  for _, n in ipairs(model:hook_points()) do names[n] = true end
  return names
end

-- model:add_sae(sae, { use_error_term = false, skip = true }): splices the dictionary at its
-- hook (a transcoder reads its hook_name and replaces hook_name_out). Several dictionaries may
-- be spliced at once, one per output hook point. skip = false leaves out a skip transcoder's
-- W_skip term (SAELens's HookedSAETransformer leaves it out).
function Model:add_sae(sae, opts)
  opts = check_options("add_sae", opts, { use_error_term = true, skip = true })
  if not is_sae(sae) then raise("add_sae: expected a dictionary from fp.load_sae") end
  local names = hook_names(self)
  local hook_in, hook_out = sae.hook_name, sae.hook_name_out or sae.hook_name
  if not names[hook_in] then raise("add_sae: the model has no hook point '" .. hook_in .. "' (model:hook_points() lists them)") end
  if not names[hook_out] then raise("add_sae: the model has no hook point '" .. hook_out .. "'") end
  local st = state(self)
  for _, e in ipairs(st.list) do
    if e.hook_out == hook_out then raise("add_sae: a dictionary is already spliced at '" .. hook_out .. "' (model:remove_sae first)") end
  end
  local e = { sae = sae, hook_in = hook_in, hook_out = hook_out, use_error_term = opts.use_error_term == true,
    skip = opts.skip ~= false, handles = {} }
  if hook_in ~= hook_out then
    e.handles[#e.handles + 1] = self:add_hook(hook_in, function(act) e.captured = act:clone() end)
  end
  local model = self
  e.handles[#e.handles + 1] = self:add_hook(hook_out, function(act) return splice(model, e, act) end)
  st.list[#st.list + 1] = e
  return sae
end

-- model:remove_sae(sae or hook name); model:reset_saes(); model:saes() lists the spliced ones.
function Model:remove_sae(which)
  local st = spliced[self]
  if st then
    for i, e in ipairs(st.list) do
      if e.sae == which or e.hook_out == which or e.hook_in == which then
        for _, h in ipairs(e.handles) do self:remove_hook(h) end
        table.remove(st.list, i)
        return
      end
    end
  end
  raise("remove_sae: no such dictionary is spliced into this model")
end

function Model:reset_saes()
  local st = spliced[self]
  if not st then return end
  for _, e in ipairs(st.list) do
    for _, h in ipairs(e.handles) do self:remove_hook(h) end
  end
  st.list = {}
end

function Model:saes()
  local out = {}
  for _, e in ipairs(spliced[self] and spliced[self].list or {}) do out[#out + 1] = e.sae end
  return out
end

-- Is `name` one of the SAE hook points of a spliced dictionary?
local function sae_point(st, name)
  if type(name) ~= "string" then return false end
  for _, e in ipairs(st.list) do
    if name:sub(1, #e.hook_out + 1) == e.hook_out .. "." then
      local rest = name:sub(#e.hook_out + 2)
      for _, p in ipairs(M.hook_point_names) do if p == rest then return true end end
    end
  end
  return false
end

-- The run methods see the SAE hook points: hooks and names_filter entries naming them are
-- served here; everything else goes to the model's own method unchanged.
local base = { forward = Model.forward, run_with_hooks = Model.run_with_hooks, run_with_cache = Model.run_with_cache,
  hook_points = Model.hook_points, generate = Model.generate }

local function with_saes(self, method, input, opts)
  local st = spliced[self]
  if not st or #st.list == 0 or (opts ~= nil and type(opts) ~= "table") then return base[method](self, input, opts) end
  opts = opts or {}
  local ctx = { hooks = {} }
  local rest = {}
  for k, v in pairs(opts) do rest[k] = v end
  if type(opts.fwd_hooks) == "table" then
    local model_hooks = {}
    for i, h in ipairs(opts.fwd_hooks) do
      if type(h) ~= "table" then raise(method .. ": fwd_hooks entry " .. i .. " must be a {name, fn} pair") end
      if sae_point(st, h[1]) then
        if type(h[2]) ~= "function" then raise(method .. ": a hook must be a function(act, hook)") end
        ctx.hooks[#ctx.hooks + 1] = h
      else
        if type(h[1]) == "function" then ctx.hooks[#ctx.hooks + 1] = h end
        model_hooks[#model_hooks + 1] = h
      end
    end
    rest.fwd_hooks = model_hooks
  end
  if type(opts.bwd_hooks) == "table" then
    for _, h in ipairs(opts.bwd_hooks) do
      if type(h) == "table" and sae_point(st, h[1]) then
        raise(method .. ": backward hooks on SAE hook points are not supported; read the gradient of the "
          .. "feature activations with a forward hook that returns a tensor that requires grad")
      end
    end
  end
  if method == "run_with_cache" then
    ctx.cache = {}
    local f = opts.names_filter
    if f == nil then
      ctx.keep = function() return true end
    elseif type(f) == "string" then
      ctx.keep = function(n) return n == f end
      if sae_point(st, f) then rest.names_filter = {} end
    elseif type(f) == "table" then
      local set, model_names = {}, {}
      for _, n in ipairs(f) do
        set[n] = true
        if not sae_point(st, n) then model_names[#model_names + 1] = n end
      end
      ctx.keep = function(n) return set[n] == true end
      rest.names_filter = model_names
    elseif type(f) == "function" then
      ctx.keep = function(n) return f(n) and true or false end
      -- the model's own points are chosen here, so a filter that keeps only SAE points is not
      -- "a filter that keeps nothing" to the model's run_with_cache
      local model_names, any = {}, false
      for _, n in ipairs(Model.hook_points(self)) do
        if f(n) then
          any = true
          if not sae_point(st, n) then model_names[#model_names + 1] = n end
        end
      end
      if not any then
        raise(method .. ": names_filter: the function returned false for every hook point, so nothing would be cached (model:hook_points() lists them)")
      end
      rest.names_filter = model_names
    end
    local p = opts.pos_slice
    if math.type(p) == "integer" then ctx.pos_slice = { p, p ~= -1 and p + 1 or nil }
    elseif type(p) == "table" then ctx.pos_slice = { p[1], p[2] } end
  end
  st.run = ctx
  local results = table.pack(pcall(base[method], self, input, rest))
  st.run = nil
  if not results[1] then error(results[2], 0) end
  if method == "run_with_cache" then
    local cache = results[results.n]
    for name, t in pairs(ctx.cache) do rawset(cache, name, t) end
  end
  return table.unpack(results, 2, results.n)
end

function Model:run_with_cache(input, opts) return with_saes(self, "run_with_cache", input, opts) end
function Model:run_with_hooks(input, opts) return with_saes(self, "run_with_hooks", input, opts) end

-- hook_points() also lists the spliced dictionaries' points.
function Model:hook_points()
  local names = base.hook_points(self)
  local st = spliced[self]
  if st then
    for _, e in ipairs(st.list) do
      for _, p in ipairs(M.hook_point_names) do
        if p ~= "hook_sae_error" or e.use_error_term then names[#names + 1] = e.hook_out .. "." .. p end
      end
    end
  end
  return names
end

-- Runs model[method](input, rest) with the dictionaries spliced for that run only (removed
-- again also when the run fails); opts as the method's, plus use_error_term.
local function with_saes_for_one_run(self, method, fname, input, saes, opts)
  if is_sae(saes) then saes = { saes } end
  if type(saes) ~= "table" then raise(fname .. ": expected a dictionary or a list of them") end
  opts = opts or {}
  local rest, use_err = {}, opts.use_error_term
  for k, v in pairs(opts) do if k ~= "use_error_term" then rest[k] = v end end
  local added = {}
  local ok, a, b = pcall(function()
    for _, s in ipairs(saes) do self:add_sae(s, { use_error_term = use_err }); added[#added + 1] = s end
    return self[method](self, input, rest)
  end)
  for _, s in ipairs(added) do self:remove_sae(s) end
  if not ok then error(a, 0) end
  return a, b
end

-- model:run_with_saes(input, saes, opts) and model:run_with_cache_with_saes(input, saes, opts):
-- SAELens's names; opts as run_with_hooks / run_with_cache, plus use_error_term.
function Model:run_with_saes(input, saes, opts)
  return with_saes_for_one_run(self, "run_with_hooks", "run_with_saes", input, saes, opts)
end

function Model:run_with_cache_with_saes(input, saes, opts)
  return with_saes_for_one_run(self, "run_with_cache", "run_with_cache_with_saes", input, saes, opts)
end

-- feature_acts, attribution, set_features_hook, steer, logit_effects, activation_stats,
-- density_histogram, dashboard (stdlib/fp/sae_analysis.lua)
for k, v in pairs(require "fp.sae_analysis") do M[k] = v end
-- default_corpus, read_corpus, pack_tokens, activation_batches (stdlib/fp/sae_data.lua)
for k, v in pairs(require "fp.sae_data") do M[k] = v end
-- train, save, evaluate, from_weights (stdlib/fp/sae_train.lua)
for k, v in pairs(require "fp.sae_train") do M[k] = v end

return M
