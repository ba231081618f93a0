-- test_vk_matmul_index.lua -- Vulkan matmul and data-movement kernels
-- (matmul, concatenate, pad, take, take_along_axis, scatter_add,
-- slice_update) against the CPU backend on fresh random inputs: odd sizes,
-- transposed and strided operands, batch broadcasting, 1-d operands, every
-- dtype but float64, and index errors with the CPU's message.
--
-- Tolerances: matmul compares |vulkan - cpu| with the sum of |a_ik * b_kj|
-- (the scale of the rounding error of a dot product): 1e-4 for float32,
-- 1e-2 for float16/bfloat16; integers and data movement are exact.
-- Matmul sizes stay at a few hundred: lavapipe computes < 1 GFLOP/s.
-- Skipped (no tests) when no Vulkan device is listed.
local ty = require "tycho"
local h = require "helpers"

local VK = h.vulkan_device()
if not VK then return {} end

local eq = h.assert_eq
local T = {}

local FLOATS = {"float32", "float16", "bfloat16"}
local ALL = {"bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32"}
local TOL = {float32 = 1e-4, float16 = 1e-2, bfloat16 = 1e-2}

-- Fresh random array of shape on the CPU in dtype (integers in [-9, 9],
-- uint8 in [0, 9], bool 0/1).
local function rand(shape, dtype)
   dtype = dtype or "float32"
   local x
   if dtype == "bool" then
      x = ty.random.randint(0, 1, shape, {device = "cpu"}):astype("bool")
   elseif dtype == "uint8" then
      x = ty.random.randint(0, 9, shape, {device = "cpu"}):astype("uint8")
   elseif dtype == "int32" or dtype == "int64" then
      x = ty.random.randint(-9, 9, shape, {device = "cpu"}):astype(dtype)
   else
      x = ty.random.normal(shape, {device = "cpu"}):astype(dtype)
   end
   return x
end

local function vk(x) return x:to(VK) end
local function cpu(x) return x:to("cpu") end

local function shape_str(s) return "(" .. table.concat(s, ",") .. ")" end

-- got (any device) equals expected (cpu) exactly, with the same dtype.
local function same(got, expected, what)
   got = cpu(got)
   eq(got.dtype, expected.dtype, what)
   eq(got, expected, what)
end

-- Matmul check: relative to sum |a||b| per output element.
local function check_matmul(a, b, what)
   local expected = ty.matmul(a, b)
   local got = cpu(ty.matmul(vk(a), vk(b)))
   eq(got.dtype, expected.dtype, what)
   h.assert_shape(got, expected.shape)
   local dt = expected.dtype
   if not TOL[dt] then
      eq(got, expected, what)
      return
   end
   local bound = ty.matmul(ty.abs(a:astype("float32")), ty.abs(b:astype("float32")))
   local diff = ty.abs(got:astype("float32") - expected:astype("float32"))
   local worst = (diff / (bound + 1e-6)):max():item()
   assert(worst <= TOL[dt], string.format("%s: relative error %.3g > %g", what, worst, TOL[dt]))
end

function T.matmul_odd_sizes_every_float_dtype()
   local sizes = {{1, 1, 1}, {7, 31, 129}, {129, 7, 31}, {31, 129, 1}, {1, 33, 7},
                  {64, 64, 64}, {130, 257, 66}}
   for _, dt in ipairs(FLOATS) do
      for _, s in ipairs(sizes) do
         local n, k, m = s[1], s[2], s[3]
         check_matmul(rand({n, k}, dt), rand({k, m}, dt),
                      dt .. " " .. shape_str{n, k} .. " @ " .. shape_str{k, m})
      end
   end
end

function T.matmul_transposed_and_strided_operands()
   for _, dt in ipairs(FLOATS) do
      -- sizes that are multiples of 16 take the matrix-unit path for float16
      -- where the device has one; the others the tiled path
      for _, s in ipairs{{48, 32, 64}, {31, 7, 129}, {128, 64, 96}} do
         local n, k, m = s[1], s[2], s[3]
         local at, bt = rand({k, n}, dt).T, rand({m, k}, dt).T
         local a, b = rand({n, k}, dt), rand({k, m}, dt)
         local what = dt .. " " .. shape_str(s)
         check_matmul(at, b, what .. " a.T")
         check_matmul(a, bt, what .. " b.T")
         check_matmul(at, bt, what .. " a.T b.T")
      end
      -- every other row and column; reversed rows
      local big = rand({70, 90}, dt)
      local a = big[{{1, -1, 2}, {1, -1, 3}}]             -- (35, 30)
      local b = rand({60, 17}, dt)[{{1, -1, 2}, {}}]       -- (30, 17)
      check_matmul(a, b, dt .. " strided")
      check_matmul(rand({30, 9}, dt)[{{-1, 1, -1}, {}}].T, rand({30, 5}, dt),
                   dt .. " flipped")
   end
