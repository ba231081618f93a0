-- tycho.losses -- ty.losses (loss functions), and the normalisation functions
-- ty.layer_norm, ty.rms_norm, ty.group_norm, ty.batch_norm, ty.instance_norm
-- written over the fused primitive ty.normalize (lua/ops_nn.c).
--
-- Conventions: PyTorch's semantics and layouts (class axis 2 for (N, C, ...)
-- inputs), class labels 1..C, an options table last, reduction
-- 'none' | 'mean' | 'sum' (default 'mean'). Nothing is evaluated: every loss
-- is a lazy array, differentiable by ty.grad.
local ty = require "tycho"

local M = ty.losses or {}
ty.losses = M
M.__doc = "ty.losses: loss functions (reduction 'none' | 'mean' | 'sum', default 'mean')"

local fmt = string.format

local function document(fn, doc)
   ty.__doc[fn] = doc
end

local function shape_str(x)
   if not ty.is_array(x) then return type(x) end
   if #x.shape == 1 then return "(" .. x.shape[1] .. ",)" end
   return "(" .. table.concat(x.shape, ",") .. ")"
end

-- options that must be Lua numbers when given
local NUMERIC_OPTS = {eps = true, margin = true, p = true, momentum = true, beta = true,
                      delta = true, smooth = true, gamma = true, label_smoothing = true}

local function check_opts(fname, opts, allowed, lvl)
   lvl = lvl or 3
   if opts == nil then return {} end
   if type(opts) ~= "table" or ty.is_array(opts) then
      error(fmt("[%s] options must be a table, got %s", fname, type(opts)), lvl)
   end
   local ok = {}
   for w in allowed:gmatch("%S+") do ok[w] = true end
   for k in pairs(opts) do
      if not ok[k] then
         error(fmt("[%s] unknown option '%s' (expected %s)", fname, tostring(k),
            (allowed:gsub(" ", ", "))), lvl)
      end
      if NUMERIC_OPTS[k] and type(opts[k]) ~= "number" then
         error(fmt("[%s] option '%s' must be a number, got %s", fname, k, type(opts[k])), lvl)
      end
   end
   if opts.eps ~= nil and opts.eps < 0 then
      error(fmt("[%s] eps must be non-negative, got %s", fname, tostring(opts.eps)), lvl)
   end
   return opts
end

local function as_array(fname, x, what, like, lvl)
   if ty.is_array(x) then return x end
   if type(x) == "number" or type(x) == "table" then
      local ok, a = pcall(ty.array, x)
      if ok then
         if like and ty.is_array(like) and a.dtype ~= like.dtype and
            (a.dtype == "float32" or a.dtype == "float64") then
            a = a:astype(like.dtype)
         end
         return a
      end
   end
   error(fmt("[%s] %s must be an array, got %s", fname, what, type(x)), lvl or 3)
end

local function is_float(x) return x.dtype:match("^b?float") ~= nil end

local function same_shape(a, b)
   if #a.shape ~= #b.shape then return false end
   for i = 1, #a.shape do if a.shape[i] ~= b.shape[i] then return false end end
   return true
end

local function check_same_shape(fname, a, b, an, bn, lvl)
   if not same_shape(a, b) then
      error(fmt("[%s] %s %s and %s %s must have the same shape", fname, an or "input",
         shape_str(a), bn or "target", shape_str(b)), lvl or 3)
   end
end

-- The reduction of elementwise losses l.
local function reduce(fname, l, reduction)
   reduction = reduction or "mean"
   if reduction == "none" then return l end
   if reduction == "mean" then return ty.mean(l) end
   if reduction == "sum" then return ty.sum(l) end
   error(fmt("[%s] reduction must be 'none', 'mean' or 'sum', got %s", fname,
      tostring(reduction)), 3)
end

local function check_reduction(fname, reduction, extra, lvl)
   if reduction == nil or reduction == "none" or reduction == "mean" or reduction == "sum" or
      (extra and reduction == extra) then
      return reduction or "mean"
   end
   error(fmt("[%s] reduction must be 'none', 'mean' or 'sum'%s, got %s", fname,
      extra and (" or '" .. extra .. "'") or "", tostring(reduction)), lvl or 3)
end

-- An error unless x's shape is `want` (a list); what names x.
local function check_shape(fname, x, want, what, ctx, lvl)
   local ok = ty.is_array(x) and #x.shape == #want
   for i = 1, #want do ok = ok and x.shape[i] == want[i] end
   if not ok then
      local ws = #want == 1 and "(" .. want[1] .. ",)" or "(" .. table.concat(want, ",") .. ")"
      error(fmt("[%s] %s must be %s%s, got %s", fname, what, ws, ctx or "", shape_str(x)),
         lvl or 3)
   end
end

-- An error unless x broadcasts to `like`'s shape without growing it.
local function check_broadcasts_to(fname, x, like, what, likename, lvl)
   local ok = ty.is_array(x) and #x.shape <= #like.shape
   if ok then
      local off = #like.shape - #x.shape
      for i = 1, #x.shape do
         local d = x.shape[i]
         if d ~= 1 and d ~= like.shape[off + i] then ok = false end
      end
   end
   if not ok then
      error(fmt("[%s] %s %s must broadcast to %s %s", fname, what, shape_str(x),
         likename or "input", shape_str(like)), lvl or 3)
   end
end

