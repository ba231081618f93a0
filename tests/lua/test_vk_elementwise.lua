-- test_vk_elementwise.lua -- the Vulkan elementwise kernels (creation, random,
-- unary, binary, where, astype, copy) against the CPU backend: fresh random
-- inputs, odd sizes, broadcasting, non-contiguous views (transposed, stepped,
-- flipped), every dtype but float64.
--
-- Tolerances (h.assert_close: |got - want| <= tol * (1 + |want|)):
--   exact (0): integer arithmetic, comparisons, casts, copies, creation by
--     fill/eye/integral arange, exact float ops (add, sub, mul, neg, abs,
--     floor, ...), random bits/uniform/randint/bernoulli;
--   float32 transcendental ops: 1e-6 (kernels compute in float32 with ~1-4
--     ulp functions, the CPU in double); GLSL builtins (sin, cos, tan, asin,
--     acos, atan) and pow: 4e-6;
--   float16: 2e-3, bfloat16: 1.6e-2 (one ulp: the float32 result is rounded
--     again); normal / truncated_normal draws: 1e-5 (float32 Box-Muller).
-- Skipped (no failure) when ty.devices() lists no Vulkan device.
local ty = require "tycho"
local h = require "helpers"
local R = ty.random

local VK = h.vulkan_device()

local T = {}
local seed = 1000
local function key() seed = seed + 1; return R.key(seed) end

local FLOATS = {"float32", "float16", "bfloat16"}
local INTS = {"int32", "int64", "uint8"}
local ALL = {"float32", "float16", "bfloat16", "int32", "int64", "uint8", "bool"}

local function is_float(dt) return dt == "float32" or dt == "float16" or dt == "bfloat16" end

-- Random CPU data of a dtype; kind: nil (normal * 3 / small ints),
-- "unit" (in (-1, 1)), "pos" (positive).
local function rand(shape, dt, kind)
   if dt == "bool" then return R.bernoulli(0.5, shape, {key = key()}) end
   if dt == "uint8" then return R.randint(0, 255, shape, {key = key(), dtype = dt}) end
   if not is_float(dt) then return R.randint(-60, 60, shape, {key = key(), dtype = dt}) end
   local x
   if kind == "unit" then
      x = R.uniform(shape, {low = -0.999, high = 0.999, key = key()})
   elseif kind == "pos" then
      x = R.uniform(shape, {low = 0.05, high = 8, key = key()})
   else
      x = R.normal(shape, {std = 3, key = key()})
   end
   return x:astype(dt)
end

local function tol_of(dt, t32)
   if dt == "float16" then return math.max(t32, 2e-3) end
   if dt == "bfloat16" then return math.max(t32, 1.6e-2) end
   if dt == "float32" then return t32 end
   return 0
end

-- fn(...) on the CPU inputs and on their Vulkan copies (views are taken by
-- `view` after the move, so the kernels see the strides), compared.
local function compare(what, fn, inputs, tol, view)
   view = view or function(x) return x end
   local cpu, vk = {}, {}
   for i, x in ipairs(inputs) do
      cpu[i] = view(x, i)
      vk[i] = view(x:to(VK), i)
   end
   local want = fn(table.unpack(cpu))
   local got = fn(table.unpack(vk))
   assert(got.device == VK or tostring(got.device):find("vulkan"),
          what .. ": result not on the Vulkan device")
   got = got:to("cpu")
   h.assert_dtype(got, want.dtype)
   h.assert_close(got, want, tol, what)
end

-- Layouts of a (7, 9) operand: each makes the view from a base array.
local LAYOUTS = {
   contiguous = {shape = {7, 9}, view = function(x) return x end},
   transposed = {shape = {9, 7}, view = function(x) return x:transpose() end},
   stepped = {shape = {14, 19}, view = function(x) return x[{{1, -1, 2}, {2, -1, 2}}] end},
   flipped = {shape = {7, 9}, view = function(x) return ty.flip(x, 2) end},
}

-- ---------------------------------------------------------------- unary

local UNARY = {
   neg = 0, abs = 0, sign = 0, exp = 1e-6, log = 1e-6, log1p = 1e-6, expm1 = 1e-6,
   sqrt = 0, rsqrt = 1e-6, square = 0, reciprocal = 0, sin = 4e-6, cos = 4e-6,
   tan = 4e-6, tanh = 1e-6, sigmoid = 1e-6, relu = 0, gelu = 1e-6, gelu_tanh = 1e-6,
   silu = 1e-6, softplus = 1e-6, erf = 1e-6, erfinv = 1e-6, floor = 0, ceil = 0,
   round = 0, logical_not = 0, isnan = 0, isinf = 0, asin = 4e-6, acos = 4e-6,
   atan = 4e-6, sinh = 1e-6, cosh = 1e-6, log2 = 1e-6, log10 = 1e-6, exp2 = 1e-6,
   trunc = 0,
}
local UNARY_KIND = {log = "pos", log2 = "pos", log10 = "pos", sqrt = "pos", rsqrt = "pos",
                    log1p = "pos", erfinv = "unit", asin = "unit", acos = "unit"}

