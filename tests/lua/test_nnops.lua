-- test_nnops.lua -- the fused nn primitives ty.normalize,
-- ty.scaled_dot_product_attention, ty.softmax_cross_entropy and the norm
-- functions over them (ty.layer_norm, ...): against naive compositions of
-- other ops, against torch 1.13 (tests/fixtures/nnops_torch.npz, made by
-- tests/gen_loss_fixtures.py), gradients and tangents by finite differences
-- in float64 (ty.gradcheck), second derivatives, the Vulkan kernels against
-- the CPU (skipped without a Vulkan device; small sizes for lavapipe), and
-- error messages.
local ty = require "tycho"
local h = require "helpers"

local T = {}
local FX = ty.load("tests/fixtures/nnops_torch.npz")
local function fx(n) return FX[n] end
local function want(n) return FX[n]:astype("float32") end

local VK
for _, d in ipairs(ty.devices()) do
   if d.type ~= "cpu" then
      VK = "vulkan:" .. (d.index or 0)
      break
   end
end
if VK then
   local ok = pcall(function() return ty.ones{1}:to(VK):sum():item() end)
   if not ok then VK = "vulkan" end
end

-- naive normalisation over axes
local function naive_norm(x, axes, eps, rms)
   if rms then return x / ty.sqrt(ty.mean(x * x, axes, true) + eps) end
   local m = ty.mean(x, axes, true)
   local v = ty.mean((x - m) * (x - m), axes, true)
   return (x - m) / ty.sqrt(v + eps)
end

-- naive attention: softmax of masked scores, zero rows where nothing is kept
local function naive_att(q, k, v, keep, add, scale)
   local s = ty.matmul(q, ty.swapaxes(k, -1, -2)) * scale
   if add then s = s + add end
   if keep then s = ty.where(keep, s, -math.huge) end
   local m = ty.max(s, -1, true)
   local valid = ty.gt(m, -math.huge)
   local p = ty.where(valid, ty.softmax(ty.where(valid, s, 0), -1), 0)
   return ty.matmul(p, v)
end

local function causal_keep(lq, lk)
   local i = ty.arange(lk - lq + 1, lk):reshape{lq, 1}
   local j = ty.arange(1, lk):reshape{1, lk}
   return ty.le(j, i)
end

local gradcheck = h.gradcheck

function T.normalize_vs_naive()
   local x = ty.randn{3, 4, 5, 6}
   for _, axes in ipairs{{4}, {3, 4}, {1, 3, 4}, {2}, {1, 2, 3, 4}, {2, 4}} do
      h.assert_close(ty.normalize(x, axes), naive_norm(x, axes, 1e-5), 1e-5)
      h.assert_close(ty.normalize(x, axes, {rms = true, eps = 1e-3}),
         naive_norm(x, axes, 1e-3, true), 1e-5)
   end
   -- non-contiguous input, integer input, float64
   local xt = ty.swapaxes(x, 2, 4)
   h.assert_close(ty.normalize(xt, {2, 3}), naive_norm(xt, {2, 3}, 1e-5), 1e-5)
   local xi = ty.array({{1, 2, 3}, {4, 6, 8}}, {dtype = "int32"})
   h.assert_dtype(ty.normalize(xi, -1), "float32")
   local x64 = x:astype("float64")
   h.assert_dtype(ty.normalize(x64, -1), "float64")
   h.assert_close(ty.normalize(x64, {2, 3}), naive_norm(x64, {2, 3}, 1e-5), 1e-12)
   -- a large constant offset does not cancel (two-pass variance)
   local big = ty.array{1e4 + 1, 1e4 + 2, 1e4 + 3}
   h.assert_close(ty.normalize(big, 1, {eps = 0}), {-1.2247449, 0, 1.2247449}, 1e-4)
end

