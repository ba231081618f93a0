-- test_nn.lua -- ty.nn core (lua/tycho/nn.lua): the Module contract
-- (parameter trees, dotted names, tied parameters, freeze, train/eval, hooks,
-- tostring, update), layers and activations against torch 1.13 fixtures
-- (tests/gen_nn_fixtures.py -> tests/fixtures/nn_*.npz, same
-- weights), Jacobians by finite differences (ty.gradcheck, float64 on the
-- CPU), initialiser statistics, save/load (strict errors, from='torch'),
-- lazy construction, and a CPU/Vulkan comparison (skipped without Vulkan).
local ty = require "tycho"
local h = require "helpers"
local nn = ty.nn

local T = {}
local FIX = "tests/fixtures/"

local function fixture(name) return (ty.load(FIX .. name)) end

-- A torch state_dict fixture (.npz: *.safetensors are git-ignored here)
-- written to a temporary .safetensors, as torch's safetensors would hold it.
local function torch_file(name)
   local path = os.tmpname() .. ".safetensors"
   ty.save(path, fixture(name), {metadata = {format = "pt"}})
   return path
end

local function names(list)
   local r = {}
   for i, p in ipairs(list) do r[i] = p[1] end
   return table.concat(r, " ")
end

local function count_leaves(t) return #ty.tree.leaves(t) end

local function check_grad(f, args, what, opts)
   opts = opts or {}
   local ok, r = ty.gradcheck(f, args, opts)
   if not ok then
      local w = r.worst
      error(string.format("%s: gradcheck failed: max_abs_err %.3g at arg %s (%s: analytic %.9g, numeric %.9g)",
                          what, r.max_abs_err, tostring(w.arg), w.mode, w.analytic, w.numeric), 2)
   end
   assert(r.checked > 0, what .. ": nothing checked")
end

-- a model as in INTERFACES.md
local Net = nn.Module:extend("Net")
function Net:init(n)
   self.fc1 = nn.Linear(784, n)
   self.act = nn.ReLU()
   self.fc2 = nn.Linear(n, 10)
   self.scale = ty.ones{10}
   self:register_buffer("count", ty.zeros{1})
end
function Net:forward(x) return self.fc2(self.act(self.fc1(x))) * self.scale end

-- ---------------------------------------------------------------- Module contract

