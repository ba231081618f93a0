-- fashion_softmax.lua -- a two-layer network on Fashion-MNIST, trained with
-- hand-written gradients on tycho's lazy arrays (the autograd, nn and training
-- loop modules build on the same ops).
--
--   tycho examples/fashion_softmax.lua [--epochs N] [--quick]
local ty = require "tycho"

local epochs, quick = 10, false
local i = 1
while arg and arg[i] do
   if arg[i] == "--epochs" then epochs = tonumber(arg[i + 1]); i = i + 1
   elseif arg[i] == "--quick" then quick = true; epochs = 1
   else error("unknown option " .. arg[i] .. " (expected --epochs N or --quick)") end
   i = i + 1
end

-- Fashion-MNIST from Debian's dataset-fashion-mnist: images (N,1,28,28) float32 in
-- [0,1], labels int32 in 1..10; flattened to (N,784) rows for the network.
local function load(split)
   local ds = ty.data.fashion_mnist{split = split, normalize = true}
   local n = #ds
   return ds.images:reshape(n, 784):eval(), ds.labels
end

local t0 = ty.time()
local xtrain, ytrain = load("train")
local xtest, ytest = load("test")
if quick then
   xtrain, ytrain = xtrain[{{1, 10000}}], ytrain[{{1, 10000}}]
end
print(string.format("Fashion-MNIST: %d training and %d test images (%s)",
                    #xtrain, #xtest, ty.default_device()))

-- Parameters, initialised as PyTorch's Linear does (uniform +-1/sqrt(fan_in)).
ty.random.seed(0)
local function linear(fan_in, fan_out)
   local bound = 1 / math.sqrt(fan_in)
   local w = ty.random.uniform({fan_out, fan_in}, {low = -bound, high = bound})
   local b = ty.random.uniform({fan_out}, {low = -bound, high = bound})
   return w:eval(), b:eval()
end
local hidden = 256
local w1, b1 = linear(784, hidden)
local w2, b2 = linear(hidden, 10)
local state = {}
for _, name in ipairs{"w1", "b1", "w2", "b2"} do state[name] = 0 end

local function forward(x)
   local h = ty.relu(x:matmul(w1.T) + b1)
   return h, h:matmul(w2.T) + b2
end

-- One SGD step with momentum; returns the loss and the correct count (lazy).
local lr, momentum = 0.05, 0.9
local function step(x, y)
   local n = #x
   local h, logits = forward(x)
   local logp = ty.log_softmax(logits, -1)
   local target = ty.one_hot(y, 10)
   local loss = -(logp * target):sum() / n
   local correct = logits:argmax(-1):eq(y):sum()
   -- backward pass, by hand: d loss / d logits = (softmax - onehot) / n
   local dlogits = (ty.exp(logp) - target) / n
   local grads = {
      w2 = dlogits.T:matmul(h), b2 = dlogits:sum(1),
   }
   local dh = dlogits:matmul(w2) * h:gt(0)
   grads.w1 = dh.T:matmul(x)
   grads.b1 = dh:sum(1)
   local params = {w1 = w1, b1 = b1, w2 = w2, b2 = b2}
   for name, g in pairs(grads) do
      state[name] = state[name] * momentum + g
      params[name] = params[name] - lr * state[name]
   end
   w1, b1, w2, b2 = params.w1, params.b1, params.w2, params.b2
   -- one evaluation runs forward, backward and update together
   ty.eval(loss, correct, w1, b1, w2, b2, state)
   return loss:item(), correct:item()
end

local function accuracy(x, y)
   local _, logits = forward(x)
   return logits:argmax(-1):eq(y):mean():item()
end

local batch = 128
local loader = ty.data.DataLoader{ty.data.TensorDataset(xtrain, ytrain), batch_size = batch,
                                  shuffle = true, seed = 0}
local tty = ty.isatty()
for epoch = 1, epochs do
   local start = ty.time()
   local total, correct, seen, steps, s = 0, 0, 0, #loader, 0
   for x, y in loader:iter() do                  -- a new shuffle each epoch
      s = s + 1
      local m = #x
      local loss, c = step(x, y)
      total, correct, seen = total + loss * m, correct + c, seen + m
      if tty and (s % 20 == 0 or s == steps) then
         io.write(string.format("\repoch %d/%d  %d/%d  loss %.4f  acc %.4f", epoch, epochs,
                                s, steps, total / seen, correct / seen))
         io.flush()
      end
   end
   if tty then io.write("\r\27[K") end
   print(string.format("epoch %d/%d  loss %.4f  train acc %.4f  test acc %.4f  (%.1f s)",
                       epoch, epochs, total / seen, correct / seen,
                       accuracy(xtest, ytest), ty.time() - start))
end
print(string.format("test accuracy %.4f after %d epoch%s (%.1f s in all)",
                    accuracy(xtest, ytest), epochs, epochs == 1 and "" or "s",
                    ty.time() - t0))
