-- bench/vk_nn.lua -- the nn primitives on the default device (meant for
-- TYCHO_DEVICE=vulkan): convolution, attention, layer norm, softmax
-- cross-entropy, a fused Adam update and a whole MLP training step.
-- Each case: warm-up, then the median of `reps` timed runs.
--   ./tycho bench/vk_nn.lua [--scale S]    (S divides the sizes; lavapipe: 64)
-- Output lines: name<TAB>median_seconds<TAB>value<TAB>unit
local ty = require "tycho"
local nn = ty.nn

local U = dofile(((arg and arg[0] or ""):match("^(.*)/") or ".") .. "/vk_util.lua")
local scale, time, report = U.scale, U.time, U.report

local key = 0
local function randn(shape)
   key = key + 1
   return ty.random.normal(shape, {key = ty.random.key(key)}):eval()
end

print("#device\t" .. ty.default_device())

-- convolutions (NCHW), forward and input+weight gradients
local n = math.max(1, 32 // scale)
for _, c in ipairs{{"conv3x3_128_56", 128, 128, 56, 3, 1, 1},
                   {"conv1x1_256_28", 256, 256, 28, 1, 1, 0},
                   {"conv3x3s2_64_112", 64, 128, 112, 3, 2, 1}} do
   local name, cin, cout, hw, k, stride, pad = table.unpack(c)
   local x = randn{n, cin, hw, hw}
   local w = randn{cout, cin, k, k} * 0.05
   local ho = (hw + 2 * pad - k) // stride + 1
   local flops = 2 * n * cout * ho * ho * cin * k * k
   local s = time(function() return ty.conv2d(x, w, {stride = stride, padding = pad}) end, 10)
   report(name .. "_fwd", s, flops / s / 1e9, "GFLOP/s")
   local f = function(xx, ww)
      return ty.conv2d(xx, ww, {stride = stride, padding = pad}):sum()
   end
   local g = ty.grad(f, {1, 2})
   s = time(function() return g(x, w) end, 10)
   report(name .. "_fwd_bwd", s, 3 * flops / s / 1e9, "GFLOP/s")
end

-- attention (B, H, L, D)
local b, h, l, d = math.max(1, 8 // scale), 16, 1024, 64
local q, k, v = randn{b, h, l, d}, randn{b, h, l, d}, randn{b, h, l, d}
local aflops = 4 * b * h * l * l * d
local s = time(function() return ty.scaled_dot_product_attention(q, k, v) end, 10)
report("attention_8x16x1024x64", s, aflops / s / 1e9, "GFLOP/s")
s = time(function() return ty.scaled_dot_product_attention(q, k, v, {causal = true}) end, 10)
report("attention_causal_8x16x1024x64", s, aflops / 2 / s / 1e9, "GFLOP/s")

-- layer norm and cross-entropy (memory bound)
local rows = math.max(1, 8192 // scale)
local x = randn{rows, 4096}
local wln, bln = randn{4096}, randn{4096}
s = time(function() return ty.layer_norm(x, {4096}, {weight = wln, bias = bln}) end, 10)
report("layer_norm_8192x4096", s, 2 * 4 * rows * 4096 / s / 1e9, "GB/s")
local logits = randn{rows, 32000}
local labels = ty.random.randint(1, 32000, {rows}, {key = ty.random.key(99)}):eval()
s = time(function() return ty.softmax_cross_entropy(logits, labels) end, 10)
report("softmax_ce_8192x32000", s, 4 * rows * 32000 / s / 1e9, "GB/s")

-- fused Adam update: reads p, g, m, v; writes p, m, v
local np = (64 * 1024 * 1024) // scale
local p, gr, m1, m2 = randn{np}, randn{np}, randn{np} * 0, ty.zeros{np}:eval()
s = time(function()
   local r = table.pack(ty.optim_update("adam", p, gr, {m1, m2},
                                        {1e-3, 0.9, 0.999, 1e-8, 0, 0, 1e-2, 0.0316, 0, 0}))
   return r
end, 10)
report("adam_update_64M", s, 7 * 4 * np / s / 1e9, "GB/s")

-- one training step of the demo MLP (784-512-256-10, Adam, batch 128)
local model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                            nn.Linear(256, 10))
local opt = ty.optim.Adam{lr = 1e-3}
local xb = randn{128, 784}
local yb = ty.random.randint(1, 10, {128}, {key = ty.random.key(7)}):eval()
local step = nn.value_and_grad(model, function(xx, yy)
   return ty.losses.cross_entropy(model(xx), yy)
end)
local function train_step()
   local loss, grads = step(xb, yb)
   opt:update(model, grads)
   return {loss, model:parameters(), opt:state()}
end
s = time(train_step, 50)
report("mlp_train_step_b128", s, s * 1e6, "us")
