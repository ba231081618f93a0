-- test_conv.lua -- convolutions and pooling: values and gradients against
-- torch 1.13 fixtures (tests/gen_conv_fixtures.py), finite differences
-- (ty.gradcheck, float64 on the CPU, VJP and JVP, second order), options,
-- a missing batch axis, error messages, half types, and the Vulkan kernels
-- against the CPU (skipped without a Vulkan device).
local ty = require "tycho"
local h = require "helpers"

local T = {}

local CASES = dofile("tests/fixtures/conv_cases.lua")
local FIX

local function fixtures()
   FIX = FIX or ty.load("tests/fixtures/conv_cases.npz", {device = "cpu"})
   return FIX
end

local function sorted_names()
   local names = {}
   for name in pairs(CASES) do names[#names + 1] = name end
   table.sort(names)
   return names
end

-- f(x, w, b) for a case (pools ignore w and b).
local function case_fn(c)
   if c.kernel then
      return function(x) return ty[c.fn](x, c.kernel, c.opts) end
   end
   return function(x, w, b)
      local o = {}
      for k, v in pairs(c.opts) do o[k] = v end
      o.bias = b
      return ty[c.fn](x, w, o)
   end
end

local function case_args(name, c, dtype)
   local F = fixtures()
   local args = {F[name .. ".x"], F[name .. ".w"], F[name .. ".b"]}
   if dtype then
      for i = 1, 3 do if args[i] then args[i] = args[i]:astype(dtype) end end
   end
   return args
end

function T.fixtures_forward_float64()
   for _, name in ipairs(sorted_names()) do
      local c = CASES[name]
      local a = case_args(name, c)
      local y = case_fn(c)(a[1], a[2], a[3])
      h.assert_close(y, fixtures()[name .. ".y"], 1e-10, name)
   end
end

function T.fixtures_forward_float32()
   for _, name in ipairs(sorted_names()) do
      local c = CASES[name]
      local a = case_args(name, c, "float32")
      local y = case_fn(c)(a[1], a[2], a[3])
      h.assert_dtype(y, "float32")
      h.assert_close(y, fixtures()[name .. ".y"], 1e-4, name)
   end
end

function T.fixtures_gradients_match_torch()
   local F = fixtures()
   for _, name in ipairs(sorted_names()) do
      local c = CASES[name]
      local a = case_args(name, c)
      local f = case_fn(c)
      local u = F[name .. ".u"]
      local n = c.kernel and 1 or (a[3] and 3 or 2)
      local nums = {}
      for i = 1, n do nums[i] = i end
      local grads = ty.grad(function(...) return (f(...) * u):sum() end, nums)(
         table.unpack(a, 1, n))
      local tags = {"gx", "gw", "gb"}
      for i = 1, n do
         h.assert_close(grads[i], F[name .. "." .. tags[i]], 1e-9, name .. " " .. tags[i])
      end
   end
end

local check = h.gradcheck

local function rnd(shape, seed)
   return ty.random.normal(shape, {key = ty.random.key(seed), dtype = "float64",
                                   device = "cpu"})
end

function T.gradcheck_conv_first_order()
   check(function(x, w) return ty.conv2d(x, w, {stride = 2, padding = 1}) end,
         {rnd({2, 2, 5, 5}, 1), rnd({3, 2, 3, 3}, 2)}, "conv2d stride")
   check(function(x, w) return ty.conv1d(x, w, {groups = 2, dilation = 2}) end,
         {rnd({1, 4, 9}, 3), rnd({2, 2, 3}, 4)}, "conv1d groups dilation")
   check(function(x, w)
      return ty.conv_transpose2d(x, w, {stride = 2, padding = 1, output_padding = 1})
   end, {rnd({1, 2, 3, 3}, 5), rnd({2, 3, 3, 3}, 6)}, "conv_transpose2d")
   check(function(x, w) return ty.conv3d(x, w, {stride = {1, 2, 1}}) end,
         {rnd({1, 2, 3, 4, 3}, 7), rnd({2, 2, 2, 2, 2}, 8)}, "conv3d")
   check(function(x, w)
      return ty.conv_general(x, w, {stride = 2, padding = {1}, padding_hi = {-1},
                                    input_dilation = 2, dilation = 2, flip = true})
   end, {rnd({2, 2, 7}, 9), rnd({3, 2, 3}, 10)}, "conv_general")
end

function T.gradcheck_conv_second_order()
   -- the gradient of a loss through conv is itself differentiable
   local function gx(x, w)
      return ty.grad(function(a, b)
         return (ty.conv2d(a, b, {stride = 2, padding = 1, groups = 2}) ^ 2):sum()
      end, {1, 2})(x, w)
   end
   check(function(x, w) return gx(x, w)[1] end, {rnd({1, 4, 5, 4}, 11), rnd({2, 2, 3, 2}, 12)},
         "conv2d grad x")
   check(function(x, w) return gx(x, w)[2] end, {rnd({1, 4, 5, 4}, 13), rnd({2, 2, 3, 2}, 14)},
         "conv2d grad w")
end

function T.gradcheck_pools()
   check(function(x) return ty.max_pool2d(x, 3, {stride = 2, padding = 1, ceil_mode = true}) end,
         {rnd({2, 2, 6, 5}, 20)}, "max_pool2d")
   check(function(x) return ty.avg_pool2d(x, 3, {stride = 2, padding = 1,
                                                 count_include_pad = false}) end,
         {rnd({1, 2, 5, 6}, 21)}, "avg_pool2d")
   check(function(x) return ty.max_pool1d(x, 2, {dilation = 2, stride = 1}) end,
         {rnd({2, 3, 7}, 22)}, "max_pool1d")
   check(function(x) return ty.avg_pool3d(x, 2, {stride = 1}) end, {rnd({1, 1, 3, 3, 3}, 23)},
         "avg_pool3d")
   check(function(x) return ty.adaptive_avg_pool2d(x, {3, 2}) end, {rnd({1, 2, 7, 5}, 24)},
         "adaptive_avg_pool2d")
   check(function(x) return ty.adaptive_max_pool1d(x, 3) end, {rnd({1, 2, 8}, 25)},
         "adaptive_max_pool1d")
   -- second order: the pooling gradients (pool_grad) are differentiable
   for _, kind in ipairs({"max_pool2d", "avg_pool2d"}) do
      check(function(x, u)
         return ty.grad(function(a) return (ty[kind](a, 2, {stride = 1}) * u):sum() end)(x)
      end, {rnd({1, 2, 4, 4}, 26), rnd({1, 2, 3, 3}, 27)}, kind .. " grad")
   end
end

function T.conv_small_values_by_hand()
   local x = ty.array({{{1, 2, 3, 4, 5}}})
   local w = ty.array({{{1, 0, -1}}})
   h.assert_close(ty.conv1d(x, w), {{{-2, -2, -2}}})
   h.assert_close(ty.conv1d(x, w, {padding = 1}), {{{-2, -2, -2, -2, 4}}})
   h.assert_close(ty.conv_general(x, w, {flip = true}), {{{2, 2, 2}}})
   -- input dilation 2: 1 0 2 0 3 0 4 0 5
   h.assert_close(ty.conv_general(x, w, {input_dilation = 2}),
                  {{{-1, 0, -1, 0, -1, 0, -1}}})
   -- negative padding crops
   h.assert_close(ty.conv_general(x, w, {padding = 0, padding_hi = -1}), {{{-2, -2}}})
   h.assert_close(ty.conv1d(x, w, ty.array({10})), {{{8, 8, 8}}})
end

function T.pool_small_values_by_hand()
   local x = ty.array({{{1, 5, 2, 8, 3, 3}}})
   h.assert_close(ty.max_pool1d(x, 2), {{{5, 8, 3}}})
   h.assert_close(ty.avg_pool1d(x, 2), {{{3, 5, 3}}})
   h.assert_close(ty.max_pool1d(x, 3, {stride = 2, ceil_mode = true}), {{{5, 8, 3}}})
   h.assert_close(ty.avg_pool1d(x, 3, {stride = 3, padding = 1}), {{{2, 13 / 3}}})
   -- gradient goes to the first maximum of a window (ties)
   local t = ty.array({{{2, 2, 1, 1}}})
   h.assert_close(ty.grad(function(a) return ty.max_pool1d(a, 2):sum() end)(t),
                  {{{1, 0, 1, 0}}})
end

function T.missing_batch_axis_and_methods()
   local x = rnd({3, 6, 5}, 30)
   local w = rnd({2, 3, 3, 3}, 31)
   local y = ty.conv2d(x, w, {padding = 1})
   h.assert_shape(y, {2, 6, 5})
   h.assert_close(y, ty.conv2d(x:reshape{1, 3, 6, 5}, w, {padding = 1})[1])
   h.assert_shape(x:max_pool2d(2), {3, 3, 2})
   h.assert_shape(x:conv2d(w), {2, 4, 3})
   h.assert_shape(ty.adaptive_avg_pool2d(x, {nil, 2}), {3, 6, 2})
   h.assert_shape(ty.conv_transpose1d(rnd({4, 5}, 32), rnd({4, 2, 3}, 33)), {2, 7})
end

function T.half_types_follow_float32()
   local x, w = rnd({2, 3, 6, 6}, 40), rnd({4, 3, 3, 3}, 41)
   local want = ty.conv2d(x, w, {padding = 1})
   for _, dt in ipairs({"float16", "bfloat16"}) do
      local y = ty.conv2d(x:astype(dt), w:astype(dt), {padding = 1})
      h.assert_dtype(y, dt)
      h.assert_close(y:astype("float64"), want, dt == "float16" and 1e-2 or 6e-2, dt)
      local p = ty.max_pool2d(x:astype(dt), 2)
      h.assert_close(p:astype("float64"), ty.max_pool2d(x:astype(dt):astype("float64"), 2), 0)
   end
end

function T.errors_name_the_function_and_shapes()
   local x, w = ty.zeros{2, 3, 8, 8}, ty.zeros{4, 3, 3, 3}
   h.assert_error(function() ty.conv2d(ty.zeros{3, 8}, w) end,
                  "[conv2d] expected input (N,C,H,W) (or without the batch axis), got (3,8)")
   h.assert_error(function() ty.conv2d(x, ty.zeros{4, 2, 3, 3}) end,
                  "[conv2d] weight (4,2,3,3) does not fit input (2,3,8,8)")
   h.assert_error(function() ty.conv2d(x, w, {groups = 2}) end, "[conv2d]")
   h.assert_error(function() ty.conv2d(x, ty.zeros{4, 3, 9, 9}) end,
                  "[conv2d] the kernel (dilated) is larger than the padded input: " ..
                  "input (2,3,8,8), weight (4,3,9,9)")
   h.assert_error(function() ty.conv2d(x, w, {stride = 2, padding = "same"}) end,
                  "[conv2d] padding='same' needs stride 1")
   h.assert_error(function() ty.conv2d(x, w, {padding = "full"}) end, "[conv2d] padding must")
   h.assert_error(function() ty.conv2d(x, w, {strides = 2}) end, "[conv2d] unknown option")
   h.assert_error(function() ty.conv2d(x, w:astype("float16")) end,
                  "[conv2d] input and weight dtypes differ: float32 and float16")
   h.assert_error(function() ty.conv_general(ty.zeros{2, 3}, ty.zeros{2, 3}) end,
                  "[conv_general] expected input (N,C,*spatial)")
   h.assert_error(function() ty.conv_transpose2d(x, ty.zeros{3, 4, 3, 3}, {output_padding = 1}) end,
                  "[conv_transpose2d] output_padding must be smaller")
   h.assert_error(function() ty.max_pool2d(x, 2, {padding = 2}) end,
                  "[max_pool2d] padding should be at most half the kernel size")
   h.assert_error(function() ty.max_pool2d(x) end, "[max_pool2d] kernel size is required")
   h.assert_error(function() ty.avg_pool2d(x, 2, {dilation = 2}) end, "[avg_pool2d] unknown option")
   h.assert_error(function() ty.max_pool2d(ty.zeros{8}, 2) end,
                  "[max_pool2d] expected input (N,C,H,W)")
   h.assert_error(function() ty.adaptive_avg_pool2d(x, {1, 2, 3}) end,
                  "[adaptive_avg_pool2d] output size needs 1 or 2 values")
   h.assert_error(function() ty.max_pool2d(ty.zeros({1, 1, 4, 4}, "int32"), 2) end,
                  "[max_pool2d] input must be a float array")
end

-- ---------------------------------------------------------------- Vulkan

local VK
for _, d in ipairs(ty.devices()) do
   if d.type ~= "cpu" then
      VK = d.name or ("vulkan:" .. d.index)
      break
   end
end

local function vk_same(what, f, args, tol)
   local want = f(table.unpack(args))
   local vargs = {}
   for i, a in ipairs(args) do vargs[i] = a:to(VK) end
   local got = f(table.unpack(vargs)):to("cpu")
   h.assert_dtype(got, want.dtype)
   h.assert_close(got, want, tol, what)
end

local function rnd32(shape, seed)
   return rnd(shape, seed):astype("float32")
end

function T.vulkan_conv_matches_cpu()
   if not VK then return end
   for _, name in ipairs(sorted_names()) do
      local c = CASES[name]
      local a = case_args(name, c, "float32")
      local n = c.kernel and 1 or (a[3] and 3 or 2)
      vk_same(name, case_fn(c), {table.unpack(a, 1, n)}, 1e-4)
   end
   -- larger than one tile, odd sizes, non-contiguous input
   local x, w = rnd32({3, 5, 13, 11}, 50), rnd32({70, 5, 3, 3}, 51)
   vk_same("conv2d tiles", function(a, b) return ty.conv2d(a, b, {padding = 1}) end,
           {x, w}, 1e-4)
   vk_same("conv2d transposed input",
           function(a, b) return ty.conv2d(a:transpose(1, 2), b, {stride = 2}) end,
           {rnd32({5, 3, 9, 9}, 52), w}, 1e-4)
   -- long reductions over few outputs: split-K partial sums
   local xl, wl = rnd32({2, 32, 20, 20}, 53), rnd32({3, 32, 8, 8}, 54)
   vk_same("conv2d split-K", function(a, b) return ty.conv2d(a, b) end, {xl, wl}, 1e-4)
   vk_same("conv2d split-K f16", function(a, b) return ty.conv2d(a, b) end,
           {xl:astype("float16"), wl:astype("float16")}, 3e-2)
   for _, dt in ipairs({"float16", "bfloat16"}) do
      vk_same("conv2d " .. dt, function(a, b) return ty.conv2d(a, b, {padding = 1}) end,
              {x:astype(dt), w:astype(dt)}, dt == "float16" and 2e-2 or 1e-1)
   end
   -- 1x1 stride-1 convolutions run as batched GEMMs (matmul.comp): vec4 and
   -- scalar layouts, one image, a non-flat input (the conv kernel), 1-d and 3-d
   local c1 = function(a, b) return ty.conv2d(a, b) end
   vk_same("conv1x1 gemm", c1, {rnd32({3, 16, 8, 8}, 70), rnd32({36, 16, 1, 1}, 71)}, 1e-4)
   vk_same("conv1x1 gemm odd", c1, {rnd32({2, 5, 7, 3}, 72), rnd32({7, 5, 1, 1}, 73)}, 1e-4)
   vk_same("conv1x1 gemm 1 image", c1, {rnd32({1, 5, 1, 1}, 74), rnd32({1, 5, 1, 1}, 75)}, 1e-4)
   vk_same("conv1x1 non-flat input", function(a, b) return ty.conv2d(a:transpose(3, 4), b) end,
           {rnd32({2, 8, 6, 4}, 76), rnd32({12, 8, 1, 1}, 77)}, 1e-4)
   vk_same("conv1x1 float16", c1,
           {rnd32({2, 16, 6, 6}, 78):astype("float16"), rnd32({8, 16, 1, 1}, 79):astype("float16")},
           2e-2)
   vk_same("conv1d 1x1", function(a, b) return ty.conv1d(a, b) end,
           {rnd32({2, 8, 40}, 80), rnd32({12, 8, 1}, 81)}, 1e-4)
   vk_same("conv3d 1x1", function(a, b) return ty.conv3d(a, b) end,
           {rnd32({2, 8, 4, 3, 5}, 82), rnd32({12, 8, 1, 1, 1}, 83)}, 1e-4)
   -- input dilation: one dispatch per output phase, phases without taps are zeros
   local xi, wi = rnd32({2, 3, 7, 6}, 84), rnd32({4, 3, 2, 3}, 85)
   vk_same("conv_general input dilation phases", function(a, b)
      return ty.conv_general(a, b, {input_dilation = {3, 2}, stride = {2, 1},
                                    dilation = {3, 2}, padding = {2, 1}})
   end, {xi, wi}, 1e-4)
   vk_same("conv_general input dilation flip", function(a, b)
      return ty.conv_general(a, b, {input_dilation = {2, 3}, flip = true, padding = {2, 1}})
   end, {xi, wi}, 1e-4)
   vk_same("conv_general input dilation, empty phases", function(a, b)
      return ty.conv_general(a, b, {input_dilation = 3, padding = {1}})
   end, {rnd32({2, 3, 7}, 86), rnd32({4, 3, 1}, 87)}, 1e-4)
   vk_same("conv_transpose2d stride 3 dilation 2", function(a, b)
      return ty.conv_transpose2d(a, b, {stride = 3, dilation = 2, padding = 1})
   end, {rnd32({2, 3, 5, 6}, 88), rnd32({3, 4, 3, 3}, 89)}, 1e-4)
   vk_same("conv3d stride", function(a, b) return ty.conv3d(a, b, {padding = 1, stride = {1, 2, 1}}) end,
           {rnd32({2, 3, 6, 7, 5}, 90), rnd32({4, 3, 3, 3, 3}, 91)}, 1e-4)
end

function T.vulkan_gradients_match_cpu()
   if not VK then return end
   local x, w = rnd32({2, 4, 7, 6}, 60), rnd32({6, 2, 3, 3}, 61)
   local u = rnd32({2, 6, 4, 3}, 62)
   local function g(a, b, c)
      return ty.grad(function(p, q)
         return (ty.conv2d(p, q, {stride = 2, padding = 1, groups = 2}) * c):sum()
      end, {1, 2})(a, b)
   end
   vk_same("conv grad x", function(a, b, c) return g(a, b, c)[1] end, {x, w, u}, 1e-4)
   vk_same("conv grad w", function(a, b, c) return g(a, b, c)[2] end, {x, w, u}, 1e-4)
   -- weight gradient with a long reduction (split-K on the device)
   local xb, wb = rnd32({4, 3, 16, 16}, 64), rnd32({8, 3, 3, 3}, 65)
   vk_same("conv grad w split-K", function(a, b)
      return ty.grad(function(q) return (ty.conv2d(a, q, {padding = 1}) ^ 2):sum() end)(b)
   end, {xb, wb}, 1e-3)
   -- stride 2 without groups: the input gradient runs per output phase, the
   -- weight gradient with invocations along the taps (B_MODE 1)
   local function g2(a, b, c)
      return ty.grad(function(p, q)
         return (ty.conv2d(p, q, {stride = 2, padding = 1}) * c):sum()
      end, {1, 2})(a, b)
   end
   local x2, w2, u2 = rnd32({2, 3, 9, 9}, 66), rnd32({5, 3, 3, 3}, 67), rnd32({2, 5, 5, 5}, 68)
   vk_same("conv stride 2 grad x", function(a, b, c) return g2(a, b, c)[1] end, {x2, w2, u2}, 1e-4)
   vk_same("conv stride 2 grad w", function(a, b, c) return g2(a, b, c)[2] end, {x2, w2, u2}, 1e-4)
   -- 1x1: the input gradient is a GEMM with the weight transposed in place
   local function g1(a, b, c)
      return ty.grad(function(p, q) return (ty.conv2d(p, q) * c):sum() end, {1, 2})(a, b)
   end
   local x1, w1, u1 = rnd32({2, 8, 6, 4}, 69), rnd32({12, 8, 1, 1}, 92), rnd32({2, 12, 6, 4}, 93)
   vk_same("conv1x1 grad x", function(a, b, c) return g1(a, b, c)[1] end, {x1, w1, u1}, 1e-4)
   vk_same("conv1x1 grad w", function(a, b, c) return g1(a, b, c)[2] end, {x1, w1, u1}, 1e-4)
   local p = rnd32({2, 3, 7, 6}, 63)
   for _, kind in ipairs({"max_pool2d", "avg_pool2d"}) do
      local f = function(a) return ty[kind](a, 3, {stride = 2, padding = 1, ceil_mode = true}) end
      vk_same(kind, f, {p}, 1e-5)
      vk_same(kind .. " float16", f, {p:astype("float16")}, 2e-3)
      vk_same(kind .. " bfloat16 3d", function(a)
         return ty[kind:gsub("2d", "3d")](a, 2, {stride = 1})
      end, {p:reshape{1, 2, 3, 7, 6}:astype("bfloat16")}, 1e-2)
      vk_same(kind .. " grad", function(a)
         return ty.grad(function(q) return (f(q) * q:sum()):sum() end)(a)
      end, {p}, 1e-4)
   end
end

function T.error_messages_name_the_unbatched_reading()
   -- a 3-d input to conv2d is read as unbatched (C,H,W): the message says so
   local e = h.assert_error(function() ty.conv2d(ty.ones{2, 3, 4}, ty.ones{4, 3, 3, 3}) end,
      "[conv2d] weight (4,3,3,3) does not fit input (2,3,4) (read as unbatched (C,*spatial))")
   assert(e:find("test_conv.lua:", 1, true), e)
   h.assert_error(function() ty.conv_transpose1d(ty.ones{1, 2, 5}, ty.ones{2, 3, 3}, ty.ones{2}) end,
      "[conv_transpose1d] bias must have shape (3,), got (2,)")
end

return T
