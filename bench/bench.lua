-- bench/bench.lua -- times a fixed set of tycho ops; bench/peer.py runs the
-- same workloads in NumPy and PyTorch.  Each op: its inputs are made and
-- evaluated once, then the op (graph building + ty.eval) runs `warmup` times
-- untimed and `reps` times timed; the MEDIAN of the timed runs is reported.
--
--   ./tycho bench/bench.lua [--only NAME] [--scale F]
--
-- Output, one line per op:  name<TAB>median_seconds<TAB>reps
-- plus header lines starting with '#' (device, threads).
-- The device is the default one: set TYCHO_DEVICE=cpu|vulkan in the
-- environment (bench/run.sh passes --device through it).
local ty = require "tycho"

local only, scale = nil, 1
local i = 1
while arg and arg[i] do
   if arg[i] == "--only" then only = arg[i + 1]; i = i + 1
   elseif arg[i] == "--scale" then scale = tonumber(arg[i + 1]); i = i + 1
   else error("unknown option " .. arg[i]) end
   i = i + 1
end

local device = ty.default_device()
print("#device\t" .. tostring(device))
print("#threads\t" .. ty.get_num_threads())

ty.random.seed(0)
local function randn(shape) return ty.random.normal(shape):eval() end

local function median(t)
   table.sort(t)
   local n = #t
   if n % 2 == 1 then return t[(n + 1) // 2] end
   return (t[n // 2] + t[n // 2 + 1]) / 2
end

-- name, warm-up count, timed reps, setup() -> state, run(state) (must eval).
-- Keep names, counts and shapes in step with bench/peer.py.
local cases = {}
local function case(name, warmup, reps, setup, run)
   cases[#cases + 1] = {name = name, warmup = warmup, reps = reps, setup = setup, run = run}
end

for _, n in ipairs{256, 1024, 2048} do
   local reps = n == 2048 and 5 or (n == 1024 and 10 or 50)
   case("matmul_f32_" .. n, 2, reps,
        function() return {a = randn{n, n}, b = randn{n, n}} end,
        function(s) ty.matmul(s.a, s.b):eval() end)
end

case("bmm_f32_32x128", 3, 30,
     function() return {a = randn{32, 128, 128}, b = randn{32, 128, 128}} end,
     function(s) ty.matmul(s.a, s.b):eval() end)

local N16 = 16 * 1024 * 1024
case("add_f32_16M", 2, 10,
     function() return {a = randn{N16}, b = randn{N16}} end,
     function(s) (s.a + s.b):eval() end)
case("exp_f32_16M", 2, 10,
     function() return {a = randn{N16}} end,
     function(s) ty.exp(s.a):eval() end)
case("chain_relu(x*2+1)_16M", 2, 10,
     function() return {a = randn{N16}} end,
     function(s) ((s.a * 2 + 1):relu()):eval() end)

case("sum_all_4096x4096", 2, 10,
     function() return {a = randn{4096, 4096}} end,
     function(s) s.a:sum():eval() end)
case("sum_lastaxis_4096x4096", 2, 10,
     function() return {a = randn{4096, 4096}} end,
     function(s) s.a:sum(-1):eval() end)
case("softmax_lastaxis_4096x1024", 2, 10,
     function() return {a = randn{4096, 1024}} end,
     function(s) ty.softmax(s.a, -1):eval() end)
case("argmax_lastaxis_4096x4096", 2, 10,
     function() return {a = randn{4096, 4096}} end,
     function(s) s.a:argmax(-1):eval() end)
case("sort_f32_1M", 1, 5,
     function() return {a = randn{1024 * 1024}} end,
     function(s) ty.sort(s.a):eval() end)
case("transpose_copy_4096x4096", 2, 10,
     function() return {a = randn{4096, 4096}} end,
     function(s) s.a.T:contiguous():eval() end)
case("take_rows_65536x256", 2, 10,
     function()
        -- 65536 random row indices (1-based) into a (65536, 256) table
        return {a = randn{65536, 256},
                idx = ty.random.randint(1, 65536, {65536}):eval()}
     end,
     function(s) s.a:take(s.idx, 1):eval() end)
case("randn_f32_16M", 1, 5,
     function() return {} end,
     function() ty.random.normal{N16}:eval() end)

-- One SGD-with-momentum step of examples/fashion_softmax.lua (784-256-10,
-- batch 128), on a fixed random batch; parameters are updated across reps.
case("mlp_step_b128_784-256-10", 5, 50,
     function()
        local function linear(fan_in, fan_out)
           local bound = 1 / math.sqrt(fan_in)
           return ty.random.uniform({fan_out, fan_in}, {low = -bound, high = bound}):eval(),
                  ty.random.uniform({fan_out}, {low = -bound, high = bound}):eval()
        end
        local s = {}
        s.w1, s.b1 = linear(784, 256)
        s.w2, s.b2 = linear(256, 10)
        s.x = ty.random.uniform({128, 784}):eval()
        s.y = ty.random.randint(1, 10, {128}):eval()
        s.state = {w1 = 0, b1 = 0, w2 = 0, b2 = 0}
        return s
     end,
     function(s)
        local lr, momentum = 0.05, 0.9
        local x, y, n = s.x, s.y, 128
        local h = ty.relu(x:matmul(s.w1.T) + s.b1)
        local logits = h:matmul(s.w2.T) + s.b2
        local logp = ty.log_softmax(logits, -1)
        local target = ty.one_hot(y, 10)
        local loss = -(logp * target):sum() / n
        local correct = logits:argmax(-1):eq(y):sum()
        local dlogits = (ty.exp(logp) - target) / n
        local grads = {w2 = dlogits.T:matmul(h), b2 = dlogits:sum(1)}
        local dh = dlogits:matmul(s.w2) * h:gt(0)
        grads.w1 = dh.T:matmul(x)
        grads.b1 = dh:sum(1)
        for name, g in pairs(grads) do
           s.state[name] = s.state[name] * momentum + g
           s[name] = s[name] - lr * s.state[name]
        end
        ty.eval(loss, correct, s.w1, s.b1, s.w2, s.b2, s.state)
        local _ = loss:item() + correct:item()
     end)

-- Convolution and pooling of a small CNN layer (batch 64, 32 -> 64
-- channels, 28x28, 3x3, padding 1): forward, forward + both gradients, and
-- 2x2 max pooling (torch only in bench/peer.py: NumPy has no conv).
case("conv2d_f32_b64_32-64_28x28", 2, 10,
     function() return {x = randn{64, 32, 28, 28}, w = randn{64, 32, 3, 3}} end,
     function(s) ty.conv2d(s.x, s.w, {padding = 1}):eval() end)
case("conv2d_grad_f32_b64_32-64_28x28", 1, 5,
     function()
        local s = {x = randn{64, 32, 28, 28}, w = randn{64, 32, 3, 3}}
        s.g = ty.grad(function(x, w) return ty.conv2d(x, w, {padding = 1}):sum() end, {1, 2})
        return s
     end,
     function(s) ty.eval(s.g(s.x, s.w)) end)
case("max_pool2d_f32_b64_32_28x28", 2, 10,
     function() return {x = randn{64, 32, 28, 28}} end,
     function(s) ty.max_pool2d(s.x, 2):eval() end)

for _, c in ipairs(cases) do
   if not only or c.name:find(only, 1, true) then
      local s = c.setup()
      collectgarbage()
      for _ = 1, c.warmup do c.run(s) end
      local reps = math.max(1, math.floor(c.reps * scale + 0.5))
      local times = {}
      for r = 1, reps do
         collectgarbage()               -- free the last result outside the timing
         local t0 = ty.time()
         c.run(s)
         times[r] = ty.time() - t0
      end
      print(string.format("%s\t%.9f\t%d", c.name, median(times), reps))
      io.stdout:flush()
      s = nil
      collectgarbage()
   end
end