function T.norm_functions_vs_torch()
   local x = fx("x")
   h.assert_close(ty.layer_norm(x, {5, 6}, {weight = fx("ln_w"), bias = fx("ln_b")}), want("ln"), 2e-5)
   h.assert_close(ty.rms_norm(x, 6, {weight = fx("ln_w")[1], eps = 1e-6}), want("rms"), 2e-5)
   h.assert_close(ty.group_norm(x, 2, {weight = fx("c_w"), bias = fx("c_b")}), want("gn"), 2e-5)
   h.assert_close(ty.instance_norm(x, {weight = fx("c_w"), bias = fx("c_b")}), want("in"), 2e-5)
   local y, rm, rv = ty.batch_norm(x, fx("bn_rm"), fx("bn_rv"), {weight = fx("c_w"),
      bias = fx("c_b"), training = true, momentum = 0.2})
   h.assert_close(y, want("bn_train"), 2e-5)
   h.assert_close(rm, want("bn_new_rm"), 2e-5)
   h.assert_close(rv, want("bn_new_rv"), 2e-5)
   h.assert_close(ty.batch_norm(x, fx("bn_rm"), fx("bn_rv"), {weight = fx("c_w"),
      bias = fx("c_b"), training = false}), want("bn_eval"), 2e-5)
   -- no running stats: training with batch statistics, one result
   local only = table.pack(ty.batch_norm(x, nil, nil))
   h.assert_eq(only.n, 1)
end

function T.attention_vs_torch_and_naive()
   local q, k, v = fx("q"), fx("k"), fx("v")
   local sdpa = ty.scaled_dot_product_attention
   h.assert_close(sdpa(q, k, v), want("att"), 2e-5)        -- default scale 1/sqrt(4)
   h.assert_close(sdpa(q, k, v, {causal = true}), want("att_causal"), 2e-5)
   local mb = fx("mask_bool"):astype("bool")
   local r = sdpa(q, k, v, {mask = mb})
   h.assert_close(r, want("att_bool"), 2e-5)
   h.assert_close(r[{{}, {}, 3}], ty.zeros{2, 3, 6}, 0)    -- the fully masked query
   h.assert_close(sdpa(q, k, v, {mask = fx("mask_float")}), want("att_float"), 2e-5)
   h.assert_close(sdpa(q, k, v, {scale = 0.3}), want("att_scale"), 2e-5)
   -- causal + mask together, Lq > Lk (early queries see nothing), 2-d inputs
   local q2, k2, v2 = ty.randn{6, 3}, ty.randn{4, 3}, ty.randn{4, 2}
   local m64 = ty.gt(ty.random.uniform{6, 4}, 0.3)
   h.assert_close(sdpa(q2, k2, v2, {causal = true, mask = m64}),
      naive_att(q2, k2, v2, ty.logical_and(causal_keep(6, 4), m64), nil, 1 / math.sqrt(3)), 1e-5)
   h.assert_close(sdpa(q2, k2, v2, {causal = true})[{{1, 2}}], ty.zeros{2, 2}, 0)
   -- larger sizes on the CPU (blocked path over several query blocks)
   local qb, kb, vb = ty.randn{2, 150, 40}, ty.randn{2, 90, 40}, ty.randn{2, 90, 24}
   h.assert_close(sdpa(qb, kb, vb, {causal = true}),
      naive_att(qb, kb, vb, causal_keep(150, 90), nil, 1 / math.sqrt(40)), 1e-4)
   -- one batch at a time with threaded BLAS (Lq Lk (D + Dv) >= 2^21), and in
   -- chunks of queries (Lk large), float32 and float64
   local qc, kc, vc = ty.randn{2, 300, 16}, ty.randn{2, 300, 16}, ty.randn{2, 300, 16}
   h.assert_close(sdpa(qc, kc, vc, {causal = true}),
      naive_att(qc, kc, vc, causal_keep(300, 300), nil, 0.25), 1e-5)
   local q64, k64, v64 = qc:astype("float64"), kc:astype("float64"), vc:astype("float64")
   local m64b = ty.gt(ty.randn{300, 300}, 0)
   h.assert_close(sdpa(q64, k64, v64, {mask = m64b}), naive_att(q64, k64, v64, m64b, nil, 0.25), 1e-10)
   local ql, kl, vl = ty.randn{256, 4}, ty.randn{20000, 4}, ty.randn{20000, 4}
   h.assert_close(sdpa(ql, kl, vl, {causal = true}),
      naive_att(ql, kl, vl, causal_keep(256, 20000), nil, 0.5), 1e-5)
   -- non-contiguous q/k/v views
   local qt = ty.swapaxes(ty.randn{2, 4, 5}, 2, 3)
   local kt = ty.swapaxes(ty.randn{2, 4, 7}, 2, 3)
   local vt = ty.randn{2, 7, 3}
   h.assert_close(sdpa(qt, kt, vt), naive_att(qt, kt, vt, nil, nil, 0.5), 1e-5)
end

