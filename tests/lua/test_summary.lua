-- test_summary.lua -- ty.summary: parameter counts and mult-adds of known
-- models against hand-computed numbers, the table's layout, depth folding,
-- trainable counts, and the 7-billion-parameter configuration summarised
-- lazily (fast, nothing allocated).
local ty = require "tycho"
local nn = ty.nn

local T = {}

local function eq(got, want, what)
   if got ~= want then
      error(string.format("%s: got %s, expected %s", what, tostring(got), tostring(want)), 2)
   end
end

local function row(res, name)
   for _, r in ipairs(res.rows) do
      if r.name == name then return r end
   end
   error("no row " .. name)
end

-- LeNet-5 (conv1 padded to keep 28x28, as the usual MNIST version)
local function lenet()
   local LeNet = nn.Module:extend("LeNet5")
   function LeNet:init()
      self.features = nn.Sequential(nn.Conv2d(1, 6, 5, {padding = 2}), nn.Tanh(),
                                    nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                                    nn.AvgPool2d(2))
      self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.Tanh(),
                                      nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))
   end
   function LeNet:forward(x) return self.classifier(self.features(x)) end
   return LeNet()
end

T.lenet5_params_and_mult_adds = function()
   local res = ty.summary(lenet(), {1, 1, 28, 28}, {print = false})
   -- conv1: 6*1*5*5 + 6 = 156 params; output (1,6,28,28): 156 * 28*28 = 122,304
   -- conv2: 16*6*5*5 + 16 = 2,416; output (1,16,10,10): 2,416 * 100 = 241,600
   -- fc1: 400*120 + 120 = 48,120 (x batch 1); fc2: 120*84 + 84 = 10,164; fc3: 84*10 + 10 = 850
   local params = 156 + 2416 + 48120 + 10164 + 850
   eq(params, 61706, "hand sum")
   eq(res.total_params, 61706, "total params")
   eq(res.trainable_params, 61706, "trainable")
   eq(res.non_trainable_params, 0, "non-trainable")
   eq(res.total_mult_adds, 122304 + 241600 + 48120 + 10164 + 850, "mult-adds")
   eq(row(res, "features.1").mult_adds, 122304, "conv1 mult-adds")
   eq(row(res, "features.4").params, 2416, "conv2 params")
   eq(table.concat(row(res, "features.4").output_shape, "x"), "1x16x10x10", "conv2 shape")
   eq(table.concat(row(res, "classifier.1").output_shape, "x"), "1x400", "flatten shape")
   -- batch 2 doubles the mult-adds, not the parameters
   local res2 = ty.summary(lenet(), {2, 1, 28, 28}, {print = false})
   eq(res2.total_mult_adds, 2 * 423038, "batch 2 mult-adds")
   eq(res2.total_params, 61706, "batch 2 params")
   -- sizes: params 61,706 float32 = 246,824 bytes
   assert(math.abs(res.params_size_mb - 0.246824) < 1e-9, res.params_size_mb)
   assert(math.abs(res.input_size_mb - 784 * 4 / 1e6) < 1e-12)
end

