-- test_losses.lua -- ty.losses against torch 1.13 fixtures
-- (tests/fixtures/loss_torch.npz, made by tests/gen_loss_fixtures.py) for
-- every reduction and with weights, against formulas for the losses torch
-- lacks, gradients by finite differences (float64), errors.
local ty = require "tycho"
local h = require "helpers"
local L = ty.losses

local T = {}
local FX = ty.load("tests/fixtures/loss_torch.npz")
local RED = {"none", "mean", "sum"}
local TOL = 2e-5

local function fx(name)
   local a = FX[name]
   if a == nil then error("no fixture " .. name) end
   return a
end

-- expected fixture values as float32 arrays (0-d for scalars)
local function want(name) return fx(name):astype("float32") end

local function each_red(key, f)
   for _, r in ipairs(RED) do
      h.assert_close(f(r), want(key .. "__" .. r), TOL, key .. " " .. r)
   end
end

function T.cross_entropy_labels()
   local x, y, w = fx("ce_x"), fx("ce_y"), fx("ce_w")
   each_red("ce", function(r) return L.cross_entropy(x, y, {reduction = r}) end)
   each_red("ce_w", function(r) return L.cross_entropy(x, y, {weight = w, reduction = r}) end)
   -- labels as a Lua table and as a float array
   h.assert_close(L.cross_entropy(x, y:tolist()), want("ce__mean"), TOL)
   h.assert_close(L.cross_entropy(x, y:astype("float32")), want("ce__mean"), TOL)
end

function T.cross_entropy_ignore_smoothing()
   local x, yi, w = fx("ce_x"), fx("ce_yi"), fx("ce_w")
   each_red("ce_wi", function(r)
      return L.cross_entropy(x, yi, {weight = w, ignore_index = -100, reduction = r})
   end)
   each_red("ce_ls", function(r)
      return L.cross_entropy(x, yi, {weight = w, ignore_index = -100, label_smoothing = 0.1,
                                     reduction = r})
   end)
   each_red("ce_ls0", function(r)
      return L.cross_entropy(x, fx("ce_y"), {label_smoothing = 0.2, reduction = r})
   end)
end

function T.cross_entropy_probabilities_and_spatial()
   local x, p, w = fx("ce_x"), fx("ce_p"), fx("ce_w")
   each_red("ce_prob", function(r)
      return L.cross_entropy(x, p, {weight = w, label_smoothing = 0.1, reduction = r})
   end)
   local w4 = w[{{1, 4}}]
   each_red("ce4", function(r)
      return L.cross_entropy(fx("ce4_x"), fx("ce4_y"), {weight = w4, reduction = r})
   end)
end

function T.nll()
   local lp = ty.log_softmax(fx("ce_x"), -1)
   each_red("nll", function(r) return L.nll(lp, fx("ce_y"), {reduction = r}) end)
   each_red("nll_wi", function(r)
      return L.nll(lp, fx("ce_yi"), {weight = fx("ce_w"), ignore_index = -100, reduction = r})
   end)
end

function T.binary_cross_entropy()
   each_red("bce", function(r)
      return L.binary_cross_entropy(fx("bce_p"), fx("bce_t"), {weight = fx("bce_w"), reduction = r})
   end)
   each_red("bcel", function(r)
      return L.binary_cross_entropy(fx("bce_z"), fx("bce_t"), {weight = fx("bce_w"),
         pos_weight = fx("bce_pw"), logits = true, reduction = r})
   end)
   -- stable from logits at extreme values
   local v = L.binary_cross_entropy(ty.array{-200, 200}, ty.array{1, 0}, {logits = true,
      reduction = "none"})
   h.assert_close(v, {200, 200}, 1e-5)
end