function T.softmax_cross_entropy_vs_naive()
   local x = ty.randn{4, 3, 7}
   local y = ty.random.randint(1, 7, {4, 3})
   local naive = -ty.squeeze(ty.take_along_axis(ty.log_softmax(x, -1), ty.expand_dims(y, -1), -1), -1)
   h.assert_close(ty.softmax_cross_entropy(x, y), naive, 1e-5)
   -- ignore_index gives 0; large logits stay finite
   local r = ty.softmax_cross_entropy(ty.array{{1000, 0}, {0, 1000}, {3, 4}}, {1, 1, 0},
      {ignore_index = 0})
   h.assert_close(r, {0, 1000, 0}, 1e-5)
   -- non-contiguous logits
   local xt = ty.swapaxes(ty.randn{7, 5}, 1, 2)
   local yt = ty.array({1, 2, 3, 7, 5}, {dtype = "int64"})
   local nt = -ty.squeeze(ty.take_along_axis(ty.log_softmax(xt, -1), ty.expand_dims(yt, -1), -1), -1)
   h.assert_close(ty.softmax_cross_entropy(xt, yt), nt, 1e-5)
end

function T.gradients_normalize()
   local x = ty.randn({2, 3, 4}, {dtype = "float64"})
   for _, axes in ipairs{{3}, {1, 3}, {2}} do
      gradcheck(function(z) return ty.normalize(z, axes) end, {x}, "normalize")
      gradcheck(function(z) return ty.normalize(z, axes, {rms = true}) end, {x}, "rms")
   end
   local w, b = ty.randn({3, 4}, {dtype = "float64"}), ty.randn({3, 4}, {dtype = "float64"})
   gradcheck(function(z, ww, bb) return ty.layer_norm(z, {3, 4}, {weight = ww, bias = bb}) end,
      {x, w, b}, "layer_norm")
   -- second derivative: grad of a gradient component against finite differences
   gradcheck(function(z)
      return ty.grad(function(u) return (ty.normalize(u, 3) * ty.sin(u)):sum() end)(z)
   end, {x}, "normalize second order")
end

-- the fused affine part: ty.normalize(x, axes, {weight=, bias=}) against the
-- unfused composition, for weights of several broadcast shapes
function T.normalize_affine_vs_composition()
   local function check(x, axes, w, b, rms, what, tol)
      local want = naive_norm(x, axes, 1e-5, rms)
      if w then want = want * w end
      if b then want = want + b end
      local got = ty.normalize(x, axes, {weight = w, bias = b, rms = rms})
      h.assert_close(got, want, tol or 2e-5, what)
   end
   -- rows of odd and aligned lengths (vec4, scalar, one chunk, many chunks)
   for _, m in ipairs{1, 3, 4, 7, 64, 100, 1001, 4096} do
      local x = ty.randn{5, m}
      local w, b = ty.randn{m}, ty.randn{m}
      check(x, {2}, w, b, false, "ln " .. m)
      check(x, {2}, w, nil, true, "rms " .. m)
      check(x, {2}, nil, b, false, "bias only " .. m)
   end
   local x = ty.randn{3, 4, 5, 6}
   check(x, {3, 4}, ty.randn{5, 6}, ty.randn{5, 6}, false, "two trailing axes")
   check(x, {4}, ty.randn{4, 1, 6}, ty.randn{1}, false, "weight broadcast over kept axes")
   check(x, {1, 3, 4}, ty.randn{1, 4, 1, 1}, ty.randn{1, 4, 1, 1}, false, "batch-norm style")
   check(x, {2, 4}, ty.randn{4, 1, 6}, nil, true, "non-trailing axes")
   -- non-contiguous x and weight, x at an unaligned offset
   local xt = ty.swapaxes(x, 2, 4)
   check(xt, {3, 4}, ty.randn{5, 4}, ty.randn{4}, false, "strided x")
   check(x, {4}, ty.swapaxes(ty.randn{6, 5}, 1, 2), ty.randn{5, 6}[{{}, {}}], false,
      "strided weight")
   local xo = ty.randn{6, 70}[{{}, {2, 69}}]
   check(xo, {2}, ty.randn{68}, ty.randn{68}, false, "unaligned rows")
   local xo4 = ty.randn{6, 72}[{{}, {5, 68}}]
   check(xo4, {2}, ty.randn{64}, ty.randn{64}, false, "offset rows")
   -- the norm functions: fused vs the composition
   local xn = ty.randn{2, 6, 3, 5}
   local c_w, c_b = ty.randn{6}, ty.randn{6}
   local cv = function(p) return ty.reshape(p, {1, 6, 1, 1}) end
   h.assert_close(ty.group_norm(xn, 3, {weight = c_w, bias = c_b}),
      ty.reshape(naive_norm(ty.reshape(xn, {2, 3, 30}), 3, 1e-5), {2, 6, 3, 5}) * cv(c_w) + cv(c_b),
      2e-5, "group_norm")
   h.assert_close(ty.group_norm(ty.randn{4, 6}, 2, {weight = c_w}):eval().shape, {4, 6}, 0)
   h.assert_close(ty.instance_norm(xn, {weight = c_w, bias = c_b}),
      naive_norm(xn, {3, 4}, 1e-5) * cv(c_w) + cv(c_b), 2e-5, "instance_norm")
   h.assert_close(ty.batch_norm(xn, nil, nil, {weight = c_w, bias = c_b}),
      naive_norm(xn, {1, 3, 4}, 1e-5) * cv(c_w) + cv(c_b), 2e-5, "batch_norm")
   h.assert_close(ty.layer_norm(xn, {3, 5}, {weight = ty.ones{3, 5} * 2, bias = 1}),
      naive_norm(xn, {3, 4}, 1e-5) * 2 + 1, 2e-5, "layer_norm scalar bias")
   -- a float16 input with float32 weights computes in float32
   local x16 = ty.randn{4, 12}:astype("float16")
   local y16 = ty.layer_norm(x16, 12, {weight = ty.randn{12}})
   h.assert_dtype(y16, "float32")