T.small_cnn_with_frozen_layer = function()
   local m = nn.Sequential(
      nn.Conv2d(3, 16, 3, {padding = 1}), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
      nn.Conv2d(16, 32, 3, {padding = 1, bias = false}), nn.ReLU(),
      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
   m:freeze{"1.*"}
   local res = ty.summary(m, {4, 3, 32, 32}, {print = false,
                          columns = {"input_shape", "output_shape", "params", "mult_adds",
                                     "trainable"}})
   -- conv1: 16*3*3*3 + 16 = 448 params, output (4,16,32,32): 448 * 4*32*32 = 1,835,008
   -- bn: weight and bias 2*16 = 32 params (running stats are buffers); not counted as
   --     mult-adds (normalisation is elementwise work)
   -- conv2: 32*16*3*3 = 4,608 params (no bias), output (4,32,16,16): 4,608 * 4*16*16 = 4,718,592
   -- fc: 32*10 + 10 = 330 params, x batch 4 = 1,320
   eq(res.total_params, 448 + 32 + 4608 + 330, "total params")
   eq(res.non_trainable_params, 448, "frozen conv1")
   eq(res.trainable_params, 32 + 4608 + 330, "trainable")
   eq(res.total_mult_adds, 1835008 + 4718592 + 1320, "mult-adds")
   eq(row(res, "1").trainable, "False", "conv1 trainable column")
   eq(row(res, "5").trainable, "True", "conv2 trainable column")
   eq(row(res, "").trainable, "Partial", "root trainable column")
   eq(table.concat(row(res, "7").output_shape, "x"), "4x32x1x1", "pool shape")
   assert(res.text:find("Trainable", 1, true), "trainable column header")
   assert(res.text:find("Non%-trainable params: 448"), res.text)
end

T.transformer_block = function()
   local blk = nn.TransformerEncoderLayer(64, 4, {dim_feedforward = 256, dropout = 0})
   local res = ty.summary(blk, {2, 10, 64}, {print = false})
   -- attention projections q, k, v, out: 4 x (64*64 + 64) = 16,640 params;
   --   each applied to 2*10 rows: 20 * 4,160 = 83,200 mult-adds, x4 = 332,800
   -- attention itself: QK^T and AV, 2 * N*H*L*S*head_dim = 2 * 2*4*10*10*16 = 25,600
   -- linear1 64->256: 16,640 params, 20 * 16,640 = 332,800
   -- linear2 256->64: 16,448 params, 20 * 16,448 = 328,960
   -- two LayerNorms: 2 * (64 + 64) = 256 params
   eq(res.total_params, 16640 + 16640 + 16448 + 256, "params")
   eq(res.total_mult_adds, 332800 + 25600 + 332800 + 328960, "mult-adds")
   local attn = res.rows[2]
   eq(attn.type, "MultiHeadAttention", "row 2 type")
   eq(attn.own_mult_adds, 25600, "attention's own mult-adds")
   eq(attn.mult_adds, 25600 + 332800, "attention subtree mult-adds")
   eq(table.concat(res.rows[1].output_shape, "x"), "2x10x64", "output shape")
end

T.depth_folds_rows_and_text_layout = function()
   local res = ty.summary(lenet(), {1, 1, 28, 28}, {print = false, depth = 1})
   local lines = {}
   for l in res.text:gmatch("[^\n]+") do lines[#lines + 1] = l end
   assert(lines[2]:find("^Layer %(type:depth%-idx%)"), lines[2])
   assert(lines[2]:find("Input Shape") and lines[2]:find("Output Shape") and
          lines[2]:find("Param #") and lines[2]:find("Mult%-Adds"), lines[2])
   assert(res.text:find("├─Sequential: 1%-1"), res.text)
   assert(res.text:find("└─Sequential: 1%-2"), res.text)
   assert(not res.text:find("Conv2d"), "depth 1 hides the convolutions")
   -- the folded row shows its subtree's parameters: 156 + 2,416
   assert(res.text:find("2,572", 1, true), res.text)
   assert(res.text:find("Total mult%-adds %(M%): 0%.42"), res.text)
   for _, k in ipairs{"Input size %(MB%)", "Forward/backward pass size %(MB%)",
                      "Params size %(MB%)", "Estimated Total Size %(MB%)"} do
      assert(res.text:find(k), k)
   end
   local full = ty.summary(lenet(), {1, 1, 28, 28}, {print = false})
   assert(full.text:find("│   ├─Conv2d: 2%-1"), full.text)
   -- the method form, and tostring of the result
   local m = lenet()
   local r = m:summary({1, 1, 28, 28}, {print = false})
   eq(r.total_params, 61706, "method form")
   assert(tostring(r):find("61,706 params"), tostring(r))
end

T.example_input_and_errors = function()
   local m = nn.Sequential(nn.Embedding(100, 8), nn.Linear(8, 4))
   local res = ty.summary(m, ty.zeros({2, 5}, "int32"), {print = false})
   -- embedding 800 params, linear 36; the linear runs on 2*5 rows: 10 * 36 = 360
   eq(res.total_params, 836, "params")
   eq(res.total_mult_adds, 360, "mult-adds")
   local res2 = ty.summary(m, {2, 5}, {print = false, dtypes = {"int32"}})
   eq(res2.total_mult_adds, 360, "dtypes")
   local res3 = ty.summary(nn.Linear(3, 2), {3}, {print = false, batch_dim = 1})
   eq(table.concat(res3.rows[1].input_shape, "x"), "1x3", "batch_dim")
   local ok, err = pcall(ty.summary, {}, {1, 3})
   assert(not ok and err:find("%[summary%] argument 1 must be a model"), err)
   ok, err = pcall(ty.summary, nn.Linear(3, 2), {1, 4})
   assert(not ok and err:find("forward pass failed"), err)
   ok, err = pcall(ty.summary, nn.Linear(3, 2), nil, {columns = {"mult_adds"}, print = false})
   assert(not ok and err:find("needs an input"), err)
   ok, err = pcall(ty.summary, nn.Linear(3, 2), {1, 3}, {colums = {}})
   assert(not ok and err:find("unknown option 'colums'"), err)
end

T.seven_billion_lazy_and_fast = function()
   local LM = nn.Module:extend("LM")
   function LM:init(V, D, H, F, L)
      self.embed = nn.Embedding(V, D)
      self.layers = {}
      for i = 1, L do
         self.layers[i] = nn.TransformerEncoderLayer(D, H, {dim_feedforward = F, dropout = 0,
                                                            norm_first = true})
      end
      self.norm = nn.LayerNorm(D)
      self.head = nn.Linear(D, V, {bias = false})
   end
   function LM:forward(ids)
      local x = self.embed(ids)
      for _, l in ipairs(self.layers) do x = l(x) end
      return self.head(self.norm(x))
   end
   collectgarbage()
   ty.reset_peak_memory()
   local before = ty.memory()
   local t0 = ty.time()
   local m = LM(32000, 4096, 32, 16384, 32)
   local res = ty.summary(m, {1, 64}, {dtypes = {"int32"}, print = false})
   local dt = ty.time() - t0
   local after = ty.memory()
   -- embedding 32000*4096 = 131,072,000; per layer: attention 4*(4096^2 + 4096) =
   -- 67,125,248, linear1 4096*16384 + 16384 = 67,125,248, linear2 16384*4096 + 4096 =
   -- 67,112,960, two norms 4*4096 = 16,384 -> 201,379,840; x32 = 6,444,154,880;
   -- final norm 8,192; head 4096*32000 = 131,072,000
   eq(res.total_params, 131072000 + 32 * 201379840 + 8192 + 131072000, "7B params")
   eq(res.total_params, 6706307072, "7B params (sum)")
   -- 4 bytes each: 26.8 GB of parameters, never allocated
   assert(res.params_size_mb > 26000, res.params_size_mb)
   -- (under valgrind, `make check-memory`, everything is ~50x slower)
   local limit = (os.getenv("LD_PRELOAD") or ""):find("vgpreload") and 60 or 1.0
   assert(dt < limit, "summary of the 7B configuration took " .. dt .. " s")
   eq(after.peak, before.peak, "peak memory")
   eq(after.active, before.active, "active memory")
end

-- QA: torchinfo's depth-idx (a running count per depth: the second block's
-- layers are 3-6.., not 3-1.. again) and its forward/backward size (2 x the
-- outputs of the leaf layers with parameters), on torchinfo's README net
T.torchinfo_depth_idx_and_sizes = function()
   local Block = nn.Module:extend("QABlock")
   function Block:init(c)
      self.conv = nn.Conv2d(c, c, 3, {padding = 1})
      self.act = nn.ReLU()
   end
   function Block:forward(x) return self.act(self.conv(x)) end
   local m = nn.Sequential(nn.Sequential(Block(2), Block(2)))
   local res = ty.summary(m, {1, 2, 8, 8}, {print = false})
   local labels = {}
   for _, r in ipairs(res.rows) do labels[#labels + 1] = r.depth .. "-" .. r.idx end
   eq(table.concat(labels, " "), "0-1 1-1 2-1 3-1 3-2 2-2 3-3 3-4", "depth-idx")
   assert(res.text:find("Conv2d: 3%-3"), res.text)
   -- torchinfo's README SingleInputNet: 0.40 MB forward/backward (the Dropout2d
   -- output is not counted), 3.41 M mult-adds
   local Net = nn.Module:extend("SingleInputNet")
   function Net:init()
      self.conv1 = nn.Conv2d(1, 10, 5)
      self.conv2 = nn.Conv2d(10, 20, 5)
      self.conv2_drop = nn.Dropout2d()
      self.fc1 = nn.Linear(320, 50)
      self.fc2 = nn.Linear(50, 10)
   end
   function Net:forward(x)
      x = ty.relu(ty.max_pool2d(self.conv1(x), 2))
      x = ty.relu(ty.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
      x = ty.relu(self.fc1(x:reshape(-1, 320)))
      return self.fc2(x)
   end
   res = ty.summary(Net(), {7, 1, 28, 28}, {print = false})
   eq(res.total_params, 21840, "params")
   eq(res.total_mult_adds, 1048320 + 2248960 + 112350 + 3570, "mult-adds")
   -- (40320 + 8960 + 350 + 70) floats x 4 bytes x 2
   eq(math.floor(res.forward_backward_mb * 1e6 + 0.5), 397600, "forward/backward bytes")
   assert(res.text:find("Forward/backward pass size %(MB%): 0%.40"), res.text)
   -- RNNs as torchinfo: N x L x (all weights and biases)
   res = ty.summary(nn.LSTM(32, 64, {num_layers = 2}), {4, 12, 32}, {print = false})
   eq(res.total_params, 25088 + 33280, "LSTM params")
   eq(res.total_mult_adds, 4 * 12 * (25088 + 33280), "LSTM mult-adds")
   -- a failing forward: the layer's message, without positions in summary.lua
   local ok, err = pcall(ty.summary, nn.Linear(3, 2), {1, 4})
   assert(not ok and err:find("%[Linear%]") and not err:find("summary%.lua"), err)
end

-- QA: a shared layer's second row shows its second call's shapes; dict
-- outputs are shown by key; an ids model without dtypes gets a hint
T.shared_layers_dict_outputs_and_ids_hint = function()
   local l = nn.Linear(8, 8)
   local m = nn.Sequential(l, nn.ReLU(), l, nn.Linear(8, 2))
   local res = ty.summary(m, {3, 8}, {print = false})
   local r3 = res.rows[4]
   eq(r3.recursive, true, "row 1-3 is the shared layer")
   eq(table.concat(r3.output_shape, "x"), "3x8", "shared layer's output shape")
   assert(res.text:find("Linear: 1%-3 +%[3, 8%] +%[3, 8%] +%(recursive%)"), res.text)
   eq(res.total_params, 90, "shared params counted once")
   eq(res.total_mult_adds, 2 * 3 * 72 + 3 * 18, "both calls' mult-adds")
   local D = nn.Module:extend("QADictOut")
   function D:init() self.a = nn.Linear(4, 3); self.b = nn.Linear(4, 5) end
   function D:forward(x) return {logits = self.a(x), aux = self.b(x)} end
   res = ty.summary(D(), {2, 4}, {print = false})
   assert(res.text:find("aux: %[2, 5%], logits: %[2, 3%]"), res.text)
   eq(table.concat(res.rows[1].output_shape, "x"), "2x5", "first output by key")
   local ok, err = pcall(ty.summary, nn.Embedding(10, 4), {2, 6})
   assert(not ok and err:find("dtypes={'int32'}", 1, true), err)
   -- one dtype name applies to every input (tycho summary --dtype int32)
   local Four = nn.Module:extend("QAFourIds")
   function Four:init() self.e = nn.Embedding(10, 4) end
   function Four:forward(a, b, c, d) return self.e(a) + self.e(b) + self.e(c) + self.e(d) end
   res = ty.summary(Four(), {{2, 3}, {2, 3}, {2, 3}, {2, 3}}, {dtypes = "int32", print = false})
   eq(table.concat(res.rows[1].output_shape, "x"), "2x3x4", "four int32 inputs")
end

-- QA: as torchinfo's summary(model), no input gives the layers and their
-- parameters (and options may come second)
T.summary_without_input = function()
   local m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 2)))
   local res = m:summary(nil, {print = false})
   eq(res.total_params, 58, "params")
   assert(res.text:find("Layer %(type:depth%-idx%) +Param #\n") and
          res.text:find("Linear: 2%-1 +18") and not res.text:find("Mult%-Adds"), res.text)
   eq(tostring(res), "summary of Sequential: 58 params (58 trainable)", "tostring")
   res = ty.summary(m, {depth = 1, print = false})
   assert(res.text:find("Sequential: 1%-3 +18") and not res.text:find("2%-1"), res.text)
end

return T
