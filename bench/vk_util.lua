-- bench/vk_util.lua -- what bench/vk_ops.lua and bench/vk_nn.lua share: the
-- --scale argument, median timing (a warm-up, then `reps` timed runs, each
-- evaluated: ty.eval returns once the device has finished, a fence) and the
-- output line name<TAB>median_seconds<TAB>value<TAB>unit.
-- Loaded by those scripts: dofile(<their folder> .. "/vk_util.lua").
local ty = require "tycho"

local U = {}

U.scale = 1
if arg and arg[1] == "--scale" then U.scale = tonumber(arg[2]) end

function U.median(t)
   table.sort(t)
   local n = #t
   return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

-- The median seconds of ty.eval(build()) over reps runs (after one warm-up).
function U.time(build, reps)
   ty.eval(build())
   local t = {}
   for _ = 1, reps do
      local s = ty.time()
      ty.eval(build())
      t[#t + 1] = ty.time() - s
   end
   return U.median(t)
end

function U.report(name, seconds, value, unit)
   print(string.format("%s\t%.6g\t%.4g\t%s", name, seconds, value, unit))
end

return U