end

function T.normalize_affine_float64()
   local x = ty.randn({3, 4, 5}, {dtype = "float64"})
   local w, b = ty.randn({5}, {dtype = "float64"}), ty.randn({4, 5}, {dtype = "float64"})
   h.assert_close(ty.normalize(x, {3}, {weight = w, bias = b}), naive_norm(x, {3}, 1e-5) * w + b,
      1e-12)
   -- a float64 weight promotes a float32 x, as the composition does
   local y = ty.layer_norm(x:astype("float32"), 5, {weight = w})
   h.assert_dtype(y, "float64")
end

function T.gradients_normalize_affine()
   local x = ty.randn({2, 3, 4}, {dtype = "float64"})
   local function f64(s) return ty.randn(s, {dtype = "float64"}) end
   for _, c in ipairs{{{3}, {4}, {4}}, {{2, 3}, {3, 4}, {1}}, {{1, 3}, {3, 1}, {3, 1}},
                      {{2}, {2, 1, 4}, nil}} do
      local axes, ws, bs = c[1], c[2], c[3]
      local w, b = f64(ws), bs and f64(bs) or nil
      gradcheck(function(z, ww, bb)
         return ty.normalize(z, axes, {weight = ww, bias = bb})
      end, {x, w, b}, "normalize affine")
      gradcheck(function(z, ww) return ty.normalize(z, axes, {weight = ww, rms = true}) end,
         {x, w}, "rms affine")
   end
   local xc = f64{2, 4, 3}
   gradcheck(function(z, ww, bb) return ty.group_norm(z, 2, {weight = ww, bias = bb}) end,
      {xc, f64{4}, f64{4}}, "group_norm")
   gradcheck(function(z, ww, bb) return ty.instance_norm(z, {weight = ww, bias = bb}) end,
      {xc, f64{4}, f64{4}}, "instance_norm")
   gradcheck(function(z, ww) return ty.rms_norm(z, 3, {weight = ww}) end, {xc, f64{3}}, "rms_norm")
   -- second order through the fused node
   local w = f64{4}
   gradcheck(function(z, ww)
      local g = ty.grad(function(u, v)
         return (ty.layer_norm(u, 4, {weight = v, bias = v}) * ty.sin(u)):sum()
      end, {1, 2})(z, ww)
      return ty.concatenate{g[1]:reshape{-1}, g[2]}
   end, {x, w}, "layer_norm second order")
end

function T.gradients_attention()
   local q = ty.randn({2, 3, 4}, {dtype = "float64"})
   local k = ty.randn({2, 5, 4}, {dtype = "float64"})
   local v = ty.randn({2, 5, 2}, {dtype = "float64"})
   local m = ty.randn({3, 5}, {dtype = "float64"})
   local mb = ty.array({{true, false, true, true, false}, {false, false, false, false, false},
      {true, true, false, true, true}}, "bool")
   gradcheck(function(a, b, c) return ty.scaled_dot_product_attention(a, b, c) end, {q, k, v}, "att")
   gradcheck(function(a, b, c) return ty.scaled_dot_product_attention(a, b, c, {causal = true}) end,
      {q, k, v}, "att causal")
   gradcheck(function(a, b, c, mm) return ty.scaled_dot_product_attention(a, b, c, {mask = mm}) end,
      {q, k, v, m}, "att float mask")
   gradcheck(function(a, b, c) return ty.scaled_dot_product_attention(a, b, c, {mask = mb}) end,
      {q, k, v}, "att bool mask")
   gradcheck(function(a)
      return ty.grad(function(u) return (ty.scaled_dot_product_attention(u, k, v) ^ 2):sum() end)(a)
   end, {q}, "att second order")