local function sorted_keys(t)
   local k = {}
   for name in pairs(t) do k[#k + 1] = name end
   table.sort(k)
   return k
end

function T.unary_every_op_and_dtype()
   if not VK then return end
   for _, op in ipairs(sorted_keys(UNARY)) do
      for _, dt in ipairs(ALL) do
         local x = rand({37}, dt, UNARY_KIND[op])
         local want = ty[op](x)
         local t = tol_of(want.dtype, UNARY[op])
         if want.dtype ~= dt and is_float(dt) then t = tol_of(dt, UNARY[op]) end
         compare(op .. " " .. dt, ty[op], {x}, t)
      end
   end
end

function T.unary_strided_layouts_float32()
   if not VK then return end
   for _, op in ipairs(sorted_keys(UNARY)) do
      for lname, L in pairs(LAYOUTS) do
         local x = rand(L.shape, "float32", UNARY_KIND[op])
         compare(op .. " " .. lname, ty[op], {x}, UNARY[op], L.view)
      end
   end
end

function T.unary_special_values()
   if not VK then return end
   local v = ty.array({0, -0.0, 1 / 0, -1 / 0, 0 / 0, 1e-30, -1e-30, 1e30, -1e30, 0.5, -0.5,
                       1.5, 2.5, -2.5, 88, -88, 100, -100, 1, -1, 20, -20})
   -- sin, cos, tan: GLSL builtins, no reduction of huge arguments
   local small = v[{{10, -1}}]
   for _, op in ipairs(sorted_keys(UNARY)) do
      local t = UNARY[op] == 0 and 0 or 4e-6
      local trig = op == "sin" or op == "cos" or op == "tan"
      compare(op .. " special", ty[op], {trig and small or v}, t)
   end
end

function T.unary_sizes()
   if not VK then return end
   for _, n in ipairs({1, 7, 31, 129, 1025, 4099}) do
      compare("exp n=" .. n, ty.exp, {rand({n}, "float32")}, 1e-6)
      compare("neg int32 n=" .. n, ty.neg, {rand({n}, "int32")}, 0)
   end
end

-- ---------------------------------------------------------------- binary

local BINARY = {
   add = 0, sub = 0, mul = 0, div = 1e-6, floor_divide = 0, pow = 4e-6, maximum = 0,
   minimum = 0, remainder = 1e-6, atan2 = 4e-6, eq = 0, ne = 0, lt = 0, le = 0, gt = 0,
   ge = 0, logical_and = 0, logical_or = 0,
}

local function binary_inputs(op, shape_a, shape_b, da, db)
   local a, b = rand(shape_a, da), rand(shape_b, db)
   if op == "pow" then
      if is_float(da) then a = rand(shape_a, da, "pos") end
      if not is_float(db) then
         local lo = db == "uint8" and 0 or -1
         b = R.randint(lo, 6, shape_b, {key = key(), dtype = db == "bool" and "int32" or db})
         if db == "bool" then b = b:gt(2) end
      end
      if not is_float(da) and da ~= "bool" and da ~= "uint8" then
         a = R.randint(-5, 5, shape_a, {key = key(), dtype = da})
      end
   end
   if (op == "eq" or op == "ne") and is_float(da) and is_float(db) then
      b = ty.where(R.bernoulli(0.5, shape_b, {key = key()}), b, a:astype(db))
   end
   return a, b
end

function T.binary_every_op_and_dtype()
   if not VK then return end
   for _, op in ipairs(sorted_keys(BINARY)) do
      for _, dt in ipairs(ALL) do
         local a, b = binary_inputs(op, {41}, {41}, dt, dt)
         local want = ty[op](a, b)
         local t = tol_of(is_float(dt) and dt or want.dtype, BINARY[op])
         compare(op .. " " .. dt, ty[op], {a, b}, t)
      end
   end
end

function T.binary_mixed_dtypes()
   if not VK then return end
   local pairs_ = {{"int32", "float32"}, {"float16", "bfloat16"}, {"uint8", "int64"},
                   {"bool", "int32"}, {"float16", "int32"}, {"bfloat16", "float32"}}
   for _, op in ipairs({"add", "mul", "sub", "maximum", "lt", "floor_divide", "remainder"}) do
      for _, p in ipairs(pairs_) do
         local a, b = binary_inputs(op, {33}, {33}, p[1], p[2])
         local want = ty[op](a, b)
         compare(op .. " " .. p[1] .. "," .. p[2], ty[op], {a, b},
                 tol_of(want.dtype, math.max(BINARY[op], 1e-6)))
      end
   end
end

function T.binary_broadcast_and_layouts()
   if not VK then return end
   for _, op in ipairs({"add", "sub", "mul", "div", "maximum", "pow", "remainder", "ge"}) do
      for _, dt in ipairs({"float32", "int32"}) do
         local t = tol_of(dt, BINARY[op])
         -- (7,1) with (1,9), a scalar, a 0-d array
         local a, b = binary_inputs(op, {7, 1}, {1, 9}, dt, dt)
         compare(op .. " bcast " .. dt, ty[op], {a, b}, t)
         a, b = binary_inputs(op, {7, 9}, {1}, dt, dt)
         compare(op .. " scalar " .. dt, ty[op], {a, b}, t)
         compare(op .. " scalar-first " .. dt, ty[op], {b, a}, t)
         for lname, L in pairs(LAYOUTS) do
            a, b = binary_inputs(op, L.shape, L.shape, dt, dt)
            compare(op .. " " .. lname .. " " .. dt, ty[op], {a, b}, t, L.view)
            -- one strided, one contiguous
            local c = rand({7, 9}, dt, op == "pow" and "pos" or nil)
            compare(op .. " " .. lname .. "+contig " .. dt, ty[op], {a, c}, t,
                    function(x, i) return i == 1 and L.view(x) or x end)
         end
      end
   end
end

function T.binary_sizes()
   if not VK then return end
   for _, n in ipairs({1, 7, 31, 129, 1025, 5000}) do
      compare("add n=" .. n, ty.add, {rand({n}, "float32"), rand({n}, "float32")}, 0)
      compare("floor_divide i64 n=" .. n, ty.floor_divide,
              {rand({n}, "int64"), R.randint(-4, 4, {n}, {key = key(), dtype = "int64"})}, 0)
   end
end

function T.integer_division_edge_cases()
   if not VK then return end
   local a = ty.array({7, -7, 7, -7, 0, 5, -9223372036854775807 - 1, 3}, "int64")
   local b = ty.array({2, 2, -2, -2, 3, 0, -1, -1}, "int64")
   compare("floor_divide", ty.floor_divide, {a, b}, 0)
   compare("remainder", ty.remainder, {a, b}, 0)
   local fa = ty.array({7.5, -7.5, 7.5, -7.5, 0, 5, 1, -1})
   local fb = ty.array({2, 2, -2, -2, 3, 0, 0.1, 0.1})
   compare("floor_divide f32", ty.floor_divide, {fa, fb}, 0)
   compare("remainder f32", ty.remainder, {fa, fb}, 1e-6)
   local n = ty.array({0 / 0, 1, 0 / 0, -0.0})
   local m = ty.array({1, 0 / 0, 0 / 0, 0.0})
   compare("maximum nan", ty.maximum, {n, m}, 0)
   compare("minimum nan", ty.minimum, {n, m}, 0)
end

-- ---------------------------------------------------------------- where

function T.where_dtypes_and_broadcast()
   if not VK then return end
   for _, dt in ipairs(ALL) do
      local c = R.bernoulli(0.5, {7, 9}, {key = key()})
      local a, b = rand({7, 9}, dt), rand({7, 9}, dt)
      compare("where " .. dt, ty.where, {c, a, b}, 0)
      compare("where bcast " .. dt, ty.where, {c, rand({1, 9}, dt), rand({7, 1}, dt)}, 0)
      compare("where scalar " .. dt, ty.where, {c, a, rand({1}, dt)}, 0)
   end
   local fc = R.normal({7, 9}, {key = key()})
   compare("where float cond", ty.where, {fc, rand({7, 9}, "int32"), rand({7, 9}, "float16")},
           2e-3)
   for lname, L in pairs(LAYOUTS) do
      local c = R.bernoulli(0.3, L.shape, {key = key()})
      compare("where " .. lname, ty.where,
              {c, rand(L.shape, "float32"), rand(L.shape, "float32")}, 0, L.view)
   end
end

-- ---------------------------------------------------------------- astype, copy

function T.astype_every_pair()
   if not VK then return end
   local special = ty.array({0, -0.0, 1.5, -1.5, 2.5, 255.9, 256, -1, 3e9, -3e9, 1e20, -1e20,
                             0 / 0, 1 / 0, -1 / 0, 65519, 65520, 1e-8, 6e-8, 70000, -0.7})
   for _, from in ipairs(ALL) do
      local x = rand({53}, from)
      for _, to in ipairs(ALL) do
         local cast = function(v) return v:astype(to) end
         compare("astype " .. from .. "->" .. to, cast, {x}, 0)
         compare("astype T " .. from .. "->" .. to, cast, {rand({9, 7}, from)}, 0,
                 function(v) return v:transpose() end)
         if from == "float32" then
            compare("astype special ->" .. to, cast, {special}, 0)
         end
      end
   end
end

function T.copy_and_reshape_of_views()
   if not VK then return end
   for _, dt in ipairs(ALL) do
      for lname, L in pairs(LAYOUTS) do
         local x = rand(L.shape, dt)
         compare("contiguous " .. lname .. " " .. dt, function(v) return v:contiguous() end,
                 {x}, 0, L.view)
         compare("reshape " .. lname .. " " .. dt, function(v) return v:reshape({63}) end,
                 {x}, 0, L.view)
      end
   end
   local big = rand({1030, 3}, "float32")
   compare("reshape big", function(v) return v:transpose():reshape({3090}) end, {big}, 0)
end

-- ---------------------------------------------------------------- creation, random

function T.creation()
   if not VK then return end
   local function both(what, make, tol)
      local want = make("cpu")
      local got = make(VK):to("cpu")
      h.assert_dtype(got, want.dtype)
      h.assert_close(got, want, tol, what)
   end
   for _, dt in ipairs(ALL) do
      for _, v in ipairs({0, 1, -2.5, 3.7, 300, 1e10}) do
         both("full " .. dt .. " " .. v,
              function(d) return ty.full({7, 5}, v, {dtype = dt, device = d}) end, 0)
      end
      both("eye " .. dt, function(d) return ty.eye(5, 7, {k = 1, dtype = dt, device = d}) end, 0)
      both("eye " .. dt, function(d) return ty.eye(9, 4, {k = -2, dtype = dt, device = d}) end, 0)
      both("arange " .. dt,
           function(d) return ty.arange(-20, 1030, 3, {dtype = dt, device = d}) end, 0)
      if is_float(dt) then
         both("arange frac " .. dt,
              function(d) return ty.arange(0.5, 100, 0.37, {dtype = dt, device = d}) end,
              tol_of(dt, 1e-6))
         both("linspace " .. dt,
              function(d) return ty.linspace(-3, 7, 1029, {dtype = dt, device = d}) end,
              tol_of(dt, 1e-6))
      end
   end
   both("linspace 1", function(d) return ty.linspace(2, 7, 1, {device = d}) end, 0)
end

function T.random_matches_cpu()
   if not VK then return end
   for _, n in ipairs({1, 7, 31, 129, 1025, 4099}) do
      local k = key()
      local function both(what, make, tol)
         local want = make("cpu")
         local got = make(VK):to("cpu")
         h.assert_dtype(got, want.dtype)
         h.assert_close(got, want, tol, what .. " n=" .. n)
      end
      both("bits", function(d) return R.bits({n}, {key = k, device = d}) end, 0)
      for _, dt in ipairs(FLOATS) do
         both("uniform " .. dt, function(d)
            return R.uniform({n}, {low = -2, high = 5, key = k, dtype = dt, device = d})
         end, 0)
         both("normal " .. dt, function(d)
            return R.normal({n}, {mean = 1, std = 2, key = k, dtype = dt, device = d})
         end, tol_of(dt, 1e-5))
         both("truncated_normal " .. dt, function(d)
            return R.truncated_normal(-1.5, 2, {n}, {key = k, dtype = dt, device = d})
         end, tol_of(dt, 1e-5))
      end
      for _, dt in ipairs(INTS) do
         local lo, hi = -100, 1000
         if dt == "uint8" then lo, hi = 3, 250 end
         both("randint " .. dt, function(d)
            return R.randint(lo, hi, {n}, {key = k, dtype = dt, device = d})
         end, 0)
      end
      both("randint wide", function(d)
         return R.randint(-2 ^ 40, 2 ^ 45, {n}, {key = k, dtype = "int64", device = d})
      end, 0)
      both("bernoulli", function(d) return R.bernoulli(0.3, {n}, {key = k, device = d}) end, 0)
   end
end

-- ---------------------------------------------------------------- devices

function T.mixing_devices_is_an_error()
   if not VK then return end
   local a, b = ty.ones({3}, {device = "cpu"}), ty.ones({3}):to(VK)
   h.assert_error(function() return ty.add(a, b) end, "[add] arrays are on different devices")
   h.assert_error(function() return ty.where(a:gt(0), a, b) end,
                  "[where] arrays are on different devices")
end

return T