-- Moves axis 2 (classes) of an (N, C, d1, ...) array last: (N, d1, ..., C).
local function classes_last(x)
   local nd = #x.shape
   if nd <= 2 then return x end
   local perm = {1}
   for i = 3, nd do perm[#perm + 1] = i end
   perm[#perm + 1] = 2
   return ty.transpose(x, perm)
end

-- (N, d1, ..., C) back to (N, C, d1, ...).
local function classes_second(x)
   local nd = #x.shape
   if nd <= 2 then return x end
   local perm = {1, nd}
   for i = 2, nd - 1 do perm[#perm + 1] = i end
   return ty.transpose(x, perm)
end

local function labels_of(fname, target)
   if not ty.is_array(target) then
      local ok, t = false, nil
      if type(target) == "number" or type(target) == "table" then
         ok, t = pcall(ty.array, target, {dtype = "int32"})
      end
      if not ok then
         error(fmt("[%s] target must be an array of class labels, got %s", fname,
            type(target)), 3)
      end
      target = t
   end
   if is_float(target) then
      -- float labels must hold integers (checked when the target is data, not
      -- a lazy graph, to keep losses lazy)
      if ty.node(target) == nil and target.size > 0 and
         ty.any(ty.ne(target, ty.floor(target))):item() then
         error(fmt("[%s] class labels must be integers, got a %s target %s with fractional " ..
            "values (probability targets must have the input's shape)", fname, target.dtype,
            shape_str(target)), 3)
      end
      target = target:astype("int32")
   elseif target.dtype == "bool" then
      target = target:astype("int32")
   end
   return target
end

local function check_ignore_index(fname, ii)
   if ii ~= nil and math.type(ii) ~= "integer" and
      not (type(ii) == "number" and ii % 1 == 0) then
      error(fmt("[%s] ignore_index must be an integer, got %s", fname, tostring(ii)), 3)
   end
end

-- ============================================================ normalisation

local function norm_shape_list(fname, ns)
   if type(ns) == "number" then return {ns} end
   if type(ns) == "table" and not ty.is_array(ns) then return ns end
   error(fmt("[%s] normalized_shape must be a number or a list of numbers, got %s", fname,
      type(ns)), 3)
end

local function trailing_axes(fname, x, ns)
   local nd, k = #x.shape, #ns
   local ok = k >= 1 and nd >= k
   for i = 1, k do
      if ok and x.shape[nd - k + i] ~= ns[i] then ok = false end
   end
   if not ok then
      error(fmt("[%s] expected input (...,%s), got %s", fname, table.concat(ns, ","),
         shape_str(x)), 3)
   end
   local axes = {}
   for i = nd - k + 1, nd do axes[#axes + 1] = i end
   return axes
end

-- weight/bias options must be arrays shaped `want` (normalized_shape or (C,)).
local function check_params(fname, opts, names, want, x)
   for _, nm in ipairs(names) do
      local p = opts[nm]
      -- a number or a 0-d array is a scalar weight/bias; other arrays must be `want`
      if p ~= nil and type(p) ~= "number" and not (ty.is_array(p) and #p.shape == 0) then
         if not ty.is_array(p) then
            error(fmt("[%s] %s must be an array or a number, got %s", fname, nm, type(p)), 3)
         end
         check_shape(fname, p, want, nm, " for input " .. shape_str(x), 4)
      end
   end
end

-- Shape (1, C, 1, ...) of a per-channel parameter for an (N, C, ...) input.
local function channel_view(p, nd)
   if p == nil then return nil end
   local s = {1, -1}
   for _ = 3, nd do s[#s + 1] = 1 end
   return ty.reshape(p, s)
end

local function affine(y, w, b)
   if w ~= nil then y = y * w end
   if b ~= nil then y = y + b end
   return y
end

function ty.layer_norm(x, normalized_shape, opts)
   local fname = "layer_norm"
   opts = check_opts(fname, opts, "weight bias eps")
   x = as_array(fname, x, "x")
   local ns = norm_shape_list(fname, normalized_shape)
   local axes = trailing_axes(fname, x, ns)
   check_params(fname, opts, {"weight", "bias"}, ns, x)
   return ty.normalize(x, axes, {eps = opts.eps or 1e-5, weight = opts.weight,
                                 bias = opts.bias})
end
document(ty.layer_norm, [[
ty.layer_norm(x, normalized_shape, {weight=, bias=, eps=1e-5}) -> array
  Layer normalisation over the trailing axes given by normalized_shape (a
  number or a list), biased variance, then y * weight + bias (shaped like
  normalized_shape). As torch.nn.functional.layer_norm.]])

function ty.rms_norm(x, normalized_shape, opts)
   local fname = "rms_norm"
   opts = check_opts(fname, opts, "weight eps")
   x = as_array(fname, x, "x")
   local ns = norm_shape_list(fname, normalized_shape)
   local axes = trailing_axes(fname, x, ns)
   check_params(fname, opts, {"weight"}, ns, x)
   return ty.normalize(x, axes, {eps = opts.eps or 1e-5, rms = true, weight = opts.weight})
end
document(ty.rms_norm, [[
ty.rms_norm(x, normalized_shape, {weight=, eps=1e-5}) -> array
  x / sqrt(mean(x^2) + eps) over the trailing axes of normalized_shape, times
  weight. (PyTorch's RMSNorm defaults eps to the dtype's machine epsilon; pass
  it explicitly to match.)]])

-- The shared checks of the channel-first norms: options, x an array of at least
-- min_nd axes (want: the layout in the error).
local function channel_input(fname, opts, allowed, x, min_nd, want)
   opts = check_opts(fname, opts, allowed, 4)
   x = as_array(fname, x, "x", nil, 4)
   local nd = #x.shape
   if nd < min_nd then
      error(fmt("[%s] expected input %s, got %s", fname, want, shape_str(x)), 3)
   end
   return opts, x, nd
end

-- The axes 3..nd of an (N, C, *spatial) array, after those of `axes` (a list, or none).
local function spatial_axes(nd, axes)
   axes = axes or {}
   for i = 3, nd do axes[#axes + 1] = i end
   return axes
end

function ty.group_norm(x, groups, opts)
   local fname = "group_norm"
   local nd
   opts, x, nd = channel_input(fname, opts, "weight bias eps", x, 2, "(N,C,...)")
   local c = x.shape[2]
   if type(groups) ~= "number" or groups < 1 or groups % 1 ~= 0 or c % groups ~= 0 then
      error(fmt("[%s] %s channels of input %s cannot be split into %s groups", fname, c,
         shape_str(x), tostring(groups)), 2)
   end
   local eps = opts.eps or 1e-5
   check_params(fname, opts, {"weight", "bias"}, {c}, x)
   local w, b = opts.weight, opts.bias
   -- (N, G, C/G, S): the per-channel weight and bias, as (G, C/G, 1),
   -- broadcast over it and go into the fused kernel
   local s = 1
   for i = 3, nd do s = s * x.shape[i] end
   local g = ty.reshape(x, {x.shape[1], groups, c // groups, s})
   local function gv(p)
      if p == nil or type(p) == "number" or #p.shape == 0 then return p end
      return ty.reshape(p, {groups, c // groups, 1})
   end
   return ty.reshape(ty.normalize(g, {3, 4}, {eps = eps, weight = gv(w), bias = gv(b)}),
      x.shape)
end
document(ty.group_norm, [[
ty.group_norm(x, groups, {weight=, bias=, eps=1e-5}) -> array
  Group normalisation of x (N, C, *): the C channels in `groups` groups, each
  normalised over its channels and all spatial positions; weight/bias (C).]])

function ty.instance_norm(x, opts)
   local fname = "instance_norm"
   local nd
   opts, x, nd = channel_input(fname, opts, "weight bias eps", x, 3, "(N,C,*spatial)")
   check_params(fname, opts, {"weight", "bias"}, {x.shape[2]}, x)
   return ty.normalize(x, spatial_axes(nd), {eps = opts.eps or 1e-5, weight = channel_view(opts.weight, nd),
                                 bias = channel_view(opts.bias, nd)})
end
document(ty.instance_norm, [[
ty.instance_norm(x, {weight=, bias=, eps=1e-5}) -> array
  Instance normalisation of x (N, C, *spatial): each (sample, channel) over its
  spatial positions; weight/bias (C).]])

function ty.batch_norm(x, running_mean, running_var, opts)
   local fname = "batch_norm"
   local nd
   opts, x, nd = channel_input(fname, opts, "weight bias training momentum eps", x, 2,
      "(N,C,...)")
   local c = x.shape[2]
   for _, p in ipairs{{running_mean, "running_mean"}, {running_var, "running_var"},
                      {opts.weight, "weight"}, {opts.bias, "bias"}} do
      if p[1] ~= nil and (not ty.is_array(p[1]) or #p[1].shape ~= 1 or p[1].shape[1] ~= c) then
         error(fmt("[%s] %s must be (%d,) for input %s, got %s", fname, p[2], c, shape_str(x),
            shape_str(p[1])), 2)
      end
   end
   local eps = opts.eps or 1e-5
   local training = opts.training
   if training == nil then training = running_mean == nil end
   local w, b = channel_view(opts.weight, nd), channel_view(opts.bias, nd)
   if not training then
      if running_mean == nil or running_var == nil then
         error(fmt("[%s] running_mean and running_var are required when training=false",
            fname), 2)
      end
      local y = (x - channel_view(running_mean, nd)) *
         ty.rsqrt(channel_view(running_var, nd) + eps)
      return affine(y, w, b)
   end
   local axes = spatial_axes(nd, {1})
   local y = ty.normalize(x, axes, {eps = eps, weight = w, bias = b})
   if running_mean == nil and running_var == nil then return y end
   local n = 1
   for _, a in ipairs(axes) do n = n * x.shape[a] end
   if n == 1 then
      error(fmt("[%s] expected more than 1 value per channel when training, got input %s",
         fname, shape_str(x)), 2)
   end
   local m = opts.momentum or 0.1
   local xs = ty.stop_gradient(x)
   local mean = ty.mean(xs, axes)
   local var = ty.var(xs, axes, {ddof = n > 1 and 1 or 0})
   local new_mean, new_var
   if running_mean ~= nil then new_mean = running_mean * (1 - m) + mean * m end
   if running_var ~= nil then new_var = running_var * (1 - m) + var * m end
   return y, new_mean, new_var
end
document(ty.batch_norm, [[
ty.batch_norm(x, running_mean, running_var, {weight=, bias=, training=, momentum=0.1, eps=1e-5})
    -> y, [new_running_mean, new_running_var]
  Batch normalisation of x (N, C, *) per channel. training (default: true when no
  running stats are given) uses the batch statistics (biased variance) and also
  returns the updated running stats as PyTorch computes them:
  (1 - momentum) * running + momentum * batch, with the unbiased batch variance
  (lazy arrays; nothing is updated in place). training=false uses the running
  stats. running_mean/var, weight, bias are (C) arrays.]])

-- ============================================================ classification

-- Per-row weights w[label] (0 on ignored rows) and the validity mask.
local function label_weights(weight, labels, ignore_index, like)
   local valid
   if ignore_index ~= nil then valid = ty.ne(labels, ignore_index) end
   local wy
   if weight ~= nil then
      local safe = labels
      if valid then safe = ty.where(valid, labels, 1) end
      wy = ty.take(weight, safe)
      if valid then wy = wy * valid:astype(wy.dtype) end
   elseif valid then
      wy = valid:astype(like.dtype)
   end
   return wy, valid
end

local function class_count_check(fname, x, y)
   -- x (N, C, d...) or (C); y (N, d...) or ()
   local nd = #x.shape
   local ok
   if nd == 1 then ok = #y.shape == 0
   else
      ok = #y.shape == nd - 1 and y.shape[1] == x.shape[1]
      for i = 3, nd do ok = ok and y.shape[i - 1] == x.shape[i] end
   end
   if not ok then
      error(fmt("[%s] expected target (%s) of class labels for input %s, got %s", fname,
         nd == 1 and "" or nd == 2 and (x.shape[1] .. ",") or
            table.concat({x.shape[1], table.unpack(x.shape, 3)}, ","),
         shape_str(x), shape_str(y)), 3)
   end
end

-- Reduction of per-row losses l with per-row weights wy (nil: all 1): 'mean'
-- divides by sum(wy) as PyTorch's weighted mean does.
local function weighted_reduce(fname, l, wy, reduction)
   if reduction == "none" then return l end
   if reduction == "sum" then return ty.sum(l) end
   if wy == nil then return ty.mean(l) end
   return ty.sum(l) / ty.sum(wy)
end

function M.cross_entropy(input, target, opts)
   local fname = "cross_entropy"
   opts = check_opts(fname, opts, "weight ignore_index reduction label_smoothing")
   local reduction = check_reduction(fname, opts.reduction)
   input = as_array(fname, input, "input")
   if #input.shape < 1 then
      error(fmt("[%s] input must have a class axis, got %s", fname, shape_str(input)), 2)
   end
   check_ignore_index(fname, opts.ignore_index)
   local eps = opts.label_smoothing or 0
   if type(eps) ~= "number" or eps < 0 or eps > 1 then
      error(fmt("[%s] label_smoothing must be in [0, 1], got %s", fname, tostring(eps)), 2)
   end
   local x = classes_last(input)
   local c = x.shape[#x.shape]
   if c == 0 then
      error(fmt("[%s] input %s has no classes", fname, shape_str(input)), 2)
   end
   local weight = opts.weight
   if weight ~= nil then
      weight = as_array(fname, weight, "weight", input)
      if #weight.shape ~= 1 or weight.shape[1] ~= c then
         error(fmt("[%s] weight must be (%d,) for input %s, got %s", fname, c,
            shape_str(input), shape_str(weight)), 2)
      end
   end
   if ty.is_array(target) and is_float(target) and same_shape(target, input) then
      -- probability targets
      if opts.ignore_index ~= nil then
         error(fmt("[%s] ignore_index needs class labels, not probability targets", fname), 2)
      end
      local t = classes_last(target)
      if eps > 0 then t = t * (1 - eps) + eps / c end
      local lp = ty.log_softmax(x, -1)
      local terms = lp * t
      if weight ~= nil then terms = terms * weight end
      local l = -ty.sum(terms, -1)
      return reduce(fname, l, reduction)
   end
   local y = labels_of(fname, target)
   class_count_check(fname, input, y)
   local l = ty.softmax_cross_entropy(x, y, {ignore_index = opts.ignore_index})
   local wy, valid = label_weights(weight, y, opts.ignore_index, x)
   if weight ~= nil then l = l * wy end
   local r = weighted_reduce(fname, l, wy, reduction)
   if eps == 0 then return r end
   local lp = ty.log_softmax(x, -1)
   local sm = weight ~= nil and -ty.sum(lp * weight, -1) or -ty.sum(lp, -1)
   if valid then sm = ty.where(valid, sm, 0) end
   local sr
   if reduction == "none" then sr = sm
   elseif reduction == "sum" then sr = ty.sum(sm)
   elseif wy ~= nil then sr = ty.sum(sm) / ty.sum(wy)
   else sr = ty.mean(sm) end
   return r * (1 - eps) + sr * (eps / c)
end
document(M.cross_entropy, [[
ty.losses.cross_entropy(input, target, {weight=, ignore_index=, reduction='mean', label_smoothing=0}) -> array
  Softmax cross-entropy as torch.nn.functional.cross_entropy. input: logits (N, C),
  (N, C, d1, ...) or (C). target: class labels 1..C shaped (N, d1, ...) (integer
  arrays, tables, or float arrays holding integers: fractional labels are an error),
  or class probabilities shaped
  like input (a float array). weight (C): per-class weights; 'mean' then divides
  by the sum of the target weights (PyTorch's weighted mean). ignore_index: rows
  with that label contribute nothing (labels only). label_smoothing mixes the
  target with the uniform distribution. Integer labels go through the fused
  ty.softmax_cross_entropy.]])

function M.nll(input, target, opts)
   local fname = "nll"
   opts = check_opts(fname, opts, "weight ignore_index reduction")
   local reduction = check_reduction(fname, opts.reduction)
   input = as_array(fname, input, "input")
   check_ignore_index(fname, opts.ignore_index)
   if #input.shape < 1 then
      error(fmt("[%s] input must have a class axis, got %s", fname, shape_str(input)), 2)
   end
   local x = classes_last(input)
   local c = x.shape[#x.shape]
   local y = labels_of(fname, target)
   class_count_check(fname, input, y)
   local weight = opts.weight and as_array(fname, opts.weight, "weight", input)
   if weight and (#weight.shape ~= 1 or weight.shape[1] ~= c) then
      error(fmt("[%s] weight must be (%d,) for input %s, got %s", fname, c, shape_str(input),
         shape_str(weight)), 2)
   end
   local wy, valid = label_weights(weight, y, opts.ignore_index, x)
   local safe = valid and ty.where(valid, y, 1) or y
   local picked = ty.squeeze(ty.take_along_axis(x, ty.expand_dims(safe, -1), -1), -1)
   local l = -picked
   if wy ~= nil then l = l * wy end
   return weighted_reduce(fname, l, wy, reduction)
end
document(M.nll, [[
ty.losses.nll(input, target, {weight=, ignore_index=, reduction='mean'}) -> array
  Negative log-likelihood of log-probabilities input (N, C) or (N, C, d1, ...) at
  class labels target (1..C), as torch.nn.functional.nll_loss (weighted mean
  with weight).]])

local function log_clamped(x)
   return ty.maximum(ty.log(x), -100)
end

function M.binary_cross_entropy(input, target, opts)
   local fname = "binary_cross_entropy"
   opts = check_opts(fname, opts, "weight pos_weight reduction logits")
   local reduction = check_reduction(fname, opts.reduction)
   input = as_array(fname, input, "input")
   target = as_array(fname, target, "target", input)
   check_same_shape(fname, input, target)
   if not is_float(target) then target = target:astype(input.dtype) end
   local pw = opts.pos_weight
   if pw ~= nil then
      pw = as_array(fname, pw, "pos_weight", input)
      check_broadcasts_to(fname, pw, input, "pos_weight")
   end
   if opts.weight ~= nil then
      opts.weight = as_array(fname, opts.weight, "weight", input)
      check_broadcasts_to(fname, opts.weight, input, "weight")
   end
   local l
   if opts.logits then
      -- (1 - t) x + (1 + (pw - 1) t) softplus(-x), stable for any x
      local sp = ty.softplus(-input)
      if pw ~= nil then
         l = (1 - target) * input + (1 + (pw - 1) * target) * sp
      else
         l = (1 - target) * input + sp
      end
   else
      local lp, lq = log_clamped(input), log_clamped(1 - input)
      if pw ~= nil then
         l = -(pw * target * lp + (1 - target) * lq)
      else
         l = -(target * lp + (1 - target) * lq)
      end
   end
   if opts.weight ~= nil then l = l * opts.weight end
   return reduce(fname, l, reduction)
end
document(M.binary_cross_entropy, [[
ty.losses.binary_cross_entropy(input, target, {weight=, pos_weight=, reduction='mean', logits=false}) -> array
  Binary cross-entropy of probabilities input (logs clamped at -100, as PyTorch)
  against targets in [0, 1] of the same shape; {logits=true} takes logits and is
  computed stably (torch's binary_cross_entropy_with_logits). weight multiplies
  each element (broadcast); pos_weight (broadcast over the last axis, e.g. per
  class) weights the positive term.]])

-- ============================================================ regression

local function elementwise(fname, input, target, opts, allowed)
   -- errors at level 4: the caller of the loss, through the loss function
   opts = check_opts(fname, opts, allowed or "reduction", 4)
   local reduction = check_reduction(fname, opts.reduction, nil, 4)
   input = as_array(fname, input, "input", nil, 4)
   target = as_array(fname, target, "target", input, 4)
   check_same_shape(fname, input, target, nil, nil, 4)
   return input, target, opts, reduction
end

function M.l1(input, target, opts)
   local x, t, _, r = elementwise("l1", input, target, opts)
   return reduce("l1", ty.abs(x - t), r)
end
document(M.l1, [[
ty.losses.l1(input, target, {reduction='mean'}) -> array
  |input - target| (shapes must match).]])

function M.mse(input, target, opts)
   local x, t, _, r = elementwise("mse", input, target, opts)
   local d = x - t
   return reduce("mse", d * d, r)
end
document(M.mse, [[
ty.losses.mse(input, target, {reduction='mean'}) -> array
  (input - target)^2 (shapes must match).]])

function M.smooth_l1(input, target, opts)
   local x, t, o, r = elementwise("smooth_l1", input, target, opts, "reduction beta")
   local beta = o.beta or 1.0
   if type(beta) ~= "number" or beta < 0 then
      error(fmt("[smooth_l1] beta must be a non-negative number, got %s", tostring(beta)), 2)
   end
   local ad = ty.abs(x - t)
   local l
   if beta == 0 then l = ad
   else l = ty.where(ty.lt(ad, beta), 0.5 * ad * ad / beta, ad - 0.5 * beta) end
   return reduce("smooth_l1", l, r)
end
document(M.smooth_l1, [[
ty.losses.smooth_l1(input, target, {beta=1, reduction='mean'}) -> array
  0.5 d^2 / beta where |d| < beta, else |d| - beta/2 (d = input - target), as
  torch.nn.functional.smooth_l1_loss.]])

function M.huber(input, target, opts)
   local x, t, o, r = elementwise("huber", input, target, opts, "reduction delta")
   local delta = o.delta or 1.0
   if type(delta) ~= "number" or delta <= 0 then
      error(fmt("[huber] delta must be a positive number, got %s", tostring(delta)), 2)
   end
   local ad = ty.abs(x - t)
   local l = ty.where(ty.le(ad, delta), 0.5 * ad * ad, delta * (ad - 0.5 * delta))
   return reduce("huber", l, r)
end
document(M.huber, [[
ty.losses.huber(input, target, {delta=1, reduction='mean'}) -> array
  0.5 d^2 where |d| <= delta, else delta (|d| - delta/2), as torch's huber_loss.]])

function M.log_cosh(input, target, opts)
   local x, t, _, r = elementwise("log_cosh", input, target, opts)
   local ad = ty.abs(x - t)
   -- log(cosh(d)) = |d| + log1p(exp(-2|d|)) - log 2, stable for large |d|
   local l = ad + ty.softplus(-2 * ad) - math.log(2)
   return reduce("log_cosh", l, r)
end
document(M.log_cosh, [[
ty.losses.log_cosh(input, target, {reduction='mean'}) -> array
  log(cosh(input - target)), computed stably (Keras' LogCosh).]])

function M.kl_div(input, target, opts)
   local fname = "kl_div"
   opts = check_opts(fname, opts, "reduction log_target")
   local reduction = check_reduction(fname, opts.reduction, "batchmean")
   input = as_array(fname, input, "input")
   target = as_array(fname, target, "target", input)
   check_same_shape(fname, input, target)
   local l
   if opts.log_target then
      l = ty.exp(target) * (target - input)
   else
      -- xlogy(t, t) - t * input, 0 where t == 0
      local pos = ty.gt(target, 0)
      local safe = ty.where(pos, target, 1)
      l = ty.where(pos, target * ty.log(safe), 0) - target * input
   end
   if reduction == "batchmean" then
      local n = #input.shape > 0 and input.shape[1] or 1
      return ty.sum(l) / n
   end
   return reduce(fname, l, reduction)
end
document(M.kl_div, [[
ty.losses.kl_div(input, target, {reduction='mean', log_target=false}) -> array
  KL divergence as torch's kl_div: input holds log-probabilities; the pointwise
  loss is target (log target - input) (0 where target is 0), or with log_target
  exp(target) (target - input). reduction also accepts 'batchmean' (sum / N,
  the mathematically correct KL); 'mean' averages over every element.]])

function M.gaussian_nll(input, target, var, opts)
   local fname = "gaussian_nll"
   opts = check_opts(fname, opts, "reduction full eps")
   local reduction = check_reduction(fname, opts.reduction)
   input = as_array(fname, input, "input")
   target = as_array(fname, target, "target", input)
   var = as_array(fname, var, "var", input)
   check_same_shape(fname, input, target)
   -- var: input's shape, or one fewer trailing axis / last axis 1 (homoscedastic)
   local ns = #input.shape
   local vs = var.shape
   local lead_ok = #vs >= ns - 1
   for i = 1, ns - 1 do lead_ok = lead_ok and vs[i] == input.shape[i] end
   if #vs == ns - 1 and lead_ok then
      var = ty.expand_dims(var, -1)
   elseif not (#vs == ns and lead_ok and (vs[ns] == input.shape[ns] or vs[ns] == 1)) then
      error(fmt("[%s] var %s must have input %s's shape, lack its last axis, or have it " ..
         "of size 1", fname, shape_str(var), shape_str(input)), 2)
   end
   local eps = opts.eps or 1e-6
   local v = ty.maximum(var, eps)
   local d = input - target
   local l = 0.5 * (ty.log(v) + d * d / v)
   if opts.full then l = l + 0.5 * math.log(2 * math.pi) end
   return reduce(fname, l, reduction)
end
document(M.gaussian_nll, [[
ty.losses.gaussian_nll(input, target, var, {full=false, eps=1e-6, reduction='mean'}) -> array
  Gaussian negative log-likelihood 0.5 (log(max(var, eps)) + (input - target)^2 /
  max(var, eps)) (+ 0.5 log(2 pi) with full), as torch's gaussian_nll_loss; var is
  shaped like input, or lacks its last axis (or has it of size 1).]])

-- ============================================================ margins, embeddings

function M.hinge(input, target, opts)
   local fname = "hinge"
   local x, y, o, r = elementwise(fname, input, target, opts, "reduction margin")
   local margin = o.margin or 1.0
   local pos = ty.eq(y, 1)
   local neg = ty.eq(y, -1)
   local l = ty.where(pos, x, 0) + ty.where(neg, ty.relu(margin - x), 0)
   return reduce(fname, l, r)
end
document(M.hinge, [[
ty.losses.hinge(input, target, {margin=1, reduction='mean'}) -> array
  Hinge embedding loss (torch.nn.HingeEmbeddingLoss): with labels target in
  {1, -1}, input where target = 1 and max(0, margin - input) where target = -1
  (input is typically a distance). For an SVM-style hinge max(0, 1 - y x) use
  ty.relu(1 - y * x).]])

local function pnorm(d, p, axis)
   if p == 2 then return ty.sqrt(ty.sum(d * d, axis)) end
   if p == 1 then return ty.sum(ty.abs(d), axis) end
   return ty.sum(ty.abs(d) ^ p, axis) ^ (1 / p)
end

function M.triplet(anchor, positive, negative, opts)
   local fname = "triplet"
   opts = check_opts(fname, opts, "margin p eps swap reduction")
   local reduction = check_reduction(fname, opts.reduction)
   anchor = as_array(fname, anchor, "anchor")
   positive = as_array(fname, positive, "positive", anchor)
   negative = as_array(fname, negative, "negative", anchor)
   check_same_shape(fname, anchor, positive, "anchor", "positive")
   check_same_shape(fname, anchor, negative, "anchor", "negative")
   local margin, p, eps = opts.margin or 1.0, opts.p or 2, opts.eps or 1e-6
   if p <= 0 then error(fmt("[%s] p must be positive, got %s", fname, tostring(p)), 2) end
   local dp = pnorm(anchor - positive + eps, p, -1)
   local dn = pnorm(anchor - negative + eps, p, -1)
   if opts.swap then dn = ty.minimum(dn, pnorm(positive - negative + eps, p, -1)) end
   return reduce(fname, ty.relu(dp - dn + margin), reduction)
end
document(M.triplet, [[
ty.losses.triplet(anchor, positive, negative, {margin=1, p=2, eps=1e-6, swap=false, reduction='mean'}) -> array
  max(d(a, p) - d(a, n) + margin, 0) with d the p-norm of (x - y + eps) over the
  last axis, as torch's triplet_margin_loss.]])

-- The shared checks of the pair losses (margin_ranking, cosine_similarity, contrastive):
-- options {margin, reduction}, input1 and input2 of one shape, and t (named tname).
local function pair_inputs(fname, opts, input1, input2, t, tname)
   opts = check_opts(fname, opts, "margin reduction", 4)
   local reduction = check_reduction(fname, opts.reduction, nil, 4)
   input1 = as_array(fname, input1, "input1", nil, 4)
   input2 = as_array(fname, input2, "input2", input1, 4)
   t = as_array(fname, t, tname, input1, 4)
   check_same_shape(fname, input1, input2, "input1", "input2", 4)
   return opts, reduction, input1, input2, t
end

-- An error unless input1 has an embedding (last) axis and t one value per pair.
local function check_per_pair(fname, input1, t, tname)
   if #input1.shape < 1 then
      error(fmt("[%s] inputs must have an embedding axis, got %s", fname, shape_str(input1)), 3)
   end
   check_shape(fname, t, {table.unpack(input1.shape, 1, #input1.shape - 1)}, tname,
      " (input1 " .. shape_str(input1) .. " without its last axis)", 4)
end

function M.margin_ranking(input1, input2, target, opts)
   local fname = "margin_ranking"
   local reduction
   opts, reduction, input1, input2, target =
      pair_inputs(fname, opts, input1, input2, target, "target")
   if #target.shape > 0 then check_same_shape(fname, input1, target, "input1", "target") end
   local l = ty.relu(-target * (input1 - input2) + (opts.margin or 0))
   return reduce(fname, l, reduction)
end
document(M.margin_ranking, [[
ty.losses.margin_ranking(input1, input2, target, {margin=0, reduction='mean'}) -> array
  max(0, -target (input1 - input2) + margin), target in {1, -1}.]])

function M.cosine_similarity(input1, input2, target, opts)
   local fname = "cosine_similarity"
   local reduction
   opts, reduction, input1, input2, target =
      pair_inputs(fname, opts, input1, input2, target, "target")
   check_per_pair(fname, input1, target, "target")
   local EPS = 1e-12
   local cos = ty.sum(input1 * input2, -1) /
      ty.sqrt((ty.sum(input1 * input1, -1) + EPS) * (ty.sum(input2 * input2, -1) + EPS))
   local l = ty.where(ty.eq(target, 1), 1 - cos, 0) +
      ty.where(ty.eq(target, -1), ty.relu(cos - (opts.margin or 0)), 0)
   return reduce(fname, l, reduction)
end
document(M.cosine_similarity, [[
ty.losses.cosine_similarity(input1, input2, target, {margin=0, reduction='mean'}) -> array
  Cosine embedding loss (torch.nn.CosineEmbeddingLoss): 1 - cos(x1, x2) where
  target = 1, max(0, cos(x1, x2) - margin) where target = -1; cos over the last axis.]])

-- ============================================================ the gaps

function M.focal(input, target, opts)
   local fname = "focal"
   opts = check_opts(fname, opts, "alpha gamma reduction")
   local reduction = check_reduction(fname, opts.reduction)
   input = as_array(fname, input, "input")
   local gamma = opts.gamma or 2.0
   if ty.is_array(target) and is_float(target) and same_shape(target, input) then
      -- binary, from logits (torchvision's sigmoid_focal_loss)
      local alpha = opts.alpha
      if alpha == nil then alpha = 0.25 end
      local p = ty.sigmoid(input)
      local ce = (1 - target) * input + ty.softplus(-input)
      local pt = p * target + (1 - p) * (1 - target)
      local l = ce * (1 - pt) ^ gamma
      if alpha >= 0 then l = (alpha * target + (1 - alpha) * (1 - target)) * l end
      return reduce(fname, l, reduction)
   end
   -- multi-class from logits (N, C, ...) and labels 1..C
   local x = classes_last(input)
   if #input.shape < 2 or input.shape[2] < 2 then
      error(fmt("[%s] multi-class focal loss needs input (N,C,...) with C >= 2, got %s " ..
         "(binary: pass a float target shaped like input)", fname, shape_str(input)), 2)
   end
   local y = labels_of(fname, target)
   class_count_check(fname, input, y)
   local logpt = -ty.softmax_cross_entropy(x, y)
   local pt = ty.exp(logpt)
   local l = -((1 - pt) ^ gamma) * logpt
   local alpha = opts.alpha
   if type(alpha) == "number" then
      l = l * alpha
   elseif alpha ~= nil then
      alpha = as_array(fname, alpha, "alpha", input)
      check_shape(fname, alpha, {x.shape[#x.shape]}, "alpha", " (one weight per class)")
      l = l * ty.take(alpha, y)
   end
   return reduce(fname, l, reduction)
end
document(M.focal, [[
ty.losses.focal(input, target, {alpha=, gamma=2, reduction='mean'}) -> array
  Focal loss (Lin et al. 2017) from logits. Binary when target is a float array
  shaped like input (targets in [0, 1]): torchvision's sigmoid_focal_loss,
  ce * (1 - p_t)^gamma * alpha_t with alpha=0.25 by default (alpha < 0: none).
  Multi-class when target holds labels 1..C for input (N, C, ...):
  -alpha_y (1 - p_y)^gamma log p_y with p = softmax over the class axis; alpha is
  nil (none), a number, or per-class weights (C).]])

function M.dice(input, target, opts)
   local fname = "dice"
   opts = check_opts(fname, opts, "smooth reduction logits")
   local reduction = check_reduction(fname, opts.reduction)
   input = as_array(fname, input, "input")
   local nd = #input.shape
   if nd < 2 then
      error(fmt("[%s] expected input (N,C,...), got %s", fname, shape_str(input)), 2)
   end
   local c = input.shape[2]
   local p = input
   if opts.logits then
      p = c == 1 and ty.sigmoid(input) or ty.softmax(input, 2)
   end
   local t
   if ty.is_array(target) and is_float(target) and same_shape(target, input) then
      t = target
   else
      local y = labels_of(fname, target)
      class_count_check(fname, input, y)
      t = classes_second(ty.one_hot(y, c, {dtype = input.dtype}))
   end
   local axes = spatial_axes(nd)
   local smooth = opts.smooth or 1.0
   local inter, denom
   if #axes > 0 then
      inter = ty.sum(p * t, axes)
      denom = ty.sum(p, axes) + ty.sum(t, axes)
   else
      inter, denom = p * t, p + t
   end
   local l = 1 - (2 * inter + smooth) / (denom + smooth)
   return reduce(fname, l, reduction)
end
document(M.dice, [[
ty.losses.dice(input, target, {smooth=1, logits=false, reduction='mean'}) -> array
  Soft multi-class Dice loss: per sample and class, 1 - (2 sum(p t) + smooth) /
  (sum(p) + sum(t) + smooth) over the spatial axes; 'none' gives (N, C).
  input (N, C, *spatial) holds probabilities (logits=true: softmax over C, or a
  sigmoid when C = 1); target holds labels 1..C shaped (N, *spatial) (one-hot
  encoded) or soft targets shaped like input.]])

function M.contrastive(input1, input2, label, opts)
   local fname = "contrastive"
   local reduction
   opts, reduction, input1, input2, label =
      pair_inputs(fname, opts, input1, input2, label, "label")
   check_per_pair(fname, input1, label, "label")
   if not is_float(label) then label = label:astype(input1.dtype) end
   local margin = opts.margin or 1.0
   local diff = input1 - input2
   local d2 = ty.sum(diff * diff, -1)
   local d = ty.sqrt(d2 + 1e-12)
   local l = label * d2 + (1 - label) * ty.relu(margin - d) ^ 2
   return reduce(fname, l, reduction)
end
document(M.contrastive, [[
ty.losses.contrastive(input1, input2, label, {margin=1, reduction='mean'}) -> array
  Contrastive loss (Hadsell et al. 2006) of embedding pairs (..., D):
  y d^2 + (1 - y) max(margin - d, 0)^2 with d the Euclidean distance over the last
  axis and label y = 1 for similar pairs, 0 for dissimilar ones.]])

function M.center(features, labels, centers, opts)
   local fname = "center"
   opts = check_opts(fname, opts, "reduction")
   local reduction = check_reduction(fname, opts.reduction)
   features = as_array(fname, features, "features")
   local y = labels_of(fname, labels)
   centers = as_array(fname, centers, "centers", features)
   if #features.shape ~= 2 or #centers.shape ~= 2 or centers.shape[2] ~= features.shape[2] or
      #y.shape ~= 1 or y.shape[1] ~= features.shape[1] then
      error(fmt("[%s] expected features (N,D), labels (N) and centers (C,D), got %s, %s, %s",
         fname, shape_str(features), shape_str(y), shape_str(centers)), 2)
   end
   local c = ty.take(centers, y, 1)
   local d = features - c
   return reduce(fname, ty.sum(d * d, -1), reduction)
end
document(M.center, [[
ty.losses.center(features, labels, centers, {reduction='mean'}) -> array
  Center loss (Wen et al. 2016): ||f_i - c_{y_i}||^2 per sample for features (N, D),
  labels 1..C (N) and centers (C, D); gradients flow to the features and to the
  centers. ty.losses.CenterLoss is the module holding learnable centers.]])

function M.wasserstein(a, b, opts)
   local fname = "wasserstein"
   opts = check_opts(fname, opts, "labels reduction")
   a = as_array(fname, a, "scores")
   if opts.labels then
      local reduction = check_reduction(fname, opts.reduction)
      local y = as_array(fname, b, "labels", a)
      check_same_shape(fname, a, y, "scores", "labels")
      if not is_float(y) then y = y:astype(a.dtype) end
      return reduce(fname, -(y * a), reduction)
   end
   if opts.reduction ~= nil and opts.reduction ~= "mean" then
      error(fmt("[%s] the critic loss is a difference of means (reduction 'mean'); use " ..
         "{labels=true} for other reductions", fname), 2)
   end
   if b == nil then return -ty.mean(a) end
   b = as_array(fname, b, "fake scores", a)
   return ty.mean(b) - ty.mean(a)
end
document(M.wasserstein, [[
ty.losses.wasserstein(real_scores, fake_scores) -> array
ty.losses.wasserstein(fake_scores) -> array
ty.losses.wasserstein(scores, labels, {labels=true, reduction='mean'}) -> array
  Wasserstein GAN losses (Arjovsky et al. 2017), all to be minimised. With two
  score arrays: the critic loss mean(fake) - mean(real). With one: the generator
  loss -mean(fake). With {labels=true}: -labels * scores with labels +1 for real
  and -1 for fake samples (so the mean is the critic loss for a balanced batch).]])

function M.perceptual(input, target, extractor, layers, opts)
   local fname = "perceptual"
   opts = check_opts(fname, opts, "weights distance reduction")
   local reduction = check_reduction(fname, opts.reduction)
   input = as_array(fname, input, "input")
   target = as_array(fname, target, "target", input)
   check_same_shape(fname, input, target)
   local dist = opts.distance or "mse"
   if dist ~= "mse" and dist ~= "l1" then
      error(fmt("[%s] distance must be 'mse' or 'l1', got %s", fname, tostring(dist)), 2)
   end
   if type(layers) ~= "table" or #layers == 0 then
      error(fmt("[%s] layers must be a non-empty list of module names or positions", fname), 2)
   end
   if opts.weights ~= nil and (type(opts.weights) ~= "table" or #opts.weights ~= #layers) then
      error(fmt("[%s] weights must be a list of %d numbers (one per layer), got %s", fname,
         #layers, type(opts.weights) == "table" and (#opts.weights .. " values") or
            type(opts.weights)), 2)
   end
   if type(extractor) ~= "table" or type(extractor.named_modules) ~= "function" then
      error(fmt("[%s] extractor must be an nn.Module", fname), 2)
   end
   local by_name = {}
   for _, nm in ipairs(extractor:named_modules()) do by_name[nm[1]] = nm[2] end
   local mods = {}
   for i, l in ipairs(layers) do
      local m = by_name[tostring(l)]
      if m == nil then
         error(fmt("[%s] extractor has no submodule '%s'", fname, tostring(l)), 2)
      end
      mods[i] = m
   end
   local function features(x)
      local got, hooks = {}, {}
      for i, m in ipairs(mods) do
         hooks[i] = m:register_forward_hook(function(_, _, out) got[i] = out end)
      end
      local ok, err = pcall(extractor, x)
      for _, h in ipairs(hooks) do h:remove() end
      if not ok then error(err, 0) end
      return got
   end
   local fi, ft = features(input), features(target)
   local total
   for i = 1, #mods do
      if fi[i] == nil then
         error(fmt("[%s] layer '%s' was not called by the extractor", fname, tostring(layers[i])), 2)
      end
      local d = fi[i] - ty.stop_gradient(ft[i])
      local e = dist == "l1" and ty.abs(d) or d * d
      local n = #e.shape
      local l
      if reduction == "none" then
         local axes = {}
         for a = 2, n do axes[#axes + 1] = a end
         l = #axes > 0 and ty.mean(e, axes) or e
      else
         l = reduce(fname, e, reduction)
      end
      local w = opts.weights and opts.weights[i] or 1
      l = l * w
      total = total and total + l or l
   end
   return total
end
document(M.perceptual, [[
ty.losses.perceptual(input, target, extractor, layers, {weights=, distance='mse', reduction='mean'}) -> array
  Perceptual (feature) loss: runs the nn.Module extractor on input and target and
  sums, over the named layers (dotted names as in extractor:named_modules(), or
  positions of a Sequential's children, e.g. {2, 4}), weights[i] times the mean
  squared (distance='l1': absolute) difference of the layer outputs, captured
  with forward hooks. Target features carry no gradient. 'none' gives one value
  per sample (means over the other axes).]])

-- ============================================================ CenterLoss module

local function make_center_module()
   local nn = ty.nn
   if not (nn and nn.Module and nn.Module.extend) then return end
   local CenterLoss = nn.Module:extend("CenterLoss")
   function CenterLoss:init(num_classes, feat_dim, opts)
      if type(num_classes) ~= "number" or type(feat_dim) ~= "number" then
         error("[CenterLoss] expected CenterLoss(num_classes, feat_dim), got " ..
            type(num_classes) .. ", " .. type(feat_dim), 3)
      end
      opts = check_opts("CenterLoss", opts, "reduction", 4)
      self.num_classes, self.feat_dim = num_classes, feat_dim
      self.reduction = check_reduction("CenterLoss", opts.reduction, nil, 4)
      self.centers = ty.random.normal({num_classes, feat_dim})
   end
   function CenterLoss:forward(features, labels)
      if #features.shape ~= 2 or features.shape[2] ~= self.feat_dim then
         error(fmt("[CenterLoss] expected features (N,%d), got %s", self.feat_dim,
            shape_str(features)), 3)
      end
      return M.center(features, labels, self.centers, {reduction = self.reduction})
   end
   M.CenterLoss = CenterLoss
   document(CenterLoss, [[
ty.losses.CenterLoss(num_classes, feat_dim, {reduction='mean'}) -> module
  An nn.Module with learnable centers (num_classes, feat_dim) (standard normal at
  construction, as the reference implementation); m(features, labels) returns
  ty.losses.center(features, labels, m.centers). Train the centers with the model's
  optimizer (they are a parameter) or a separate one.]])
end
make_center_module()

return M
