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

local function gradcheck(f, args)
   local ok, info = ty.gradcheck(f, args, {jvp = true})
   if not ok then
      error(string.format("gradcheck failed: max_abs_err %g max_rel_err %g", info.max_abs_err,
         info.max_rel_err), 2)
   end
end

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

-- float64 checks run on the CPU whatever the default device
for _, name in ipairs{"gradients"} do T[name] = h.on_cpu(T[name]) end

return T