function T.regression()
   local a, b = fx("reg_a"), fx("reg_b")
   each_red("l1", function(r) return L.l1(a, b, {reduction = r}) end)
   each_red("mse", function(r) return L.mse(a, b, {reduction = r}) end)
   each_red("sl1", function(r) return L.smooth_l1(a, b, {beta = 0.5, reduction = r}) end)
   each_red("huber", function(r) return L.huber(a, b, {delta = 0.7, reduction = r}) end)
   each_red("logcosh", function(r) return L.log_cosh(a, b, {reduction = r}) end)
   each_red("gnll", function(r) return L.gaussian_nll(a, b, fx("reg_var"), {reduction = r}) end)
   each_red("gnllf", function(r)
      return L.gaussian_nll(a, b, fx("reg_var"), {full = true, reduction = r})
   end)
   -- log_cosh stays finite far out
   h.assert_close(L.log_cosh(ty.array{100}, ty.array{0}), 100 - math.log(2), 1e-6)
end

function T.kl_div()
   local i, t, lt = fx("kl_in"), fx("kl_t"), fx("kl_lt")
   each_red("kl", function(r) return L.kl_div(i, t, {reduction = r}) end)
   each_red("kllt", function(r) return L.kl_div(i, lt, {reduction = r, log_target = true}) end)
   h.assert_close(L.kl_div(i, t, {reduction = "batchmean"}), want("kl__batchmean"), TOL)
end

function T.margins_and_embeddings()
   local a = fx("reg_a")
   each_red("hinge", function(r) return L.hinge(a, fx("hinge_y"), {margin = 0.5, reduction = r}) end)
   local e1, e2, e3, y = fx("emb_1"), fx("emb_2"), fx("emb_3"), fx("emb_y")
   each_red("triplet", function(r) return L.triplet(e1, e2, e3, {reduction = r}) end)
   each_red("triplet1s", function(r)
      return L.triplet(e1, e2, e3, {margin = 0.5, p = 1, swap = true, reduction = r})
   end)
   each_red("rank", function(r)
      return L.margin_ranking(fx("rank_1"), fx("rank_2"), y, {margin = 0.2, reduction = r})
   end)
   each_red("cos", function(r)
      return L.cosine_similarity(e1, e2, y, {margin = 0.1, reduction = r})
   end)
end

function T.focal_dice_contrastive()
   each_red("focal", function(r) return L.focal(fx("bce_z"), fx("bce_t"), {reduction = r}) end)
   each_red("focalm", function(r)
      return L.focal(fx("ce_x"), fx("ce_y"), {gamma = 1.5, alpha = fx("focal_alpha"), reduction = r})
   end)
   -- gamma 0, no alpha: plain cross-entropy
   h.assert_close(L.focal(fx("ce_x"), fx("ce_y"), {gamma = 0}), want("ce__mean"), TOL)
   each_red("dice", function(r) return L.dice(fx("dice_p"), fx("dice_y"), {reduction = r}) end)
   -- soft targets equal to the one-hot labels give the same loss
   local oh = ty.transpose(ty.one_hot(fx("dice_y"), 3), {1, 4, 2, 3})
   h.assert_close(L.dice(fx("dice_p"), oh), want("dice__mean"), TOL)
   each_red("contr", function(r)
      return L.contrastive(fx("emb_1"), fx("emb_2"), fx("contr_y"), {margin = 2, reduction = r})
   end)
end

function T.center_and_wasserstein()
   each_red("center", function(r)
      return L.center(fx("emb_1"), fx("center_y"), fx("center_c"), {reduction = r})
   end)
   local m = L.CenterLoss(5, 8)
   h.assert_shape(m.centers, {5, 8})
   m:update{centers = fx("center_c")}
   h.assert_close(m(fx("emb_1"), fx("center_y")), want("center__mean"), TOL)
   local _, g = ty.value_and_grad(function(c)
      return L.center(fx("emb_1"), fx("center_y"), c)
   end)(fx("center_c"))
   h.assert_shape(g, {5, 8})
   h.assert_close(L.wasserstein(fx("rank_1"), fx("rank_2")), want("wgan_critic"), TOL)
   h.assert_close(L.wasserstein(fx("rank_2")), want("wgan_gen"), TOL)
   each_red("wgan_lab", function(r)
      return L.wasserstein(fx("rank_1"), fx("emb_y"), {labels = true, reduction = r})
   end)
end

