-- test_nn_layers.lua -- the structured layers of ty.nn (lua/tycho/nn_layers.lua):
-- output shapes; values against PyTorch 1.13 with the same weights (fixtures
-- made by tests/gen_nn_layer_fixtures.py: tests/fixtures/nnl_*); Jacobians
-- by finite differences (ty.gradcheck, float64); BatchNorm running
-- statistics over training steps; the MultiHeadAttention key/value cache;
-- torch state_dicts through load_weights{from='torch'}; CPU vs Vulkan
-- (skipped without a Vulkan device); error messages; lazy construction.
local ty = require "tycho"
local h = require "helpers"
local nn = ty.nn

local FIX = "tests/fixtures/nnl_layers.npz"
local F = ty.load(FIX)

local function fx(key)
   local v = F[key]
   if v == nil then error("fixture missing: " .. key, 2) end
   return v
end

-- The fixture's parameters/buffers of `case` (names after "CASE.p.").
local function case_state(case)
   local sd, prefix = {}, case .. ".p."
   for k, v in pairs(F) do
      if k:sub(1, #prefix) == prefix then sd[k:sub(#prefix + 1)] = v end
   end
   return sd
end

-- Loads the fixture weights into m (strict: the names must match exactly).
local function load_case(m, case)
   m:load_state_dict(case_state(case), {strict = true})
   return m
end

local TOL = 2e-5

local T = {}

------------------------------------------------------------------ convolution

local CONV_CASES = {
   {"conv1d", function() return nn.Conv1d(3, 4, 3, {stride = 2, padding = 1}) end},
   {"conv2d", function() return nn.Conv2d(4, 6, 3, {padding = 1, groups = 2}) end},
   {"conv2d_same", function() return nn.Conv2d(3, 4, {3, 4}, {padding = "same", dilation = {1, 2}, bias = false}) end},
   {"conv2d_strided", function() return nn.Conv2d(2, 3, 3, {stride = 2, padding = {0, 1}, dilation = 2}) end},
   {"conv3d", function() return nn.Conv3d(2, 3, {2, 3, 2}, {stride = {1, 2, 1}, padding = 1}) end},
   {"convt1d", function() return nn.ConvTranspose1d(3, 2, 3, {stride = 2, padding = 1, output_padding = 1}) end},
   {"convt2d", function() return nn.ConvTranspose2d(4, 6, 3, {stride = 2, padding = 1, output_padding = 1, groups = 2}) end},
   {"convt2d_dil", function() return nn.ConvTranspose2d(2, 3, {2, 3}, {stride = {1, 2}, dilation = {2, 1}, bias = false}) end},
   {"convt3d", function() return nn.ConvTranspose3d(2, 4, {2, 3, 2}, {stride = {2, 1, 1}, padding = {0, 1, 1}, groups = 2}) end},
   {"sepconv", function() return nn.SeparableConv2d(3, 5, 3, {padding = 1, depth_multiplier = 2}) end},
}

function T.conv_values_vs_torch()
   for _, c in ipairs(CONV_CASES) do
      local m = load_case(c[2](), c[1])
      h.assert_close(m(fx(c[1] .. ".x")), fx(c[1] .. ".y"), TOL, c[1])
   end
end

function T.conv_shapes_and_params()
   local m = nn.Conv2d(3, 16, 3, {stride = 2, padding = 1})
   h.assert_shape(m.weight, {16, 3, 3, 3})
   h.assert_shape(m.bias, {16})
   h.assert_shape(m(ty.randn{2, 3, 32, 32}), {2, 16, 16, 16})
   h.assert_shape(m(ty.randn{3, 31, 30}), {16, 16, 15})           -- unbatched
   local same = nn.Conv1d(4, 5, 4, {padding = "same"})
   h.assert_shape(same(ty.randn{2, 4, 9}), {2, 5, 9})
   h.assert_shape(nn.Conv1d(4, 5, 4, {padding = "valid"})(ty.randn{2, 4, 9}), {2, 5, 6})
   local t = nn.ConvTranspose2d(8, 4, 4, {stride = 2, padding = 1})
   h.assert_shape(t.weight, {8, 4, 4, 4})
   h.assert_shape(t(ty.randn{1, 8, 5, 6}), {1, 4, 10, 12})
   local g = nn.Conv2d(6, 9, 1, {groups = 3})
   h.assert_shape(g.weight, {9, 2, 1, 1})
   local s = nn.SeparableConv2d(4, 8, 3)
   h.assert_eq(#s:named_parameters(), 3)
   h.assert_shape(s.depthwise.weight, {4, 1, 3, 3})
   h.assert_shape(s(ty.randn{1, 4, 7, 7}), {1, 8, 5, 5})
   h.assert_shape(nn.Conv3d(2, 4, 3)(ty.randn{1, 2, 5, 5, 5}), {1, 4, 3, 3, 3})
   -- default init bound 1/sqrt(fan_in), as PyTorch
   local big = nn.Conv2d(16, 32, 3)
   local bound = 1 / math.sqrt(16 * 9)
   h.assert_eq(ty.max(ty.abs(big.weight)):item() <= bound, true)
   h.assert_eq(ty.max(ty.abs(big.weight)):item() > 0.8 * bound, true)
end

------------------------------------------------------------------ pooling

function T.pool_values_vs_torch()
   local x1, x2 = fx("pool1d.x"), fx("pool2d.x")
   local cases = {
      {nn.MaxPool1d(3, {stride = 2, padding = 1}), x1, "pool1d.max"},
      {nn.MaxPool1d(2, {stride = 3, ceil_mode = true}), x1, "pool1d.max_ceil"},
      {nn.AvgPool1d(3, {stride = 2, padding = 1}), x1, "pool1d.avg"},
      {nn.AvgPool1d(3, {stride = 2, padding = 1, count_include_pad = false}), x1, "pool1d.avg_nopad"},
      {nn.AdaptiveAvgPool1d(4), x1, "pool1d.aavg"},
      {nn.AdaptiveMaxPool1d(4), x1, "pool1d.amax"},
      {nn.MaxPool2d(3, {stride = 2, padding = 1}), x2, "pool2d.max"},
      {nn.MaxPool2d({2, 3}, {stride = {1, 2}, padding = {1, 0}, dilation = {2, 1}}), x2, "pool2d.max_dil"},
      {nn.MaxPool2d(2, {ceil_mode = true}), x2, "pool2d.max_ceil"},
      {nn.AvgPool2d(3, {stride = 2, padding = 1}), x2, "pool2d.avg"},
      {nn.AvgPool2d({3, 2}, {stride = {2, 1}, padding = {1, 1}, count_include_pad = false}), x2, "pool2d.avg_nopad"},
      {nn.AdaptiveAvgPool2d({4, 3}), x2, "pool2d.aavg"},
      {nn.AdaptiveAvgPool2d({nil, 3}), x2, "pool2d.aavg_none"},
      {nn.AdaptiveMaxPool2d({2, 3}), x2, "pool2d.amax"},
      {nn.MaxPool3d(2, {stride = {1, 2, 2}, padding = {1, 0, 1}}), fx("pool3d.x"), "pool3d.max"},
      {nn.AvgPool3d({3, 2, 2}, {stride = 2, padding = {1, 1, 0}, ceil_mode = true}), fx("pool3d.x"), "pool3d.avg"},
   }
   for _, c in ipairs(cases) do
      h.assert_close(c[1](c[2]), fx(c[3]), TOL, c[3])
   end
   h.assert_shape(nn.MaxPool2d(2)(ty.randn{3, 8, 8}), {3, 4, 4})
   h.assert_eq(#nn.MaxPool2d(2):named_parameters(), 0)
end

------------------------------------------------------------------ normalisation

-- Three training steps of BatchNorm against torch: outputs, then the running
-- statistics and num_batches_tracked, then eval mode with them.
function T.batchnorm_training_steps_vs_torch()
   for _, c in ipairs{{"bn1d", nn.BatchNorm1d}, {"bn1d_2d", nn.BatchNorm1d}, {"bn2d", nn.BatchNorm2d}} do
      local name = c[1]
      local m = load_case(c[2](4, {momentum = 0.2}), name)
      m:train()
      for step = 0, 2 do
         h.assert_close(m(fx(name .. ".x" .. step)), fx(name .. ".y" .. step), TOL, name .. " step " .. step)
      end
      h.assert_close(m.running_mean, fx(name .. ".running_mean"), TOL, name .. " running_mean")
      h.assert_close(m.running_var, fx(name .. ".running_var"), TOL, name .. " running_var")
      h.assert_eq(m.num_batches_tracked:item(), 3)
      h.assert_dtype(m.num_batches_tracked, "int64")
      m:eval()
      h.assert_close(m(fx(name .. ".x_eval")), fx(name .. ".y_eval"), TOL, name .. " eval")
   end
   -- momentum=false: cumulative average (PyTorch's momentum=None)
   local m = nn.BatchNorm1d(3, {momentum = false})
   for step = 0, 2 do m(fx("bn_cum.x" .. step)) end
   h.assert_close(m.running_mean, fx("bn_cum.running_mean"), TOL)
   h.assert_close(m.running_var, fx("bn_cum.running_var"), TOL)
end

-- The running statistics are buffers replaced lazily during a training step
-- (nn.value_and_grad) and evaluated together with it.
function T.batchnorm_buffers_in_training_step()
   local m = load_case(nn.BatchNorm2d(4, {momentum = 0.2}), "bn2d")
   local g = nn.value_and_grad(m, function(x) return ty.sum(ty.square(m(x))) end)
   for step = 0, 2 do
      local loss, grads = g(fx("bn2d.x" .. step))
      h.assert_shape(grads.weight, {4})
      ty.eval(loss, grads, m:buffers())
   end
   h.assert_close(m.running_mean, fx("bn2d.running_mean"), TOL)
   h.assert_close(m.running_var, fx("bn2d.running_var"), TOL)
   h.assert_eq(m.num_batches_tracked:item(), 3)
   -- buffers are not parameters
   h.assert_eq(#m:named_parameters(), 2)
   h.assert_eq(#m:named_buffers(), 3)
   -- eval mode leaves them alone
   m:eval()
   local before = m.running_mean
   m(fx("bn2d.x0"))
   h.assert_eq(rawequal(before, m.running_mean), true)
   -- track_running_stats=false: no buffers, batch statistics in eval too
   local n = nn.BatchNorm2d(4, {track_running_stats = false, affine = false})
   h.assert_eq(#n:named_buffers(), 0)
   n:eval()
   local y = n(fx("bn2d.x1"))
   h.assert_close(ty.mean(y, {1, 3, 4}), ty.zeros{4}, 1e-5)
end

function T.norm_values_vs_torch()
   h.assert_close(load_case(nn.LayerNorm({3, 4}), "layernorm")(fx("layernorm.x")), fx("layernorm.y"), TOL)
   h.assert_close(load_case(nn.GroupNorm(2, 6), "groupnorm")(fx("groupnorm.x")), fx("groupnorm.y"), TOL)
   h.assert_close(load_case(nn.InstanceNorm1d(3, {affine = true}), "in1d")(fx("in1d.x")), fx("in1d.y"), TOL)
   h.assert_close(load_case(nn.RMSNorm(6), "rmsnorm")(fx("rmsnorm.x")), fx("rmsnorm.y"), TOL)
   local ada = load_case(nn.AdaLayerNorm(6, 5), "adaln")
   h.assert_close(ada(fx("adaln.x"), fx("adaln.x2")), fx("adaln.y"), TOL)
   -- InstanceNorm2d with running statistics: training steps, then eval
   local m = nn.InstanceNorm2d(3, {track_running_stats = true})
   for i = 0, 1 do h.assert_close(m(fx("in2d.x" .. i)), fx("in2d.y" .. i), TOL) end
   h.assert_close(m.running_mean, fx("in2d.p.running_mean"), TOL)
   h.assert_close(m.running_var, fx("in2d.p.running_var"), TOL)
   m:eval()
   h.assert_close(m(fx("in2d.x_eval")), fx("in2d.y_eval"), TOL)
end

function T.norm_shapes_and_params()
   local ln = nn.LayerNorm(8)
   h.assert_close(ln.weight, ty.ones{8})
   h.assert_close(ln.bias, ty.zeros{8})
   h.assert_shape(ln(ty.randn{2, 3, 8}), {2, 3, 8})
   h.assert_eq(#nn.LayerNorm(8, {elementwise_affine = false}):named_parameters(), 0)
   h.assert_eq(#nn.LayerNorm(8, {bias = false}):named_parameters(), 1)
   h.assert_eq(#nn.RMSNorm(8):named_parameters(), 1)
   local bn = nn.BatchNorm1d(5)
   local names = {}
   for _, p in ipairs(bn:named_buffers()) do names[#names + 1] = p[1] end
   h.assert_eq(names, {"running_mean", "running_var", "num_batches_tracked"})
   h.assert_eq(#nn.InstanceNorm2d(3):named_parameters(), 0)
   -- AdaLayerNorm: cond per sample broadcasts over the sequence; zero_init is plain LayerNorm
   local ada = nn.AdaLayerNorm(4, 3, {zero_init = true})
   local x = ty.randn{2, 5, 4}
   h.assert_close(ada(x, ty.randn{2, 3}), ty.layer_norm(x, {4}), 1e-5)
   h.assert_shape(nn.AdaLayerNorm(4, 3)(x, ty.randn{2, 5, 3}), {2, 5, 4})
end

------------------------------------------------------------------ attention

local function mha_from_fixture()
   local m = load_case(nn.MultiHeadAttention(8, 2), "mha")
   m:eval()
   return m
end

function T.mha_values_vs_torch()
   local m = mha_from_fixture()
   local q, k, v = fx("mha.q"), fx("mha.k"), fx("mha.v")
   local y, w = m(q, k, v, {need_weights = true})
   h.assert_close(y, fx("mha.y"), TOL, "output")
   h.assert_close(w, fx("mha.w"), TOL, "weights")
   local y0, w0 = m(q, k, v)
   h.assert_close(y0, fx("mha.y"), TOL, "output without weights")
   h.assert_eq(w0, nil)
   local _, wh = m(q, k, v, {need_weights = true, average_attn_weights = false})
   h.assert_close(wh, fx("mha.w_heads"), TOL, "per-head weights")
   local ym, wm = m(q, k, v, {attn_mask = fx("mha.mask"), key_padding_mask = fx("mha.kpm"), need_weights = true})
   h.assert_close(ym, fx("mha.y_m"), TOL, "bool masks")
   h.assert_close(wm, fx("mha.w_m"), TOL, "bool masks weights")
   h.assert_close(m(q, k, v, {attn_mask = fx("mha.float_mask")}), fx("mha.y_f"), TOL, "float mask")
   h.assert_close(m(q, {causal = true}), fx("mha.y_c"), TOL, "causal self-attention")
   -- cross-attention, kdim/vdim, sequence-first
   local c = load_case(nn.MultiHeadAttention(6, 3, {kdim = 5, vdim = 4, batch_first = false}), "mha_cross")
   h.assert_close(c(fx("mha_cross.q"), fx("mha_cross.k"), fx("mha_cross.v")), fx("mha_cross.y"), TOL, "cross")
end

function T.mha_from_torch_state_dict()
   -- the raw torch state_dict (q/k/v_proj_weight, packed in_proj_bias)
   local c = nn.MultiHeadAttention(6, 3, {kdim = 5, vdim = 4, batch_first = false})
   c:load_weights("tests/fixtures/nnl_torch_mha.npz", {from = "torch"})
   h.assert_close(c(fx("mha_cross.q"), fx("mha_cross.k"), fx("mha_cross.v")), fx("mha_cross.y"), TOL)
end

function T.mha_shapes_and_params()
   local m = nn.MultiHeadAttention(16, 4)
   local names = {}
   for _, p in ipairs(m:named_parameters()) do names[#names + 1] = p[1] end
   h.assert_eq(names, {"q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias", "v_proj.weight",
                       "v_proj.bias", "out_proj.weight", "out_proj.bias"})
   h.assert_close(m.q_proj.bias, ty.zeros{16})
   local x = ty.randn{2, 7, 16}
   h.assert_shape(m(x), {2, 7, 16})
   h.assert_shape(m(x, ty.randn{2, 3, 16}), {2, 7, 16})       -- cross, value = key
   h.assert_shape(m(ty.randn{7, 16}), {7, 16})                  -- unbatched
   local _, w = m(x, ty.randn{2, 3, 16}, ty.randn{2, 3, 16}, {need_weights = true})
   h.assert_shape(w, {2, 7, 3})
   local sf = nn.MultiHeadAttention(16, 4, {batch_first = false})
   h.assert_shape(sf(ty.randn{7, 2, 16}), {7, 2, 16})
end

-- Decoding one token at a time with the key/value cache equals full causal
-- attention over the whole sequence (self-attention, and cross-attention
-- where the cache just carries the projected memory).
function T.mha_kv_cache_matches_full_causal()
   local m = nn.MultiHeadAttention(8, 2)
   local x = ty.randn{2, 5, 8}
   local full = m(x, {causal = true})
   local cache = {}
   local outs = {}
   for t = 1, 5 do
      local xt = x[{{}, {t, t}}]
      local y
      y, cache = m(xt, xt, xt, {cache = cache, causal = true})
      outs[t] = y
   end
   h.assert_shape(cache.k, {2, 2, 5, 4})
   h.assert_close(ty.concatenate(outs, 2), full, 1e-5)
   -- two tokens, then three at once
   local y1, c1 = m(x[{{}, {1, 2}}], {cache = {}, causal = true})
   local y2, c2 = m(x[{{}, {3, 5}}], {cache = c1, causal = true})
   h.assert_close(ty.concatenate({y1, y2}, 2), full, 1e-5)
   h.assert_shape(c2.v, {2, 2, 5, 4})
   -- without causal, the last query over the cache equals full attention's last row
   local nc = m(x)
   local _, cc = m(x[{{}, {1, 4}}], {cache = {}})
   local last = m(x[{{}, {5, 5}}], {cache = cc})
   h.assert_close(last, nc[{{}, {5, 5}}], 1e-5)
end

------------------------------------------------------------------ Transformer

-- The Transformer stacks decode step by step with their caches exactly as a
-- full causal pass does.
function T.transformer_kv_cache_matches_full_causal()
   local enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, {dim_feedforward = 16, norm_first = true}), 2,
                                     {norm = nn.LayerNorm(8)})
   enc:eval()
   local x = ty.randn{2, 4, 8}
   local full = enc(x, {is_causal = true})
   local cache, outs = {}, {}
   for t = 1, 4 do
      outs[t], cache = enc(x[{{}, {t, t}}], {is_causal = true, cache = cache})
   end
   h.assert_eq(#cache, 2)
   h.assert_shape(cache[2].k, {2, 2, 4, 4})
   h.assert_close(ty.concatenate(outs, 2), full, 1e-5)
   local dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, {dim_feedforward = 16}), 2)
   dec:eval()
   local mem = ty.randn{2, 3, 8}
   local dfull = dec(x, mem, {tgt_is_causal = true})
   cache = {}
   for t = 1, 4 do
      outs[t], cache = dec(x[{{}, {t, t}}], mem, {tgt_is_causal = true, cache = cache})
   end
   h.assert_close(ty.concatenate(outs, 2), dfull, 1e-5)
end

local function enc_layer(opts)
   local o = {dim_feedforward = 16, dropout = 0}
   for k, v in pairs(opts or {}) do o[k] = v end
   return nn.TransformerEncoderLayer(8, 2, o)
end

function T.transformer_layers_vs_torch()
   for _, c in ipairs{{"enc", {}}, {"enc_nf", {activation = "gelu", norm_first = true}}} do
      local m = load_case(enc_layer(c[2]), c[1])
      m:eval()
      h.assert_close(m(fx(c[1] .. ".x")), fx(c[1] .. ".y"), TOL, c[1])
      h.assert_close(m(fx(c[1] .. ".x"), {src_key_padding_mask = fx(c[1] .. ".kpm")}), fx(c[1] .. ".y_k"), TOL,
                     c[1] .. " padding mask")
   end
   local d = load_case(nn.TransformerDecoderLayer(8, 2, {dim_feedforward = 16, dropout = 0}), "dec")
   d:eval()
   h.assert_close(d(fx("dec.x"), fx("dec.x2"), {tgt_is_causal = true}), fx("dec.y"), TOL, "decoder causal")
   h.assert_close(d(fx("dec.x"), fx("dec.x2"), {tgt_mask = nn.Transformer.generate_square_subsequent_mask(4)}),
                  fx("dec.y"), TOL, "decoder float mask")
end

-- A whole torch nn.Transformer state_dict (0-based layer positions, packed
-- in_proj) loads with from='torch' and gives torch's output.
function T.transformer_from_torch_state_dict()
   local m = nn.Transformer{d_model = 8, nhead = 2, num_encoder_layers = 2, num_decoder_layers = 2,
                            dim_feedforward = 16, dropout = 0}
   m:load_weights("tests/fixtures/nnl_torch_transformer.npz", {from = "torch"})
   m:eval()
   local y = m(fx("transformer.x"), fx("transformer.x2"), {tgt_is_causal = true})
   h.assert_close(y, fx("transformer.y"), TOL)
end

function T.transformer_shapes_and_names()
   local enc = nn.TransformerEncoder(enc_layer(), 3, {norm = nn.LayerNorm(8)})
   h.assert_eq(#enc.layers, 3)
   h.assert_eq(rawequal(enc.layers[1].linear1.weight, enc.layers[2].linear1.weight), false)
   local sd = enc:state_dict()
   h.assert_eq(sd["layers.3.self_attn.out_proj.weight"] ~= nil, true)
   h.assert_eq(sd["norm.weight"] ~= nil, true)
   h.assert_shape(enc(ty.randn{2, 6, 8}), {2, 6, 8})
   h.assert_shape(enc(ty.randn{2, 6, 8}, {is_causal = true}), {2, 6, 8})
   local dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, {dim_feedforward = 16}), 2)
   h.assert_shape(dec(ty.randn{2, 4, 8}, ty.randn{2, 6, 8}), {2, 4, 8})
   local mask = nn.Transformer.generate_square_subsequent_mask(3)
   h.assert_eq(mask:tolist(), {{0, -math.huge, -math.huge}, {0, 0, -math.huge}, {0, 0, 0}})
   -- dropout only in training
   local l = nn.TransformerEncoderLayer(8, 2, {dim_feedforward = 16, dropout = 0.5})
   local x = ty.randn{1, 4, 8}
   l:eval()
   h.assert_close(l(x), l(x), 0)
end

------------------------------------------------------------------ recurrent

function T.recurrent_vs_torch()
   local lstm = load_case(nn.LSTM(5, 6, {num_layers = 2, bidirectional = true}), "lstm")
   local y, st = lstm(fx("lstm.x"), {fx("lstm.h0"), fx("lstm.c0")})
   h.assert_close(y, fx("lstm.y"), TOL, "lstm output")
   h.assert_close(st[1], fx("lstm.hn"), TOL, "lstm h_n")
   h.assert_close(st[2], fx("lstm.cn"), TOL, "lstm c_n")
   local y0, st0 = lstm(fx("lstm.x"))
   h.assert_close(y0, fx("lstm.y0"), TOL, "lstm zero state")
   h.assert_close(st0[1], fx("lstm.hn0"), TOL)
   h.assert_close(st0[2], fx("lstm.cn0"), TOL)
   local gru = load_case(nn.GRU(5, 6, {num_layers = 2, bidirectional = true}), "gru")
   local yg, hg = gru(fx("gru.x"), fx("gru.h0"))
   h.assert_close(yg, fx("gru.y"), TOL, "gru output")
   h.assert_close(hg, fx("gru.hn"), TOL, "gru h_n")
   local rnn = load_case(nn.RNN(5, 6, {num_layers = 2, nonlinearity = "relu", batch_first = false}), "rnn")
   local yr, hr = rnn(fx("rnn.x"))
   h.assert_close(yr, fx("rnn.y"), TOL, "rnn output")
   h.assert_close(hr, fx("rnn.hn"), TOL, "rnn h_n")
   local gu = load_case(nn.GRU(5, 6), "gru_unbatched")
   local yu, hu = gu(fx("gru_unbatched.x"))
   h.assert_close(yu, fx("gru_unbatched.y"), TOL, "unbatched")
   h.assert_close(hu, fx("gru_unbatched.hn"), TOL)
   local lc = load_case(nn.LSTMCell(5, 6), "lstmcell")
   local s = lc(fx("lstmcell.x"), {fx("lstmcell.h"), fx("lstmcell.c")})
   h.assert_close(s[1], fx("lstmcell.y"), TOL, "LSTMCell h")
   h.assert_close(s[2], fx("lstmcell.y2"), TOL, "LSTMCell c")
   h.assert_close(load_case(nn.GRUCell(5, 6), "grucell")(fx("grucell.x"), fx("grucell.h")), fx("grucell.y"), TOL)
   h.assert_close(load_case(nn.RNNCell(5, 6), "rnncell")(fx("rnncell.x"), fx("rnncell.h")), fx("rnncell.y"), TOL)
end

function T.lstm_from_torch_state_dict()
   local m = nn.LSTM(5, 6, {num_layers = 2, bidirectional = true})
   m:load_weights("tests/fixtures/nnl_torch_lstm.npz", {from = "torch"})
   local y = m(fx("lstm.x"), {fx("lstm.h0"), fx("lstm.c0")})
   h.assert_close(y, fx("lstm.y"), TOL)
end

function T.recurrent_shapes()
   local m = nn.LSTM(3, 4, {num_layers = 3, bidirectional = true, dropout = 0.2})
   h.assert_eq(#m:named_parameters(), 3 * 2 * 4)
   h.assert_shape(m.weight_ih_l1_reverse, {16, 8})
   local y, st = m(ty.randn{2, 5, 3})
   h.assert_shape(y, {2, 5, 8})
   h.assert_shape(st[1], {6, 2, 4})
   h.assert_shape(st[2], {6, 2, 4})
   local g = nn.GRU(3, 4, {batch_first = false, bias = false})
   h.assert_eq(#g:named_parameters(), 2)
   local yg, hg = g(ty.randn{5, 2, 3})
   h.assert_shape(yg, {5, 2, 4})
   h.assert_shape(hg, {1, 2, 4})
   -- passing the state on continues the sequence
   local r = nn.RNN(3, 4)
   local x = ty.randn{2, 6, 3}
   local yall = r(x)
   local ya, ha = r(x[{{}, {1, 3}}])
   local yb = r(x[{{}, {4, 6}}], ha)
   h.assert_close(ty.concatenate({ya, yb}, 2), yall, 1e-5)
end

------------------------------------------------------------------ gradients

-- Jacobians by central finite differences on float64 copies, for the input
-- and for the parameters.
local function check_grad(m, inputs, what, tol)
   m:astype("float64")
   local xs = {}
   for i, x in ipairs(inputs) do xs[i] = x:astype("float64") end
   local n = #xs
   local f = function(...)
      local args = {...}
      m:update(args[n + 1])
      local y = m(table.unpack(args, 1, n))
      if type(y) == "table" and not ty.is_array(y) then y = y[1] end
      return y
   end
   local args = {table.unpack(xs)}
   args[n + 1] = m:parameters()
   local ok, report = ty.gradcheck(f, args, {tol = tol or 1e-4})
   if not ok then
      error(string.format("%s: gradcheck failed, max abs err %g, worst %s", what, report.max_abs_err,
                          tostring(report.worst and report.worst.mode)), 2)
   end
end

function T.gradcheck_conv_pool()
   check_grad(nn.Conv2d(2, 4, 3, {stride = 2, padding = 1, groups = 2}), {ty.randn{1, 2, 5, 5}}, "Conv2d")
   check_grad(nn.Conv1d(2, 3, 2, {dilation = 2, padding = "same"}), {ty.randn{2, 2, 6}}, "Conv1d same")
   check_grad(nn.ConvTranspose1d(2, 3, 3, {stride = 2, output_padding = 1}), {ty.randn{1, 2, 4}}, "ConvTranspose1d")
   check_grad(nn.AvgPool2d(2, {stride = 1}), {ty.randn{1, 2, 4, 4}}, "AvgPool2d")
   check_grad(nn.AdaptiveAvgPool1d(3), {ty.randn{1, 2, 7}}, "AdaptiveAvgPool1d")
end

function T.gradcheck_norms()
   local bn = nn.BatchNorm2d(3)
   bn.weight = ty.randn{3}
   check_grad(bn, {ty.randn{4, 3, 2, 2}}, "BatchNorm2d (training)")
   check_grad(nn.LayerNorm(5), {ty.randn{2, 3, 5}}, "LayerNorm")
   check_grad(nn.GroupNorm(2, 4), {ty.randn{2, 4, 3}}, "GroupNorm")
   check_grad(nn.AdaLayerNorm(4, 3), {ty.randn{2, 3, 4}, ty.randn{2, 3}}, "AdaLayerNorm")
end

function T.gradcheck_attention_recurrent()
   local m = nn.MultiHeadAttention(4, 2)
   check_grad(m, {ty.randn{2, 3, 4}, ty.randn{2, 2, 4}}, "MultiHeadAttention")
   check_grad(nn.TransformerEncoderLayer(4, 2, {dim_feedforward = 6, dropout = 0}), {ty.randn{1, 3, 4}},
              "TransformerEncoderLayer")
   check_grad(nn.LSTM(3, 2, {bidirectional = true}), {ty.randn{2, 3, 3}}, "LSTM")
   check_grad(nn.GRU(3, 2, {num_layers = 2}), {ty.randn{1, 3, 3}}, "GRU")
end

------------------------------------------------------------------ errors, laziness, docs

function T.error_messages()
   h.assert_error(function() nn.Conv2d(3, 16, 3)(ty.randn{32, 28, 28}) end,
                  "[Conv2d] expected input (N,3,H,W), got (32,28,28)")
   h.assert_error(function() nn.Conv1d(3, 16, 3)(ty.randn{2, 4, 9}) end, "[Conv1d] expected input (N,3,L), got (2,4,9)")
   h.assert_error(function() nn.Conv3d(2, 4, 3)(ty.randn{1, 2, 5, 5}) end, "[Conv3d] expected input (N,2,D,H,W)")
   h.assert_error(function() nn.ConvTranspose2d(4, 2, 3)(ty.randn{1, 3, 5, 5}) end,
                  "[ConvTranspose2d] expected input (N,4,H,W), got (1,3,5,5)")
   h.assert_error(function() nn.Conv2d(3, 4, 3, {groups = 2}) end, "divisible by groups")
   h.assert_error(function() nn.Conv2d(3, 4, 3, {padding = "same", stride = 2}) end, "needs stride 1")
   h.assert_error(function() nn.MaxPool2d(2)(ty.randn{8}) end, "[MaxPool2d] expected input (N,C,H,W), got (8)")
   h.assert_error(function() nn.BatchNorm2d(3)(ty.randn{2, 4, 5, 5}) end,
                  "[BatchNorm2d] expected input (N,3,H,W), got (2,4,5,5)")
   h.assert_error(function() nn.BatchNorm1d(3)(ty.randn{2, 4}) end, "[BatchNorm1d] expected input (N,3) or (N,3,L)")
   h.assert_error(function() nn.BatchNorm1d(3)(ty.randn{1, 3}) end,
                  "[BatchNorm1d] expected more than 1 value per channel in training, got input (1,3)")
   h.assert_error(function() nn.LayerNorm(8)(ty.randn{2, 7}) end, "[LayerNorm] expected input (...,8), got (2,7)")
   h.assert_error(function() nn.GroupNorm(3, 6)(ty.randn{2, 4, 3}) end, "[GroupNorm] expected input (N,6,*)")
   h.assert_error(function() nn.GroupNorm(4, 6) end, "divisible by num_groups")
   h.assert_error(function() nn.MultiHeadAttention(8, 3) end, "divisible by num_heads")
   h.assert_error(function() nn.MultiHeadAttention(8, 2)(ty.randn{2, 3, 7}) end,
                  "[MultiHeadAttention] expected query (N,L,8), got (2,3,7)")
   h.assert_error(function() nn.MultiHeadAttention(8, 2)(ty.randn{2, 3, 8}, ty.randn{2, 4, 6}) end,
                  "[MultiHeadAttention] expected key (N,S,8), got (2,4,6)")
   h.assert_error(function()
      nn.MultiHeadAttention(8, 2)(ty.randn{2, 3, 8}, {attn_mask = ty.zeros{3, 4}})
   end, "expected attn_mask (3,3) or (4,3,3), got (3,4)")
   h.assert_error(function() nn.LSTM(5, 6)(ty.randn{2, 3, 4}) end, "[LSTM] expected input (N,L,5), got (2,3,4)")
   h.assert_error(function() nn.LSTM(5, 6)(ty.randn{2, 3, 5}, {ty.zeros{1, 3, 6}}) end,
                  "[LSTM] expected h0 (1,2,6), got (1,3,6)")
   h.assert_error(function() nn.GRU(5, 6, {batch_first = false})(ty.randn{2, 3}) end,
                  "[GRU] expected input (L,N,5), got (2,3)")
   h.assert_error(function() nn.TransformerEncoderLayer(8, 2)(ty.randn{2, 3, 4}) end,
                  "[TransformerEncoderLayer] expected src (N,L,8), got (2,3,4)")
   h.assert_error(function() nn.TransformerEncoder(nn.LayerNorm(3), 2) end,
                  "[TransformerEncoder] argument 1 must be a TransformerEncoderLayer, got LayerNorm")
   h.assert_error(function() nn.AdaLayerNorm(4, 3)(ty.randn{2, 5, 4}, ty.randn{2, 2}) end,
                  "[AdaLayerNorm] expected cond (N,3) with N=2, got (2,2)")
end

-- Construction draws lazy arrays: a large configuration builds at once and its
-- forward on a lazy input only builds graphs.
function T.lazy_construction()
   local t0 = os.clock()
   local conv = nn.Conv2d(2048, 2048, 7)
   local tr = nn.Transformer{d_model = 4096, nhead = 32, dim_feedforward = 16384}
   local lstm = nn.LSTM(8192, 8192, {num_layers = 4})
   h.assert_eq(os.clock() - t0 < 5, true)
   h.assert_eq(tr:num_parameters() > 1e9, true)
   h.assert_shape(conv.weight, {2048, 2048, 7, 7})
   h.assert_shape(lstm.weight_hh_l3, {32768, 8192})
   local y = tr(ty.zeros{1, 3, 4096}, ty.zeros{1, 2, 4096})
   h.assert_shape(y, {1, 2, 4096})
end

function T.every_class_documented()
   for _, name in ipairs{"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
                         "SeparableConv2d", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d",
                         "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "BatchNorm1d",
                         "BatchNorm2d", "LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d",
                         "AdaLayerNorm", "MultiHeadAttention", "TransformerEncoderLayer",
                         "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder", "Transformer",
                         "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"} do
      local cls = nn[name]
      h.assert_eq(type(cls), "table", name)
      local d = ty.__doc[cls]
      h.assert_eq(type(d), "string", name .. " doc")
      h.assert_eq(d:find("ty.nn." .. name .. "(", 1, true) == 1, true, name .. " doc signature")
      h.assert_eq(cls.__name, name)
   end
end

------------------------------------------------------------------ Vulkan

local VK = h.vulkan_device()

-- The same layer with the same weights on the CPU and on Vulkan.
local function cpu_vs_vk(make, inputs, tol, what)
   local m = make()
   m:eval()
   local want = m(table.unpack(inputs))
   if type(want) == "table" and not ty.is_array(want) then want = want[1] end
   local dev = h.vulkan_device()
   m:to(dev)
   local vin = {}
   for i, x in ipairs(inputs) do vin[i] = x:to(dev) end
   local got = m(table.unpack(vin))
   if type(got) == "table" and not ty.is_array(got) then got = got[1] end
   h.assert_eq(got.device ~= "cpu", true)
   h.assert_close(got:to("cpu"), want, tol or 1e-4, what)
end

function T.vulkan_matches_cpu()
   if not VK then return end
   local failures = {}
   local real = cpu_vs_vk
   local function cpu_vs_vk(make, inputs, tol, what)
      local ok, err = pcall(real, make, inputs, tol, what)
      if not ok then failures[#failures + 1] = what .. ": " .. tostring(err) end
   end
   cpu_vs_vk(function() return nn.Conv2d(3, 4, 3, {padding = 1}) end, {ty.randn{1, 3, 6, 6}}, 1e-4, "Conv2d")
   cpu_vs_vk(function() return nn.ConvTranspose1d(3, 2, 3, {stride = 2}) end, {ty.randn{1, 3, 5}}, 1e-4,
             "ConvTranspose1d")
   cpu_vs_vk(function() return nn.MaxPool2d(2) end, {ty.randn{1, 2, 6, 6}}, 1e-5, "MaxPool2d")
   cpu_vs_vk(function()
      local b = nn.BatchNorm2d(3)
      b.running_mean = ty.randn{3}
      return b
   end, {ty.randn{2, 3, 4, 4}}, 1e-4, "BatchNorm2d")
   cpu_vs_vk(function() return nn.GroupNorm(2, 4) end, {ty.randn{2, 4, 5}}, 1e-4, "GroupNorm")
   cpu_vs_vk(function() return nn.MultiHeadAttention(8, 2) end, {ty.randn{2, 3, 8}}, 1e-4, "MultiHeadAttention")
   cpu_vs_vk(function() return enc_layer() end, {ty.randn{2, 3, 8}}, 1e-4, "TransformerEncoderLayer")
   cpu_vs_vk(function() return nn.LSTM(3, 4, {bidirectional = true}) end, {ty.randn{2, 3, 3}}, 1e-4, "LSTM")
   cpu_vs_vk(function() return nn.GRU(3, 4) end, {ty.randn{2, 3, 3}}, 1e-4, "GRU")
   -- BatchNorm training step: output and running statistics (int64 counter too)
   local ok, err = pcall(function()
      local dev = h.vulkan_device()
      local b = nn.BatchNorm1d(3)
      local x = ty.randn{4, 3, 5}
      local want = b(x)
      local want_rv = b.running_var
      b = nn.BatchNorm1d(3):to(dev)
      local got = b(x:to(dev))
      h.assert_close(got:to("cpu"), want, 1e-4)
      h.assert_close(b.running_var:to("cpu"), want_rv, 1e-4)
      h.assert_eq(b.num_batches_tracked:to("cpu"):item(), 1)
   end)
   if not ok then failures[#failures + 1] = "BatchNorm1d training: " .. tostring(err) end
   if #failures > 0 then error(table.concat(failures, "\n")) end
end

-- QA regressions: misspelt options used to be ignored silently (e.g.
-- mha(q, k, v, {mask=m}) ran WITHOUT the mask: the option is attn_mask).
function T.qa_unknown_options_are_errors()
   local err = h.assert_error
   err(function() nn.Conv2d(3, 6, 3, {strid = 2}) end,
       "[Conv2d] unknown option 'strid' (expected stride, padding")
   err(function() nn.MaxPool2d(2, {stide = 2}) end, "[MaxPool2d] unknown option 'stide'")
   err(function() nn.BatchNorm2d(3, {epsilon = 1e-3}) end, "[BatchNorm2d] unknown option 'epsilon'")
   err(function() nn.LayerNorm(8, {eps = 1e-6, affine = false}) end, "[LayerNorm] unknown option 'affine'")
   err(function() nn.LSTM(4, 8, {batchfirst = true}) end, "[LSTM] unknown option 'batchfirst'")
   local mha = nn.MultiHeadAttention(8, 2)
   local q = ty.randn{2, 3, 8}
   err(function() mha(q, q, q, {mask = ty.ones({3, 3}, "bool")}) end,
       "[MultiHeadAttention] unknown option 'mask' (expected attn_mask,")
   err(function() mha(q, {casual = true}) end, "unknown option 'casual'")
   local tel = nn.TransformerEncoderLayer(8, 2, {dim_feedforward = 16})
   err(function() nn.TransformerEncoderLayer(8, 2, {ffn_dim = 16}) end,
       "[TransformerEncoderLayer] unknown option 'ffn_dim'")
   err(function() tel(q, {causal = true}) end, "[TransformerEncoderLayer] unknown option 'causal'")
   h.assert_shape(tel(q, {is_causal = true}), {2, 3, 8})
   -- stacks still clone their layers; PyTorch's positional Transformer(d, nhead, opts)
   h.assert_shape(nn.TransformerEncoder(tel, 2)(q), {2, 3, 8})
   local tr = nn.Transformer(8, 2, {num_encoder_layers = 1, num_decoder_layers = 1,
                                    dim_feedforward = 16, dropout = 0})
   h.assert_shape(tr(q, ty.randn{2, 4, 8}), {2, 4, 8})
   err(function() nn.Transformer{d_model = 8, nhead = 2, layers = 1} end,
       "[Transformer] unknown option 'layers'")
end

-- layer errors used to carry no position at all; they now point at the
-- user's line, even from inside a container
function T.qa_errors_point_at_the_callers_line()
   local line = debug.getinfo(1, "l").currentline
   local m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
   local e = h.assert_error(function() m(ty.ones{2, 3, 8, 8}) end, "[Conv2d] expected input (N,1,H,W)")
   assert(e:find("test_nn_layers.lua:" .. (line + 2) .. ":", 1, true), e)
   e = h.assert_error(function() nn.LSTM(4, 0) end, "[LSTM] hidden_size must be >= 1")
   assert(e:find("test_nn_layers.lua:", 1, true), e)
end

function T.qa_recurrent_empty_sequence()
   h.assert_error(function() nn.LSTM(10, 20)(ty.randn{3, 0, 10}) end,
                  "[LSTM] the input sequence is empty (length 0): got (3,0,10)")
   h.assert_error(function() nn.GRU(4, 5)(ty.randn{0, 4}) end, "[GRU] the input sequence is empty")
end

-- float64 checks run on the CPU whatever the default device
for _, name in ipairs{"gradcheck_conv_pool", "gradcheck_norms", "gradcheck_attention_recurrent"} do T[name] = h.on_cpu(T[name]) end

return T