end

function T.gradients_cross_entropy()
   local x = ty.randn({5, 4}, {dtype = "float64"})
   local y = ty.array({1, 4, -1, 2, 3}, {dtype = "int32"})
   gradcheck(function(z) return ty.softmax_cross_entropy(z, y, {ignore_index = -1}) end, {x}, "ce")
   gradcheck(function(z)
      return ty.grad(function(u) return ty.softmax_cross_entropy(u, y, {ignore_index = -1}):sum() end)(z)
   end, {x}, "ce second order")
end

function T.vulkan_matches_cpu()
   if not VK then return end
   local function same(what, f, args, tol)
      local want = f(table.unpack(args))
      local va = {}
      for i, a in ipairs(args) do va[i] = ty.is_array(a) and a:to(VK) or a end
      local got = f(table.unpack(va)):to("cpu")
      h.assert_close(got, want, tol or 1e-5, what)
   end
   local x = ty.randn{3, 4, 5}
   for _, axes in ipairs{{3}, {1, 3}, {2}, {1, 2, 3}} do
      same("normalize", function(z) return ty.normalize(z, axes) end, {x})
      same("rms", function(z) return ty.normalize(z, axes, {rms = true}) end, {x})
   end
   same("normalize strided", function(z) return ty.normalize(ty.swapaxes(z, 1, 3), {1, 2}) end, {x})
   same("normalize f16", function(z) return ty.normalize(z:astype("float16"), 3):astype("float32") end,
      {x}, 2e-3)
   same("normalize long", function(z) return ty.normalize(z, 2) end, {ty.randn{2, 3000}})
   same("normalize longer", function(z) return ty.normalize(z, 2) end, {ty.randn{2, 9000}})
   same("rms longer", function(z) return ty.normalize(z, {1, 3}, {rms = true}) end, {ty.randn{30, 2, 300}})
   -- fused weight and bias: the row kernel (vec4, scalar: odd lengths,
   -- unaligned rows, float16), the most it holds, and the general kernel
   local function ln(z, w, b) return ty.layer_norm(z, {w.shape[1]}, {weight = w, bias = b}) end
   for _, m in ipairs{1, 3, 8, 61, 64, 1000, 4096, 16384, 16388, 20000} do
      same("ln " .. m, ln, {ty.randn{3, m}, ty.randn{m}, ty.randn{m}}, 2e-5)
   end
   -- one weight or bias value per row, mixed with per-element ones
   for _, m in ipairs{7, 64} do
      same("row weight " .. m, function(z, w, b) return ty.normalize(z, 2, {weight = w, bias = b}) end,
         {ty.randn{5, m}, ty.randn{5, 1}, ty.randn{m}})
      same("row bias " .. m, function(z, w, b) return ty.normalize(z, 2, {weight = w, bias = b}) end,
         {ty.randn{5, m}, ty.randn{m}, ty.randn{5, 1}})
   end
   same("rms w", function(z, w) return ty.rms_norm(z, 50, {weight = w}) end,
      {ty.randn{7, 50}, ty.randn{50}})
   same("ln unaligned", function(z, w, b) return ln(z[{{}, {2, 65}}], w, b) end,
      {ty.randn{4, 66}, ty.randn{64}, ty.randn{64}})
   same("ln strided", function(z, w, b) return ln(ty.swapaxes(z, 1, 2), w, b) end,
      {ty.randn{16, 5}, ty.randn{16}, ty.randn{16}})
   same("ln f16", function(z, w, b)
      return ln(z:astype("float16"), w:astype("float16"), b:astype("float16")):astype("float32")
   end, {ty.randn{3, 40}, ty.randn{40}, ty.randn{40}}, 1e-2)
   local c_w, c_b = ty.randn{6}, ty.randn{6}
   same("group_norm", function(z, w, b) return ty.group_norm(z, 3, {weight = w, bias = b}) end,
      {ty.randn{2, 6, 4, 5}, c_w, c_b})
   same("instance_norm", function(z, w, b) return ty.instance_norm(z, {weight = w, bias = b}) end,
      {ty.randn{2, 6, 7}, c_w, c_b})
   same("batch_norm", function(z, w, b) return ty.batch_norm(z, nil, nil, {weight = w, bias = b}) end,
      {ty.randn{3, 6, 7}, c_w, c_b})
   same("ln grad", function(z, w, b)
      local g = ty.grad(function(u, v, c) return (ln(u, v, c) * u):sum() end, {1, 2, 3})(z, w, b)
      return ty.concatenate{g[1]:reshape{-1}, g[2], g[3]}
   end, {ty.randn{6, 12}, ty.randn{12}, ty.randn{12}}, 1e-4)
   local q, k, v = ty.randn{2, 3, 5, 4}, ty.randn{2, 3, 7, 4}, ty.randn{2, 3, 7, 6}
   local sdpa = ty.scaled_dot_product_attention
   same("att", function(a, b, c) return sdpa(a, b, c) end, {q, k, v})
   same("att causal", function(a, b, c) return sdpa(a, b, c, {causal = true}) end, {q, k, v})
   local mb = fx("mask_bool"):astype("bool")
   same("att bool", function(a, b, c, m) return sdpa(a, b, c, {mask = m}) end, {q, k, v, mb})
   same("att float", function(a, b, c, m) return sdpa(a, b, c, {mask = m}) end,
      {q, k, v, fx("mask_float")})
   -- several query tiles, key tiles and feature chunks
   same("att big", function(a, b, c) return sdpa(a, b, c, {causal = true}) end,
      {ty.randn{70, 130}, ty.randn{40, 130}, ty.randn{40, 100}}, 2e-5)
   same("att strided", function(a, b, c) return sdpa(ty.swapaxes(a, 1, 2), b, c) end,
      {ty.randn{4, 6}, ty.randn{6, 4}, ty.randn{6, 3}})
   -- the register-blocked kernel (attention_tiled.comp): odd lengths, Lq != Lk,
   -- causal bottom-right, masks (bool, float, broadcast, fully masked rows),
   -- head dims 32..128, float16 and strided inputs
   for _, D in ipairs{32, 64, 80, 128} do
      local qq, kk, vv = ty.randn{2, 2, 67, D}, ty.randn{2, 2, 101, D}, ty.randn{2, 2, 101, D}
      same("att tiled D" .. D, function(a, b, c) return sdpa(a, b, c) end, {qq, kk, vv}, 2e-5)
      same("att tiled causal D" .. D, function(a, b, c) return sdpa(a, b, c, {causal = true}) end,
         {qq, kk, vv}, 2e-5)
   end
   local ql, kl, vl = ty.randn{2, 130, 64}, ty.randn{2, 45, 64}, ty.randn{2, 45, 48}
   same("att tiled causal lq>lk", function(a, b, c) return sdpa(a, b, c, {causal = true}) end,
      {ql, kl, vl}, 2e-5)
   local qm, km, vm = ty.randn{2, 3, 70, 32}, ty.randn{2, 3, 90, 32}, ty.randn{2, 3, 90, 32}
   same("att tiled bool mask", function(a, b, c, mm) return sdpa(a, b, c, {mask = mm}) end,
      {qm, km, vm, ty.gt(ty.randn{70, 90}, 0.3)}, 2e-5)
   same("att tiled masked rows", function(a, b, c, mm) return sdpa(a, b, c, {mask = mm}) end,
      {qm, km, vm, ty.gt(ty.randn{2, 1, 70, 1}, 0)}, 2e-5)
   same("att tiled float mask", function(a, b, c, mm) return sdpa(a, b, c, {mask = mm, causal = true}) end,
      {qm, km, vm, ty.randn{3, 1, 90}}, 2e-5)
   same("att tiled float16", function(a, b, c) return sdpa(a, b, c, {causal = true}) end,
      {ty.randn{2, 40, 64}:astype("float16"), ty.randn{2, 90, 64}:astype("float16"),
       ty.randn{2, 90, 64}:astype("float16")}, 2e-3)
   same("att tiled strided", function(a, b, c) return sdpa(ty.swapaxes(a, -1, -2), b, c) end,
      {ty.randn{2, 64, 50}, ty.randn{2, 60, 64}, ty.randn{2, 60, 32}}, 2e-5)
   local lg = ty.randn{6, 5}
   local lab = ty.array({1, 2, 3, 4, 5, -100}, {dtype = "int32"})
   same("ce", function(a, b) return ty.softmax_cross_entropy(a, b, {ignore_index = -100}) end, {lg, lab})
   same("ce long", function(a, b) return ty.softmax_cross_entropy(a, b) end,
      {ty.randn{3, 300}, ty.array({1, 300, 7}, {dtype = "int32"})})
   same("ce longer", function(a, b) return ty.softmax_cross_entropy(a, b) end,
      {ty.randn{2, 9000}, ty.array({1, 8999}, {dtype = "int32"})}, 2e-5)
   h.assert_error(function()
      ty.softmax_cross_entropy(ty.randn{2, 3}:to(VK), ty.array({1, 4}, {dtype = "int32"}):to(VK)):eval()
   end, "[softmax_cross_entropy] index 4 is out of range for axis 2 of size 3")
   -- gradients computed on the device
   same("att grad", function(a, b, c)
      return ty.grad(function(u) return (sdpa(u, b, c, {causal = true}) ^ 2):sum() end)(a)
   end, {q, k, v}, 1e-4)
   same("norm grad", function(z)
      return ty.grad(function(u) return (ty.normalize(u, {1, 3}) * u):sum() end)(z)
   end, {x}, 1e-4)