function T.module_class_and_names()
   assert(Net.__name == "Net")
   local m = Net(16)
   assert(m:type_name() == "Net" and m.fc1:type_name() == "Linear")
   assert(nn.is_module(m) and not nn.is_module({}) and not nn.is_module(Net))
   assert(m.training == true)
   h.assert_eq(names(m:named_parameters()), "fc1.weight fc1.bias fc2.weight fc2.bias scale")
   h.assert_eq(names(m:named_parameters{recurse = false}), "scale")
   h.assert_eq(names(m:named_buffers()), "count")
   h.assert_eq(names(m:named_children()), "fc1 act fc2")
   h.assert_eq(names(m:named_modules()), " fc1 act fc2")
   assert(#m:modules() == 4 and m:modules()[1] == m and #m:children() == 3)
   local p = m:parameters()
   h.assert_shape(p.fc1.weight, {16, 784})
   h.assert_shape(p.fc2.bias, {10})
   assert(p.count == nil and type(p.act) == "table" and next(p.act) == nil)
   assert(m:buffers().count ~= nil)
   local sd = m:state_dict()
   local keys = {}
   for k in pairs(sd) do keys[#keys + 1] = k end
   table.sort(keys)
   h.assert_eq(table.concat(keys, " "), "count fc1.bias fc1.weight fc2.bias fc2.weight scale")
   assert(m:num_parameters() == 16 * 784 + 16 + 10 * 16 + 10 + 10)
   h.assert_shape(m(ty.randn{3, 784}), {3, 10})
end

function T.containers_and_plain_lists()
   local s = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
   assert(#s == 3)
   h.assert_eq(names(s:named_parameters()), "1.weight 1.bias 3.weight 3.bias")
   h.assert_shape(s(ty.randn{5, 4}), {5, 2})
   s:append(nn.Tanh())
   assert(#s == 4 and s[4]:type_name() == "Tanh")
   local tree = s:parameters()
   h.assert_shape(tree[1].weight, {3, 4})
   local ml = nn.ModuleList{nn.Linear(2, 2), nn.Linear(2, 2)}
   ml:append(nn.Linear(2, 1))
   assert(#ml == 3)
   h.assert_eq(names(ml:named_parameters()), "1.weight 1.bias 2.weight 2.bias 3.weight 3.bias")
   h.assert_error(function() ml(ty.ones{2}) end, "[ModuleList]")
   local M = nn.Module:extend("M")
   function M:init()
      self.blocks = {nn.Linear(2, 2), nn.Linear(2, 3)}
      self.heads = {a = nn.Linear(3, 1)}
      self.ws = {ty.ones{2}, ty.zeros{2}}
   end
   local m = M()
   h.assert_eq(names(m:named_parameters()),
               "blocks.1.weight blocks.1.bias blocks.2.weight blocks.2.bias heads.a.weight heads.a.bias ws.1 ws.2")
   h.assert_eq(names(m:named_children()), "blocks.1 blocks.2 heads.a")
   h.assert_eq(names(m:named_modules()), " blocks.1 blocks.2 heads.a")
   h.assert_shape(m:parameters().blocks[2].weight, {3, 2})
   h.assert_error(function() nn.Sequential(nn.ReLU(), 3) end, "[Sequential] argument 2")
end

function T.subclasses_inherit()
   local Scaled = nn.Linear:extend("ScaledLinear")
   function Scaled:init(i, o, k)
      nn.Linear.init(self, i, o)
      self.k = k
   end
   function Scaled:forward(x) return nn.Linear.forward(self, x) * self.k end
   local m = Scaled(3, 2, 2)
   assert(m:type_name() == "ScaledLinear" and Scaled.super == nn.Linear)
   h.assert_eq(names(m:named_parameters()), "weight bias")
   h.assert_close(m(ty.ones{1, 3}), (ty.matmul(ty.ones{1, 3}, m.weight.T) + m.bias) * 2, 1e-6)
   h.assert_eq(tostring(m), "ScaledLinear(in_features=3, out_features=2, bias=true)")
   local Seq2 = nn.Sequential:extend("Seq2")
   local s = Seq2(nn.ReLU(), nn.Tanh())
   assert(#s == 2 and tostring(s):find("^Seq2%("))
   -- a module without forward says so
   local Empty = nn.Module:extend("Empty")
   h.assert_error(function() Empty()(1) end, "[Empty] forward is not implemented")
   h.assert_error(function() nn.Module:extend(3) end, "[Module:extend]")
end

function T.checkpoint_with_a_model()
   local m = Net(4)
   local path = os.tmpname() .. ".safetensors"
   ty.save_checkpoint(path, {model = m, epoch = 3})
   local m2 = Net(4)
   local r = ty.load_checkpoint(path, {model = m2})
   assert(r.epoch == 3)
   h.assert_close(m2.fc2.weight, m.fc2.weight)
   h.assert_close(m2.count, m.count)
   os.remove(path)
end

function T.tostring_tree()
   local s = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
                           nn.Sequential(nn.Linear(512, 10, {bias = false}), nn.LogSoftmax()))
   local want = table.concat({
      "Sequential(",
      "  (1): Linear(in_features=784, out_features=512, bias=true)",
      "  (2): ReLU()",
      "  (3): Dropout(p=0.2)",
      "  (4): Sequential(",
      "    (1): Linear(in_features=512, out_features=10, bias=false)",
      "    (2): LogSoftmax(dim=-1)",
      "  )",
      ")"}, "\n")
   h.assert_eq(tostring(s), want)
   h.assert_eq(tostring(nn.LeakyReLU(0.2)), "LeakyReLU(negative_slope=0.2)")
   h.assert_eq(tostring(nn.GELU("tanh")), "GELU(approximate='tanh')")
   h.assert_eq(tostring(nn.Embedding(10, 3, {padding_idx = 1})), "Embedding(10, 3, padding_idx=1)")
end

-- a model with the same array in two places
local Tied = nn.Module:extend("Tied")
function Tied:init()
   self.a = nn.Linear(3, 3)
   self.b = nn.Linear(3, 3)
   self.b.weight = self.a.weight
end
function Tied:forward(x) return self.b(ty.tanh(self.a(x))) end

function T.tied_parameters_once_and_gradients_summed()
   local m = Tied()
   h.assert_eq(names(m:named_parameters()), "a.weight a.bias b.bias")
   assert(count_leaves(m:parameters()) == 3 and m:num_parameters() == 9 + 3 + 3)
   local x = ty.randn{4, 3}
   local W, ba, bb = m.a.weight, m.a.bias, m.b.bias
   local g = nn.value_and_grad(m, function(inp) return m(inp):square():sum() end)
   local v, grads = g(x)
   assert(grads.b.weight == nil)
   local want = ty.grad(function(w)
      return (ty.matmul(ty.tanh(ty.matmul(x, w.T) + ba), w.T) + bb):square():sum()
   end)(W)
   h.assert_close(grads.a.weight, want, 1e-4)
   h.assert_close(v, (m(x)):square():sum(), 1e-5)
   -- the model holds its original arrays again, still tied
   assert(rawequal(m.a.weight, W) and rawequal(m.b.weight, W))
   -- update keeps the tie
   local W2 = ty.zeros{3, 3}
   m:update{a = {weight = W2}}
   assert(rawequal(m.b.weight, W2))
end

function T.update_partial_and_errors()
   local m = Net(4)
   local old = m.fc1.bias
   local nb = ty.full({4}, 7)
   m:update{fc1 = {bias = nb}}
   assert(rawequal(m.fc1.bias, nb) and not rawequal(m.fc1.bias, old))
   m:update_buffers{count = ty.ones{1}}
   h.assert_close(m.count, {1})
   h.assert_error(function() m:update{fc1 = {nope = ty.ones{1}}} end, "no parameter 'fc1.nope'")
   h.assert_error(function() m:update(3) end, "[update]")
end

function T.freeze_unfreeze_patterns()
   local m = Net(4)
   m:freeze()
   assert(count_leaves(m:trainable_parameters()) == 0)
   m:unfreeze("fc2")
   h.assert_eq(names(m:named_trainable_parameters()), "fc2.weight fc2.bias")
   m:unfreeze()
   m:freeze{"*.bias", "scale"}
   h.assert_eq(names(m:named_trainable_parameters()), "fc1.weight fc2.weight")
   assert(m:is_frozen("fc1.bias") and not m:is_frozen("fc1.weight"))
   assert(count_leaves(m:parameters()) == 5)
   h.assert_error(function() m:freeze("nothing*") end, "no parameter matches nothing*")
   -- gradients only for the trainable ones
   local g = nn.value_and_grad(m, function(x) return m(x):sum() end)
   local _, grads = g(ty.randn{2, 784})
   assert(grads.fc1.bias == nil and grads.scale == nil)
   h.assert_shape(grads.fc1.weight, {4, 784})
   -- a frozen submodule
   m:unfreeze()
   m.fc1:freeze()
   h.assert_eq(names(m:named_trainable_parameters()), "fc2.weight fc2.bias scale")
end

-- The glob of freeze is ty.tree.match_name, shared with the optimizers'
-- match=: '*' any characters (dots too), a name matches the names below it,
-- every other character is itself (no Lua pattern).
function T.match_name_glob()
   local mn = ty.tree.match_name
   assert(mn("fc1", "fc1") and mn("fc1", "fc1.weight") and mn("fc1", "fc1.sub.bias"))
   assert(not mn("fc1", "fc10.weight") and not mn("fc", "fc1.weight"))
   assert(mn("*.bias", "fc1.bias") and mn("*.bias", "a.b.bias") and not mn("*.bias", "bias"))
   assert(mn("*", "anything.at.all") and mn("layers.*.w", "layers.2.w"))
   assert(mn("fc*", "fc2.weight") and mn("fc1.w*", "fc1.weight") and not mn("fc1.w*", "fc1.bias"))
   assert(not mn("fc%d", "fc1") and mn("fc%d", "fc%d.x") and not mn("fc.", "fc1"))
   assert(not mn("^fc1$", "fc1") and not mn("bias$", "fc1.bias"))
   assert(ty.__doc[mn]:find("match_name", 1, true))
   local m = Net(4)
   m:freeze("fc*.b*")
   h.assert_eq(names(m:named_trainable_parameters()), "fc1.weight fc2.weight scale")
   h.assert_error(function() m:freeze("^fc1") end, "no parameter matches ^fc1")
end

function T.train_eval_apply()
   local s = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Sequential(nn.Dropout(0.1)))
   s:eval()
   for _, m in ipairs(s:modules()) do assert(m.training == false) end
   s:train()
   for _, m in ipairs(s:modules()) do assert(m.training == true) end
   local seen = {}
   s:apply(function(m) seen[#seen + 1] = m:type_name() end)
   h.assert_eq(table.concat(seen, " "), "Dropout Sequential Dropout Linear Sequential")
   -- apply for re-initialisation
   s:apply(function(m)
      if m:type_name() == "Linear" then m.weight = nn.init.constant(m.weight, 0.5) end
   end)
   h.assert_close(s[1].weight, {{0.5, 0.5}, {0.5, 0.5}})
end

function T.forward_hooks()
   local s = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
   local rec = {}
   local h1 = s[1]:register_forward_hook(function(mod, inputs, out)
      rec[#rec + 1] = {mod:type_name(), inputs[1].shape, out.shape}
   end)
   s(ty.ones{5, 3})
   assert(#rec == 1 and rec[1][1] == "Linear")
   h.assert_eq(rec[1][2], {5, 3})
   h.assert_eq(rec[1][3], {5, 2})
   -- a hook's result replaces the output
   local h2 = s:register_forward_hook(function(_, _, out) return out * 0 - 1 end)
   h.assert_close(s(ty.ones{1, 3}), {{-1, -1}})
   assert(h2.remove() and h1.remove())
   s(ty.ones{1, 3})
   assert(#rec == 2)
   h.assert_error(function() s:register_forward_hook(3) end, "must be a function")
   -- several results: the hook sees a list and may return one
   local Two = nn.Module:extend("Two")
   function Two:forward(x) return x, x * 2 end
   local t = Two()
   local seen
   t:register_forward_hook(function(_, inputs, out)
      seen = #out
      assert(inputs.n == 1)
      return {out[2], out[1]}
   end)
   local a, b = t(ty.ones{1})
   assert(seen == 2)
   h.assert_close(a, {2})
   h.assert_close(b, {1})
end

-- ---------------------------------------------------------------- layers vs torch

function T.linear_matches_torch()
   local f = fixture("nn_layers.npz")
   local m = nn.Linear(5, 3)
   m:update{weight = f["linear.weight"], bias = f["linear.bias"]}
   h.assert_close(m(f["linear.x"]), f["linear.y"], 1e-5)
   h.assert_shape(m(ty.ones{5}), {3})
   local e = h.assert_error(function() nn.Linear(784, 10)(ty.ones{32, 28, 28}) end,
                            "[Linear] expected input (...,784), got (32,28,28)")
   assert(e:find("test_nn"), "the error points at the caller: " .. e)
   h.assert_shape(nn.Linear(4, 2, {bias = false})(ty.ones{3, 4}), {3, 2})
   assert(nn.Linear(4, 2, {bias = false}).bias == nil)
   h.assert_dtype(nn.Linear(2, 2, {dtype = "float16"}).weight, "float16")
end

function T.bilinear_matches_torch()
   local f = fixture("nn_layers.npz")
   local m = nn.Bilinear(3, 4, 2)
   m:update{weight = f["bilinear.weight"], bias = f["bilinear.bias"]}
   h.assert_close(m(f["bilinear.x1"], f["bilinear.x2"]), f["bilinear.y"], 1e-5)
   h.assert_error(function() m(ty.ones{2, 4}, ty.ones{2, 4}) end, "[Bilinear] expected inputs")
end

function T.embedding_matches_torch_with_padding_grad()
   local f = fixture("nn_layers.npz")
   local m = nn.Embedding(6, 4, {padding_idx = 3})
   -- the padding row starts at zero
   h.assert_close(m.weight[3], {0, 0, 0, 0})
   m:update{weight = f["embedding.weight"]}
   local ids = f["embedding.ids"]
   h.assert_close(m(ids), f["embedding.y"], 1e-6)
   local g = nn.value_and_grad(m, function() return (m(ids) * f["embedding.dy"]):sum() end)
   local _, grads = g()
   h.assert_close(grads.weight, f["embedding.dweight"], 1e-5)
   h.assert_shape(m({{1, 2}}), {1, 2, 4})
   h.assert_error(function() m(ty.ones{2}) end, "[Embedding] expected integer indices")
   h.assert_shape(m:as_linear(ty.ones{2, 4}), {2, 6})
end

function T.prelu_flatten_unflatten_match_torch()
   local f = fixture("nn_layers.npz")
   local p = nn.PReLU(3)
   h.assert_close(p.weight, {0.25, 0.25, 0.25})
   p:update{weight = f["prelu.weight"]}
   h.assert_close(p(f["prelu.x"]), f["prelu.y"], 1e-6)
   h.assert_close(nn.Flatten()(f["flatten.x"]), f["flatten.y"])
   h.assert_close(nn.Unflatten(2, {2, 3})(f["unflatten.x"]), f["unflatten.y"])
   h.assert_shape(nn.Flatten(1, 2)(ty.ones{2, 3, 4}), {6, 4})
   h.assert_shape(nn.Unflatten(-1, {2, -1})(ty.ones{3, 8}), {3, 2, 4})
   h.assert_error(function() nn.Unflatten(2, {4, 4})(ty.ones{3, 8}) end, "[Unflatten]")
   h.assert_error(function() nn.PReLU(3)(ty.ones{2, 4}) end, "[PReLU] expected input (N,3,...)")
end

function T.activations_match_torch()
   local f = fixture("nn_activations.npz")
   local x = f.x
   local cases = {
      {"relu", nn.relu(x), nn.ReLU()(x)},
      {"relu6", nn.relu6(x), nn.ReLU6()(x)},
      {"leaky_relu", nn.leaky_relu(x, 0.1), nn.LeakyReLU(0.1)(x)},
      {"elu", nn.elu(x, 0.7), nn.ELU(0.7)(x)},
      {"selu", nn.selu(x), nn.SELU()(x)},
      {"celu", nn.celu(x, 1.3), nn.CELU{alpha = 1.3}(x)},
      {"gelu", nn.gelu(x), nn.GELU()(x)},
      {"gelu_tanh", nn.gelu(x, {approximate = "tanh"}), nn.GELU("tanh")(x)},
      {"silu", nn.silu(x), nn.SiLU()(x)},
      {"silu", nn.swish(x), nn.Swish()(x)},
      {"mish", nn.mish(x), nn.Mish()(x)},
      {"hardswish", nn.hardswish(x), nn.Hardswish()(x)},
      {"hardsigmoid", nn.hardsigmoid(x), nn.Hardsigmoid()(x)},
      {"hardtanh", nn.hardtanh(x, -2, 3), nn.Hardtanh(-2, 3)(x)},
      {"tanh", nn.tanh(x), nn.Tanh()(x)},
      {"sigmoid", nn.sigmoid(x), nn.Sigmoid()(x)},
      {"log_sigmoid", nn.log_sigmoid(x), nn.LogSigmoid()(x)},
      {"softplus", nn.softplus(x), nn.Softplus()(x)},
      {"softplus_b2_t5", nn.softplus(x, {beta = 2, threshold = 5}), nn.Softplus(2, 5)(x)},
      {"softsign", nn.softsign(x), nn.Softsign()(x)},
      {"softmax", nn.softmax(x), nn.Softmax()(x)},
      {"log_softmax", nn.log_softmax(x), nn.LogSoftmax(-1)(x)},
      {"softmax_dim1", nn.softmax(x, 1), nn.Softmax(1)(x)},
      {"glu", nn.glu(x[{{}, {1, 8}}]), nn.GLU()(x[{{}, {1, 8}}])},
      {"glu_dim1", nn.glu(x, 1), nn.GLU(1)(x)},
   }
   for _, c in ipairs(cases) do
      h.assert_close(c[2], f[c[1]], 2e-6, c[1] .. " (function)")
      h.assert_close(c[3], f[c[1]], 2e-6, c[1] .. " (module)")
   end
   h.assert_error(function() nn.glu(ty.ones{3, 5}) end, "[GLU]")
   h.assert_error(function() nn.gelu(x, {approximate = "x"}) end, "approximate must be")
   h.assert_error(function() nn.ReLU()(3) end, "[ReLU] input must be an array")
end

function T.star_relu_formula_and_learnable()
   local m = nn.StarReLU()
   local x = ty.array{-1, 0.5, 2}
   local s, b = 0.8944271909999159, -0.4472135954999579
   h.assert_close(m(x), {b, s * 0.25 + b, s * 4 + b}, 1e-6)
   h.assert_close(nn.star_relu(x), {b, s * 0.25 + b, s * 4 + b}, 1e-6)
   h.assert_eq(names(m:named_trainable_parameters()), "scale bias")
   assert(#nn.StarReLU{learnable = false}:named_trainable_parameters() == 0)
   local g = nn.value_and_grad(m, function() return m(x):sum() end)
   local _, grads = g()
   h.assert_close(grads.scale, {4.25}, 1e-6)
   h.assert_close(grads.bias, {3}, 1e-6)
end

function T.layer_scale_and_identity()
   local m = nn.LayerScale(4)
   h.assert_close(m(ty.ones{2, 4}), ty.full({2, 4}, 1e-5), 1e-9)
   h.assert_error(function() m(ty.ones{2, 3}) end, "[LayerScale] expected input (...,4), got (2,3)")
   local x = ty.ones{2}
   assert(rawequal(nn.Identity()(x), x))
end

-- ---------------------------------------------------------------- positions

function T.rope_matches_reference()
   local f = fixture("nn_rope.npz")
   local x = f.x
   h.assert_close(nn.RoPE(8)(x), f.default, 1e-5)
   h.assert_close(nn.RoPE(8, {traditional = true})(x), f.traditional, 1e-5)
   h.assert_close(nn.RoPE(4, {base = 500, scale = 0.5})(x, {offset = 7}), f.partial_offset, 1e-5)
   h.assert_close(nn.RoPE(6, {traditional = true})(x, 3), f.partial_traditional, 1e-5)
   -- a cache: rows L.. of a long sequence rotate as with an offset
   local full = nn.RoPE(8)(x)
   h.assert_close(nn.RoPE(8)(x[{{}, {}, {3, 5}}], {offset = 2}), full[{{}, {}, {3, 5}}], 1e-5)
   h.assert_error(function() nn.RoPE(8)(ty.ones{3, 6}) end, "[RoPE]")
   h.assert_error(function() nn.RoPE(5) end, "dims must be even")
end

function T.positional_encodings()
   local f = fixture("nn_rope.npz")
   local pe = nn.SinusoidalPositionalEncoding(8)
   h.assert_close(pe(ty.zeros{2, 5, 8}), ty.broadcast_to(f.sinusoid, {2, 5, 8}), 1e-5)
   h.assert_close(pe(ty.zeros{5, 8}, {offset = 4}), f.sinusoid_offset, 1e-5)
   h.assert_close(pe:encoding(5), f.sinusoid, 1e-5)
   assert(count_leaves(pe:parameters()) == 0)
   local lp = nn.LearnedPositionalEncoding(10, 4)
   h.assert_shape(lp.weight, {10, 4})
   h.assert_close(lp(ty.zeros{2, 3, 4}, {offset = 2}), ty.broadcast_to(lp.weight[{{3, 5}}], {2, 3, 4}))
   h.assert_error(function() lp(ty.zeros{9, 4}, {offset = 2}) end, "exceed max_len 10")
   h.assert_error(function() pe(ty.zeros{5, 4}) end, "expected input (...,L,8), got (5,4)")
end

-- ---------------------------------------------------------------- dropout

function T.dropout_train_and_eval()
   local d = nn.Dropout(0.25)
   local x = ty.ones{200, 100}
   local y = d(x, {key = ty.random.key(1)})
   local zeros = ty.eq(y, 0):astype("float32"):mean():item()
   assert(math.abs(zeros - 0.25) < 0.02, "dropped fraction " .. zeros)
   h.assert_close(y:max(), 1 / 0.75, 1e-6)
   h.assert_close(y:mean(), 1, 0.03)
   -- same key, same mask
   h.assert_eq(d(x, {key = ty.random.key(1)}), y)
   d:eval()
   assert(rawequal(d(x), x))
   h.assert_close(nn.dropout(x, 0.5, {training = false}), x)
   h.assert_close(nn.Dropout(0)(x), x)
   h.assert_close(nn.Dropout(1)(ty.ones{3}), {0, 0, 0})
   h.assert_error(function() nn.Dropout(1.5) end, "p must be a number in [0, 1]")
end

function T.dropout2d_drops_channels()
   local d = nn.Dropout2d(0.5)
   local y = d(ty.ones{4, 8, 3, 3}, {key = ty.random.key(3)})
   local per = y:sum({3, 4}):tolist()
   local dropped = 0
   for _, row in ipairs(per) do
      for _, v in ipairs(row) do
         assert(math.abs(v) < 1e-6 or math.abs(v - 18) < 1e-4, "channel sum " .. v)
         if v == 0 then dropped = dropped + 1 end
      end
   end
   assert(dropped > 2 and dropped < 30, "dropped channels " .. dropped)
   h.assert_error(function() d(ty.ones{3, 3}) end, "[Dropout2d] expected an input with at least 3")
   h.assert_shape(d(ty.ones{2, 3, 3}), {2, 3, 3})
   d:eval()
   h.assert_close(d(ty.ones{1, 2, 2, 2}), ty.ones{1, 2, 2, 2})
end

-- ---------------------------------------------------------------- Jacobians

-- gradcheck of m(inputs...) with respect to inputs and parameters (float64, CPU)
local function module_gradcheck(m, inputs, what)
   local n = #inputs
   local args = {}
   for i, x in ipairs(inputs) do args[i] = x end
   args[n + 1] = m:parameters()
   check_grad(function(...)
      local a = table.pack(...)
      m:update(a[n + 1])
      return m(table.unpack(a, 1, n))
   end, args, what)
end

function T.layer_jacobians()
   local k = ty.random.key(5)
   module_gradcheck(nn.Linear(3, 2), {ty.random.normal({2, 3}, {key = k})}, "Linear")
   module_gradcheck(nn.Bilinear(2, 3, 2), {ty.randn{2, 2}, ty.randn{2, 3}}, "Bilinear")
   module_gradcheck(nn.LayerScale(3), {ty.randn{2, 3}}, "LayerScale")
   module_gradcheck(nn.PReLU(2), {ty.array{{0.5, -1.5}, {-0.3, 2}}}, "PReLU")
   module_gradcheck(nn.StarReLU(), {ty.array{-0.7, 0.4, 1.3}}, "StarReLU")
   module_gradcheck(nn.RoPE(4, {traditional = true}), {ty.randn{3, 4}}, "RoPE traditional")
   module_gradcheck(nn.RoPE(4), {ty.randn{2, 3, 6}}, "RoPE")
   module_gradcheck(nn.SinusoidalPositionalEncoding(4), {ty.randn{3, 4}}, "SinusoidalPE")
   module_gradcheck(nn.LearnedPositionalEncoding(5, 2), {ty.randn{3, 2}}, "LearnedPE")
end

function T.activation_jacobians()
   -- points away from the kinks
   local x = ty.array{{-2.3, -0.7, 0.4, 1.9}, {3.5, -4.2, 0.9, -0.2}}
   local fns = {"relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish",
                "hardswish", "hardsigmoid", "tanh", "sigmoid", "log_sigmoid", "softplus",
                "softsign", "softmax", "log_softmax", "glu", "star_relu"}
   for _, name in ipairs(fns) do check_grad(nn[name], {x}, name) end
   check_grad(function(v) return nn.gelu(v, {approximate = "tanh"}) end, {x}, "gelu tanh")
   check_grad(function(v) return nn.softplus(v, {beta = 2, threshold = 3}) end, {x}, "softplus beta")
end

-- ---------------------------------------------------------------- init

local function stats(a)
   local m = a:mean():item()
   return m, ((a - m):square():mean():item()) ^ 0.5, a:min():item(), a:max():item()
end

function T.init_statistics()
   local init = nn.init
   local fi, fo = init.calculate_fan_in_and_fan_out({64, 32, 3, 3})
   assert(fi == 32 * 9 and fo == 64 * 9)
   h.assert_close(init.calculate_gain("relu"), math.sqrt(2))
   h.assert_close(init.calculate_gain("leaky_relu", 0.2), math.sqrt(2 / 1.04))
   h.assert_close(init.calculate_gain("tanh"), 5 / 3)
   -- Linear default: weights and bias in +-1/sqrt(fan_in), std bound/sqrt(3)
   local m = nn.Linear(400, 300)
   local b = 1 / math.sqrt(400)
   local mean, std, lo, hi = stats(m.weight)
   assert(lo >= -b and hi <= b and math.abs(mean) < 0.01 * b * 10, "Linear weight range")
   assert(math.abs(std - b / math.sqrt(3)) < 0.02 * b, "Linear weight std " .. std)
   local _, _, blo, bhi = stats(m.bias)
   assert(blo >= -b and bhi <= b)
   -- kaiming normal fan_out relu, xavier uniform/normal
   _, std = stats(init.kaiming_normal({200, 100, 3}, {mode = "fan_out", nonlinearity = "relu"}))
   assert(math.abs(std - math.sqrt(2) / math.sqrt(600)) < 0.03 * std, "kaiming_normal std")
   local xb = math.sqrt(6 / 500)
   _, std, lo, hi = stats(init.xavier_uniform({300, 200}, {gain = 1}))
   assert(lo >= -xb and hi <= xb and math.abs(std - xb / math.sqrt(3)) < 0.02 * xb)
   _, std = stats(init.glorot_normal({300, 200}))
   assert(math.abs(std - math.sqrt(2 / 500)) < 0.03 * std)
   _, _, lo, hi = stats(init.he_uniform({100, 50}))
   local hb = math.sqrt(3) * math.sqrt(2 / (1 + 0)) / math.sqrt(50)
   assert(lo >= -hb and hi <= hb and hi > 0.9 * hb)
   -- truncated normal in [a, b]
   local tn = init.truncated_normal({20000}, {mean = 1, std = 2, a = -1, b = 2})
   _, _, lo, hi = stats(tn)
   assert(lo >= -1 and hi <= 2, "truncated_normal range")
   -- constant, uniform, normal with an array argument keep its dtype
   h.assert_close(init.constant(ty.zeros({2}, "float64"), 3), {3, 3})
   h.assert_dtype(init.normal(ty.zeros({2}, "float64")), "float64")
   _, _, lo, hi = stats(init.uniform({1000}, {low = 2, high = 3}))
   assert(lo >= 2 and hi < 3)
   -- orthogonal: Q^T Q = I (tall) and Q Q^T = I (wide), with a gain
   local q = init.orthogonal({6, 4})
   h.assert_close(ty.matmul(q.T, q), ty.eye(4), 1e-5)
   q = init.orthogonal({3, 2, 4}, {gain = 2}):reshape{3, 8}
   h.assert_close(ty.matmul(q, q.T), ty.eye(3) * 4, 1e-4)
   -- the Lua Householder QR (used when ty.linalg.qr is absent)
   q = init.orthogonal({5, 3}, {lua_qr = true, key = ty.random.key(4)})
   h.assert_close(ty.matmul(q.T, q), ty.eye(3), 1e-5)
   if ty.linalg and ty.linalg.qr then
      h.assert_close(init.orthogonal({5, 3}, {key = ty.random.key(4)}), q, 1e-5)
   end
   h.assert_error(function() init.orthogonal({3}) end, "at least 2 dimensions")
   h.assert_error(function() init.kaiming_uniform({3, 3}, {mode = "x"}) end, "mode must be")
   -- keys make draws reproducible
   h.assert_eq(init.normal({4}, {key = ty.random.key(9)}), init.normal({4}, {key = ty.random.key(9)}))
end

function T.construction_is_lazy()
   -- ~1.4 GB of parameters: building it and a forward on a lazy input
   -- allocate nothing
   local before = ty.memory()
   ty.reset_peak_memory()
   local m = nn.Sequential(nn.Embedding(32000, 4096), nn.Linear(4096, 11008), nn.SiLU(),
                           nn.Linear(11008, 4096), nn.Dropout(0.1),
                           nn.Linear(4096, 32000, {bias = false}))
   local out = m(ty.random.randint(1, 32000, {2, 16}))
   h.assert_shape(out, {2, 16, 32000})
   assert(m:num_parameters() > 3.5e8)
   local after = ty.memory()
   assert(after.peak <= before.active + 4096 and after.active <= before.active + 4096,
          string.format("memory grew: active %d -> %d, peak %d", before.active, after.active,
                        after.peak))
end

-- ---------------------------------------------------------------- value_and_grad

function T.value_and_grad_matches_ty_grad()
   local m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
   local x = ty.randn{5, 3}
   local g = nn.value_and_grad(m, function(inp, scale)
      local y = m(inp)
      return (y * scale):square():mean(), y, "aux"
   end)
   local v, y, s, grads = g(x, 2)
   assert(s == "aux")
   h.assert_shape(y, {5, 2})
   local spec_g = select(2, ty.tree.flatten(grads))
   local spec_p = select(2, ty.tree.flatten(m:trainable_parameters()))
   assert(spec_g == spec_p, tostring(spec_g) .. " vs " .. tostring(spec_p))
   local p = m:parameters()
   local want = ty.grad(function(tp)
      local h1 = ty.tanh(ty.matmul(x, tp[1].weight.T) + tp[1].bias)
      return ((ty.matmul(h1, tp[3].weight.T) + tp[3].bias) * 2):square():mean()
   end)(p)
   h.assert_close(grads[1].weight, want[1].weight, 1e-5)
   h.assert_close(grads[3].bias, want[3].bias, 1e-5)
   h.assert_close(v, (m(x) * 2):square():mean(), 1e-6)
   -- errors in fn restore the model
   local w = m[1].weight
   local bad = nn.value_and_grad(m, function() m(ty.ones{2, 7}) end)
   h.assert_error(function() bad() end, "[Linear] expected input (...,3), got (2,7)")
   assert(rawequal(m[1].weight, w))
   h.assert_error(function() nn.value_and_grad(3, print) end, "argument 1 must be a module")
end

-- ---------------------------------------------------------------- save / load

local function tmpname(ext)
   return os.tmpname() .. ext
end

function T.save_load_round_trip_and_strict_errors()
   local m = Net(8)
   local path = tmpname(".safetensors")
   m:save_weights(path)
   local m2 = Net(8)
   m2:load_weights(path)
   local x = ty.randn{2, 784}
   h.assert_close(m2(x), m(x), 1e-6)
   h.assert_close(m2.count, m.count)
   -- another architecture: strict errors list every problem
   local Other = nn.Module:extend("Other")
   function Other:init()
      self.fc1 = nn.Linear(784, 4)
      self.act = nn.ReLU()
      self.extra = nn.Linear(2, 2)
      self.scale = ty.ones{10}
   end
   local e = h.assert_error(function() Other():load_weights(path) end, "do not match")
   assert(e:find("missing keys: extra.bias, extra.weight", 1, true) or
          e:find("missing keys: extra.weight, extra.bias", 1, true), e)
   assert(e:find("unexpected keys: count, fc2.bias, fc2.weight", 1, true), e)
   assert(e:find("fc1.weight: file (8,784), model (4,784)", 1, true), e)
   -- non-strict: loads what matches, but shapes must agree
   local Part = nn.Module:extend("Part")
   function Part:init() self.fc2 = nn.Linear(8, 10) end
   local p = Part():load_weights(path, {strict = false})
   h.assert_close(p.fc2.weight, m.fc2.weight)
   h.assert_error(function() Other():load_weights(path, {strict = false}) end, "shape mismatches")
   h.assert_error(function() m:load_weights(path, {from = "keras"}) end, "from must be 'torch'")
   h.assert_error(function() m:save_weights("x.bin") end, "must end in .safetensors")
   -- state_dict / load_state_dict (checkpoints use these)
   local m3 = Net(8)
   m3:load_state_dict(m:state_dict())
   h.assert_close(m3(x), m(x), 1e-6)
   os.remove(path)
end

function T.load_converts_dtype_and_keeps_ties()
   local m = Tied()
   local path = tmpname(".safetensors")
   m:save_weights(path)
   local sd = ty.load(path)
   assert(sd["b.weight"] == nil and sd["a.weight"] ~= nil)
   local m2 = Tied():astype("float16")
   h.assert_dtype(m2.a.weight, "float16")
   assert(rawequal(m2.a.weight, m2.b.weight))
   m2:load_weights(path)
   h.assert_dtype(m2.a.weight, "float16")
   assert(rawequal(m2.a.weight, m2.b.weight))
   h.assert_close(m2.b.weight:astype("float32"), m.a.weight, 1e-3)
   os.remove(path)
end

function T.load_torch_mlp()
   local m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
   local path = torch_file("nn_torch_mlp.npz")
   m:load_weights(path, {from = "torch"})
   local io = fixture("nn_torch_mlp_io.npz")
   h.assert_close(m(io.x), io.y, 1e-5)
   -- without from='torch' the 0-based names do not fit
   local e = h.assert_error(function()
      nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)):load_weights(path)
   end, "unexpected keys: 0.bias, 0.weight")
   assert(e:find("missing keys: 1.weight, 1.bias, 3.weight, 3.bias", 1, true), e)
   h.assert_eq(nn.from_torch(m, {["layers.0.weight"] = 1, ["10.b"] = 2})["layers.1.weight"], 1)
   os.remove(path)
   os.remove(path)
end

function T.load_torch_batchnorm_int64_buffer()
   if not (nn.BatchNorm1d and ty.batch_norm) then return end  -- helpers D2 and B
   local m = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
   local path = torch_file("nn_torch_bn.npz")
   h.assert_dtype(ty.load(path)["1.num_batches_tracked"], "int64")
   m:load_weights(path, {from = "torch"})
   os.remove(path)
   m:eval()
   local io = fixture("nn_torch_bn_io.npz")
   h.assert_close(m(io.x), io.y, 1e-4)
end

function T.from_torch_hook()
   -- a layer storing torch's packed "qkv" weight as three parameters
   local Packed = nn.Module:extend("Packed")
   function Packed:init()
      self.q = ty.zeros{2}
      self.k = ty.zeros{2}
      self.v = ty.zeros{2}
   end
   function Packed.from_torch(mod, tensors, prefix)
      assert(nn.is_module(mod) and prefix == "2.")
      local parts = ty.split(tensors.in_proj, 3)
      return {q = parts[1], k = parts[2], v = parts[3]}
   end
   local m = nn.Sequential(nn.Linear(1, 1), Packed())
   local path = tmpname(".safetensors")
   ty.save(path, {["0.weight"] = ty.ones{1, 1}, ["0.bias"] = ty.zeros{1},
                  ["1.in_proj"] = ty.array{1, 2, 3, 4, 5, 6},
                  ["1.num_batches_tracked"] = ty.array({3}, "int64")})
   m:load_weights(path, {from = "torch"})
   h.assert_close(m[2].q, {1, 2})
   h.assert_close(m[2].v, {5, 6})
   os.remove(path)
end

-- ---------------------------------------------------------------- Vulkan

local VK = h.vulkan_device()

function T.vulkan_matches_cpu()
   if not VK then return end
   local m = nn.Sequential(nn.Linear(6, 5), nn.GELU(), nn.Linear(5, 4), nn.LayerScale(4))
   local x = ty.randn{3, 6}
   local emb = nn.Embedding(7, 4)
   local ids = ty.array({{1, 7}, {3, 3}}, "int32")
   local rope = nn.RoPE(4)
   local function run()
      local g = nn.value_and_grad(m, function(inp)
         return (m(inp) + rope(emb(ids)):sum()):square():mean()
      end)
      local v, grads = g(x)
      return v, grads
   end
   local v1, g1 = run()
   ty.eval(v1, g1)
   m:to(VK); emb:to(VK); x = x:to(VK); ids = ids:to(VK)
   assert(m[1].weight.device == VK)
   local v2, g2 = run()
   h.assert_close(v2:to("cpu"), v1, 1e-4)
   h.assert_close(g2[1].weight:to("cpu"), g1[1].weight, 1e-4)
   h.assert_close(g2[4].gamma:to("cpu"), g1[4].gamma, 1e-4)
   local d = nn.Dropout(0.5)
   h.assert_eq(d(ty.ones({4, 4}):to(VK), {key = ty.random.key(2)}):to("cpu"),
               d(ty.ones{4, 4}, {key = ty.random.key(2)}))
end

-- QA regressions (bad input must be a clear error naming the layer, raised
-- at the user's line, never a silent no-op).
function T.qa_unknown_options_are_errors()
   local err = h.assert_error
   err(function() nn.Linear(3, 4, {biass = false}) end,
       "[Linear] unknown option 'biass' (expected bias, dtype, device)")
   err(function() nn.Embedding(3, 2, {padding = 1}) end, "[Embedding] unknown option 'padding'")
   err(function() nn.RoPE(4, {tradition = true}) end, "[RoPE] unknown option 'tradition'")
   err(function() nn.Dropout(0.5)(ty.ones{3}, {kee = 1}) end, "[Dropout] unknown option 'kee'")
   err(function() nn.SinusoidalPositionalEncoding(4)(ty.ones{2, 4}, {ofset = 1}) end,
       "[SinusoidalPositionalEncoding] unknown option 'ofset'")
   err(function() nn.init.normal({2}, {sdt = 1}) end,
       "[init.normal] unknown option 'sdt' (expected dtype, key, device, mean, std)")
   err(function() nn.init.kaiming_uniform({2, 3}, {nonlinarity = "relu"}) end,
       "unknown option 'nonlinarity'")
   err(function() nn.LeakyReLU({slope = 0.2}) end, "[LeakyReLU] unknown option 'slope'")
   err(function() nn.LeakyReLU({negative_slope = "x"}) end,
       "[LeakyReLU] negative_slope must be a number, got 'x'")
   err(function() nn.Linear(2, 2):load_weights("x.npz", {form = "torch"}) end,
       "[load_weights] unknown option 'form'")
   err(function() nn.softplus(ty.ones{2}, {beta = 2, thresh = 1}) end,
       "[softplus] unknown option 'thresh' (expected beta, threshold)")
   err(function() nn.gelu(ty.ones{2}, {approx = "tanh"}) end, "[gelu] unknown option 'approx'")
   err(function() nn.Flatten("a") end, "[Flatten] start_dim must be a nonzero integer")
   err(function() nn.Flatten(2, 0) end, "[Flatten] end_dim must be a nonzero integer")
   -- position offsets: integers >= 0 (they used to reach the core as -5, 1.5, 'x')
   err(function() nn.RoPE(4)(ty.zeros{1, 3, 4}, -5) end, "[rope] offset must be an integer >= 0, got -5")
   err(function() nn.LearnedPositionalEncoding(4, 2)(ty.zeros{1, 3, 2}, {offset = 0.5}) end,
       "[LearnedPositionalEncoding] offset must be an integer >= 0, got 0.5")
   err(function() nn.SinusoidalPositionalEncoding(4)(ty.zeros{1, 3, 4}, {offset = "x"}) end,
       "[SinusoidalPositionalEncoding] offset must be an integer >= 0, got 'x'")
   h.assert_shape(nn.LeakyReLU({negative_slope = 0.2})(ty.ones{2}), {2})
   h.assert_shape(nn.GELU("tanh")(ty.ones{2}), {2})
end

function T.qa_errors_point_at_the_callers_line()
   local line = debug.getinfo(1, "l").currentline
   local m = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
   local e = h.assert_error(function() m(ty.ones{2, 5}) end, "[Linear] expected input (...,4)")
   assert(e:find("test_nn.lua:" .. (line + 2) .. ":", 1, true), e)
   e = h.assert_error(function() nn.Linear(-1, 2) end, "in_features must be an integer >= 0")
   assert(e:find("test_nn.lua:", 1, true), e)
   e = h.assert_error(function() nn.Dropout(0.5)(nil) end, "[Dropout] input must be an array, got nil")
   assert(e:find("test_nn.lua:", 1, true), e)
end

-- m.parameters() (a '.' instead of ':') used to return an empty tree
-- silently, so an optimizer would train nothing
function T.qa_dot_instead_of_colon()
   local m = nn.Linear(2, 2)
   h.assert_error(function() local p = m.parameters() return p end,
                  "[Module:parameters] call it with a colon: m:parameters(...) (self was nil)")
   h.assert_error(function() local p = m.state_dict() return p end, "[Module:state_dict]")
   h.assert_error(function() m.save_weights("x.safetensors") end, "(self was string)")
   h.assert_error(function() nn.Linear:parameters() end, "[Module:parameters]")
   h.assert_eq(#m:named_parameters(), 2)
end

function T.qa_bad_values()
   local err = h.assert_error
   err(function() nn.Dropout(0 / 0) end, "[Dropout] p must be a number in [0, 1]")
   err(function() nn.Linear(2, 2):astype("int32") end,
       "[Linear:astype] dtype must be a floating type")
   err(function() nn.Linear(2, 2):astype("foo") end, "[Linear:astype]")
   err(function() nn.Linear(1, 1):apply(5) end, "[Linear:apply] argument 1 must be a function")
   err(function() nn.Linear(1, 1):train("yes") end, "[Linear:train] mode must be a boolean")
   err(function() nn.Linear(1, 1):named_parameters(5) end,
       "[named_parameters] options must be a table {recurse=true} or a boolean, got number")
   err(function() nn.Linear(1, 1):named_parameters({recursive = false}) end,
       "[named_parameters] unknown option 'recursive'")
   -- update checks shapes, and applies nothing when any entry is wrong
   local m = nn.Linear(3, 2)
   local w = m.weight
   err(function() m:update({weight = ty.ones{5, 5}}) end,
       "[update] 'weight' has shape (2,3), got (5,5)")
   err(function() m:update({bias = ty.ones{2}, wieght = ty.ones{2, 3}}) end, "no parameter 'wieght'")
   assert(rawequal(m.weight, w))
   -- zero-size layers as PyTorch (no infinite init bounds)
   local y = nn.Linear(0, 4)(ty.zeros{2, 0})
   h.assert_close(y, ty.zeros{2, 4} + nn.Linear(0, 4).bias * 0)
   h.assert_shape(nn.Linear(4, 0)(ty.zeros{2, 4}), {2, 0})
end

function T.qa_load_weights_messages()
   local dir = os.tmpname()
   os.remove(dir)
   local m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
   -- a torch-named file (0-based positions) without from='torch' gets a hint
   ty.save(dir .. ".npz", {["0.weight"] = ty.ones{3, 2}, ["0.bias"] = ty.ones{3},
                           ["2.weight"] = ty.ones{1, 3}, ["2.bias"] = ty.ones{1}})
   h.assert_error(function() m:load_weights(dir .. ".npz") end, "pass {from='torch'}")
   m:load_weights(dir .. ".npz", {from = "torch"})
   h.assert_close(m[3].weight, {{1, 1, 1}})
   os.remove(dir .. ".npz")
   h.assert_error(function() m:load_weights("/nonexistent/x.npz") end,
                  "[load_weights] [load] /nonexistent/x.npz: cannot open")
   h.assert_error(function() m:save_weights("/nonexistent/dir/x.safetensors") end,
                  "[save_weights] [save] /nonexistent/dir/x.safetensors")
end

-- a back reference (child.parent = self) used to make tostring recurse
-- until the process ran out of memory
function T.qa_tostring_with_a_back_reference()
   local C = nn.Module:extend("QACycle")
   function C:init() self.child = nn.Linear(2, 2); self.child.parent = self end
   function C:forward(x) return self.child(x) end
   local c = C()
   h.assert_eq(tostring(c), "QACycle(\n  (child): Linear(in_features=2, out_features=2, bias=true\n" ..
                            "    (parent): <cycle: QACycle>\n  )\n)")
   h.assert_eq(#c:named_parameters(), 2)
   -- a shared (not cyclic) module still prints in full at each place
   local shared = nn.Linear(1, 1)
   assert(not tostring(nn.Sequential(shared, shared)):find("cycle"))
end

return T
