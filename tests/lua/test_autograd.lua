-- test_autograd.lua -- the autograd transforms of the Lua API: ty.grad,
-- value_and_grad, vjp, jvp, stop_gradient, checkpoint, gradcheck, ty.tree.
-- (Every op's VJP and JVP rule is checked in C by tests/c/test_autograd_*.c;
-- here representative ops go through the Lua API.)
--
-- Finite-difference checks run in float64 on the CPU (ty.gradcheck casts its
-- inputs), so they hold whatever the default device; the CPU/Vulkan
-- comparison is skipped when ty.devices() lists no Vulkan device.
local ty = require "tycho"
local h = require "helpers"
local R = ty.random

local VK = h.vulkan_device()

local T = {}
local seed = 4000
local function key() seed = seed + 1; return R.key(seed) end

-- Random float64 CPU arrays (normal, or uniform in [lo, hi]).
local function randn(shape)
   return R.normal(shape, {key = key(), dtype = "float64", device = "cpu"})
end
local function randu(shape, lo, hi)
   return R.uniform(shape, {key = key(), low = lo, high = hi, dtype = "float64",
                            device = "cpu"})
end

-- ty.gradcheck(f, args) passes (VJP and JVP) and checked something.
local function check(f, args, what, opts)
   local r = h.gradcheck(f, args, what, opts)
   assert(r.checked > 0, what .. ": nothing checked")
end

-- ---------------------------------------------------------------- basics

function T.grad_of_a_sum_of_squares()
   local x = ty.array({1, -2, 3})
   h.assert_close(ty.grad(function(v) return (v * v):sum() end)(x), {2, -4, 6})
end

function T.value_and_grad_returns_value_then_grads()
   local x = ty.array({1, 2, 3})
   local v, g = ty.value_and_grad(function(a) return (a * a):sum() end)(x)
   h.assert_close(v, 14)
   h.assert_close(g, {2, 4, 6})
end

function T.aux_results_pass_through_between_value_and_grads()
   local x = ty.array({1, 2})
   local f = function(a) return (a * 3):sum(), "aux", a + 1, nil, 7 end
   local r = table.pack(ty.value_and_grad(f)(x))
   assert(r.n == 6, "6 results, got " .. r.n)
   h.assert_close(r[1], 9)
   assert(r[2] == "aux" and r[4] == nil and r[5] == 7)
   h.assert_close(r[3], {2, 3})
   h.assert_close(r[6], {3, 3})
   -- ty.grad returns the gradients alone
   local g, extra = ty.grad(f)(x)
   h.assert_close(g, {3, 3})
   assert(extra == nil)
end