function T.perceptual()
   local nn = ty.nn
   local net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
   local x, t = ty.randn{5, 4}, ty.randn{5, 4}
   local l = L.perceptual(x, t, net, {1, 3}, {weights = {1, 0.5}})
   local f1 = function(z) return net[1](z) end
   local h1x, h1t = net[1](x), net[1](t)
   local h3x, h3t = net(x), net(t)
   local expect = L.mse(h1x, h1t) + 0.5 * L.mse(h3x, h3t)
   h.assert_close(l, expect, 1e-5)
   h.assert_shape(L.perceptual(x, t, net, {"1"}, {reduction = "none"}), {5})
   h.assert_close(L.perceptual(x, t, net, {3}, {distance = "l1"}), L.l1(h3x, h3t), 1e-5)
   h.assert_error(function() L.perceptual(x, t, net, {"nope"}) end, "[perceptual] extractor has no submodule 'nope'")
   -- gradients reach the input, not the target
   local g = ty.grad(function(z) return L.perceptual(z, t, net, {3}) end)(x)
   h.assert_shape(g, {5, 4})
   local _ = f1
end

local gradcheck = h.gradcheck

-- a fixture array on the CPU (float64 checks)
local function fxc(name) return fx(name):to("cpu") end

function T.gradients()
   local x = fxc("ce_x"):astype("float64")
   local w = fxc("ce_w"):astype("float64")
   gradcheck(function(z)
      return L.cross_entropy(z, fxc("ce_yi"), {weight = w, ignore_index = -100, label_smoothing = 0.1})
   end, {x})
   gradcheck(function(z) return L.cross_entropy(z, fxc("ce_p"):astype("float64")) end, {x})
   local z = fxc("bce_z"):astype("float64")
   local t = fxc("bce_t"):astype("float64")
   gradcheck(function(a) return L.binary_cross_entropy(a, t, {logits = true, pos_weight = 2}) end, {z})
   gradcheck(function(a) return L.focal(a, t) end, {z})
   gradcheck(function(a) return L.focal(a, fxc("ce_y"), {gamma = 2}) end, {x})
   local a, b = fxc("reg_a"):astype("float64"), fxc("reg_b"):astype("float64")
   gradcheck(function(u) return L.huber(u, b, {delta = 0.7}) + L.log_cosh(u, b) end, {a})
   gradcheck(function(u, v) return L.gaussian_nll(u, b, v) end, {a, fxc("reg_var"):astype("float64")})
   local e1, e2 = fxc("emb_1"):astype("float64"), fxc("emb_2"):astype("float64")
   gradcheck(function(u, v) return L.contrastive(u, v, fxc("contr_y"), {margin = 2}) end, {e1, e2})
   gradcheck(function(u) return L.dice(u, fxc("dice_y"), {logits = true}) end,
      {fxc("dice_p"):astype("float64")})
end

function T.docs()
   for name, fn in pairs(L) do
      if type(fn) == "function" then
         assert(ty.__doc[fn], "ty.losses." .. name .. " has no doc")
         assert(ty.__doc[fn]:find("ty.losses." .. name .. "(", 1, true), name)
      end
   end
   assert(ty.__doc[L.CenterLoss])
   for _, name in ipairs{"layer_norm", "rms_norm", "group_norm", "batch_norm", "instance_norm",
                         "normalize", "scaled_dot_product_attention", "softmax_cross_entropy"} do
      assert(ty.__doc[ty[name]]:find("ty." .. name .. "(", 1, true), name)
   end
end