end

-- Every Vulkan attention path against the CPU (chosen by TYCHO_VK_ATTENTION in
-- a subprocess): each tile configuration of attention_tiled.comp with both
-- stagings, the simple kernel and the composition matmul/softmax/matmul.
function T.vulkan_attention_paths()
   if not VK then return end
   local script = h.script_file(string.format([[
local ty = require "tycho"
local sdpa = ty.scaled_dot_product_attention
local function same(f, args, tol)
   local want = f(table.unpack(args))
   local va = {}
   for i, a in ipairs(args) do va[i] = a:to(%q) end
   local got = f(table.unpack(va)):to("cpu")
   local err = ty.max(ty.abs(got:astype("float32") - want:astype("float32"))):item()
   if not (err <= tol) then error("max error " .. err) end
end
local q, k, v = ty.randn{2, 2, 70, 64}, ty.randn{2, 2, 99, 64}, ty.randn{2, 2, 99, 40}
same(function(a, b, c) return sdpa(a, b, c) end, {q, k, v}, 2e-5)
same(function(a, b, c) return sdpa(a, b, c, {causal = true}) end, {q, k, v}, 2e-5)
same(function(a, b, c) return sdpa(a, b, c, {causal = true}) end,
     {ty.randn{100, 32}, ty.randn{37, 32}, ty.randn{37, 32}}, 2e-5)
same(function(a, b, c, m) return sdpa(a, b, c, {mask = m}) end,
     {q, k, v, ty.gt(ty.randn{2, 1, 70, 99}, 0.5)}, 2e-5)
same(function(a, b, c, m) return sdpa(a, b, c, {mask = m}) end,
     {q, k, v, ty.gt(ty.randn{70, 1}, 0)}, 2e-5)
same(function(a, b, c, m) return sdpa(a, b, c, {mask = m, causal = true}) end,
     {q, k, v, ty.randn{1, 99}}, 2e-5)
same(function(a, b, c) return sdpa(ty.swapaxes(a, -1, -2), b, c) end,
     {ty.randn{3, 36, 40}, ty.randn{3, 50, 36}, ty.randn{3, 50, 36}}, 2e-5)
print("paths ok")
]], VK))
   for _, mode in ipairs{"0", "1", "2", "simple", "composed"} do
      for _, swz in ipairs{"0", "1"} do
         local out, rc = h.sh("TYCHO_DEVICE=cpu TYCHO_VK_ATTENTION=" .. mode .. " TYCHO_VK_ATTENTION_SWZ=" .. swz ..
                              " ./tycho " .. script)
         if rc ~= 0 or not out:find("paths ok") then
            os.remove(script)
            error("TYCHO_VK_ATTENTION=" .. mode .. " SWZ=" .. swz .. ": " .. out)
         end
      end
   end
   os.remove(script)
