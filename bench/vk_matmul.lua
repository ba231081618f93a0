-- bench/vk_matmul.lua -- matmul throughput (GFLOP/s) of the default device
-- (meant for Vulkan: TYCHO_DEVICE=vulkan) in float32 and float16: squares
-- 256..8192 and LLM-like shapes. Each case: inputs made and evaluated once,
-- `warmup` untimed runs, then `reps` timed runs of matmul + ty.eval (which
-- returns when the device has finished); the median is kept.
-- bench/vk_matmul_peer.py times the same cases in PyTorch.
--
--   ./tycho bench/vk_matmul.lua [--max N] [--dtype f32|f16|all] [--reps R]
--                               [--only PATTERN]
--
-- --max N skips cases with a dimension above N (default 8192; on lavapipe
-- use 512 or less). Output, one line per case after '#' header lines:
--   name<TAB>median_seconds<TAB>gflops
-- Tile sizes can be overridden for tuning through TYCHO_VK_MATMUL_TILE /
-- TYCHO_VK_COOPMAT_TILE (see core/vk_kernels_matmul.c).
local ty = require "tycho"

local max, dtypes, reps, only = 8192, {"float32", "float16"}, nil, nil
local i = 1
while arg and arg[i] do
   local o, v = arg[i], arg[i + 1]
   if o == "--max" then max = tonumber(v)
   elseif o == "--reps" then reps = tonumber(v)
   elseif o == "--only" then only = v
   elseif o == "--dtype" then
      dtypes = v == "f32" and {"float32"} or v == "f16" and {"float16"} or
         {"float32", "float16"}
   else error("usage: vk_matmul.lua [--max N] [--dtype f32|f16|all] [--reps R] [--only P]") end
   i = i + 2
end

print("#device\t" .. tostring(ty.default_device()))
for _, d in ipairs(ty.devices()) do
   if d.name == ty.default_device() then
      print("#device_info\t" .. tostring(d.description or d.name))
   end
end

-- name, batch, n, k, m, b transposed (x @ W.T with W of shape (m, k))
local cases = {}
for _, s in ipairs{256, 512, 1024, 2048, 4096, 8192} do
   cases[#cases + 1] = {"sq" .. s, 1, s, s, s, false}
end
cases[#cases + 1] = {"llm_4096x4096x11008", 1, 4096, 4096, 11008, false}
cases[#cases + 1] = {"llm_4096x4096x11008_bT", 1, 4096, 4096, 11008, true}
cases[#cases + 1] = {"llm_4096x11008x4096_bT", 1, 4096, 11008, 4096, true}
cases[#cases + 1] = {"bmm_8x1024", 8, 1024, 1024, 1024, false}
cases[#cases + 1] = {"decode_16x4096x4096_bT", 1, 16, 4096, 4096, true}

local function median(t)
   table.sort(t)
   local n = #t
   if n % 2 == 1 then return t[(n + 1) // 2] end
   return (t[n // 2] + t[n // 2 + 1]) / 2
end

-- Waits for x: ty.eval returns once the device's fence has signalled.
local function sync(x)
   ty.eval(x)
end

for _, dt in ipairs(dtypes) do
   for _, c in ipairs(cases) do
      local name, batch, n, k, m, bt = c[1], c[2], c[3], c[4], c[5], c[6]
      local full = (dt == "float32" and "f32_" or "f16_") .. name
      if math.max(n, k, m) <= max and (not only or full:find(only)) then
         local ashape = batch > 1 and {batch, n, k} or {n, k}
         local bshape = bt and {m, k} or (batch > 1 and {batch, k, m} or {k, m})
         local a = ty.random.normal(ashape, {dtype = dt}):eval()
         local b = ty.random.normal(bshape, {dtype = dt}):eval()
         if bt then b = b.T end
         local flops = 2.0 * batch * n * k * m
         local r = reps or math.max(3, math.min(20, math.floor(2e12 / flops)))
         local times = {}
         for t = 1, 2 + r do
            local t0 = ty.time()
            local out = ty.matmul(a, b)
            ty.eval(out)
            sync(out)
            local dt_s = ty.time() - t0
            out:release()
            if t > 2 then times[#times + 1] = dt_s end
         end
         local med = median(times)
         print(string.format("%s\t%.6f\t%.1f", full, med, flops / med / 1e9))
         io.stdout:flush()
         a:release()
         b:release()
         collectgarbage()
      end
   end
end
