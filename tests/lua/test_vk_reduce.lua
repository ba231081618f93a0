-- test_vk_reduce.lua -- reductions, arg-reductions, scans, softmax and sort
-- on Vulkan against the CPU backend (the reference), on fresh random data,
-- odd sizes, several axes, keepdims and non-contiguous views (made on the
-- device, after the transfer), for every dtype but float64.
-- Tolerances (assert_close: |got - want| <= tol * (1 + |want|)):
--   float32 1e-5, float16 2e-3, bfloat16 1.6e-2 (one rounding of the output
--   apart), softmax/log_softmax/cumprod 2e-5 in float32 (float32 exp/log);
--   integers, bools, argmax/argmin, argsort and sort: exact.
-- Skipped when no Vulkan device is available.
local ty = require "tycho"
local h = require "helpers"

local VK = h.vulkan_device()

local DTYPES = {"float32", "float16", "bfloat16", "int32", "int64", "uint8", "bool"}
local FLOATS = {float32 = true, float16 = true, bfloat16 = true}
local TOL = {float32 = 1e-5, float16 = 2e-3, bfloat16 = 1.6e-2}

-- Fresh random data of dtype dt; kind "unit" draws values near 1 (products),
-- "ties" draws few distinct values (argmax, sort stability).
local function rand(shape, dt, kind)
   if FLOATS[dt] then
      local x
      if kind == "unit" then
         x = ty.random.uniform(shape, {low = 0.8, high = 1.25})
      elseif kind == "ties" then
         x = ty.floor(ty.random.normal(shape) * 2)
      else
         x = ty.random.normal(shape)
      end
      return x:astype(dt)
   elseif dt == "bool" then
      return ty.gt(ty.random.uniform(shape), kind == "unit" and 0.1 or 0.5)
   end
   local lo, hi = -50, 50
   if dt == "uint8" then lo, hi = 0, 200 end
   if kind == "unit" or kind == "ties" then lo, hi = dt == "uint8" and 0 or -2, 3 end
   return ty.random.randint(lo, hi, shape, {dtype = dt})
end

-- Tolerance for results of dtype dt: kind "exact" (indices, orderings),
-- "transcendental" (exp/log, or products) or nil (sums).
local function tol_for(dt, kind)
   if kind == "exact" or not FLOATS[dt] then return 0 end
   if kind == "transcendental" and dt == "float32" then return 2e-5 end
   return TOL[dt]
end

-- Exact equality where NaN equals NaN.
local function assert_same_values(got, want, what)
   local g, w = got:reshape{-1}:tolist(), want:reshape{-1}:tolist()
   if type(w) ~= "table" then g, w = {g}, {w} end
   for i = 1, #w do
      local a, b = g[i], w[i]
      if a ~= b and not (a ~= a and b ~= b) then
         error(string.format("%s: at flat %d: got %s, expected %s", what, i, tostring(a),
            tostring(b)), 3)
      end
   end
end

-- f(x) on the CPU and f(x on VK) agree: same dtype and shape, values within
-- the tolerance of the result's dtype for `kind`. Returns false when the CPU
-- refuses the op for this input.
local function same(what, f, x, kind)
   local ok, want = pcall(function()
      local r = f(x)
      r:eval()
      return r
   end)
   if not ok then return false end
   local got = f(x:to(VK)):to("cpu")
   h.assert_dtype(got, want.dtype)
   h.assert_shape(got, want.shape)
   local tol = tol_for(want.dtype, kind)
   if tol == 0 then assert_same_values(got, want, what)
   else h.assert_close(got, want, tol, what) end
   return true
end

-- Views made on either device: identity, transposed, every other element of
-- the last axis, flipped first axis.
local VIEWS = {
   plain = function(a) return a end,
   transposed = function(a) return a.T end,
   strided = function(a)
      local key = {}
      for d = 1, a.ndim do key[d] = {} end
      key[a.ndim] = {1, -1, 2}
      return a[key]
   end,
   flipped = function(a) return ty.flip(a, 1) end,
}

local T = {}

local function skip() return VK == nil end

