-- fashion_mlp.lua -- the main job: an MLP 784-512-256-10 with ReLU on
-- Fashion-MNIST, trained with Adam (batch 128) by ty.train.fit, with the model
-- summary, a progress bar, validation on the test set each epoch, a plot of the
-- curves and a checkpoint.
--
--   tycho examples/fashion_mlp.lua [--epochs N] [--quick] [--lr X] [--dropout P]
--                                  [--out DIR]
--
-- --quick trains one epoch on a 10,000-image slice (what CI runs).
local ty = require "tycho"
local nn = ty.nn

local USAGE = "usage: tycho examples/fashion_mlp.lua [--epochs N] [--quick] [--lr X] " ..
   "[--dropout P] [--out DIR]"
-- a mistake on the command line: the message and the usage, exit status 2
local function usage_error(msg)
   io.stderr:write("fashion_mlp: ", msg, "\n", USAGE, "\n")
   os.exit(2)
end

local epochs, quick, lr, dropout, out = 10, false, 1e-3, 0.2, "."
local i = 1
local function value(name)
   local v = arg[i + 1]
   if v == nil then usage_error("option " .. name .. " needs a value") end
   i = i + 1
   return v
end
while arg and arg[i] do
   local a = arg[i]
   if a == "--epochs" then
      epochs = math.tointeger(tonumber(value(a)))
      if not epochs or epochs < 1 then usage_error("--epochs needs a positive integer") end
   elseif a == "--quick" then quick = true; epochs = 1
   elseif a == "--lr" then
      lr = tonumber(value(a))
      if not lr or lr <= 0 then usage_error("--lr needs a positive number") end
   elseif a == "--dropout" then
      dropout = tonumber(value(a))
      if not dropout or dropout < 0 or dropout >= 1 then
         usage_error("--dropout needs a number in [0, 1)")
      end
   elseif a == "--out" then out = value(a)
   elseif a == "-h" or a == "--help" then print(USAGE) os.exit(0)
   else usage_error("unknown option " .. a) end
   i = i + 1
end
-- the output directory must be writable before ten epochs are spent
do
   local probe = out .. "/.fashion_mlp_probe"
   local f = io.open(probe, "wb")
   if not f then usage_error("--out " .. out .. ": not a writable directory") end
   f:close()
   os.remove(probe)
end

local t0 = ty.time()
ty.random.seed(0)

-- Fashion-MNIST (Debian's dataset-fashion-mnist): images (N,1,28,28) in [0,1],
-- labels 1..10, flattened to rows of 784.
local train = ty.data.fashion_mnist{split = "train", normalize = true}
local test = ty.data.fashion_mnist{split = "test", normalize = true}
local xtrain, ytrain = train.images:reshape(#train, 784), train.labels
local xtest, ytest = test.images:reshape(#test, 784), test.labels
if quick then
   xtrain, ytrain = xtrain[{{1, 10000}}], ytrain[{{1, 10000}}]
end
ty.eval(xtrain, ytrain, xtest, ytest)
print(string.format("Fashion-MNIST: %d training and %d test images (device %s)",
                    #xtrain, #xtest, ty.default_device()))

local model = nn.Sequential(
   nn.Linear(784, 512), nn.ReLU(), nn.Dropout(dropout),
   nn.Linear(512, 256), nn.ReLU(), nn.Dropout(dropout),
   nn.Linear(256, 10))
model:summary({128, 784})

local loader = ty.data.DataLoader{ty.data.TensorDataset(xtrain, ytrain), batch_size = 128,
                                  shuffle = true, seed = 0}
local steps = #loader * epochs
-- Adam with a cosine decay of the learning rate over the run
local opt = ty.optim.Adam{lr = ty.optim.schedules.cosine_decay(lr, steps, {end_value = lr * 0.05})}

local curves = out .. "/fashion_mlp_curves.png"
local checkpoint = out .. "/fashion_mlp.safetensors"
local history = ty.train.fit{
   model = model, loss = "cross_entropy", optimizer = opt,
   data = loader, val_data = {xtest, ytest}, batch_size = 1000,
   epochs = epochs, metrics = {"accuracy"},
   callbacks = {
      ty.train.callbacks.ModelCheckpoint{path = checkpoint},
      ty.train.callbacks.PlotCurves{path = curves},
   },
}
history:save(out .. "/fashion_mlp_history.json")

local result = ty.train.evaluate{model = model, data = {xtest, ytest}, batch_size = 1000,
                                 loss = "cross_entropy", metrics = {"accuracy"}, verbose = 0}
print(string.format("test accuracy %.4f (loss %.4f) after %d epoch%s, %.1f s in all",
                    result.accuracy, result.loss, #history.epochs,
                    #history.epochs == 1 and "" or "s", ty.time() - t0))
print("curves: " .. curves .. "   checkpoint: " .. checkpoint)
return history, result