end

function T.matmul_batched_and_broadcast()
   for _, dt in ipairs{"float32", "float16", "int32"} do
      check_matmul(rand({3, 1, 7, 31}, dt), rand({1, 4, 31, 9}, dt), dt .. " 4-d broadcast")
      check_matmul(rand({2, 5, 8}, dt), rand({8, 3}, dt), dt .. " b broadcast")
      check_matmul(rand({6, 16}, dt), rand({5, 16, 32}, dt), dt .. " a broadcast")
      check_matmul(rand({4, 32, 48}, dt), rand({4, 48, 16}, dt), dt .. " batch 4")
   end
   -- batch-transposed views: (b, k, n) viewed as (b, n, k)
   local a = rand({3, 33, 20}):transpose{1, 3, 2}
   check_matmul(a, rand({3, 33, 12}), "batched a.T")
end

function T.matmul_large_tiles()
   -- enough 128x128 tiles for the largest tile configuration; k spans
   -- several k steps (double buffering) with a tail
   check_matmul(rand({128, 128, 28}), rand({128, 28, 128}), "float32 batch 128 of 128x28x128")
   check_matmul(rand({128, 130, 20}, "float16"), rand({128, 20, 129}, "float16"),
                "float16 batch 128 of 130x20x129")
end

function T.matmul_one_d_operands()
   for _, dt in ipairs{"float32", "bfloat16", "int64"} do
      local v, w = rand({31}, dt), rand({31}, dt)
      check_matmul(v, rand({31, 7}, dt), dt .. " vector @ matrix")
      check_matmul(rand({7, 31}, dt), v, dt .. " matrix @ vector")
      check_matmul(v, w, dt .. " vector @ vector")
      check_matmul(rand({3, 5, 31}, dt), v, dt .. " batch @ vector")
   end
end

function T.matmul_integers_exact()
   for _, dt in ipairs{"uint8", "int32", "int64"} do
      check_matmul(rand({7, 31}, dt), rand({31, 129}, dt), dt)
      check_matmul(rand({31, 7}, dt).T, rand({31, 1}, dt), dt .. " transposed")
   end
   -- zero-length inner dimension gives zeros
   same(ty.matmul(vk(ty.ones({3, 0}, {device = "cpu"})), vk(ty.ones({0, 4}, {device = "cpu"}))),
        ty.zeros({3, 4}, {device = "cpu"}), "k = 0")
end

function T.concatenate_every_dtype()
   for _, dt in ipairs(ALL) do
      local a, b, c = rand({7, 31}, dt), rand({7, 1}, dt), rand({31, 7}, dt).T
      same(ty.concatenate({vk(a), vk(b), vk(c)}, 2), ty.concatenate({a, b, c}, 2), dt)
      same(ty.concatenate{vk(a), vk(c)}, ty.concatenate{a, c}, dt .. " axis 1")
      local x = rand({129}, dt)
      same(ty.concatenate{vk(x), vk(x[{{-1, 1, -1}}])}, ty.concatenate{x, x[{{-1, 1, -1}}]},
           dt .. " flipped")
   end
   -- mixed dtypes promote before the kernel runs
   local i, f = rand({5}, "int32"), rand({3}, "float16")
   same(ty.concatenate{vk(i), vk(f)}, ty.concatenate{i, f}, "int32 + float16")
end

function T.pad_every_dtype()
   for _, dt in ipairs(ALL) do
      local x = rand({7, 31}, dt)
      same(ty.pad(vk(x), 1), ty.pad(x, 1), dt)
      same(ty.pad(vk(x.T), {{0, 3}, {2, 0}}, {value = 5}),
           ty.pad(x.T, {{0, 3}, {2, 0}}, {value = 5}), dt .. " transposed")
   end
   local big = ty.random.randint(-2 ^ 40, 2 ^ 40, {3}, {device = "cpu", dtype = "int64"})
   same(ty.pad(vk(big), 2, {value = 2 ^ 40 + 1}), ty.pad(big, 2, {value = 2 ^ 40 + 1}),
        "int64 value")
   local z = rand({1, 1, 129})
   same(ty.pad(vk(z), {{0, 0}, {2, 1}, {0, 4}}, {value = -1.5}),
        ty.pad(z, {{0, 0}, {2, 1}, {0, 4}}, {value = -1.5}), "3-d")
end