function T.reductions_every_op_dtype_and_axis()
   if skip() then return end
   local shapes = {{1}, {7}, {31}, {129}, {1025}, {3, 5, 7}, {33, 65}}
   local ops = {"sum", "prod", "max", "min", "all", "any"}
   for _, dt in ipairs(DTYPES) do
      for _, shape in ipairs(shapes) do
         for _, op in ipairs(ops) do
            local x = rand(shape, dt, op == "prod" and "unit" or nil)
            local axes_list = {false, 1, #shape}
            if #shape == 3 then axes_list[#axes_list + 1] = {1, 3} end
            for _, axes in ipairs(axes_list) do
               for _, keep in ipairs({false, true}) do
                  local what = string.format("%s %s (%s) axes=%s keepdims=%s", op, dt,
                     table.concat(shape, ","), tostring(axes), tostring(keep))
                  same(what, function(a)
                     if not axes then return ty[op](a, nil, keep) end
                     return ty[op](a, axes, keep)
                  end, x)
               end
            end
         end
      end
   end
end

function T.reductions_of_views()
   if skip() then return end
   for _, dt in ipairs({"float32", "int32", "float16", "bool"}) do
      local x = rand({37, 9}, dt)
      for vname, view in pairs(VIEWS) do
         for _, op in ipairs({"sum", "max", "min", "any"}) do
            for _, axis in ipairs({1, 2}) do
               same(op .. " " .. dt .. " " .. vname .. " axis " .. axis,
                  function(a) return ty[op](view(a), axis) end, x)
            end
            same(op .. " " .. dt .. " " .. vname .. " all axes",
               function(a) return ty[op](view(a)) end, x)
         end
      end
   end
end

function T.reductions_large_split_in_two_passes()
   if skip() then return end
   -- few outputs of many elements (workgroup per partial), and columns of a
   -- tall matrix (invocation per partial)
   for _, dt in ipairs({"float32", "int32", "int64", "uint8", "bool", "bfloat16"}) do
      local x = rand({40001}, dt)
      for _, op in ipairs({"sum", "max", "min", "any", "all"}) do
         same(op .. " " .. dt .. " 40001", function(a) return ty[op](a) end, x)
      end
      local m = rand({2000, 70}, dt)
      for _, op in ipairs({"sum", "max"}) do
         same(op .. " " .. dt .. " columns", function(a) return ty[op](a, 1) end, m)
         same(op .. " " .. dt .. " rows", function(a) return ty[op](a.T, 2) end, m)
      end
   end
end

function T.reductions_empty_and_nan()
   if skip() then return end
   local e = ty.zeros({0, 3})
   same("sum over empty", function(a) return ty.sum(a, 1) end, e, "exact")
   same("prod over empty", function(a) return ty.prod(a, 1) end, e, "exact")
   same("all over empty", function(a) return ty.all(a, 1) end, e, "exact")
   local nan, inf = 0 / 0, math.huge
   local t = {}
   for i = 1, 300 do t[i] = math.sin(i) end
   t[17], t[200] = nan, inf
   local x = ty.array(t, "float32")
   for _, op in ipairs({"sum", "max", "min", "prod"}) do
      same(op .. " with NaN", function(a) return ty[op](a) end, x)
   end
   t[17] = -inf
   x = ty.array(t, "float32")
   same("sum with +inf and -inf", function(a) return ty.sum(a) end, x, "exact")
   t[17] = 1
   x = ty.array(t, "float32")
   same("sum with +inf", function(a) return ty.sum(a) end, x, "exact")
   same("max with +inf", function(a) return ty.max(a) end, x, "exact")
end

function T.argmax_argmin_first_occurrence_and_nan()
   if skip() then return end
   for _, dt in ipairs(DTYPES) do
      for _, shape in ipairs({{1}, {7}, {31}, {129}, {1025}, {5, 33}, {3, 4, 5}, {20001}}) do
         local x = rand(shape, dt, "ties")
         for _, fn in ipairs({"argmax", "argmin"}) do
            for axis = 1, #shape do
               for _, keep in ipairs({false, true}) do
                  same(string.format("%s %s (%s) axis %d", fn, dt, table.concat(shape, ","),
                     axis), function(a) return ty[fn](a, axis, keep) end, x, "exact")
               end
            end
            same(fn .. " " .. dt .. " flattened", function(a) return ty[fn](a) end, x, "exact")
         end
      end
   end
   local x = rand({40, 50}, "float32", "ties")
   for vname, view in pairs(VIEWS) do
      same("argmax " .. vname, function(a) return ty.argmax(view(a), 2) end, x, "exact")
      same("argmin " .. vname, function(a) return ty.argmin(view(a), 1) end, x, "exact")
   end
   local t = {}
   for i = 1, 1500 do t[i] = math.sin(i) end
   t[300], t[900] = 0 / 0, 0 / 0
   for _, fn in ipairs({"argmax", "argmin"}) do
      same(fn .. " NaN", function(a) return ty[fn](a) end, ty.array(t, "float32"), "exact")
      same(fn .. " NaN f16", function(a) return ty[fn](a) end, ty.array(t, "float16"), "exact")
   end
   -- NaNs in different chunks of a split (two-pass) arg-reduction
   local long = {}
   for i = 1, 20001 do long[i] = math.sin(i) end
   long[19000], long[6000] = 0 / 0, 0 / 0
   for _, fn in ipairs({"argmax", "argmin"}) do
      same(fn .. " NaN split", function(a) return ty[fn](a) end, ty.array(long, "float32"),
         "exact")
   end
end

function T.cumsum_cumprod_axes_reverse_views()
   if skip() then return end
   for _, dt in ipairs(DTYPES) do
      for _, shape in ipairs({{1}, {7}, {31}, {129}, {1025}, {3, 130}, {70, 40}, {2, 3, 5}}) do
         for _, fn in ipairs({"cumsum", "cumprod"}) do
            local x = rand(shape, dt, fn == "cumprod" and "unit" or nil)
            for axis = 1, #shape do
               for _, rev in ipairs({false, true}) do
                  same(string.format("%s %s (%s) axis %d reverse %s", fn, dt,
                     table.concat(shape, ","), axis, tostring(rev)),
                     function(a) return ty[fn](a, axis, {reverse = rev}) end, x,
                     fn == "cumprod" and "transcendental" or nil)
               end
            end
         end
      end
   end
   local x = rand({33, 70}, "float32")
   for vname, view in pairs(VIEWS) do
      for axis = 1, 2 do
         same("cumsum " .. vname, function(a) return ty.cumsum(view(a), axis) end, x)
      end
   end
end

function T.softmax_log_softmax()
   if skip() then return end
   for _, dt in ipairs(DTYPES) do
      for _, shape in ipairs({{1}, {7}, {31}, {129}, {1025}, {9000}, {3, 200}, {64, 40}}) do
         local x = rand(shape, dt)
         for _, fn in ipairs({"softmax", "log_softmax"}) do
            for axis = 1, #shape do
               same(string.format("%s %s (%s) axis %d", fn, dt, table.concat(shape, ","), axis),
                  function(a) return ty[fn](a, axis) end, x, "transcendental")
            end
         end
      end
   end
   local x = rand({37, 50}, "float32")
   for vname, view in pairs(VIEWS) do
      same("softmax " .. vname, function(a) return ty.softmax(view(a), 1) end, x, "transcendental")
      same("log_softmax " .. vname, function(a) return ty.log_softmax(view(a), 2) end, x,
         "transcendental")
   end
   local inf, nan = math.huge, 0 / 0
   local rows = {{1, 2, nan, 3}, {-inf, -inf, -inf, -inf}, {1, inf, 2, 3}, {-inf, 0, 1, -inf}}
   for _, fn in ipairs({"softmax", "log_softmax"}) do
      same(fn .. " special rows", function(a) return ty[fn](a, 2) end,
         ty.array(rows, "float32"), "transcendental")
   end
end

function T.sort_argsort_stable_nan_last()
   if skip() then return end
   for _, dt in ipairs(DTYPES) do
      for _, shape in ipairs({{1}, {2}, {7}, {31}, {129}, {1025}, {6, 33}, {3, 4, 5}}) do
         local x = rand(shape, dt, "ties")
         for axis = 1, #shape do
            for _, desc in ipairs({false, true}) do
               local what = string.format("%s (%s) axis %d desc %s", dt,
                  table.concat(shape, ","), axis, tostring(desc))
               same("sort " .. what, function(a) return ty.sort(a, axis, desc) end, x, "exact")
               same("argsort " .. what, function(a) return ty.argsort(a, axis, desc) end, x,
                  "exact")
            end
         end
      end
   end
   local x = rand({30, 41}, "float32", "ties")
   for vname, view in pairs(VIEWS) do
      same("argsort " .. vname, function(a) return ty.argsort(view(a), 1) end, x, "exact")
      same("sort desc " .. vname, function(a) return ty.sort(view(a), 2, true) end, x, "exact")
   end
   local t = {}
   for i = 1, 300 do t[i] = math.floor(math.sin(i) * 4) end
   t[5], t[77], t[150] = 0 / 0, 0 / 0, -0.0
   t[9], t[10] = math.huge, -math.huge
   for _, desc in ipairs({false, true}) do
      same("argsort NaN", function(a) return ty.argsort(a, 1, desc) end,
         ty.array(t, "float32"), "exact")
      same("sort NaN", function(a) return ty.sort(a, 1, desc) end, ty.array(t, "float32"), "exact")
   end
end

function T.sort_rows_longer_than_shared_memory()
   if skip() then return end
   -- past the shared capacity of lavapipe (4096 float pairs, 2048 integer
   -- pairs): the multi-pass network in scratch blocks
   for _, case in ipairs({{"float32", {5000}}, {"float16", {2, 4500}}, {"int32", {3000}},
                          {"int64", {2, 2100}}, {"bool", {2500}}}) do
      local dt, shape = case[1], case[2]
      local x = rand(shape, dt, "ties")
      for _, desc in ipairs({false, true}) do
         same("argsort long " .. dt, function(a) return ty.argsort(a, #shape, desc) end, x,
            "exact")
         same("sort long " .. dt, function(a) return ty.sort(a, #shape, desc) end, x, "exact")
      end
   end
   local x = rand({9000, 2}, "float32")
   same("argsort long column", function(a) return ty.argsort(a, 1) end, x, "exact")
end

return T