end

function T.errors()
   local x = ty.randn{2, 3}
   h.assert_error(function() ty.normalize(x, {1, 1}) end, "[normalize] axis 1 repeated")
   h.assert_error(function() ty.normalize(x, 3) end, "axis 3 is out of range")
   h.assert_error(function() ty.normalize(x, 1, {foo = 1}) end, "[normalize] unknown option 'foo'")
   h.assert_error(function() ty.layer_norm(x, {4}) end, "[layer_norm] expected input (...,4), got (2,3)")
   h.assert_error(function() ty.normalize(x, 2, {weight = ty.ones{2}}) end,
      "[normalize] weight (2,) does not broadcast to x (2,3)")
   h.assert_error(function() ty.layer_norm(x, 3, {bias = ty.ones{4}}) end,
      "[layer_norm] bias must be (3,) for input (2,3), got (4,)")
   h.assert_error(function() ty.group_norm(ty.randn{2, 6, 3}, 4) end,
      "[group_norm] 6 channels of input (2,6,3) cannot be split into 4 groups")
   h.assert_error(function() ty.batch_norm(ty.randn{2, 3}, ty.zeros{4}, ty.ones{4}) end,
      "[batch_norm] running_mean must be (3,) for input (2,3), got (4,)")
   local sdpa = ty.scaled_dot_product_attention
   h.assert_error(function() sdpa(ty.randn{2, 3, 4}, ty.randn{2, 5, 3}, ty.randn{2, 5, 2}) end,
      "[attention] q and k must have the same last axis: q (2,3,4), k (2,5,3)")
   h.assert_error(function() sdpa(ty.randn{3, 4}, ty.randn{5, 4}, ty.randn{6, 2}) end,
      "[attention] k and v must have the same number of keys: k (5,4), v (6,2)")
   h.assert_error(function() sdpa(ty.randn{3, 4}, ty.randn{5, 4}, ty.randn{5, 2}, {mask = ty.ones{2, 5}}) end,
      "[attention] mask (2,5) does not broadcast to the scores (3,5)")
   h.assert_error(function() ty.softmax_cross_entropy(x, {1, 2, 3}) end,
      "[softmax_cross_entropy] labels (3,) must have the shape of logits (2,3) without its last axis")
   h.assert_error(function() ty.softmax_cross_entropy(x, {1, 4}):eval() end,
      "[softmax_cross_entropy] index 4 is out of range for axis 2 of size 3")
   h.assert_error(function() ty.softmax_cross_entropy(x, {0, 1}):eval() end,
      "[softmax_cross_entropy] index 0 is out of range")