function T.take_and_take_along_axis_every_dtype()
   for _, dt in ipairs(ALL) do
      local x = rand({7, 31}, dt)
      local idx = ty.random.randint(1, 31, {5, 3}, {device = "cpu"})
      same(ty.take(vk(x), vk(idx), 2), ty.take(x, idx, 2), dt .. " take axis 2")
      local rows = cpu(ty.array({7, -1, 1, 1, -7}, "int64"))
      same(ty.take(vk(x), vk(rows), 1), ty.take(x, rows, 1), dt .. " take axis 1")
      same(ty.take(vk(x.T), vk(rows:astype("uint8") * 0 + 3), 2),
           ty.take(x.T, rows:astype("uint8") * 0 + 3, 2), dt .. " transposed, uint8 idx")
      local flat = ty.random.randint(-217, 217, {129}, {device = "cpu"})
      flat = ty.where(flat:eq(0), 1, flat):astype("int32")
      same(ty.take(vk(x), vk(flat)), ty.take(x, flat), dt .. " flat")
      local along = ty.random.randint(1, 31, {7, 9}, {device = "cpu"})
      same(ty.take_along_axis(vk(x), vk(along), 2), ty.take_along_axis(x, along, 2),
           dt .. " along 2")
      local col = ty.random.randint(1, 7, {1, 31}, {device = "cpu"})
      same(ty.take_along_axis(vk(x), vk(col), 1), ty.take_along_axis(x, col, 1),
           dt .. " along 1")
   end
end

-- The error message of fn(device) on the CPU and on Vulkan.
local function messages(fn)
   local ok1, e1 = pcall(function() return cpu(fn("cpu")):tolist() end)
   local ok2, e2 = pcall(function() return cpu(fn(VK)):tolist() end)
   assert(not ok1 and not ok2, "both must fail")
   return tostring(e1), tostring(e2)
end

function T.index_errors_match_the_cpu()
   local x = rand({3, 10})
   local cases = {
      {"take", function(d) return ty.take(x:to(d), ty.array({2, 11}, "int32"):to(d), 2) end,
       "[take] index 11 is out of range for axis 2 of size 10"},
      {"take axis 1", function(d) return ty.take(x:to(d), ty.array({-4}, "int32"):to(d), 1) end,
       "[take] index -4 is out of range for axis 1 of size 3"},
      {"take 0", function(d) return ty.take(x:to(d), ty.array({0}, "int32"):to(d), 1) end,
       "[take] index 0 is out of range for axis 1 of size 3"},
      {"take_along_axis", function(d)
         return ty.take_along_axis(x:to(d), ty.array({{1}, {12}, {2}}, "int64"):to(d), 2) end,
       "[take_along_axis] index 12 is out of range for axis 2 of size 10"},
      {"scatter_add", function(d)
         return ty.scatter_add(x:to(d), 1, ty.array({{1, 4, 1}}, "int32"):to(d),
                               ty.ones({1, 3}, {device = d})) end,
       "[scatter_add] index 4 is out of range for axis 1 of size 3"},
   }
   for _, c in ipairs(cases) do
      local e1, e2 = messages(c[2])
      assert(e1:find(c[3], 1, true), c[1] .. ": cpu said " .. e1)
      assert(e2:find(c[3], 1, true), c[1] .. ": vulkan said " .. e2)
   end
   -- the next evaluation works
   local ten = cpu(ty.array({10}, "int32"))
   same(ty.take(vk(x), vk(ten), 2), ty.take(x, ten, 2), "after an error")
end

function T.scatter_add_every_dtype()
   for _, dt in ipairs(ALL) do
      if dt ~= "bool" then
         local a = rand({7, 31}, dt)
         local idx = ty.random.randint(1, 7, {20, 31}, {device = "cpu"})
         local src = rand({20, 31}, dt)
         same(ty.scatter_add(vk(a), 1, vk(idx), vk(src)), ty.scatter_add(a, 1, idx, src),
              dt .. " axis 1 with duplicates")
         local idx2 = ty.random.randint(-31, 31, {5, 129}, {device = "cpu"})
         idx2 = ty.where(idx2:eq(0), 1, idx2)
         local a2, src2 = rand({7, 31}, dt), rand({5, 129}, dt)
         same(ty.scatter_add(vk(a2), 2, vk(idx2), vk(src2)),
              ty.scatter_add(a2, 2, idx2, src2), dt .. " axis 2, fewer rows")
      end
   end
end

function T.slice_update_every_dtype()
   for _, dt in ipairs(ALL) do
      local a = rand({7, 31}, dt)
      local v = rand({3, 11}, dt)
      local x, y = vk(a), ty.contiguous(a)
      x[{{2, 6, 2}, {-1, 1, -3}}] = vk(v)
      y[{{2, 6, 2}, {-1, 1, -3}}] = v
      same(x, y, dt .. " stepped region")
      local x2, y2 = vk(a.T), ty.contiguous(a.T)
      local row = rand({7}, dt)
      x2[{{5, 20}, {}}] = vk(row)
      y2[{{5, 20}, {}}] = row
      same(x2, y2, dt .. " broadcast row into a transposed array")
   end
end

return T
