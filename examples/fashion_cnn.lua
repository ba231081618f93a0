-- fashion_cnn.lua -- a small convolutional network on Fashion-MNIST:
--   Conv2d(1,32,3,pad 1)-ReLU-MaxPool2d(2)-Conv2d(32,64,3,pad 1)-ReLU-MaxPool2d(2)
--   -Flatten-Dropout-Linear(3136,128)-ReLU-Linear(128,10)
-- trained by ty.train.fit with AdamW (batch 128) and a one-cycle learning-rate
-- schedule, with validation on the test set each epoch, the model summary, a
-- plot of the curves and a checkpoint. --augment adds random crops (2-pixel
-- padding) and left-right flips, drawn per sample by the DataLoader's transform;
-- they pay off only in longer runs (3 epochs: test accuracy 0.8957 with them,
-- 0.9062 without, both measured here).
--
--   tycho examples/fashion_cnn.lua [--epochs N] [--quick] [--lr X] [--augment]
--                                  [--out DIR]
--
-- --quick trains one epoch on a 5,000-image slice and tests on 2,000 images
-- (what the tests run). Writes fashion_cnn_curves.png, fashion_cnn.safetensors
-- and fashion_cnn_history.json under --out (default: the current directory).
--
-- Measured on a 2-core machine with the CPU backend (seeded: every run gives
-- the same numbers): the default 4 epochs take 241 s (about 60 s an epoch) and
-- end with test accuracy 0.9129 (loss 0.2360); 3 epochs give 0.9062 in 173 s.
local ty = require "tycho"
local nn = ty.nn

local USAGE = "usage: tycho examples/fashion_cnn.lua [--epochs N] [--quick] [--lr X] " ..
   "[--augment] [--out DIR]"
local function usage_error(msg)
   io.stderr:write("fashion_cnn: ", msg, "\n", USAGE, "\n")
   os.exit(2)
end

local epochs, quick, lr, augment, out = 4, false, 3e-3, false, "."
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
   elseif a == "--augment" then augment = true
   elseif a == "--out" then out = value(a)
   elseif a == "-h" or a == "--help" then print(USAGE) os.exit(0)
   else usage_error("unknown option " .. a) end
   i = i + 1
end
do -- the output directory must be writable before the epochs are spent
   local probe = out .. "/.fashion_cnn_probe"
   local f = io.open(probe, "wb")
   if not f then usage_error("--out " .. out .. ": not a writable directory") end
   f:close()
   os.remove(probe)
end

local t0 = ty.time()
ty.random.seed(0)

-- Fashion-MNIST (Debian's dataset-fashion-mnist): images (N,1,28,28) in [0,1],
-- labels 1..10.
local train = ty.data.fashion_mnist{split = "train", normalize = true}
local test = ty.data.fashion_mnist{split = "test", normalize = true}
local xtrain, ytrain, xtest, ytest = train.images, train.labels, test.images, test.labels
if quick then
   xtrain, ytrain = xtrain[{{1, 5000}}], ytrain[{{1, 5000}}]
   xtest, ytest = xtest[{{1, 2000}}], ytest[{{1, 2000}}]
end
ty.eval(xtrain, ytrain, xtest, ytest)
print(string.format("Fashion-MNIST: %d training and %d test images (device %s)%s",
                    #xtrain, #xtest, ty.default_device(),
                    augment and ", random crops and flips" or ""))

local model = nn.Sequential(
   nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),   -- 32x14x14
   nn.Conv2d(32, 64, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),  -- 64x7x7
   nn.Flatten(), nn.Dropout(0.25),
   nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
   nn.Linear(128, 10))
model:summary({128, 1, 28, 28})

-- --augment: the transform gets each batch and a key of its own (deterministic
-- per seed, epoch and batch): a random 28x28 crop of the image padded by 2
-- pixels, then a left-right flip with probability 1/2 (clothes look the same
-- mirrored)
local transform
if augment then
   transform = function(x, y, key)
      local k1, k2 = table.unpack(ty.random.split(key))
      x = ty.data.random_crop(x, 28, {padding = 2, key = k1})
      x = ty.data.random_flip(x, {key = k2})
      return x, y
   end
end
local loader = ty.data.DataLoader{ty.data.TensorDataset(xtrain, ytrain), batch_size = 128,
                                  shuffle = true, seed = 0, transform = transform}
local steps = #loader * epochs
-- AdamW with a one-cycle schedule: a warm-up to lr over the first 30% of the
-- steps, then a cosine decay to lr/25e4
local opt = ty.optim.AdamW{lr = ty.optim.schedules.one_cycle(lr, steps), weight_decay = 1e-4}

local curves = out .. "/fashion_cnn_curves.png"
local checkpoint = out .. "/fashion_cnn.safetensors"
local history = ty.train.fit{
   model = model, loss = "cross_entropy", optimizer = opt,
   data = loader, val_data = {xtest, ytest}, batch_size = 1000,
   epochs = epochs, metrics = {"accuracy"},
   callbacks = {
      ty.train.callbacks.ModelCheckpoint{path = checkpoint},
      ty.train.callbacks.PlotCurves{path = curves},
   },
}
history:save(out .. "/fashion_cnn_history.json")

local result = ty.train.evaluate{model = model, data = {xtest, ytest}, batch_size = 1000,
                                 loss = "cross_entropy", metrics = {"accuracy"}, verbose = 0}
print(string.format("test accuracy %.4f (loss %.4f) after %d epoch%s, %.1f s in all",
                    result.accuracy, result.loss, #history.epochs,
                    #history.epochs == 1 and "" or "s", ty.time() - t0))
print("curves: " .. curves .. "   checkpoint: " .. checkpoint)
return history, result
