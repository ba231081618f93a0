-- tycho.nn_layers -- adds the structured layers to ty.nn: convolution
-- (Conv1d/2d/3d, ConvTranspose1d/2d, SeparableConv2d), pooling, normalisation
-- (BatchNorm, LayerNorm, RMSNorm, GroupNorm, InstanceNorm, AdaLayerNorm),
-- MultiHeadAttention (masks, causal, cross-attention, key/value cache),
-- Transformer encoder/decoder layers and stacks, and the recurrent layers
-- (RNN, LSTM, GRU and their cells).
--
-- Parameter names, layouts and default initialisations follow PyTorch, so a
-- state_dict moves both ways (load_weights(path, {from='torch'}); the packed
-- in_proj of MultiheadAttention is split by a from_torch hook). Construction
-- draws lazy random arrays and forward only builds graphs: nothing here
-- evaluates. Sequence layers are batch-first by default (batch_first=true),
-- unlike PyTorch.
local ty = require "tycho"
local nn = ty.nn

-- The Module base comes from tycho.nn; without it there is nothing to add.
if type(nn) ~= "table" or type(nn.Module) ~= "table" or not nn.Module.extend then
   return nn
end

local is_array = ty.is_array
local fmt = string.format
local sqrt = math.sqrt
local NEG_INF = -math.huge

local function doc(obj, text) ty.__doc[obj] = text end

-- Errors name the layer and are reported at the user's line (the first
-- caller outside tycho.nn / tycho.nn_layers), as in tycho.nn.
local user_error = nn._user_error
local function error(msg) return user_error(msg) end

------------------------------------------------------------------ helpers

-- "(32,28,28)".
local function shape_str(s)
   if is_array(s) then s = s.shape end
   return "(" .. table.concat(s, ",") .. ")"
end

local function check_array(name, x, what)
   if not is_array(x) then
      error(fmt("[%s] %s must be an array, got %s", name, what or "input", type(x)), 0)
   end
end

-- Raises "[name] expected input WANT, got (shape)".
local function bad_input(name, want, x, what)
   error(fmt("[%s] expected %s %s, got %s", name, what or "input", want, shape_str(x)), 0)
end

local function int_arg(name, v, what, min)
   if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) then
      error(fmt("[%s] %s must be an integer, got %s", name, what, tostring(v)), 0)
   end
   v = math.tointeger(v)
   if min and v < min then
      error(fmt("[%s] %s must be >= %d, got %d", name, what, min, v), 0)
   end
   return v
end