function T.errors()
   local x = fx("ce_x")
   h.assert_error(function() L.cross_entropy(x, ty.array{1, 2}) end,
      "[cross_entropy] expected target (6,) of class labels for input (6,5), got (2,)")
   h.assert_error(function() L.cross_entropy(x, fx("ce_y"), {weight = ty.ones{4}}) end,
      "[cross_entropy] weight must be (5,) for input (6,5), got (4,)")
   h.assert_error(function() L.cross_entropy(x, fx("ce_y"), {reduction = "avg"}) end,
      "[cross_entropy] reduction must be 'none', 'mean' or 'sum', got avg")
   h.assert_error(function() L.cross_entropy(x, fx("ce_y"), {foo = 1}) end,
      "[cross_entropy] unknown option 'foo'")
   h.assert_error(function() L.cross_entropy(x, ty.array{1, 2, 3, 4, 5, 6}):eval() end,
      "[softmax_cross_entropy] index 6 is out of range")
   h.assert_error(function() L.mse(ty.ones{2, 3}, ty.ones{3, 2}) end,
      "[mse] input (2,3) and target (3,2) must have the same shape")
   h.assert_error(function() L.kl_div(ty.ones{2}, ty.ones{2}, {reduction = "x"}) end,
      "[kl_div] reduction must be 'none', 'mean' or 'sum' or 'batchmean', got x")
   h.assert_error(function() L.dice(ty.ones{3}, ty.ones{3}) end, "[dice] expected input (N,C,...), got (3,)")
end

-- bad input: a clear error naming the loss, raised at the caller's line
local function err_here(fn, fragment)
   local e = h.assert_error(fn, fragment)
   if not e:find("test_losses.lua:", 1, true) then
      error("error not at the caller's line: " .. e, 2)
   end
end

function T.bad_input_errors_at_caller()
   local R = function(s) return ty.random.normal(s) end
   local x = R{2, 3}
   -- fractional float labels (were truncated silently); integral floats still work
   err_here(function() L.cross_entropy(x, ty.array{1.5, 2}) end, "[cross_entropy] class labels must be integers")
   err_here(function() L.nll(x, ty.array{1.5, 2}) end, "[nll] class labels must be integers")
   h.assert_close(L.cross_entropy(x, ty.array{1, 2}), L.cross_entropy(x, ty.array({1, 2}, {dtype = "int32"})), 1e-6)
   err_here(function() L.cross_entropy(x, nil) end, "[cross_entropy] target must be an array of class labels, got nil")
   err_here(function() L.cross_entropy(x, ty.array{1, 2}, {ignore_index = "x"}) end, "[cross_entropy] ignore_index must be an integer")
   -- elementwise losses report at the caller, not inside losses.lua
   err_here(function() L.mse(R{4, 1}, R{4}) end, "[mse] input (4,1) and target (4,) must have the same shape")
   err_here(function() L.mse(R{4}, R{4}, "sum") end, "[mse] options must be a table")
   err_here(function() L.smooth_l1(R{4}, R{4}, {beta = -1}) end, "[smooth_l1] beta must be a non-negative number")
   err_here(function() L.huber(R{4}, R{4}, {delta = 0}) end, "[huber] delta must be a positive number")
   -- weights that broadcast by accident or not at all
   err_here(function() L.binary_cross_entropy(R{4, 3}, ty.ones{4, 3}, {logits = true, weight = ty.ones{2, 4, 3}}) end,
      "[binary_cross_entropy] weight (2,4,3) must broadcast to input (4,3)")
   err_here(function() L.binary_cross_entropy(R{4, 3}, ty.ones{4, 3}, {logits = true, pos_weight = ty.ones{5}}) end,
      "[binary_cross_entropy] pos_weight (5,) must broadcast to input (4,3)")
   err_here(function() L.gaussian_nll(R{4, 3}, R{4, 3}, ty.ones{3}) end, "[gaussian_nll] var (3,) must have input (4,3)'s shape")
   h.assert_shape(L.gaussian_nll(R{4, 3}, R{4, 3}, ty.ones{4}, {reduction = "none"}), {4, 3})
   -- targets that broadcast silently to (N, N) before
   err_here(function() L.margin_ranking(R{4}, R{4}, ty.ones{4, 1}) end, "[margin_ranking] input1 (4,) and target (4,1) must have the same shape")
   err_here(function() L.cosine_similarity(R{4, 3}, R{4, 3}, ty.ones{4, 1}) end, "[cosine_similarity] target must be (4,)")
   err_here(function() L.contrastive(R{4, 3}, R{4, 3}, ty.ones{5}) end, "[contrastive] label must be (4,)")
   err_here(function() L.focal(R{4, 3}, ty.array{1, 2, 3, 1}, {alpha = ty.ones{5}}) end, "[focal] alpha must be (3,)")
   err_here(function() L.focal(R{4, 1}, ty.ones{4}) end, "[focal] multi-class focal loss needs input (N,C,...) with C >= 2")
   err_here(function() L.center(R{4, 3}, ty.array{1, 2, 3, 1}, nil) end, "[center] centers must be an array, got nil")
   err_here(function() L.wasserstein(R{4}, ty.ones{5}, {labels = true}) end, "[wasserstein] scores (4,) and labels (5,) must have the same shape")
   local net = ty.nn.Sequential(ty.nn.Linear(3, 3))
   err_here(function() L.perceptual(R{2, 3}, R{2, 3}, net, {1}, {distance = "l3"}) end, "[perceptual] distance must be 'mse' or 'l1'")
   err_here(function() L.perceptual(R{2, 3}, R{3, 3}, net, {1}) end, "[perceptual] input (2,3) and target (3,3) must have the same shape")
