-- tycho.init -- runs when tycho loads, with the `ty` table as its argument:
-- attaches the parts of the API written in Lua, with their docs (ty.__doc).
local ty = ...

local function document(fn, doc)
   ty.__doc[fn] = doc
end

-- ty.tree: nested tables of arrays
local tree = require "tycho.tree"
local tree_api = {}
for name, fn in pairs(tree) do
   if type(fn) == "function" then tree_api[name] = fn end
end
for fn, doc in pairs(tree.docs) do document(fn, doc) end
tree_api.__doc = tree.__doc
ty.tree = tree_api

-- autograd transforms (ty.stop_gradient comes from lua/grad.c)
local autograd = require "tycho.autograd"
for name, doc in pairs(autograd.docs) do
   ty[name] = autograd[name]
   document(autograd[name], doc)
end

-- checkpoints: ty.save_checkpoint, ty.load_checkpoint
local checkpoint = require "tycho.checkpoint"
for name, doc in pairs(checkpoint.docs) do
   ty[name] = checkpoint[name]
   document(checkpoint[name], doc)
end

-- ty.data: datasets, DataLoader, Fashion-MNIST, text (the C part, lua/data.c,
-- made the table and its image transforms)
require "tycho.data"

-- the model-building kit and the tools around it; each module sets ty.<name>
-- (ty.nn, ty.optim, ty.losses, ty.metrics, ty.train, ty.summary, ty.plot,
-- ty.dot) and documents its functions in ty.__doc
for _, name in ipairs{"nn", "nn_layers", "optim", "losses", "metrics", "train", "summary", "plot", "dot"} do
   require("tycho." .. name)
end
