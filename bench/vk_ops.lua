-- bench/vk_ops.lua -- memory-bound ops and dispatch overhead on the default
-- device (meant for TYCHO_DEVICE=vulkan): elementwise add and a copy on 256M
-- floats, softmax and sum reductions, and the cost of a node in a long
-- chain. Each case: `reps` timed runs after a warm-up, median kept.
--   ./tycho bench/vk_ops.lua [--scale S]    (S divides the sizes; lavapipe: 64)
-- Output lines: name<TAB>median_seconds<TAB>value<TAB>unit
local ty = require "tycho"

local U = dofile(((arg and arg[0] or ""):match("^(.*)/") or ".") .. "/vk_util.lua")
local scale, time, report = U.scale, U.time, U.report

print("#device\t" .. ty.default_device())
local n = (256 * 1024 * 1024) // scale
local a = ty.random.uniform({n}, {key = ty.random.key(1)}):eval()
local b = ty.random.uniform({n}, {key = ty.random.key(2)}):eval()
local s = time(function() return a + b end, 10)
report("add_f32_256M", s, 3 * 4 * n / s / 1e9, "GB/s")
s = time(function() return ty.contiguous(a) end, 10)
report("copy_f32_256M", s, 2 * 4 * n / s / 1e9, "GB/s")
s = time(function() return a:astype("float16") end, 10)
report("astype_f32_f16_256M", s, 6 * n / s / 1e9, "GB/s")
a, b = nil, nil
collectgarbage()

local rows, cols = 16384 // math.max(1, math.floor(math.sqrt(scale))), 16384
local m = ty.random.normal({rows, cols}, {key = ty.random.key(3)}):eval()
s = time(function() return ty.softmax(m, -1) end, 10)
report("softmax_16384x16384", s, 2 * 4 * rows * cols / s / 1e9, "GB/s")
s = time(function() return m:sum(-1) end, 10)
report("sum_rows_16384x16384", s, 4 * rows * cols / s / 1e9, "GB/s")
s = time(function() return m:sum() end, 10)
report("sum_all_16384x16384", s, 4 * rows * cols / s / 1e9, "GB/s")
s = time(function() return m:argmax(-1) end, 10)
report("argmax_rows_16384x16384", s, 4 * rows * cols / s / 1e9, "GB/s")
m = nil
collectgarbage()

-- The fixed cost of one evaluation (record, submit, wait on the fence): a
-- one-element add; every timing above includes it once.
local one = ty.ones{1}:eval()
s = time(function() return one + 1 end, 50)
report("eval_one_element", s, s * 1e6, "us")

-- Per-node cost of a long chain of tiny ops: recording + execution.
local x = ty.ones{256}:eval()
local nodes = 2000
s = time(function()
   local y = x
   for _ = 1, nodes do y = y + 1 end
   return y
end, 5)
report("chain_2000_nodes", s, s / nodes * 1e6, "us/node")