-- A number or a table of n numbers -> a table of n integers.
local function tuple(name, v, n, what, min)
   local t = {}
   if type(v) == "number" then
      for i = 1, n do t[i] = int_arg(name, v, what, min) end
   elseif type(v) == "table" and not is_array(v) and #v == n then
      for i = 1, n do t[i] = int_arg(name, v[i], what, min) end
   else
      error(fmt("[%s] %s must be a number or a table of %d numbers, got %s", name, what, n,
                type(v) == "table" and ("a table of " .. #v) or tostring(v)), 0)
   end
   return t
end

local function prod(t)
   local p = 1
   for _, v in ipairs(t) do p = p * v end
   return p
end

local function uniform(shape, bound)
   return ty.random.uniform(shape, {low = -bound, high = bound})
end

local function xavier_uniform(shape, fan_in, fan_out)
   return uniform(shape, sqrt(6 / (fan_in + fan_out)))
end

-- The options table (nil -> {}); with `allowed` (space-separated names) an
-- unknown key is an error naming the layer and the accepted options.
local function opts_of(name, opts, allowed)
   if opts == nil then return {} end
   if type(opts) ~= "table" or is_array(opts) then
      error(fmt("[%s] options must be a table, got %s", name, type(opts)), 0)
   end
   if allowed then
      local set = {}
      for w in allowed:gmatch("%S+") do set[w] = true end
      for k in pairs(opts) do
         if not set[k] then
            error(fmt("[%s] unknown option '%s' (expected %s)", name, tostring(k),
                      (allowed:gsub(" ", ", "))), 0)
         end
      end
   end
   return opts
end

local function default(v, d)
   if v == nil then return d end
   return v
end

-- Inverted dropout (scaled by 1/(1-p)) when training and p > 0.
local function dropout(x, p, training)
   if not training or p == nil or p <= 0 then return x end
   if p >= 1 then return x * 0 end
   local keep = ty.random.uniform(x.shape, {dtype = x.dtype, device = x.device}):ge(p)
   return ty.where(keep, x * (1 / (1 - p)), 0)
end

local function activation_fn(name, act)
   if type(act) == "function" then return act end
   if act == "relu" then return ty.relu end
   if act == "gelu" then return ty.gelu end
   if act == "gelu_tanh" then return function(x) return ty.gelu(x, {approximate = "tanh"}) end end
   if act == "tanh" then return ty.tanh end
   if act == "silu" then return ty.silu end
   error(fmt("[%s] activation must be 'relu', 'gelu', 'gelu_tanh', 'silu', 'tanh' or a function, got %s",
             name, tostring(act)), 0)
end

local function class(name, text)
   local C = nn.Module:extend(name)
   nn[name] = C
   doc(C, text)
   return C
end

local function any_ne(t, v)
   for _, x in ipairs(t) do if x ~= v then return true end end
   return false
end

local function join_list(t)
   local s = {}
   for i, v in ipairs(t) do s[i] = tostring(v) end
   if #s == 1 then return s[1] end
   return "(" .. table.concat(s, ", ") .. ")"
end

-------------------------------------------------------------- convolution

local SPATIAL = {[1] = "L", [2] = "H,W", [3] = "D,H,W"}

-- Checks a (N, C, *sp) input (or an unbatched (C, *sp) one).
local function check_channels(name, x, nsp, channels)
   check_array(name, x)
   local nd = #x.shape
   local ok = (nd == nsp + 2 and x.shape[2] == channels) or
      (nd == nsp + 1 and x.shape[1] == channels)
   if not ok then bad_input(name, fmt("(N,%d,%s)", channels, SPATIAL[nsp]), x) end
end

local function conv_class(nsp, transposed)
   local name = (transposed and "ConvTranspose" or "Conv") .. nsp .. "d"
   local fn_name = (transposed and "conv_transpose" or "conv") .. nsp .. "d"
   local sig = transposed and
      fmt("ty.nn.%s(in_channels, out_channels, kernel_size, [{stride=1, padding=0, output_padding=0, dilation=1, groups=1, bias=true}]) -> module", name) or
      fmt("ty.nn.%s(in_channels, out_channels, kernel_size, [{stride=1, padding=0|'same'|'valid', dilation=1, groups=1, bias=true, padding_mode='zeros'}]) -> module", name)
   local C = class(name, sig .. "\n" .. fmt([[
  %d-d %sconvolution over (N, C_in, %s) inputs (an unbatched (C_in, %s) input
  works too) as PyTorch's %s: weight %s, bias (out_channels).
  Sizes are numbers or tables of %d. Initialisation as PyTorch (uniform
  +-1/sqrt(fan_in)). Calls ty.%s.]], nsp, transposed and "transposed " or "", SPATIAL[nsp], SPATIAL[nsp],
      name, transposed and "(in_channels, out_channels/groups, *kernel_size)" or
      "(out_channels, in_channels/groups, *kernel_size)", nsp, fn_name))

   function C:init(in_channels, out_channels, kernel_size, opts)
      opts = opts_of(name, opts, "stride padding dilation output_padding groups padding_mode bias")
      self.in_channels = int_arg(name, in_channels, "in_channels", 1)
      self.out_channels = int_arg(name, out_channels, "out_channels", 1)
      self.kernel_size = tuple(name, kernel_size, nsp, "kernel_size", 1)
      self.stride = tuple(name, default(opts.stride, 1), nsp, "stride", 1)
      local padding = default(opts.padding, 0)
      if padding == "same" or padding == "valid" then
         if transposed then
            error(fmt("[%s] padding must be a number or a table, got '%s'", name, padding), 0)
         end
         if padding == "same" then
            for i = 1, nsp do
               if self.stride[i] ~= 1 then
                  error(fmt("[%s] padding='same' needs stride 1, got stride %s", name,
                            join_list(self.stride)), 0)
               end
            end
         end
         self.padding = padding
      else
         self.padding = tuple(name, padding, nsp, "padding", 0)
      end
      self.dilation = tuple(name, default(opts.dilation, 1), nsp, "dilation", 1)
      if transposed then
         self.output_padding = tuple(name, default(opts.output_padding, 0), nsp, "output_padding", 0)
         for i = 1, nsp do
            if self.output_padding[i] >= math.max(self.stride[i], self.dilation[i]) then
               error(fmt("[%s] output_padding must be smaller than stride or dilation, got %s",
                         name, join_list(self.output_padding)), 0)
            end
         end
      end
      self.groups = int_arg(name, default(opts.groups, 1), "groups", 1)
      if self.in_channels % self.groups ~= 0 or self.out_channels % self.groups ~= 0 then
         error(fmt("[%s] in_channels (%d) and out_channels (%d) must be divisible by groups (%d)",
                   name, self.in_channels, self.out_channels, self.groups), 0)
      end
      self.padding_mode = default(opts.padding_mode, "zeros")
      if self.padding_mode ~= "zeros" then
         error(fmt("[%s] padding_mode must be 'zeros', got '%s'", name, tostring(self.padding_mode)), 0)
      end
      local wshape, fan_in
      if transposed then
         wshape = {self.in_channels, self.out_channels // self.groups}
         fan_in = self.out_channels // self.groups
      else
         wshape = {self.out_channels, self.in_channels // self.groups}
         fan_in = self.in_channels // self.groups
      end
      for i = 1, nsp do wshape[#wshape + 1] = self.kernel_size[i] end
      fan_in = fan_in * prod(self.kernel_size)
      local bound = 1 / sqrt(fan_in)
      self.weight = uniform(wshape, bound)
      if opts.bias ~= false then self.bias = uniform({self.out_channels}, bound) end
   end

   function C:extra_repr()
      local s = fmt("%d, %d, kernel_size=%s, stride=%s", self.in_channels, self.out_channels,
                    join_list(self.kernel_size), join_list(self.stride))
      if type(self.padding) == "string" then s = s .. ", padding='" .. self.padding .. "'"
      elseif any_ne(self.padding, 0) then
         s = s .. ", padding=" .. join_list(self.padding)
      end
      if self.output_padding and any_ne(self.output_padding, 0) then
         s = s .. ", output_padding=" .. join_list(self.output_padding)
      end
      if any_ne(self.dilation, 1) then
         s = s .. ", dilation=" .. join_list(self.dilation)
      end
      if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
      if self.bias == nil then s = s .. ", bias=false" end
      return s
   end

   function C:forward(x)
      check_channels(name, x, nsp, self.in_channels)
      local o = {bias = self.bias, stride = self.stride, padding = self.padding,
                 dilation = self.dilation, groups = self.groups}
      if transposed then o.output_padding = self.output_padding end
      return ty[fn_name](x, self.weight, o)
   end
   return C
end

conv_class(1, false)
conv_class(2, false)
conv_class(3, false)
conv_class(1, true)
conv_class(2, true)
conv_class(3, true)

do
   local C = class("SeparableConv2d", [[
ty.nn.SeparableConv2d(in_channels, out_channels, kernel_size, [{stride=1, padding=0, dilation=1, depth_multiplier=1, bias=true}]) -> module
  Depthwise-separable 2-d convolution: `depthwise`, a Conv2d(in_channels,
  in_channels*depth_multiplier, kernel_size, {groups=in_channels, bias=false})
  applied per channel, then `pointwise`, a 1x1 Conv2d(in_channels*depth_multiplier,
  out_channels, 1, {bias=bias}) mixing channels (as Keras' SeparableConv2D:
  one bias, after the pointwise step). Input (N, C_in, H, W).]])
   function C:init(in_channels, out_channels, kernel_size, opts)
      opts = opts_of("SeparableConv2d", opts, "depth_multiplier stride padding dilation bias")
      local dm = int_arg("SeparableConv2d", default(opts.depth_multiplier, 1), "depth_multiplier", 1)
      self.in_channels = int_arg("SeparableConv2d", in_channels, "in_channels", 1)
      self.out_channels = int_arg("SeparableConv2d", out_channels, "out_channels", 1)
      self.depth_multiplier = dm
      self.depthwise = nn.Conv2d(in_channels, in_channels * dm, kernel_size,
                                 {stride = opts.stride, padding = opts.padding, dilation = opts.dilation,
                                  groups = in_channels, bias = false})
      self.pointwise = nn.Conv2d(in_channels * dm, out_channels, 1, {bias = opts.bias})
   end
   function C:extra_repr()
      return fmt("%d, %d, depth_multiplier=%d", self.in_channels, self.out_channels, self.depth_multiplier)
   end
   function C:forward(x)
      check_channels("SeparableConv2d", x, 2, self.in_channels)
      return self.pointwise(self.depthwise(x))
   end
end

------------------------------------------------------------------ pooling

local function check_spatial(name, x, nsp)
   check_array(name, x)
   local nd = #x.shape
   if nd ~= nsp + 2 and nd ~= nsp + 1 then bad_input(name, fmt("(N,C,%s)", SPATIAL[nsp]), x) end
end

local function pool_class(kind, nsp)
   local name = (kind == "max" and "MaxPool" or "AvgPool") .. nsp .. "d"
   local fn_name = kind .. "_pool" .. nsp .. "d"
   local sig = kind == "max" and
      fmt("ty.nn.%s(kernel_size, [{stride=kernel_size, padding=0, dilation=1, ceil_mode=false}]) -> module", name) or
      fmt("ty.nn.%s(kernel_size, [{stride=kernel_size, padding=0, ceil_mode=false, count_include_pad=true}]) -> module", name)
   local C = class(name, sig .. "\n" .. fmt([[
  %s pooling over (N, C, %s) inputs, as PyTorch's %s (calls ty.%s).
  Sizes are numbers or tables of %d.]], kind == "max" and "Max" or "Average", SPATIAL[nsp], name, fn_name, nsp))
   function C:init(kernel_size, opts)
      opts = opts_of(name, opts, "stride padding dilation ceil_mode count_include_pad")
      self.kernel_size = tuple(name, kernel_size, nsp, "kernel_size", 1)
      self.stride = tuple(name, default(opts.stride, self.kernel_size), nsp, "stride", 1)
      self.padding = tuple(name, default(opts.padding, 0), nsp, "padding", 0)
      for i = 1, nsp do
         if self.padding[i] * 2 > self.kernel_size[i] then
            error(fmt("[%s] padding should be at most half of kernel_size, got padding %s, kernel_size %s",
                      name, join_list(self.padding), join_list(self.kernel_size)), 0)
         end
      end
      self.ceil_mode = opts.ceil_mode == true
      if kind == "max" then
         self.dilation = tuple(name, default(opts.dilation, 1), nsp, "dilation", 1)
      else
         self.count_include_pad = opts.count_include_pad ~= false
      end
   end
   function C:extra_repr()
      return fmt("kernel_size=%s, stride=%s, padding=%s", join_list(self.kernel_size),
                 join_list(self.stride), join_list(self.padding))
   end
   function C:forward(x)
      check_spatial(name, x, nsp)
      local o = {stride = self.stride, padding = self.padding, ceil_mode = self.ceil_mode}
      if kind == "max" then o.dilation = self.dilation else o.count_include_pad = self.count_include_pad end
      return ty[fn_name](x, self.kernel_size, o)
   end
end

pool_class("max", 1)
pool_class("max", 2)
pool_class("max", 3)
pool_class("avg", 1)
pool_class("avg", 2)
pool_class("avg", 3)

local function adaptive_class(kind, nsp)
   local name = "Adaptive" .. (kind == "max" and "Max" or "Avg") .. "Pool" .. nsp .. "d"
   local fn_name = "adaptive_" .. kind .. "_pool" .. nsp .. "d"
   local C = class(name, fmt([[
ty.nn.%s(output_size) -> module
  Adaptive %s pooling of (N, C, %s) inputs to the given output size (a number
  or a table of %d; as PyTorch, nil in the table keeps that input size).
  Calls ty.%s.]], name, kind == "max" and "max" or "average", SPATIAL[nsp], nsp, fn_name))
   function C:init(output_size)
      if type(output_size) == "number" then
         self.output_size = tuple(name, output_size, nsp, "output_size", 1)
      elseif type(output_size) == "table" and not is_array(output_size) then
         local t = {}
         for i = 1, nsp do
            t[i] = output_size[i] ~= nil and int_arg(name, output_size[i], "output_size", 1) or false
         end
         self.output_size = t
      else
         error(fmt("[%s] output_size must be a number or a table, got %s", name, type(output_size)), 0)
      end
   end
   function C:extra_repr()
      local t = {}
      for i = 1, nsp do t[i] = self.output_size[i] or "None" end
      return "output_size=" .. join_list(t)
   end
   function C:forward(x)
      check_spatial(name, x, nsp)
      local size = {}
      local nd = #x.shape
      for i = 1, nsp do size[i] = self.output_size[i] or x.shape[nd - nsp + i] end
      return ty[fn_name](x, nsp == 1 and size[1] or size)
   end
end

adaptive_class("avg", 1)
adaptive_class("avg", 2)
adaptive_class("max", 1)
adaptive_class("max", 2)

------------------------------------------------------------ normalisation

-- float epsilon per dtype (RMSNorm's default eps, as PyTorch's finfo(dtype).eps)
local FINFO_EPS = {float32 = 1.1920928955078125e-07, float64 = 2.220446049250313e-16,
                   float16 = 0.0009765625, bfloat16 = 0.0078125}

-- BatchNorm1d/2d, InstanceNorm1d/2d share the running-statistics logic.
local function batch_norm_class(name, ndims_ok, want, instance)
   local C = class(name, instance and fmt([[
ty.nn.%s(num_features, [{eps=1e-5, momentum=0.1, affine=false, track_running_stats=false}]) -> module
  Instance normalisation of %s inputs (each sample and channel over its
  spatial positions), as PyTorch's %s (calls ty.instance_norm). With affine,
  parameters weight (ones) and bias (zeros); with track_running_stats, buffers
  running_mean, running_var, num_batches_tracked updated in training (mean of
  the per-instance statistics, unbiased variance) and used in eval mode.]],
      name, want, name) or fmt([[
ty.nn.%s(num_features, [{eps=1e-5, momentum=0.1, affine=true, track_running_stats=true}]) -> module
  Batch normalisation of %s inputs over the batch (and spatial) axes, as
  PyTorch's %s (calls ty.batch_norm). Parameters weight (ones), bias (zeros);
  buffers running_mean (zeros), running_var (ones), num_batches_tracked (0-d
  int64). In training the batch statistics normalise and the running
  statistics are replaced by new lazy arrays (momentum: new = (1-m)*old +
  m*batch, with the unbiased batch variance; momentum=false, PyTorch's None,
  gives the cumulative average 1/num_batches_tracked); they are buffers of the model, so an
  evaluation of the model's buffers with the training step (ty.train.fit does)
  computes them. In eval mode, or with track_running_stats=false, as PyTorch.]],
      name, want, name))

   function C:init(num_features, opts)
      opts = opts_of(name, opts, "eps momentum affine track_running_stats")
      self.num_features = int_arg(name, num_features, "num_features", 1)
      self.eps = default(opts.eps, 1e-5)
      -- momentum=false (PyTorch's None): cumulative moving average
      self.momentum = default(opts.momentum, 0.1)
      if self.momentum == false then self.momentum = nil end
      self.affine = default(opts.affine, not instance)
      self.track_running_stats = default(opts.track_running_stats, not instance)
      if self.affine then
         self.weight = ty.ones{self.num_features}
         self.bias = ty.zeros{self.num_features}
      end
      if self.track_running_stats then
         self:register_buffer("running_mean", ty.zeros{self.num_features})
         self:register_buffer("running_var", ty.ones{self.num_features})
         self:register_buffer("num_batches_tracked", ty.zeros({}, {dtype = "int64"}))
      end
   end

   function C:extra_repr()
      return fmt("%d, eps=%g, momentum=%s, affine=%s, track_running_stats=%s", self.num_features,
                 self.eps, tostring(self.momentum), tostring(self.affine), tostring(self.track_running_stats))
   end

   function C:forward(x)
      check_array(name, x)
      local nd = #x.shape
      local ch_axis = 2
      if instance and nd == ndims_ok[1] - 1 then ch_axis = 1 end
      local ok = false
      for _, n in ipairs(ndims_ok) do if nd == n then ok = true end end
      if instance and nd == ndims_ok[1] - 1 then ok = true end
      if not ok or x.shape[ch_axis] ~= self.num_features then
         bad_input(name, (want:gsub("%%d", tostring(self.num_features))), x)
      end
      local unbatched = instance and ch_axis == 1
      if unbatched then x = ty.expand_dims(x, 1) end
      nd = #x.shape
      local y
      local rm, rv = rawget(self, "running_mean"), rawget(self, "running_var")
      local use_batch = self.training or not self.track_running_stats
      if use_batch and not instance then
         local count = x.shape[1]
         for i = 3, nd do count = count * x.shape[i] end
         if count <= 1 then
            error(fmt("[%s] expected more than 1 value per channel in training, got input %s", name,
                      shape_str(x)), 0)
         end
      end
      if instance and use_batch then
         y = ty.instance_norm(x, {weight = self.weight, bias = self.bias, eps = self.eps})
      elseif instance then
         y = ty.batch_norm(x, rm, rv, {weight = self.weight, bias = self.bias, training = false, eps = self.eps})
      elseif use_batch then
         y = ty.batch_norm(x, rm, rv, {weight = self.weight, bias = self.bias, training = true,
                                        eps = self.eps})
      else
         y = ty.batch_norm(x, rm, rv, {weight = self.weight, bias = self.bias, training = false, eps = self.eps})
      end
      if self.training and self.track_running_stats then
         local xs = ty.stop_gradient(x)
         local mean, var
         if instance then
            local axes = {}
            for i = 3, nd do axes[#axes + 1] = i end
            mean = ty.mean(ty.mean(xs, axes), 1)
            var = ty.mean(ty.var(xs, axes, {ddof = 1}), 1)
         else
            local axes = {1}
            for i = 3, nd do axes[#axes + 1] = i end
            mean = ty.mean(xs, axes)
            var = ty.var(xs, axes, {ddof = 1})
         end
         local nbt = self.num_batches_tracked + 1
         local f = self.momentum
         if f == nil then f = ty.reciprocal(nbt:astype(rm.dtype)) end
         local new_rm = rm * (1 - f) + mean:astype(rm.dtype) * f
         local new_rv = rv * (1 - f) + var:astype(rv.dtype) * f
         self:update_buffers{running_mean = new_rm, running_var = new_rv, num_batches_tracked = nbt}
      end
      if unbatched then y = ty.squeeze(y, 1) end
      return y
   end
   return C
end

batch_norm_class("BatchNorm1d", {2, 3}, "(N,%d) or (N,%d,L)", false)
batch_norm_class("BatchNorm2d", {4}, "(N,%d,H,W)", false)
batch_norm_class("InstanceNorm1d", {3}, "(N,%d,L)", true)
batch_norm_class("InstanceNorm2d", {4}, "(N,%d,H,W)", true)

local function norm_shape(name, s)
   if type(s) == "number" then return {int_arg(name, s, "normalized_shape", 1)} end
   if type(s) == "table" and not is_array(s) and #s > 0 then
      local t = {}
      for i, v in ipairs(s) do t[i] = int_arg(name, v, "normalized_shape", 1) end
      return t
   end
   error(fmt("[%s] normalized_shape must be a number or a table of numbers, got %s", name, tostring(s)), 0)
end

local function check_trailing(name, x, shape)
   check_array(name, x)
   local nd, k = #x.shape, #shape
   local ok = nd >= k
   if ok then
      for i = 1, k do if x.shape[nd - k + i] ~= shape[i] then ok = false end end
   end
   if not ok then bad_input(name, "(...," .. table.concat(shape, ",") .. ")", x) end
end

do
   local C = class("LayerNorm", [[
ty.nn.LayerNorm(normalized_shape, [{eps=1e-5, elementwise_affine=true, bias=true}]) -> module
  Layer normalisation over the trailing axes given by normalized_shape (a number
  or a table), as PyTorch: parameters weight (ones) and bias (zeros) of that
  shape. Calls ty.layer_norm.]])
   function C:init(normalized_shape, opts)
      opts = opts_of("LayerNorm", opts, "eps elementwise_affine bias")
      self.normalized_shape = norm_shape("LayerNorm", normalized_shape)
      self.eps = default(opts.eps, 1e-5)
      self.elementwise_affine = opts.elementwise_affine ~= false
      if self.elementwise_affine then
         self.weight = ty.ones(self.normalized_shape)
         if opts.bias ~= false then self.bias = ty.zeros(self.normalized_shape) end
      end
   end
   function C:extra_repr()
      return fmt("%s, eps=%g, elementwise_affine=%s", join_list(self.normalized_shape), self.eps,
                 tostring(self.elementwise_affine))
   end
   function C:forward(x)
      check_trailing("LayerNorm", x, self.normalized_shape)
      return ty.layer_norm(x, self.normalized_shape, {weight = self.weight, bias = self.bias, eps = self.eps})
   end
end

do
   local C = class("RMSNorm", [[
ty.nn.RMSNorm(normalized_shape, [{eps=nil, elementwise_affine=true}]) -> module
  Root-mean-square normalisation over the trailing axes (x / sqrt(mean(x^2) +
  eps) * weight), as PyTorch's RMSNorm (2.4+): weight (ones); eps=nil means
  the machine epsilon of the input's dtype. Calls ty.rms_norm.]])
   function C:init(normalized_shape, opts)
      opts = opts_of("RMSNorm", opts, "eps elementwise_affine")
      self.normalized_shape = norm_shape("RMSNorm", normalized_shape)
      self.eps = opts.eps
      self.elementwise_affine = opts.elementwise_affine ~= false
      if self.elementwise_affine then self.weight = ty.ones(self.normalized_shape) end
   end
   function C:extra_repr()
      return fmt("%s, eps=%s, elementwise_affine=%s", join_list(self.normalized_shape), tostring(self.eps),
                 tostring(self.elementwise_affine))
   end
   function C:forward(x)
      check_trailing("RMSNorm", x, self.normalized_shape)
      local eps = self.eps or FINFO_EPS[x.dtype] or 1e-6
      return ty.rms_norm(x, self.normalized_shape, {weight = self.weight, eps = eps})
   end
end

do
   local C = class("GroupNorm", [[
ty.nn.GroupNorm(num_groups, num_channels, [{eps=1e-5, affine=true}]) -> module
  Group normalisation of (N, C, *) inputs (channels split into num_groups
  groups), as PyTorch: weight (ones) and bias (zeros) of (num_channels).
  Calls ty.group_norm.]])
   function C:init(num_groups, num_channels, opts)
      opts = opts_of("GroupNorm", opts, "eps affine")
      self.num_groups = int_arg("GroupNorm", num_groups, "num_groups", 1)
      self.num_channels = int_arg("GroupNorm", num_channels, "num_channels", 1)
      if self.num_channels % self.num_groups ~= 0 then
         error(fmt("[GroupNorm] num_channels (%d) must be divisible by num_groups (%d)",
                   self.num_channels, self.num_groups), 0)
      end
      self.eps = default(opts.eps, 1e-5)
      self.affine = opts.affine ~= false
      if self.affine then
         self.weight = ty.ones{self.num_channels}
         self.bias = ty.zeros{self.num_channels}
      end
   end
   function C:extra_repr()
      return fmt("%d, %d, eps=%g, affine=%s", self.num_groups, self.num_channels, self.eps, tostring(self.affine))
   end
   function C:forward(x)
      check_array("GroupNorm", x)
      if #x.shape < 2 or x.shape[2] ~= self.num_channels then
         bad_input("GroupNorm", fmt("(N,%d,*)", self.num_channels), x)
      end
      return ty.group_norm(x, self.num_groups, {weight = self.weight, bias = self.bias, eps = self.eps})
   end
end

do
   local C = class("AdaLayerNorm", [[
ty.nn.AdaLayerNorm(embedding_dim, cond_dim, [{eps=1e-5, cond_activation='silu', zero_init=false, bias=true}]) -> module
  Adaptive layer norm (DiT / diffusers style): forward(x, cond) with x
  (N, ..., embedding_dim) and cond (N, cond_dim) (or with the same leading axes
  as x). A Linear `linear` (cond_dim -> 2*embedding_dim) maps
  act(cond) to scale and shift (in that order, halves of the last axis); the
  result is layer_norm(x) * (1 + scale) + shift, the norm having no affine
  parameters; scale/shift broadcast over x's middle axes. cond_activation is
  'silu' (default), 'none' or a function; zero_init=true starts the Linear at
  zero (adaLN-Zero: the layer starts as a plain LayerNorm).]])
   function C:init(embedding_dim, cond_dim, opts)
      opts = opts_of("AdaLayerNorm", opts, "eps cond_activation bias zero_init")
      self.embedding_dim = int_arg("AdaLayerNorm", embedding_dim, "embedding_dim", 1)
      self.cond_dim = int_arg("AdaLayerNorm", cond_dim, "cond_dim", 1)
      self.eps = default(opts.eps, 1e-5)
      self.cond_activation = default(opts.cond_activation, "silu")
      if self.cond_activation ~= "none" then activation_fn("AdaLayerNorm", self.cond_activation) end
      self.linear = nn.Linear(self.cond_dim, 2 * self.embedding_dim, {bias = opts.bias ~= false})
      if opts.zero_init then
         self.linear.weight = ty.zeros{2 * self.embedding_dim, self.cond_dim}
         if self.linear.bias then self.linear.bias = ty.zeros{2 * self.embedding_dim} end
      end
   end
   function C:extra_repr()
      return fmt("%d, cond_dim=%d, eps=%g", self.embedding_dim, self.cond_dim, self.eps)
   end
   function C:forward(x, cond)
      check_trailing("AdaLayerNorm", x, {self.embedding_dim})
      check_array("AdaLayerNorm", cond, "cond")
      local nd, nc = #x.shape, #cond.shape
      if cond.shape[nc] ~= self.cond_dim or nc > nd or nc < 1 or (nc > 1 and cond.shape[1] ~= x.shape[1]) then
         error(fmt("[AdaLayerNorm] expected cond (N,%d) with N=%d, got %s", self.cond_dim, x.shape[1],
                   shape_str(cond)), 0)
      end
      local c = cond
      if self.cond_activation ~= "none" then c = activation_fn("AdaLayerNorm", self.cond_activation)(c) end
      local emb = self.linear(c)
      -- insert axes after the batch axis until emb lines up with x
      while #emb.shape < nd do
         emb = ty.expand_dims(emb, #emb.shape == 1 and 1 or 2)
      end
      local parts = ty.split(emb, 2, {axis = -1})
      local y = ty.layer_norm(x, {self.embedding_dim}, {eps = self.eps})
      return y * (parts[1] + 1) + parts[2]
   end
end

------------------------------------------------------ multi-head attention

-- Additive float mask from a bool (true = masked out, as PyTorch) or float mask.
local function additive(mask, dtype)
   if mask.dtype == "bool" then
      return ty.where(mask, NEG_INF, 0):astype(dtype)
   end
   if mask.dtype ~= dtype then return mask:astype(dtype) end
   return mask
end

-- Scaled dot-product attention on (N, H, L, Dh) x (N, H, S, Dh): returns the
-- output and, when asked, the weights (N, H, L, S).
local function attend(q, k, v, mask, causal, dropout_p, training, need_weights)
   local use_dropout = training and dropout_p > 0
   if not need_weights and not use_dropout and ty.scaled_dot_product_attention then
      return ty.scaled_dot_product_attention(q, k, v, {mask = mask, causal = causal or nil})
   end
   local L, S = q.shape[3], k.shape[3]
   local scale = 1 / sqrt(q.shape[4])
   local scores = ty.matmul(q * scale, ty.swapaxes(k, 3, 4))
   if causal then
      local i = ty.arange(L, {device = q.device}):reshape{L, 1}
      local j = ty.arange(S, {device = q.device}):reshape{1, S}
      scores = scores + ty.where(ty.gt(j, i), NEG_INF, 0):astype(scores.dtype)
   end
   if mask then scores = scores + mask end
   local w = ty.softmax(scores, -1)
   local wd = dropout(w, dropout_p, training)
   return ty.matmul(wd, v), need_weights and w or nil
end

do
   local C = class("MultiHeadAttention", [[
ty.nn.MultiHeadAttention(embed_dim, num_heads, [{bias=true, kdim=embed_dim, vdim=embed_dim, batch_first=true, dropout=0}]) -> module
  Multi-head attention as PyTorch's nn.MultiheadAttention, BATCH-FIRST by
  default (inputs (N, L, E); batch_first=false takes (L, N, E); an unbatched
  (L, E) input works too). Submodules q_proj, k_proj, v_proj (Linear
  E->E, kdim->E, vdim->E) and out_proj; PyTorch's packed in_proj_weight /
  in_proj_bias (or q/k/v_proj_weight) are split on load_weights(..,
  {from='torch'}). Initialisation as PyTorch (xavier-uniform in-projections,
  zero biases).
m:forward(query, [key=query], [value=key], [{attn_mask=, key_padding_mask=, causal=false, need_weights=false, average_attn_weights=true, cache=}])
  -> output, [weights]   (without cache)
  -> output, new_cache, [weights]   (with cache)
  attn_mask (L, S) or (N*num_heads, L, S): bool (true = may NOT attend, as
  PyTorch) or float (added to the scores). key_padding_mask (N, S): bool (true
  = padding, ignored) or float. causal=true masks keys after each query.
  need_weights=true also returns the attention weights (N, L, S) averaged
  over heads (or (N, num_heads, L, S) with average_attn_weights=false).
  Cross-attention: pass a different key/value (kdim/vdim may differ from E).
  Key/value cache for generation: pass cache={} on the first call and the
  returned cache afterwards; the cache holds the projected keys and values
  {k=, v=} of shape (N, num_heads, S_past, head_dim), the new ones are
  appended and causal masking offsets the queries by S_past, so feeding one
  token at a time gives the same outputs as full causal attention.
  ty.nn.MultiheadAttention (PyTorch's spelling) is the same class.]])

   function C:init(embed_dim, num_heads, opts)
      local name = "MultiHeadAttention"
      opts = opts_of(name, opts, "bias kdim vdim batch_first dropout add_bias_kv add_zero_attn")
      self.embed_dim = int_arg(name, embed_dim, "embed_dim", 1)
      self.num_heads = int_arg(name, num_heads, "num_heads", 1)
      if self.embed_dim % self.num_heads ~= 0 then
         error(fmt("[%s] embed_dim (%d) must be divisible by num_heads (%d)", name, self.embed_dim,
                   self.num_heads), 0)
      end
      if opts.add_bias_kv or opts.add_zero_attn then
         error(fmt("[%s] add_bias_kv and add_zero_attn are not supported", name), 0)
      end
      self.head_dim = self.embed_dim // self.num_heads
      self.kdim = int_arg(name, default(opts.kdim, self.embed_dim), "kdim", 1)
      self.vdim = int_arg(name, default(opts.vdim, self.embed_dim), "vdim", 1)
      self.batch_first = opts.batch_first ~= false
      self.dropout = default(opts.dropout, 0)
      local E, bias = self.embed_dim, opts.bias ~= false
      self.q_proj = nn.Linear(E, E, {bias = bias})
      self.k_proj = nn.Linear(self.kdim, E, {bias = bias})
      self.v_proj = nn.Linear(self.vdim, E, {bias = bias})
      self.out_proj = nn.Linear(E, E, {bias = bias})
      if self.kdim == E and self.vdim == E then
         -- PyTorch: xavier_uniform_ on the packed (3E, E) in_proj_weight
         for _, p in ipairs{self.q_proj, self.k_proj, self.v_proj} do
            p.weight = xavier_uniform({E, E}, E, 3 * E)
         end
      else
         self.q_proj.weight = xavier_uniform({E, E}, E, E)
         self.k_proj.weight = xavier_uniform({E, self.kdim}, self.kdim, E)
         self.v_proj.weight = xavier_uniform({E, self.vdim}, self.vdim, E)
      end
      if bias then
         for _, p in ipairs{self.q_proj, self.k_proj, self.v_proj, self.out_proj} do
            p.bias = ty.zeros{E}
         end
      end
   end

   function C:extra_repr()
      local s = fmt("embed_dim=%d, num_heads=%d", self.embed_dim, self.num_heads)
      if self.kdim ~= self.embed_dim or self.vdim ~= self.embed_dim then
         s = s .. fmt(", kdim=%d, vdim=%d", self.kdim, self.vdim)
      end
      if not self.batch_first then s = s .. ", batch_first=false" end
      return s
   end

   -- load_weights{from='torch'} hook (see ty.nn.Module): sd holds the PyTorch
   -- entries under this module (local names); returns them with tycho names,
   -- the packed in_proj split into q_proj, k_proj, v_proj.
   function C:from_torch(sd)
      local out = {}
      for k, v in pairs(sd) do
         if k == "in_proj_weight" then
            local parts = ty.split(v, 3, {axis = 1})
            out["q_proj.weight"], out["k_proj.weight"], out["v_proj.weight"] = parts[1], parts[2], parts[3]
         elseif k == "in_proj_bias" then
            local parts = ty.split(v, 3, {axis = 1})
            out["q_proj.bias"], out["k_proj.bias"], out["v_proj.bias"] = parts[1], parts[2], parts[3]
         elseif k == "q_proj_weight" or k == "k_proj_weight" or k == "v_proj_weight" then
            out[k:sub(1, 6) .. ".weight"] = v
         elseif k == "bias_k" or k == "bias_v" then
            error(fmt("[MultiHeadAttention] add_bias_kv (%s) is not supported", k), 0)
         else
            out[k] = v
         end
      end
      return out
   end

   function C:forward(query, key, value, opts)
      local name = "MultiHeadAttention"
      -- forward(q, opts) / forward(q, k, opts)
      if type(key) == "table" and not is_array(key) then opts, key, value = key, nil, nil
      elseif type(value) == "table" and not is_array(value) then opts, value = value, nil end
      opts = opts_of(name, opts, "attn_mask key_padding_mask causal need_weights average_attn_weights cache")
      key = key or query
      value = value or key
      local E, H, Dh = self.embed_dim, self.num_heads, self.head_dim
      check_array(name, query, "query")
      check_array(name, key, "key")
      check_array(name, value, "value")
      local nd = #query.shape
      local layout = self.batch_first and "(N,L,%d)" or "(L,N,%d)"
      if (nd ~= 3 and nd ~= 2) or query.shape[nd] ~= E then
         bad_input(name, fmt(layout, E), query, "query")
      end
      if #key.shape ~= nd or key.shape[nd] ~= self.kdim then
         bad_input(name, fmt(self.batch_first and "(N,S,%d)" or "(S,N,%d)", self.kdim), key, "key")
      end
      if #value.shape ~= nd or value.shape[nd] ~= self.vdim then
         bad_input(name, fmt(self.batch_first and "(N,S,%d)" or "(S,N,%d)", self.vdim), value, "value")
      end
      local unbatched = nd == 2
      local q, k, v = query, key, value
      if unbatched then
         q, k, v = ty.expand_dims(q, 1), ty.expand_dims(k, 1), ty.expand_dims(v, 1)
      elseif not self.batch_first then
         q, k, v = ty.swapaxes(q, 1, 2), ty.swapaxes(k, 1, 2), ty.swapaxes(v, 1, 2)
      end
      local N, L, S = q.shape[1], q.shape[2], k.shape[2]
      if k.shape[1] ~= N or v.shape[1] ~= N or v.shape[2] ~= S then
         error(fmt("[%s] query, key and value must agree in batch size and key/value in length, got %s, %s, %s",
                   name, shape_str(query), shape_str(key), shape_str(value)), 0)
      end
      local function heads(x, len) return ty.swapaxes(x:reshape{N, len, H, Dh}, 2, 3) end
      q = heads(self.q_proj(q), L)
      k = heads(self.k_proj(k), S)
      v = heads(self.v_proj(v), S)
      local cache, past = opts.cache, 0
      local new_cache
      if cache ~= nil then
         if type(cache) ~= "table" or is_array(cache) then
            error(fmt("[%s] cache must be a table ({} to start), got %s", name, type(cache)), 0)
         end
         if cache.k ~= nil then
            if not is_array(cache.k) or #cache.k.shape ~= 4 or cache.k.shape[1] ~= N or cache.k.shape[2] ~= H or
               cache.k.shape[4] ~= Dh then
               error(fmt("[%s] expected cache.k (%d,%d,S,%d), got %s", name, N, H, Dh,
                         is_array(cache.k) and shape_str(cache.k) or type(cache.k)), 0)
            end
            past = cache.k.shape[3]
            k = ty.concatenate({cache.k, k}, 3)
            v = ty.concatenate({cache.v, v}, 3)
         end
         new_cache = {k = k, v = v}
         S = k.shape[3]
      end
      local dtype = q.dtype
      local mask
      if opts.attn_mask ~= nil then
         local m = opts.attn_mask
         check_array(name, m, "attn_mask")
         if #m.shape == 2 and m.shape[1] == L and m.shape[2] == S then
            mask = additive(m, dtype)
         elseif #m.shape == 3 and m.shape[1] == N * H and m.shape[2] == L and m.shape[3] == S then
            mask = additive(m, dtype):reshape{N, H, L, S}
         else
            error(fmt("[%s] expected attn_mask (%d,%d) or (%d,%d,%d), got %s", name, L, S, N * H, L, S,
                      shape_str(m)), 0)
         end
      end
      if opts.key_padding_mask ~= nil then
         local m = opts.key_padding_mask
         check_array(name, m, "key_padding_mask")
         if unbatched and #m.shape == 1 then m = ty.expand_dims(m, 1) end
         if #m.shape ~= 2 or m.shape[1] ~= N or m.shape[2] ~= S then
            error(fmt("[%s] expected key_padding_mask (%d,%d), got %s", name, N, S, shape_str(m)), 0)
         end
         local km = additive(m, dtype):reshape{N, 1, 1, S}
         mask = mask and (mask + km) or km
      end
      local causal = opts.causal == true or opts.is_causal == true
      if causal and past > 0 then
         local i = ty.arange(L, {device = q.device}):reshape{L, 1} + past
         local j = ty.arange(S, {device = q.device}):reshape{1, S}
         local cm = ty.where(ty.gt(j, i), NEG_INF, 0):astype(dtype)
         mask = mask and (mask + cm) or cm
         causal = false
      end
      local need_weights = opts.need_weights == true
      local out, w = attend(q, k, v, mask, causal, self.dropout, self.training, need_weights)
      out = ty.swapaxes(out, 2, 3):reshape{N, L, E}
      out = self.out_proj(out)
      if unbatched then out = ty.squeeze(out, 1)
      elseif not self.batch_first then out = ty.swapaxes(out, 1, 2) end
      if w ~= nil then
         if opts.average_attn_weights ~= false then w = ty.mean(w, 2) end
         if unbatched then w = ty.squeeze(w, 1) end
      end
      if cache ~= nil then return out, new_cache, w end
      return out, w
   end
end

-- PyTorch's spelling
nn.MultiheadAttention = nn.MultiHeadAttention

-------------------------------------------------------------- Transformer

local function transformer_opts(name, d_model, nhead, opts)
   opts = opts_of(name, opts, "dim_feedforward dropout activation layer_norm_eps batch_first norm_first bias")
   return {
      d_model = int_arg(name, d_model, "d_model", 1),
      nhead = int_arg(name, nhead, "nhead", 1),
      dim_feedforward = int_arg(name, default(opts.dim_feedforward, 2048), "dim_feedforward", 1),
      dropout = default(opts.dropout, 0.1),
      activation = default(opts.activation, "relu"),
      layer_norm_eps = default(opts.layer_norm_eps, 1e-5),
      batch_first = opts.batch_first ~= false,
      norm_first = opts.norm_first == true,
      bias = opts.bias ~= false,
   }
end

local function set_common(self, name, cfg)
   self.d_model, self.nhead, self.dim_feedforward = cfg.d_model, cfg.nhead, cfg.dim_feedforward
   self.dropout, self.norm_first, self.batch_first = cfg.dropout, cfg.norm_first, cfg.batch_first
   self.activation = cfg.activation
   self._act = activation_fn(name, cfg.activation)
   self._cfg = cfg
   self.linear1 = nn.Linear(cfg.d_model, cfg.dim_feedforward, {bias = cfg.bias})
   self.linear2 = nn.Linear(cfg.dim_feedforward, cfg.d_model, {bias = cfg.bias})
end

local function ff_block(self, x)
   local h = dropout(self._act(self.linear1(x)), self.dropout, self.training)
   return dropout(self.linear2(h), self.dropout, self.training)
end

local function check_seq(name, x, d_model, batch_first, what)
   check_array(name, x, what)
   local nd = #x.shape
   if (nd ~= 3 and nd ~= 2) or x.shape[nd] ~= d_model then
      bad_input(name, fmt(batch_first and "(N,L,%d)" or "(L,N,%d)", d_model), x, what)
   end
end

do
   local C = class("TransformerEncoderLayer", [[
ty.nn.TransformerEncoderLayer(d_model, nhead, [{dim_feedforward=2048, dropout=0.1, activation='relu', layer_norm_eps=1e-5, batch_first=true, norm_first=false, bias=true}]) -> module
  Self-attention and feed-forward block, as PyTorch's (submodules self_attn,
  linear1, linear2, norm1, norm2), but BATCH-FIRST by default: input (N, L,
  d_model). activation: 'relu', 'gelu', 'gelu_tanh', 'silu' or a function.
m:forward(src, [{src_mask=, src_key_padding_mask=, is_causal=false, cache=}]) -> output[, new_cache]
  Masks as for MultiHeadAttention (bool true = masked out, or float added).
  cache: the self-attention's key/value cache (see MultiHeadAttention), for
  decoding a causal (GPT-style) stack one step at a time.]])
   function C:init(d_model, nhead, opts)
      local cfg = transformer_opts("TransformerEncoderLayer", d_model, nhead, opts)
      self.self_attn = nn.MultiHeadAttention(cfg.d_model, cfg.nhead,
                                             {dropout = cfg.dropout, bias = cfg.bias, batch_first = cfg.batch_first})
      set_common(self, "TransformerEncoderLayer", cfg)
      self.norm1 = nn.LayerNorm(cfg.d_model, {eps = cfg.layer_norm_eps, bias = cfg.bias})
      self.norm2 = nn.LayerNorm(cfg.d_model, {eps = cfg.layer_norm_eps, bias = cfg.bias})
   end
   function C:extra_repr()
      return fmt("d_model=%d, nhead=%d, dim_feedforward=%d, norm_first=%s", self.d_model, self.nhead,
                 self.dim_feedforward, tostring(self.norm_first))
   end
   function C:forward(src, opts)
      opts = opts_of("TransformerEncoderLayer", opts, "src_mask mask src_key_padding_mask is_causal cache")
      check_seq("TransformerEncoderLayer", src, self.d_model, self.batch_first, "src")
      local new_cache
      local function sa(x)
         local y, c = self.self_attn(x, x, x, {attn_mask = opts.src_mask or opts.mask,
                                               key_padding_mask = opts.src_key_padding_mask,
                                               causal = opts.is_causal, cache = opts.cache})
         if opts.cache ~= nil then new_cache = c end
         return dropout(y, self.dropout, self.training)
      end
      local x = src
      if self.norm_first then
         x = x + sa(self.norm1(x))
         x = x + ff_block(self, self.norm2(x))
      else
         x = self.norm1(x + sa(x))
         x = self.norm2(x + ff_block(self, x))
      end
      if opts.cache ~= nil then return x, new_cache end
      return x
   end
end

do
   local C = class("TransformerDecoderLayer", [[
ty.nn.TransformerDecoderLayer(d_model, nhead, [{dim_feedforward=2048, dropout=0.1, activation='relu', layer_norm_eps=1e-5, batch_first=true, norm_first=false, bias=true}]) -> module
  Self-attention, cross-attention over the encoder output (memory) and
  feed-forward, as PyTorch's (submodules self_attn, multihead_attn, linear1,
  linear2, norm1, norm2, norm3), BATCH-FIRST by default.
m:forward(tgt, memory, [{tgt_mask=, memory_mask=, tgt_key_padding_mask=, memory_key_padding_mask=, tgt_is_causal=false, memory_is_causal=false, cache=}]) -> output[, new_cache]
  cache: the self-attention's key/value cache (see MultiHeadAttention) for
  step-by-step generation with tgt_is_causal=true.]])
   function C:init(d_model, nhead, opts)
      local cfg = transformer_opts("TransformerDecoderLayer", d_model, nhead, opts)
      local mo = {dropout = cfg.dropout, bias = cfg.bias, batch_first = cfg.batch_first}
      self.self_attn = nn.MultiHeadAttention(cfg.d_model, cfg.nhead, mo)
      self.multihead_attn = nn.MultiHeadAttention(cfg.d_model, cfg.nhead, mo)
      set_common(self, "TransformerDecoderLayer", cfg)
      self.norm1 = nn.LayerNorm(cfg.d_model, {eps = cfg.layer_norm_eps, bias = cfg.bias})
      self.norm2 = nn.LayerNorm(cfg.d_model, {eps = cfg.layer_norm_eps, bias = cfg.bias})
      self.norm3 = nn.LayerNorm(cfg.d_model, {eps = cfg.layer_norm_eps, bias = cfg.bias})
   end
   C.extra_repr = nn.TransformerEncoderLayer.extra_repr
   function C:forward(tgt, memory, opts)
      local name = "TransformerDecoderLayer"
      opts = opts_of(name, opts, "tgt_mask tgt_key_padding_mask tgt_is_causal memory_mask memory_key_padding_mask memory_is_causal cache")
      check_seq(name, tgt, self.d_model, self.batch_first, "tgt")
      check_seq(name, memory, self.d_model, self.batch_first, "memory")
      local new_cache
      local function sa(x)
         local y, c = self.self_attn(x, x, x, {attn_mask = opts.tgt_mask, key_padding_mask = opts.tgt_key_padding_mask,
                                               causal = opts.tgt_is_causal, cache = opts.cache})
         if opts.cache ~= nil then new_cache = c end
         return dropout(y, self.dropout, self.training)
      end
      local function mha(x)
         local y = self.multihead_attn(x, memory, memory, {attn_mask = opts.memory_mask,
                                                           key_padding_mask = opts.memory_key_padding_mask,
                                                           causal = opts.memory_is_causal})
         return dropout(y, self.dropout, self.training)
      end
      local x = tgt
      if self.norm_first then
         x = x + sa(self.norm1(x))
         x = x + mha(self.norm2(x))
         x = x + ff_block(self, self.norm3(x))
      else
         x = self.norm1(x + sa(x))
         x = self.norm2(x + mha(x))
         x = self.norm3(x + ff_block(self, x))
      end
      if opts.cache ~= nil then return x, new_cache end
      return x
   end
end

-- A stack's cache: a list of the layers' caches (a new table, so the
-- caller's stays valid); nil when not caching.
local function stack_cache(name, c)
   if c == nil then return nil end
   if type(c) ~= "table" or is_array(c) then
      error(fmt("[%s] cache must be a table ({} to start), got %s", name, type(c)), 0)
   end
   local t = {}
   for i, v in ipairs(c) do t[i] = v end
   return t
end

-- Fresh copies of a Transformer layer with the same configuration.
local function clone_layers(name, layer, n, cls)
   if getmetatable(layer) ~= cls then
      error(fmt("[%s] argument 1 must be a %s, got %s", name, cls.__name,
                nn.is_module(layer) and layer:type_name() or type(layer)), 0)
   end
   n = int_arg(name, n, "num_layers", 1)
   local layers = {layer}
   local cfg = layer._cfg
   for i = 2, n do
      local opts = {}
      for k, v in pairs(cfg) do opts[k] = v end
      opts.d_model, opts.nhead = nil, nil
      layers[i] = cls(cfg.d_model, cfg.nhead, opts)
      layers[i]:train(layer.training)
   end
   return layers
end

-- TransformerEncoder/Decoder: num_layers copies of layer (of class
-- layer_cls), then the optional norm.
local function init_stack(self, name, layer, num_layers, opts, layer_cls)
   opts = opts_of(name, opts, "norm")
   self.layers = clone_layers(name, layer, num_layers, layer_cls)
   self.num_layers = #self.layers
   if opts.norm ~= nil then self.norm = opts.norm end
end

-- x through the layers, step(layer, x, layer_cache) -> x[, new layer_cache]
-- each, then the norm; with a cache (the list of the layers' caches) also the
-- new cache.
local function run_stack(self, name, x, cache_opt, step)
   local cache = stack_cache(name, cache_opt)
   for i, layer in ipairs(self.layers) do
      local c = cache and (cache[i] or {})
      if cache then x, cache[i] = step(layer, x, c) else x = step(layer, x, c) end
   end
   if self.norm then x = self.norm(x) end
   if cache then return x, cache end
   return x
end

do
   local C = class("TransformerEncoder", [[
ty.nn.TransformerEncoder(encoder_layer, num_layers, [{norm=nil}]) -> module
  A stack of num_layers TransformerEncoderLayers (field layers: layers.1 is
  encoder_layer, the others fresh layers of the same configuration -- PyTorch
  deep-copies the first, so torch weights load the same), then the optional
  norm module.
m:forward(src, [{mask=, src_key_padding_mask=, is_causal=false, cache=}]) -> output[, new_cache]
  cache: a list of the layers' key/value caches ({} to start) for decoding
  one step at a time with is_causal=true.]])
   function C:init(encoder_layer, num_layers, opts)
      init_stack(self, "TransformerEncoder", encoder_layer, num_layers, opts,
                 nn.TransformerEncoderLayer)
   end
   function C:extra_repr() return "num_layers=" .. self.num_layers end
   function C:forward(src, opts)
      opts = opts_of("TransformerEncoder", opts, "mask src_mask src_key_padding_mask is_causal cache")
      return run_stack(self, "TransformerEncoder", src, opts.cache, function(layer, x, c)
         return layer(x, {src_mask = opts.mask or opts.src_mask,
                          src_key_padding_mask = opts.src_key_padding_mask,
                          is_causal = opts.is_causal, cache = c})
      end)
   end
end

do
   local C = class("TransformerDecoder", [[
ty.nn.TransformerDecoder(decoder_layer, num_layers, [{norm=nil}]) -> module
  A stack of num_layers TransformerDecoderLayers (layers.1 is decoder_layer,
  the others fresh layers of the same configuration), then the optional norm.
m:forward(tgt, memory, [{tgt_mask=, memory_mask=, tgt_key_padding_mask=, memory_key_padding_mask=, tgt_is_causal=false, cache=}]) -> output[, new_cache]
  cache: a list of the layers' self-attention caches ({} to start) for
  generation one token at a time with tgt_is_causal=true.]])
   function C:init(decoder_layer, num_layers, opts)
      init_stack(self, "TransformerDecoder", decoder_layer, num_layers, opts,
                 nn.TransformerDecoderLayer)
   end
   function C:extra_repr() return "num_layers=" .. self.num_layers end
   function C:forward(tgt, memory, opts)
      opts = opts_of("TransformerDecoder", opts, "tgt_mask tgt_key_padding_mask tgt_is_causal memory_mask memory_key_padding_mask memory_is_causal cache")
      return run_stack(self, "TransformerDecoder", tgt, opts.cache, function(layer, x, c)
         local o = {}
         for k, v in pairs(opts) do o[k] = v end
         o.cache = c
         return layer(x, memory, o)
      end)
   end
end

do
   local C = class("Transformer", [[
ty.nn.Transformer([{d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, dropout=0.1, activation='relu', layer_norm_eps=1e-5, batch_first=true, norm_first=false, bias=true}]) -> module
  Encoder-decoder Transformer as PyTorch's nn.Transformer (submodules encoder,
  decoder, each with a final LayerNorm `norm`; weights of 2 or more dimensions
  xavier-uniform initialised), BATCH-FIRST by default. PyTorch's positional
  form ty.nn.Transformer(d_model, nhead, [{...}]) works too.
m:forward(src, tgt, [{src_mask=, tgt_mask=, memory_mask=, src_key_padding_mask=, tgt_key_padding_mask=, memory_key_padding_mask=, src_is_causal=, tgt_is_causal=}]) -> output
ty.nn.Transformer.generate_square_subsequent_mask(n) -> (n, n) float mask, -inf above the diagonal]])
   function C:init(opts, nhead_arg, more)
      if type(opts) == "number" then
         -- PyTorch's positional form: Transformer(d_model, nhead, {...})
         local o = {}
         for k, v in pairs(opts_of("Transformer", more)) do o[k] = v end
         o.d_model, o.nhead = opts, nhead_arg
         opts = o
      end
      opts = opts_of("Transformer", opts, "d_model nhead num_encoder_layers num_decoder_layers " ..
                     "dim_feedforward dropout activation layer_norm_eps batch_first norm_first bias")
      local d_model = default(opts.d_model, 512)
      local nhead = default(opts.nhead, 8)
      local lo = {}
      for k, v in pairs(opts) do lo[k] = v end
      lo.d_model, lo.nhead, lo.num_encoder_layers, lo.num_decoder_layers = nil, nil, nil, nil
      self.d_model, self.nhead, self.batch_first = d_model, nhead, opts.batch_first ~= false
      local eps = default(opts.layer_norm_eps, 1e-5)
      self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(d_model, nhead, lo),
                                           default(opts.num_encoder_layers, 6),
                                           {norm = nn.LayerNorm(d_model, {eps = eps, bias = opts.bias ~= false})})
      self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d_model, nhead, lo),
                                           default(opts.num_decoder_layers, 6),
                                           {norm = nn.LayerNorm(d_model, {eps = eps, bias = opts.bias ~= false})})
      -- as PyTorch's _reset_parameters: xavier_uniform_ on every weight of 2+
      -- dimensions; the attention in-projections keep theirs (already xavier
      -- with the fans of the packed (3E, E) in_proj_weight)
      local skip = {}
      for _, m in ipairs(self:modules()) do
         if getmetatable(m) == nn.MultiHeadAttention then
            skip[m.q_proj], skip[m.k_proj], skip[m.v_proj] = true, true, true
         end
      end
      for _, m in ipairs(self:modules()) do
         for _, p in ipairs(skip[m] and {} or m:named_parameters{recurse = false}) do
            local a = p[2]
            if #a.shape > 1 and not p[1]:find("%.") then
               local fan_in, fan_out = a.shape[2], a.shape[1]
               rawset(m, p[1], xavier_uniform(a.shape, fan_in, fan_out))
            end
         end
      end
   end
   function C:extra_repr() return fmt("d_model=%d, nhead=%d", self.d_model, self.nhead) end
   function C:forward(src, tgt, opts)
      opts = opts_of("Transformer", opts, "src_mask src_is_causal tgt_mask memory_mask " ..
                     "src_key_padding_mask tgt_key_padding_mask memory_key_padding_mask tgt_is_causal")
      local memory = self.encoder(src, {mask = opts.src_mask, src_key_padding_mask = opts.src_key_padding_mask,
                                        is_causal = opts.src_is_causal})
      return self.decoder(tgt, memory, {tgt_mask = opts.tgt_mask, memory_mask = opts.memory_mask,
                                        tgt_key_padding_mask = opts.tgt_key_padding_mask,
                                        memory_key_padding_mask = opts.memory_key_padding_mask,
                                        tgt_is_causal = opts.tgt_is_causal})
   end
   function C.generate_square_subsequent_mask(n, opts)
      n = int_arg("Transformer.generate_square_subsequent_mask", n, "n", 1)
      opts = opts_of("Transformer.generate_square_subsequent_mask", opts, "dtype device")
      local i = ty.arange(n, {device = opts.device}):reshape{n, 1}
      local j = ty.arange(n, {device = opts.device}):reshape{1, n}
      return ty.where(ty.gt(j, i), NEG_INF, 0):astype(opts.dtype or "float32")
   end
end

---------------------------------------------------------------- recurrent

local GATES = {RNN = 1, LSTM = 4, GRU = 3}

-- One time step. xw: input projection (with bias_ih) (N, G*H); h (N, H);
-- whh_t (H, G*H); bhh (G*H) or nil; c (LSTM cell state). Returns h[, c].
local function cell_step(mode, act, xw, h, c, whh_t, bhh)
   local hw = ty.matmul(h, whh_t)
   if bhh then hw = hw + bhh end
   if mode == "RNN" then
      return act(xw + hw)
   elseif mode == "LSTM" then
      local g = ty.split(xw + hw, 4, {axis = -1})
      local i, f, gg, o = ty.sigmoid(g[1]), ty.sigmoid(g[2]), ty.tanh(g[3]), ty.sigmoid(g[4])
      local c2 = f * c + i * gg
      return o * ty.tanh(c2), c2
   else
      local gi = ty.split(xw, 3, {axis = -1})
      local gh = ty.split(hw, 3, {axis = -1})
      local r = ty.sigmoid(gi[1] + gh[1])
      local z = ty.sigmoid(gi[2] + gh[2])
      local n = ty.tanh(gi[3] + r * gh[3])
      return (1 - z) * n + z * h
   end
end

local function rnn_act(name, nl)
   if nl == "tanh" then return ty.tanh end
   if nl == "relu" then return ty.relu end
   error(fmt("[%s] nonlinearity must be 'tanh' or 'relu', got %s", name, tostring(nl)), 0)
end

local function recurrent_class(mode)
   local name = mode
   local C = class(name, fmt([[
ty.nn.%s(input_size, hidden_size, [{num_layers=1, bias=true, batch_first=true, dropout=0, bidirectional=false%s}]) -> module
  Multi-layer %s as PyTorch's nn.%s, BATCH-FIRST by default: input (N, L,
  input_size) (batch_first=false: (L, N, input_size); unbatched (L, input_size)
  works too). Parameters weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
  bias_hh_l{k} (suffix _reverse for the backward direction) with PyTorch's
  layouts and gate order (%s), uniform +-1/sqrt(hidden_size), so a torch
  state_dict loads directly. dropout applies between layers in training.
m:forward(input, [%s]) -> output, %s
  output (N, L, D*hidden_size) (D=2 when bidirectional: forward and backward
  halves concatenated); states of shape (D*num_layers, N, hidden_size), zeros
  when not given.]], name, mode == "RNN" and ", nonlinearity='tanh'" or "", mode, mode,
      mode == "LSTM" and "input, forget, cell, output" or mode == "GRU" and "reset, update, new" or "one gate",
      mode == "LSTM" and "{h0, c0}" or "h0", mode == "LSTM" and "{h_n, c_n}" or "h_n"))

   function C:init(input_size, hidden_size, opts)
      opts = opts_of(name, opts, "num_layers bias batch_first dropout bidirectional nonlinearity proj_size")
      if opts.proj_size and opts.proj_size ~= 0 then
         error(fmt("[%s] proj_size is not supported", name), 0)
      end
      self.mode = mode
      self.input_size = int_arg(name, input_size, "input_size", 1)
      self.hidden_size = int_arg(name, hidden_size, "hidden_size", 1)
      self.num_layers = int_arg(name, default(opts.num_layers, 1), "num_layers", 1)
      self.bias = opts.bias ~= false
      self.batch_first = opts.batch_first ~= false
      self.dropout = default(opts.dropout, 0)
      self.bidirectional = opts.bidirectional == true
      if mode == "RNN" then
         self.nonlinearity = default(opts.nonlinearity, "tanh")
         rnn_act(name, self.nonlinearity)
      end
      local H, G = self.hidden_size, GATES[mode] * self.hidden_size
      local D = self.bidirectional and 2 or 1
      local k = 1 / sqrt(H)
      for l = 0, self.num_layers - 1 do
         local in_size = l == 0 and self.input_size or H * D
         for d = 1, D do
            local sfx = "_l" .. l .. (d == 2 and "_reverse" or "")
            self["weight_ih" .. sfx] = uniform({G, in_size}, k)
            self["weight_hh" .. sfx] = uniform({G, H}, k)
            if self.bias then
               self["bias_ih" .. sfx] = uniform({G}, k)
               self["bias_hh" .. sfx] = uniform({G}, k)
            end
         end
      end
   end

   function C:extra_repr()
      local s = fmt("%d, %d", self.input_size, self.hidden_size)
      if self.num_layers ~= 1 then s = s .. ", num_layers=" .. self.num_layers end
      if self.bidirectional then s = s .. ", bidirectional=true" end
      if not self.batch_first then s = s .. ", batch_first=false" end
      return s
   end

   function C:forward(input, hx)
      check_array(name, input)
      local nd = #input.shape
      local I, H = self.input_size, self.hidden_size
      if (nd ~= 3 and nd ~= 2) or input.shape[nd] ~= I then
         bad_input(name, fmt(self.batch_first and "(N,L,%d)" or "(L,N,%d)", I), input)
      end
      local unbatched = nd == 2
      local x = input
      if unbatched then x = ty.expand_dims(x, 1)
      elseif not self.batch_first then x = ty.swapaxes(x, 1, 2) end
      local N, T = x.shape[1], x.shape[2]
      if T == 0 then
         error(fmt("[%s] the input sequence is empty (length 0): got %s", name, shape_str(input)), 0)
      end
      local D = self.bidirectional and 2 or 1
      local LD = self.num_layers * D
      local state_shape = unbatched and fmt("(%d,%d)", LD, H) or fmt("(%d,%d,%d)", LD, N, H)
      local function get_state(s, what)
         if s == nil then return ty.zeros({LD, N, H}, {dtype = x.dtype, device = x.device}) end
         check_array(name, s, what)
         if unbatched and #s.shape == 2 then s = ty.expand_dims(s, 2) end
         if #s.shape ~= 3 or s.shape[1] ~= LD or s.shape[2] ~= N or s.shape[3] ~= H then
            bad_input(name, state_shape, s, what)
         end
         return s
      end
      local h0, c0
      if mode == "LSTM" then
         if hx ~= nil and (type(hx) ~= "table" or is_array(hx)) then
            error(fmt("[%s] initial state must be a table {h0, c0}, got %s", name,
                      is_array(hx) and "an array" or type(hx)), 0)
         end
         hx = hx or {}
         h0, c0 = get_state(hx[1] or hx.h, "h0"), get_state(hx[2] or hx.c, "c0")
      else
         h0 = get_state(hx, "h0")
      end
      local act = mode == "RNN" and rnn_act(name, self.nonlinearity) or nil
      local layer_in = x
      local hn, cn = {}, {}
      for l = 0, self.num_layers - 1 do
         local dir_out = {}
         for d = 1, D do
            local sfx = "_l" .. l .. (d == 2 and "_reverse" or "")
            local idx = l * D + d
            local wih, whh = self["weight_ih" .. sfx], self["weight_hh" .. sfx]
            local bih, bhh = self["bias_ih" .. sfx], self["bias_hh" .. sfx]
            local xw = ty.matmul(layer_in, ty.transpose(wih))
            if bih then xw = xw + bih end
            local whh_t = ty.transpose(whh)
            local h = h0[idx]
            local c = c0 and c0[idx]
            local outs = {}
            local t0, t1, step = 1, T, 1
            if d == 2 then t0, t1, step = T, 1, -1 end
            for t = t0, t1, step do
               h, c = cell_step(mode, act, xw[{{}, t}], h, c, whh_t, bhh)
               outs[t] = h
            end
            dir_out[d] = ty.stack(outs, {axis = 2})
            hn[idx] = h
            cn[idx] = c
         end
         local out = D == 2 and ty.concatenate(dir_out, 3) or dir_out[1]
         if l < self.num_layers - 1 then out = dropout(out, self.dropout, self.training) end
         layer_in = out
      end
      local output = layer_in
      local h_n = ty.stack(hn, {axis = 1})
      local c_n = mode == "LSTM" and ty.stack(cn, {axis = 1}) or nil
      if unbatched then
         output = ty.squeeze(output, 1)
         h_n = ty.squeeze(h_n, 2)
         if c_n then c_n = ty.squeeze(c_n, 2) end
      elseif not self.batch_first then
         output = ty.swapaxes(output, 1, 2)
      end
      if mode == "LSTM" then return output, {h_n, c_n} end
      return output, h_n
   end
end

recurrent_class("RNN")
recurrent_class("LSTM")
recurrent_class("GRU")

local function cell_class(mode)
   local name = mode .. "Cell"
   local C = class(name, fmt([[
ty.nn.%s(input_size, hidden_size, [{bias=true%s}]) -> module
  One step of a %s, as PyTorch's nn.%s: parameters weight_ih (%d*hidden,
  input_size), weight_hh (%d*hidden, hidden), bias_ih, bias_hh.
m:forward(input, [%s]) -> %s
  input (N, input_size) or (input_size); states (N, hidden_size), zeros when
  not given.]], name, mode == "RNN" and ", nonlinearity='tanh'" or "", mode, name, GATES[mode], GATES[mode],
      mode == "LSTM" and "{h, c}" or "h", mode == "LSTM" and "{h', c'}" or "h'"))
   function C:init(input_size, hidden_size, opts)
      opts = opts_of(name, opts, "bias nonlinearity")
      self.input_size = int_arg(name, input_size, "input_size", 1)
      self.hidden_size = int_arg(name, hidden_size, "hidden_size", 1)
      self.bias = opts.bias ~= false
      if mode == "RNN" then
         self.nonlinearity = default(opts.nonlinearity, "tanh")
         rnn_act(name, self.nonlinearity)
      end
      local H, G, k = self.hidden_size, GATES[mode] * self.hidden_size, 1 / sqrt(self.hidden_size)
      self.weight_ih = uniform({G, self.input_size}, k)
      self.weight_hh = uniform({G, H}, k)
      if self.bias then
         self.bias_ih = uniform({G}, k)
         self.bias_hh = uniform({G}, k)
      end
   end
   function C:extra_repr() return fmt("%d, %d", self.input_size, self.hidden_size) end
   function C:forward(input, hx)
      check_array(name, input)
      local nd = #input.shape
      if (nd ~= 1 and nd ~= 2) or input.shape[nd] ~= self.input_size then
         bad_input(name, fmt("(N,%d)", self.input_size), input)
      end
      local x = nd == 1 and ty.expand_dims(input, 1) or input
      local N, H = x.shape[1], self.hidden_size
      local function get(s, what)
         if s == nil then return ty.zeros({N, H}, {dtype = x.dtype, device = x.device}) end
         check_array(name, s, what)
         if nd == 1 and #s.shape == 1 then s = ty.expand_dims(s, 1) end
         if #s.shape ~= 2 or s.shape[1] ~= N or s.shape[2] ~= H then
            bad_input(name, fmt("(%d,%d)", N, H), s, what)
         end
         return s
      end
      local h, c
      if mode == "LSTM" then
         hx = hx or {}
         h, c = get(hx[1], "h"), get(hx[2], "c")
      else
         h = get(hx, "h")
      end
      local xw = ty.matmul(x, ty.transpose(self.weight_ih))
      if self.bias_ih then xw = xw + self.bias_ih end
      local act = mode == "RNN" and rnn_act(name, self.nonlinearity) or nil
      local h2, c2 = cell_step(mode, act, xw, h, c, ty.transpose(self.weight_hh), self.bias_hh)
      if nd == 1 then
         h2 = ty.squeeze(h2, 1)
         if c2 then c2 = ty.squeeze(c2, 1) end
      end
      if mode == "LSTM" then return {h2, c2} end
      return h2
   end
end

cell_class("RNN")
cell_class("LSTM")
cell_class("GRU")

return nn