end

function T.bad_options_errors_at_caller()
   local R = function(s) return ty.random.normal(s) end
   err_here(function() L.hinge(R{3}, ty.ones{3}, {margin = "x"}) end, "[hinge] option 'margin' must be a number, got string")
   err_here(function() L.triplet(R{2, 3}, R{2, 3}, R{2, 3}, {p = 0}) end, "[triplet] p must be positive, got 0")
   err_here(function() L.cross_entropy(R{2, 0}, ty.array{1, 1}) end, "[cross_entropy] input (2,0) has no classes")
   err_here(function() ty.batch_norm(R{4, 3}, nil, nil, {eps = -1}) end, "[batch_norm] eps must be non-negative, got -1")
   err_here(function() ty.batch_norm(R{4, 3}, ty.zeros{3}, ty.ones{3}, {momentum = "x"}) end, "[batch_norm] option 'momentum' must be a number")
   err_here(function() L.CenterLoss(3, 4, {reduction = "x"}) end, "[CenterLoss] reduction must be 'none', 'mean' or 'sum', got x")
   err_here(function() L.CenterLoss(3, 4, {foo = 1}) end, "[CenterLoss] unknown option 'foo'")
   local net = ty.nn.Sequential(ty.nn.Linear(3, 3), ty.nn.ReLU())
   err_here(function() L.perceptual(R{2, 3}, R{2, 3}, net, {1, 2}, {weights = {1}}) end,
      "[perceptual] weights must be a list of 2 numbers (one per layer), got 1 values")
end

function T.norm_functions_check_params()
   local R = function(s) return ty.random.normal(s) end
   err_here(function() ty.layer_norm(R{2, 3, 4}, {4}, {weight = ty.ones{3, 4}}) end, "[layer_norm] weight must be (4,) for input (2,3,4), got (3,4)")
   err_here(function() ty.rms_norm(R{2, 3, 4}, 4, {weight = ty.ones{3}}) end, "[rms_norm] weight must be (4,)")
   err_here(function() ty.group_norm(R{2, 6, 4}, 3, {weight = ty.ones{3}}) end, "[group_norm] weight must be (6,)")
   err_here(function() ty.instance_norm(R{2, 6, 4}, {bias = ty.ones{3}}) end, "[instance_norm] bias must be (6,)")
   err_here(function() ty.batch_norm(ty.ones{1, 3}, ty.zeros{3}, ty.ones{3}, {training = true}) end,
      "[batch_norm] expected more than 1 value per channel when training")
   -- scalar weight/bias still accepted (numbers broadcast)
   local xg = R{2, 4, 3}
   h.assert_close(ty.group_norm(xg, 2, {weight = 2, bias = 1}), ty.group_norm(xg, 2) * 2 + 1, 1e-5)
   -- empty batch through group_norm (reshape with -1 failed on N = 0)
   local y = ty.group_norm(ty.zeros{0, 4, 3}, 2, {weight = ty.ones{4}})
   ty.eval(y)
   h.assert_shape(y, {0, 4, 3})
end

-- float64 checks run on the CPU whatever the default device
for _, name in ipairs{"gradients"} do T[name] = h.on_cpu(T[name]) end

return T