function T.argnums_number_and_list()
   local f = function(a, b, c) return (a * b * c):sum() end
   local a, b, c = ty.array({1, 2}), ty.array({3, 4}), ty.array({5, 6})
   h.assert_close(ty.grad(f, 2)(a, b, c), {5, 12})
   local gs = ty.grad(f, {3, 1})(a, b, c)
   assert(type(gs) == "table" and #gs == 2 and not ty.is_array(gs))
   h.assert_close(gs[1], {3, 8})
   h.assert_close(gs[2], {15, 24})
   local v, g1 = ty.value_and_grad(f, {2})(a, b, c)
   h.assert_close(v, 15 + 48)
   h.assert_close(g1[1], {5, 12})
end

function T.argnums_errors()
   local f = function(a) return a:sum() end
   h.assert_error(function() ty.grad(f, 2)(ty.ones{2}) end,
                  "[grad] argnums 2 is out of range: f got 1 argument")
   h.assert_error(function() ty.grad(f, 0) end, "[grad] argnums must be >= 1")
   h.assert_error(function() ty.grad(f, {}) end, "[grad] argnums is an empty list")
   h.assert_error(function() ty.grad(f, "x") end, "[grad] argnums must be an integer")
   h.assert_error(function() ty.grad(42) end, "[grad] argument 1 (f) must be a function")
end

function T.non_scalar_output_is_a_clear_error()
   h.assert_error(function() ty.grad(function(x) return x * 2 end)(ty.ones{2, 3}) end,
                  "[grad] f must return a scalar array, got shape (2,3)")
   h.assert_error(function() ty.value_and_grad(function() return 3 end)(ty.ones{2}) end,
                  "[value_and_grad] f must return a scalar array, got number")
   h.assert_error(function()
      ty.grad(function(x) return x:sum():astype("int32") end)(ty.ones{2})
   end, "[grad] f must return a float scalar array, got int32")
   -- a one-element array of any shape is a scalar
   h.assert_close(ty.grad(function(x) return x:reshape{1, 1} * 2 end)(ty.array({5})), {2})
end

function T.errors_in_f_propagate_and_leave_no_retained_graph()
   local core = require "tycho._grad"
   local err = h.assert_error(function()
      ty.grad(function(x) error("boom in f") end)(ty.ones{2})
   end, "boom in f")
   assert(err:find("test_autograd.lua"), "the error keeps its position: " .. err)
   h.assert_error(function()
      ty.value_and_grad(function(x) return ty.matmul(x, x) end)(ty.ones{2, 3})
   end, "[matmul]")
   local depth = core.suspend()
   core.resume(depth)
   assert(depth == 0, "retain-graph depth after errors: " .. depth)
end

function T.trees_of_parameters_keep_their_shape()
   local params = {
      w = ty.array({{1, 2}, {3, 4}}),
      b = ty.array({0.5, -0.5}),
      layers = {{w = ty.array({2})}, {w = ty.array({-1})}},
      n = 3,                                  -- not an array: no gradient
      name = "net",
      steps = ty.array({1, 2}, "int32"),      -- integer array: no gradient
   }
   local x = ty.array({1, 1})
   local function loss(p, input)
      local y = ty.matmul(p.w, input) + p.b
      local s = (y * p.layers[1].w * p.layers[2].w):sum()
      return s * p.n
   end
   local g = ty.grad(loss)(params, x)
   assert(g.n == nil and g.name == nil and g.steps == nil)
   -- d/dw of n * l1 * l2 * sum(w x + b) = n * l1 * l2 * x^T per row = -6
   h.assert_close(g.w, {{-6, -6}, {-6, -6}})
   h.assert_close(g.b, {-6, -6})
   -- s = sum(y) * l1 * l2 with sum(y) = 3 + 7 = 10
   h.assert_close(g.layers[1].w, {3 * 10 * -1})
   h.assert_close(g.layers[2].w, {3 * 10 * 2})
   -- the gradient tree maps onto the parameter tree
   local new = ty.tree.map(function(p, dp)
      if dp then return p - 0.1 * dp end
      return p
   end, params, g)
   h.assert_close(new.b, {1.1, 0.1})
   assert(new.n == 3 and new.name == "net")
end

function T.numbers_as_arguments_are_constants()
   local g = ty.grad(function(x, k) return (x * k):sum() end, {1, 2})(ty.ones{2}, 4)
   h.assert_close(g[1], {4, 4})
   assert(g[2] == nil)
end

function T.stop_gradient_blocks_the_gradient()
   local x = ty.array({1, 2, 3})
   local g = ty.grad(function(v) return (v * ty.stop_gradient(v)):sum() end)(x)
   h.assert_close(g, {1, 2, 3})
   h.assert_close(ty.stop_gradient(x), {1, 2, 3})
   local g2 = ty.grad(function(v) return ty.stop_gradient(v * v):sum() + v:sum() end)(x)
   h.assert_close(g2, {1, 1, 1})
end

function T.non_differentiable_ops_give_zero_gradients()
   local x = ty.array({{0.5, -1, 2}, {3, 0.1, -4}})
   local function zero(f, what)
      h.assert_close(ty.grad(f)(x), {{0, 0, 0}, {0, 0, 0}}, 0, what)
   end
   zero(function(v) return v:argmax(2):astype("float32"):sum() end, "argmax")
   zero(function(v) return v:argmin():astype("float32"):sum() end, "argmin")
   zero(function(v) return ty.gt(v, 0):astype("float32"):sum() end, "gt")
   zero(function(v) return ty.eq(v, v):astype("float32"):sum() end, "eq")
   zero(function(v) return v:argsort(2):astype("float32"):sum() end, "argsort")
   zero(function(v) return v:floor():sum() + v:sign():sum() end, "floor, sign")
   -- a comparison used as a mask: the mask is a constant
   h.assert_close(ty.grad(function(v) return (v * ty.gt(v, 0)):sum() end)(x),
                  {{1, 0, 1}, {1, 1, 0}})
end

-- ---------------------------------------------------------------- gradcheck

function T.gradcheck_elementwise_ops_with_broadcasting()
   local a, b = randn{3, 1}, randn{1, 4}
   local pos = randu({3, 4}, 0.5, 2)
   check(function(x, y) return x * y + ty.sin(x) - y / (1 + x * x) end, {a, b}, "mul/div")
   check(function(x, y) return ty.exp(x) * ty.tanh(y) + ty.sigmoid(x - y) end, {a, b},
         "exp/tanh/sigmoid")
   check(function(p) return ty.log(p) + ty.sqrt(p) + p ^ 1.5 + ty.rsqrt(p) end, {pos},
         "log/sqrt/pow/rsqrt")
   check(function(x, p) return ty.pow(p, x) end, {a, pos}, "pow with both arguments")
   check(function(x, y) return ty.maximum(x, y) + ty.minimum(x, 2 * y) end,
         {randn{3, 4}, randn{3, 4}}, "maximum/minimum")
   check(function(x) return ty.gelu(x) + ty.silu(x) + ty.softplus(x) + ty.erf(x) end,
         {randn{2, 5}}, "gelu/silu/softplus/erf")
   check(function(x, y) return ty.where(ty.gt(x, 0), x * y, y) end, {randn{3, 4}, b},
         "where (broadcast)")
   -- through float32: a larger step, a looser tolerance
   check(function(x) return x:astype("float32"):astype("float64") * 2 end, {randn{3}},
         "astype", {eps = 1e-3, tol = 1e-3})
end

function T.gradcheck_reductions_over_several_axes()
   local x = randn{2, 3, 4}
   check(function(v) return v:sum({1, 3}) end, {x}, "sum over axes 1, 3")
   check(function(v) return v:mean({2, 3}, true) end, {x}, "mean keepdims")
   check(function(v) return ty.logsumexp(v, {1, 2}) end, {x}, "logsumexp over 1, 2")
   check(function(v) return ty.var(v, {1, 3}) end, {x}, "var")
   check(function(v) return v:max(3) + v:min({1, 2}):sum() end, {x}, "max/min")
   local w = randu({2, 3, 4}, 0.5, 1.5)
   check(function(v) return w:prod(2) * v:prod({2, 3}, true) end, {randu({2, 3, 4}, 0.5, 1.5)},
         "prod")
   check(function(v) return ty.cumsum(v, 2) end, {x}, "cumsum")
   check(function(v) return (v:sum() * v):sum(1) end, {x}, "sum of all, then broadcast")
end

function T.gradcheck_matmul_views_and_indexing()
   check(function(a, b) return ty.matmul(a, b) end, {randn{2, 3, 4}, randn{4, 5}},
         "matmul with batch broadcasting")
   check(function(a, v) return ty.matmul(a, v) end, {randn{3, 4}, randn{4}}, "matvec")
   check(function(a) return a:transpose():reshape{4, 3} * 2 end, {randn{3, 4}},
         "transpose, reshape")
   check(function(a) return a[{{2, 3}, {1, -1, 2}}] end, {randn{3, 4}}, "slice")
   check(function(a, b) return ty.concatenate({a, b * 2}, 1) end, {randn{2, 3}, randn{1, 3}},
         "concatenate")
   local idx = ty.array({3, 1, 3}, {dtype = "int32", device = "cpu"})
   check(function(a) return ty.take(a, idx, 2) end, {randn{2, 4}}, "take, a repeated index")
   check(function(a) return ty.broadcast_to(a, {3, 2, 4}) end, {randn{2, 1}}, "broadcast_to")
   check(function(a) return ty.pad(a, {{1, 0}, {2, 1}}) end, {randn{2, 2}}, "pad")
end

function T.gradcheck_softmax_and_cross_entropy()
   local z = randn{3, 5}
   local labels = ty.array({2, 5, 1}, {dtype = "int32", device = "cpu"})
   check(function(v) return ty.softmax(v, 2) end, {z}, "softmax")
   check(function(v) return ty.log_softmax(v, 1) end, {z}, "log_softmax")
   check(function(v)
      local lp = ty.log_softmax(v, 2)
      return -ty.take_along_axis(lp, labels:reshape{3, 1}, 2):mean()
   end, {z}, "cross-entropy")
end

function T.gradcheck_trees_and_several_outputs()
   local p = {w = randn{3, 2}, b = randn{2}}
   check(function(params, x)
      local y = ty.matmul(x, params.w) + params.b
      return ty.tanh(y), {sq = (y * y):sum()}
   end, {p, randn{4, 3}}, "tree argument, tree output")
end

function T.gradcheck_reports_a_wrong_gradient()
   -- stop_gradient hides half of d(x*x)/dx from the VJP: gradcheck must see it
   local x = ty.array({{1, 2}, {3, 4}}, {dtype = "float64", device = "cpu"})
   local ok, r = ty.gradcheck(function(v) return v * ty.stop_gradient(v) end, {x})
   assert(ok == false)
   assert(r.max_abs_err > 0.5 and r.max_rel_err > 0.3)
   assert(r.worst.arg == 1 and #r.worst.index == 2)
   -- the worst entry is the largest |x|: analytic x * u, numeric 2 x * u
   h.assert_close(r.worst.numeric, 2 * r.worst.analytic, 1e-6)
   -- and a correct one passes with small errors
   local ok2, r2 = ty.gradcheck(function(v) return v * v end, x, {eps = 1e-5, tol = 1e-6})
   assert(ok2 and r2.max_abs_err < 1e-6, r2.max_abs_err)
   h.assert_error(function() ty.gradcheck(function(v) return v end, x, {epsilon = 1}) end,
                  "[gradcheck] unknown option 'epsilon'")
end

-- ---------------------------------------------------------------- higher order

function T.second_derivative_of_sin_is_minus_sin()
   local x = ty.linspace(-3, 3, 7)
   local d = ty.grad(function(v) return ty.sin(v):sum() end)
   local dd = ty.grad(function(v) return d(v):sum() end)
   h.assert_close(d(x), ty.cos(x), 1e-5)
   h.assert_close(dd(x), -ty.sin(x), 1e-5)
end

function T.derivatives_of_x_cubed()
   local cube = function(v) return (v ^ 3):sum() end
   local x = ty.array({-2, 0.5, 3})
   local d1 = ty.grad(cube)
   local d2 = ty.grad(function(v) return d1(v):sum() end)
   local d3 = ty.grad(function(v) return d2(v):sum() end)
   h.assert_close(d1(x), {12, 0.75, 27}, 1e-5)
   h.assert_close(d2(x), {-12, 3, 18}, 1e-5)
   h.assert_close(d3(x), {6, 6, 6}, 1e-5)
   -- a scalar function: ty.grad(ty.grad(f)) directly
   local s = ty.array(2)
   h.assert_close(ty.grad(ty.grad(function(v) return v * v * v end))(s), 12, 1e-5)
end

function T.hessian_of_logsumexp_and_cross_entropy()
   -- H = diag(p) - p p^T for logsumexp and for softmax cross-entropy in the
   -- logits; checked as Hessian-vector products grad(<grad f, v>).
   local z = ty.array({0.3, -1.2, 2.0, 0.5}, {dtype = "float64", device = "cpu"})
   local v = ty.array({1, -2, 0.5, 3}, {dtype = "float64", device = "cpu"})
   local p = ty.softmax(z, 1)
   local expected = p * v - p * (p * v):sum()
   local lse = function(a) return ty.logsumexp(a, 1) end
   local hvp = ty.grad(function(a) return (ty.grad(lse)(a) * v):sum() end)
   h.assert_close(hvp(z), expected, 1e-9)
   local label = ty.array({{3}}, {dtype = "int32", device = "cpu"})
   local ce = function(a)
      return -ty.take_along_axis(ty.log_softmax(a:reshape{1, 4}, 2), label, 2):sum()
   end
   local hvp2 = ty.grad(function(a) return (ty.grad(ce)(a) * v):sum() end)
   h.assert_close(hvp2(z), expected, 1e-9)
   -- the gradient of the second derivative matches finite differences too
   check(function(a) return ty.grad(ce)(a) end, {z}, "gradient of the CE gradient")
end

-- ---------------------------------------------------------------- vjp / jvp

function T.vjp_with_lists_and_bare_arrays()
   local x, y = ty.array({1, 2, 3}), ty.array({4, 5, 6})
   local f = function(a, b) return a * b, a + b end
   local outs, vjps = ty.vjp(f, {x, y}, {ty.array({1, 0, 2}), ty.array({1, 1, 1})})
   assert(#outs == 2 and #vjps == 2)
   h.assert_close(outs[1], {4, 10, 18})
   h.assert_close(vjps[1], {4 + 1, 1, 12 + 1})
   h.assert_close(vjps[2], {1 + 1, 1, 6 + 1})
   -- bare arrays in, bare arrays out
   local out, g = ty.vjp(ty.sin, x, ty.ones{3})
   assert(ty.is_array(out) and ty.is_array(g))
   h.assert_close(g, ty.cos(x), 1e-6)
   -- cotangents omitted: ones; a number fills
   local _, g2 = ty.vjp(function(a) return a * 2 end, x)
   h.assert_close(g2, {2, 2, 2})
   local _, g3 = ty.vjp(function(a) return a * 2 end, {x}, {3})
   h.assert_close(g3[1], {6, 6, 6})
   h.assert_error(function() ty.vjp(f, {x, y}, {ty.ones{3}}) end,
                  "[vjp] 1 cotangent for 2 outputs of f")
   h.assert_error(function() ty.vjp(f, {x, y}, {{ty.ones{3}, ty.ones{3}}, ty.ones{3}}) end,
                  "[vjp] cotangent 1 has 2 leaves, expected 1")
end

function T.vjp_of_trees()
   local params = {a = ty.array({1, 2}), b = ty.array({3})}
   local f = function(p) return {s = p.a * p.b, t = p.b * 2} end
   local outs, vjps = ty.vjp(f, {params}, {{s = ty.array({1, 1}), t = ty.array({1})}})
   h.assert_close(outs[1].s, {3, 6})
   h.assert_close(vjps[1].a, {3, 3})
   h.assert_close(vjps[1].b, {1 + 2 + 2})
end

function T.jvp_forward_mode()
   local x = ty.array({0, 1, 2})
   local out, t = ty.jvp(ty.sin, x, ty.array({1, 2, 3}))
   h.assert_close(out, ty.sin(x), 1e-6)
   h.assert_close(t, ty.cos(x) * ty.array({1, 2, 3}), 1e-6)
   local f = function(a, b) return a * b, (a * a):sum() end
   local a, b = ty.array({1, 2}), ty.array({3, 4})
   local outs, ts = ty.jvp(f, {a, b}, {ty.array({1, 0}), nil})
   assert(#outs == 2 and #ts == 2)
   h.assert_close(ts[1], {3, 0})                 -- b * da
   h.assert_close(ts[2], 2)                      -- 2 a . da
   -- jvp agrees with vjp: <u, J t> == <J^T u, t>
   local u, tt = ty.array({0.5, -1}), ty.array({2, 1})
   local _, jt = ty.jvp(function(v) return ty.tanh(v) * v end, a, tt)
   local _, ju = ty.vjp(function(v) return ty.tanh(v) * v end, a, u)
   h.assert_close((jt * u):sum(), (ju * tt):sum(), 1e-6)
end

-- ---------------------------------------------------------------- checkpoint

-- A deep MLP of `depth` blocks x -> tanh(tanh(x w1 + b1) w2) (4x wider
-- inside); blocks are checkpointed when `ckpt`. Returns loss(params, x).
local function deep_mlp(depth, ckpt)
   local block = function(p, x)
      return ty.tanh(ty.matmul(ty.tanh(ty.matmul(x, p.w1) + p.b1), p.w2))
   end
   if ckpt then block = ty.checkpoint(block) end
   return function(params, x)
      for i = 1, depth do x = block(params[i], x) end
      return (x * x):mean()
   end
end

local function mlp_params(depth, width)
   local params = {}
   for i = 1, depth do
      params[i] = {w1 = R.normal({width, 4 * width}, {key = R.key(i)}) / math.sqrt(width),
                   b1 = R.normal({4 * width}, {key = R.key(100 + i)}) * 0.1,
                   w2 = R.normal({4 * width, width}, {key = R.key(200 + i)}) / (2 * width)}
   end
   ty.eval(params)
   return params
end

function T.checkpoint_gives_the_same_gradients()
   local params = mlp_params(3, 4)
   local x = R.normal({5, 4}, {key = key()})
   local v1, g1 = ty.value_and_grad(deep_mlp(3, false))(params, x)
   local v2, g2 = ty.value_and_grad(deep_mlp(3, true))(params, x)
   h.assert_close(v2, v1, 1e-6)
   for i = 1, 3 do
      for _, k in ipairs{"w1", "b1", "w2"} do h.assert_close(g2[i][k], g1[i][k], 1e-5) end
   end
   -- several arguments, a tree argument, a constant, two results
   local f = ty.checkpoint(function(p, k, y) return ty.sin(p.a * y) * k, p.a:sum() end)
   local a, y = ty.array({0.5, 1}), ty.array({2, 3})
   local g = ty.grad(function(av, yv)
      local s, t = f({a = av}, 3, yv)
      return s:sum() + t
   end, {1, 2})(a, y)
   h.assert_close(g[1], ty.cos(a * y) * y * 3 + 1, 1e-5)
   h.assert_close(g[2], ty.cos(a * y) * a * 3, 1e-5)
end

function T.checkpoint_forward_mode_is_f_forward_mode()
   local f = ty.checkpoint(function(v) return ty.sin(v) * v end)
   local x = ty.array({0.5, 1.0})
   local out, t = ty.jvp(f, x, ty.array({1, 2}))
   h.assert_close(out, ty.sin(x) * x, 1e-6)
   h.assert_close(t, (ty.cos(x) * x + ty.sin(x)) * ty.array({1, 2}), 1e-5)
   -- and second derivatives through a checkpoint
   local d = ty.grad(function(v) return f(v):sum() end)
   h.assert_close(ty.grad(function(v) return d(v):sum() end)(x),
                  -ty.sin(x) * x + 2 * ty.cos(x), 1e-5)
end

function T.checkpoint_errors_in_the_backward_pass_propagate()
   local fail = false
   local f = ty.checkpoint(function(v)
      if fail then error("recomputation failed") end
      return v * 2
   end)
   h.assert_error(function()
      ty.grad(function(v)
         local y = f(v)
         fail = true                   -- the backward pass runs f again
         return y:sum()
      end)(ty.ones{2})
   end, "recomputation failed")
   fail = false
   h.assert_close(ty.grad(function(v) return f(v):sum() end)(ty.ones{2}), {2, 2})
end

function T.checkpoint_lowers_peak_memory_of_a_deep_mlp()
   local depth, width, batch = 8, 64, 2048
   local params = mlp_params(depth, width)
   local x = R.normal({batch, width}, {key = key()})
   ty.eval(x)
   local function peak(ckpt)
      collectgarbage()
      collectgarbage()
      local base = ty.memory().active
      ty.reset_peak_memory()
      local loss, grads = ty.value_and_grad(deep_mlp(depth, ckpt))(params, x)
      -- Lua handles on intermediate arrays (garbage, not yet collected) keep
      -- their buffers. ty.eval walks its roots from the last, so the last
      -- block's gradient is finished first and each block's backward pass
      -- frees its recomputed activations before the next one runs.
      collectgarbage()
      collectgarbage()
      ty.eval(loss, grads)
      local p = ty.memory().peak - base
      loss, grads, roots = nil, nil, nil
      collectgarbage()
      collectgarbage()
      return p
   end
   peak(false)                                  -- warm caches
   local plain, ckpt = peak(false), peak(true)
   local inner = batch * 4 * width * 4         -- one block's wide activation
   if os.getenv("TYCHO_TEST_VERBOSE") then
      print(string.format("checkpoint: peak %d -> %d bytes (inner activation %d)", plain,
                          ckpt, inner))
   end
   -- without checkpoints every block's inner activation is kept for the
   -- backward pass; with them, about one block's at a time
   assert(plain - ckpt > (depth // 2) * inner,
          string.format("peak %d -> %d bytes: saved less than %d inner activations of %d",
                        plain, ckpt, depth // 2, inner))
end

-- ---------------------------------------------------------------- devices

function T.gradients_agree_between_cpu_and_vulkan()
   if not VK then return end
   local function loss(p, x, y)
      local hdn = ty.relu(ty.matmul(x, p.w1) + p.b1)
      local logits = ty.matmul(hdn, p.w2)
      local lp = ty.log_softmax(logits, 2)
      return -ty.take_along_axis(lp, y, 2):mean() + 0.01 * (p.w1 * p.w1):sum()
   end
   local cpu = {w1 = R.normal({6, 16}, {key = key(), device = "cpu"}),
                b1 = R.normal({16}, {key = key(), device = "cpu"}),
                w2 = R.normal({16, 4}, {key = key(), device = "cpu"})}
   local x = R.normal({10, 6}, {key = key(), device = "cpu"})
   local y = R.randint(1, 4, {10, 1}, {key = key(), dtype = "int32", device = "cpu"})
   local vc, gc = ty.value_and_grad(loss)(cpu, x, y)
   local gpu = ty.tree.map(function(a) return a:to(VK) end, cpu)
   local vv, gv = ty.value_and_grad(loss)(gpu, x:to(VK), y:to(VK))
   assert(gv.w1.device == VK)
   h.assert_close(vv:to("cpu"), vc, 1e-5)
   for _, k in ipairs{"w1", "b1", "w2"} do h.assert_close(gv[k]:to("cpu"), gc[k], 1e-4, k) end
   -- second derivatives too
   local d2 = function(dev)
      local s = ty.linspace(-2, 2, 5, {device = dev})
      return ty.grad(function(v) return ty.grad(function(u) return ty.tanh(u):sum() end)(v)
         :sum() end)(s)
   end
   h.assert_close(d2(VK):to("cpu"), d2("cpu"), 1e-5)
end

-- ---------------------------------------------------------------- training

function T.mlp_learns_xor_with_value_and_grad()
   local x = ty.array({{0, 0}, {0, 1}, {1, 0}, {1, 1}})
   local y = ty.array({{0}, {1}, {1}, {0}})
   local params = {w1 = R.normal({2, 8}, {key = R.key(7)}), b1 = ty.zeros{8},
                   w2 = R.normal({8, 1}, {key = R.key(8)}), b2 = ty.zeros{1}}
   local function loss(p)
      local hdn = ty.tanh(ty.matmul(x, p.w1) + p.b1)
      local out = ty.sigmoid(ty.matmul(hdn, p.w2) + p.b2)
      return ((out - y) ^ 2):mean()
   end
   local step = ty.value_and_grad(loss)
   local first, value
   for i = 1, 500 do
      local l, g = step(params)
      params = ty.tree.map(function(p, dp) return p - 2.0 * dp end, params, g)
      ty.eval(l, params)
      value = l:item()
      first = first or value
   end
   assert(value < 0.05, string.format("XOR loss %.4f after 500 steps (from %.4f)", value,
                                      first))
end

function T.a_training_step_is_one_lazy_graph()
   local params = {w = R.normal({64, 64}, {key = key()}), b = ty.zeros{64}}
   local x = R.normal({32, 64}, {key = key()})
   ty.eval(params, x)
   collectgarbage()
   local before = ty.memory().active
   local loss, g = ty.value_and_grad(function(p)
      return ty.tanh(ty.matmul(x, p.w) + p.b):sum()
   end)(params)
   local new = ty.tree.map(function(p, dp) return p - 0.01 * dp end, params, g)
   -- building forward + backward + update allocates no device memory
   assert(ty.memory().active == before, "the step was evaluated while being built")
   ty.eval(loss, new)
   assert(ty.memory().active > before)
   h.assert_shape(new.w, {64, 64})
end

-- ---------------------------------------------------------------- trees

function T.tree_flatten_order_and_roundtrip()
   local a, b, c, d = ty.ones{1}, ty.ones{2}, ty.ones{3}, ty.ones{4}
   local t = {c, {d, k = 5}, z = a, b = b, [5] = "five"}
   local leaves, spec = ty.tree.flatten(t)
   -- integer keys ascending, then string keys sorted
   assert(#leaves == 6)
   assert(leaves[1] == c and leaves[2] == d and leaves[3] == 5 and leaves[4] == "five")
   assert(leaves[5] == b and leaves[6] == a)
   assert(spec:count() == 6)
   assert(tostring(spec) == "TreeSpec{*, {*, k=*}, [5]=*, b=*, z=*}", tostring(spec))
   local back = ty.tree.unflatten(spec, leaves)
   assert(back[1] == c and back[2][1] == d and back[2].k == 5 and back.z == a)
   assert(back[5] == "five" and back.b == b)
   local _, spec2 = ty.tree.flatten(back)
   assert(spec == spec2)
   -- a leaf is a tree of one leaf
   local l1, s1 = ty.tree.flatten(a)
   assert(#l1 == 1 and l1[1] == a and ty.tree.unflatten(s1, {b}) == b)
   assert(#ty.tree.leaves({}) == 0)
end

function T.tree_map_over_several_trees()
   local p = {w = ty.array({1, 2}), sub = {ty.array({3})}, lr = 0.5}
   local g = {w = ty.array({10, 10}), sub = {ty.array({1})}}
   local r = ty.tree.map(function(a, b)
      if b == nil then return a end
      return a + b
   end, p, g)
   h.assert_close(r.w, {11, 12})
   h.assert_close(r.sub[1], {4})
   assert(r.lr == 0.5)
   local doubled = ty.tree.map(function(v) return v * 2 end, {1, {2, x = 3}})
   assert(doubled[1] == 2 and doubled[2][1] == 4 and doubled[2].x == 6)
   h.assert_error(function() ty.tree.map(function(a) return a end, {w = {1}}, {w = 3}) end,
                  "[tree.map] tree 2 has a number where tree 1 has a table")
end

function T.tree_keeps_metatables_and_rejects_bad_trees()
   local mt = {__index = {kind = function() return "layer" end}}
   local t = setmetatable({w = ty.ones{2}}, mt)
   local m = ty.tree.map(function(v) return v + 1 end, t)
   assert(getmetatable(m) == mt and m:kind() == "layer")
   local leaves, spec = ty.tree.flatten(t)
   assert(getmetatable(ty.tree.unflatten(spec, leaves)) == mt)
   local cyc = {}
   cyc.self = cyc
   h.assert_error(function() ty.tree.flatten(cyc) end, "[tree] the tree contains a cycle")
   h.assert_error(function() ty.tree.flatten({[true] = 1}) end, "[tree] unsupported key")
   h.assert_error(function() ty.tree.unflatten({}, {}) end,
                  "[tree.unflatten] argument 1 must be a spec")
end

function T.autograd_functions_are_documented()
   for _, name in ipairs{"grad", "value_and_grad", "vjp", "jvp", "stop_gradient",
                         "checkpoint", "gradcheck"} do
      assert(type(ty[name]) == "function", name)
      local doc = ty.__doc[ty[name]]
      assert(doc and doc:find("^ty%." .. name .. "%("), "doc of ty." .. name)
   end
   for name, fn in pairs(ty.tree) do
      if type(fn) == "function" then
         local doc = ty.__doc[fn]
         assert(doc and doc:find("^ty%.tree%." .. name .. "%("), "doc of ty.tree." .. name)
      end
   end
   assert(type(ty.tree.__doc) == "string")
end

return T