end

function T.softmax_cross_entropy_nil_labels()
   h.assert_error(function() ty.softmax_cross_entropy(ty.ones{2, 3}) end,
      "[softmax_cross_entropy] labels must be an array or a table of integers, got no value")
end

function T.attention_rejects_integer_mask()
   local q, k, v = ty.ones{2, 4, 8}, ty.ones{2, 6, 8}, ty.ones{2, 6, 5}
   local e = h.assert_error(function()
      ty.scaled_dot_product_attention(q, k, v, {mask = ty.ones({4, 6}, {dtype = "int32"})})
   end, "[scaled_dot_product_attention] mask must be a bool array")
   assert(e:find("test_nnops.lua:", 1, true), e)
end

function T.attention_broadcasts_leading_axes()
   local q = ty.randn({2, 4, 3, 8}, {key = ty.random.key(1)})
   local k = ty.randn({2, 1, 5, 8}, {key = ty.random.key(2)})
   local v = ty.randn({2, 1, 5, 6}, {key = ty.random.key(3)})
   local a = ty.scaled_dot_product_attention(q, k, v, {causal = true})
   local b = ty.scaled_dot_product_attention(q, ty.broadcast_to(k, {2, 4, 5, 8}):contiguous(),
                                             ty.broadcast_to(v, {2, 4, 5, 6}):contiguous(),
                                             {causal = true})
   h.assert_shape(a, {2, 4, 3, 6})
   h.assert_close(a, b, 1e-6)
   local g = ty.grad(function(kk) return ty.scaled_dot_product_attention(q, kk, v):sum() end)(k)
   h.assert_shape(g, {2, 1, 5, 8})
   h.assert_error(function() ty.scaled_dot_product_attention(q, ty.randn{2, 3, 5, 8}, v) end,
                  "[scaled_dot_product_attention] the leading axes of q (2,4,3,8), k (2,3,5,8)")
end

-- float64 checks run on the CPU whatever the default device
for _, name in ipairs{"normalize_vs_naive", "attention_vs_torch_and_naive", "gradients_normalize",
                      "normalize_affine_float64", "gradients_normalize_affine", "gradients_attention", "gradients_cross_entropy"} do T[name] = h.on_cpu(T[name]) end

return T
