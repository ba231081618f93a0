-- test_runtime.lua -- threads, memory accounting and limits, devices.
local ty = require "tycho"
local h = require "helpers"

local close, eq, err = h.assert_close, h.assert_eq, h.assert_error

local T = {}

function T.num_threads_round_trip_and_same_results()
   local before = ty.get_num_threads()
   local x = ty.arange(1, 200000, {dtype = "float32"}):reshape{400, 500}
   local w = ty.ones{500, 3}
   ty.set_num_threads(1)
   assert(ty.get_num_threads() == 1)
   local one = ty.matmul(x, w):sum(1):tolist()
   ty.set_num_threads(4)
   assert(ty.get_num_threads() == 4)
   close(ty.matmul(x, w):sum(1), one, 1e-6)
   ty.set_num_threads(0)
   assert(ty.get_num_threads() >= 1)
   ty.set_num_threads(before)
end

function T.memory_reports_bytes()
   local m = ty.memory()
   for _, k in ipairs{"active", "peak", "cached", "limit"} do
      assert(math.type(m[k]) == "integer", k)
   end
   assert(m.limit > 0)
   local x = ty.zeros{1000, 1000} + 1
   ty.eval(x)
   local m2 = ty.memory(ty.default_device())
   assert(m2.active >= m.active + 4000000, "active grew by the array's 4 MB")
   assert(m2.peak >= m2.active)
   ty.reset_peak_memory()
   ty.clear_cache()
   assert(ty.memory().peak <= m2.peak)
end

function T.memory_limit_refuses_then_the_session_continues()
   collectgarbage()
   local active = ty.memory().active
   local previous = ty.memory_limit(active + 1000000)
   assert(previous > 0)
   local ok, e = pcall(function() return (ty.zeros{1000, 1000} + 1):eval() end)
   ty.memory_limit(0)                          -- restores the default
   assert(not ok, "allocation past the limit must fail")
   assert(tostring(e):find("[alloc]", 1, true), e)
   eq(ty.memory().limit, previous)
   eq(ty.ones{3}:sum(), 3)
   eq(ty.memory_limit(previous), previous)
end

function T.devices_lists_the_cpu_first()
   local d = ty.devices()
   assert(#d >= 1)
   eq(d[1].name, "cpu")
   eq(d[1].type, "cpu")
   eq(d[1].index, 0)
   assert(d[1].memory > 0)
   local found = false
   for _, dev in ipairs(d) do found = found or dev.name == ty.default_device() end
   assert(found, "the default device is listed")
end

function T.set_device_and_to()
   local before = ty.default_device()
   ty.set_device("cpu")
   eq(ty.default_device(), "cpu")
   eq(ty.ones{2}.device, "cpu")
   local x = ty.ones{2}
   assert(x:to("cpu") == x)
   eq(ty.to(x, "cpu"), {1, 1})
   err(function() ty.set_device("tpu") end, "[set_device] unknown device 'tpu'")
   err(function() x:to("gpu:x") end, "[to] unknown device")
   local available = {}
   for _, dev in ipairs(ty.devices()) do available[dev.name] = true end
   if not available["vulkan:7"] then
      err(function() ty.set_device("vulkan:7") end, "[set_device] vulkan:7 is not available")
      err(function() x:to("vulkan:7") end, "not available")
   end
   ty.set_device(before)
end

function T.bad_arguments_are_errors()
   err(function() ty.memory_limit(-5) end, "[memory_limit] expected a number of bytes")
   err(function() ty.memory("nowhere") end, "[memory] unknown device")
   err(function() ty.set_num_threads("x") end,
       "[set_num_threads] argument 1 (threads) must be an integer, got string")
end

function T.memory_limit_queries_validates_and_clamps()
   local default = ty.memory_limit()           -- a query: no reset, no change
   eq(ty.memory().limit, default)
   local before = ty.memory_limit(default + 4096)
   eq(before, default)
   eq(ty.memory_limit(), default + 4096)       -- still the limit just set
   eq(ty.memory().limit, default + 4096)
   eq(ty.memory_limit(nil, ty.default_device()), default + 4096)
   eq(ty.memory_limit(0), default + 4096)      -- 0 restores the default
   eq(ty.memory_limit(), default)
   err(function() ty.memory_limit(0 / 0) end, "[memory_limit] expected a finite number")
   err(function() ty.memory_limit(math.huge) end, "[memory_limit] expected a finite number")
   err(function() ty.memory_limit(-1) end, "[memory_limit] expected a number of bytes >= 0")
   err(function() ty.memory_limit(-1e30) end, "[memory_limit] expected a number of bytes >= 0")
   err(function() ty.memory_limit(1.5) end, "[memory_limit] expected a whole number")
   err(function() ty.memory_limit("1GB") end, "[memory_limit] expected a number of bytes")
   ty.memory_limit(1e30)                       -- clamped: no limit in practice
   eq(ty.memory_limit(), math.maxinteger)
   eq(ty.ones{3}:sum(), 3)
   ty.memory_limit(0)
   eq(ty.memory_limit(), default)
end

return T
