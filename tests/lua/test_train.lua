-- test_train.lua -- ty.train: fit on a slice of Fashion-MNIST, evaluate,
-- predict, the callbacks (EarlyStopping, ModelCheckpoint and resume,
-- ReduceLROnPlateau, CSVLogger, JSONLogger, TerminateOnNaN, hooks), History
-- save/load/plot, Ctrl-C, and the progress bar through a pipe and through a
-- pseudo-terminal.
local ty = require "tycho"
local nn = ty.nn
local train = ty.train
local cb = ty.train.callbacks

local T = {}

local helpers = require "helpers"
local tmpname, read, write = helpers.tmpname, helpers.read_bytes, helpers.write_bytes
local sh = helpers.run   -- a shell command's stdout and exit status

-- A small random classification problem (fixed seed).
local function toy(n, d, classes, seed)
   local key = ty.random.key(seed or 1)
   local ks = ty.random.split(key, 2)
   local x = ty.random.normal({n, d}, {key = ks[1]})
   local w = ty.random.normal({d, classes}, {key = ks[2]})
   local y = (x:matmul(w)):argmax(-1)
   return ty.eval(x), ty.eval(y:astype("int32"))
end

local fashion
local function fashion_slice()
   if not fashion then
      local tr = ty.data.fashion_mnist{split = "train", normalize = true}
      local te = ty.data.fashion_mnist{split = "test", normalize = true}
      fashion = {
         x = ty.eval(tr.images[{{1, 6000}}]:reshape(6000, 784)), y = tr.labels[{{1, 6000}}],
         xv = ty.eval(te.images[{{1, 1000}}]:reshape(1000, 784)), yv = te.labels[{{1, 1000}}],
      }
   end
   return fashion
end

T.fit_fashion_slice_reaches_accuracy = function()
   local d = fashion_slice()
   ty.random.seed(0)
   local model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
   local loader = ty.data.DataLoader{ty.data.TensorDataset(d.x, d.y), batch_size = 64,
                                     shuffle = true, seed = 0}
   local h = train.fit{model = model, loss = "cross_entropy",
                       optimizer = ty.optim.Adam{lr = 2e-3}, data = loader,
                       val_data = {d.xv, d.yv}, batch_size = 500, epochs = 2,
                       metrics = {"accuracy"}, verbose = 0}
   -- 6,000 images, 2 epochs of 94 steps: the held-out accuracy passes 0.78
   assert(#h.epochs == 2, "epochs")
   local acc = h.epoch.val_accuracy[2]
   assert(acc >= 0.78, "val accuracy " .. acc)
   assert(h.epoch.accuracy[2] >= 0.75, "train accuracy " .. h.epoch.accuracy[2])
   assert(h.epoch.loss[2] < h.epoch.loss[1], "loss decreases")
   assert(#h.step.loss == 188 and #h.steps == 188 and h.steps[188] == 188, #h.step.loss)
   assert(h.epoch.lr[1] == 2e-3 and h.epoch.time[1] > 0)
   -- evaluate agrees with the last validation (eval mode, same weights)
   local logs = train.evaluate{model = model, data = {d.xv, d.yv}, loss = "cross_entropy",
                               metrics = {"accuracy"}, verbose = 0}
   assert(math.abs(logs.accuracy - acc) < 1e-6, logs.accuracy .. " vs " .. acc)
   assert(math.abs(logs.loss - h.epoch.val_loss[2]) < 1e-4, logs.loss)
   local pred = train.predict{model = model, data = d.xv, batch_size = 300}
   assert(pred.shape[1] == 1000 and pred.shape[2] == 10, "predict shape")
   local direct = model(d.xv)
   assert((pred - direct):abs():max():item() < 1e-4, "predict matches the model")
   assert(tostring(h):find("^History%(2 epochs: loss"), tostring(h))
end

T.early_stopping_stops_and_restores_best = function()
   local x, y = toy(256, 8, 3)
   -- lr 0: the validation loss never improves, patience 2 stops at epoch 3
   local model = nn.Sequential(nn.Linear(8, 3))
   local es = cb.EarlyStopping{patience = 2}
   local h = train.fit{model = model, loss = "cross_entropy", optimizer = ty.optim.SGD{lr = 0},
                       data = {x, y}, val_data = {x, y}, epochs = 20, callbacks = {es},
                       verbose = 0}
   assert(#h.epochs == 3, "stopped after " .. #h.epochs .. " epochs")
   assert(es.stopped_epoch == 3 and es.best_epoch == 1, tostring(es.stopped_epoch))
   -- a scripted score: best at epoch 2, stop at epoch 4, weights of epoch 2 restored
   local model2 = nn.Sequential(nn.Linear(8, 3))
   local scores = {5, 4, 6, 7, 1}
   local at2
   local inject = {on_epoch_end = function(e, logs, tr)
      logs.score = scores[e]
      if e == 2 then at2 = tr.model[1].weight end
   end}
   local es2 = cb.EarlyStopping{monitor = "score", patience = 2, mode = "min"}
   local h2 = train.fit{model = model2, loss = "cross_entropy",
                        optimizer = ty.optim.SGD{lr = 0.1}, data = {x, y}, epochs = 5,
                        callbacks = {inject, es2}, verbose = 0}
   assert(#h2.epochs == 4 and es2.best_epoch == 2, "epochs " .. #h2.epochs)
   assert((model2[1].weight - at2):abs():max():item() == 0, "best weights restored")
   -- an unknown monitor is a clear error
   local ok, err = pcall(train.fit, {model = nn.Linear(8, 3), loss = "cross_entropy",
                         optimizer = ty.optim.SGD{lr = 0.1}, data = {x, y}, epochs = 1,
                         callbacks = {cb.EarlyStopping{monitor = "val_acc"}}, verbose = 0})
   assert(not ok and err:find("monitored value 'val_acc' is not in the logs"), err)
end

-- The same run twice: straight through 3 epochs, and 2 epochs then resumed
-- from the checkpoint in a fresh model and optimizer.
T.checkpoint_resume_reproduces_losses = function()
   local x, y = toy(384, 12, 4, 7)
   local function setup()
      ty.random.seed(3)
      local model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(0.3),
                                  nn.Linear(32, 4))
      local loader = ty.data.DataLoader{ty.data.TensorDataset(x, y), batch_size = 32,
                                        shuffle = true, seed = 5}
      return model, loader, ty.optim.Adam{lr = 1e-2}
   end
   local pa, pb = tmpname(".safetensors"), tmpname(".safetensors")
   local m1, l1, o1 = setup()
   local ha = train.fit{model = m1, loss = "cross_entropy", optimizer = o1, data = l1,
                        epochs = 3, verbose = 0, callbacks = {cb.ModelCheckpoint{path = pa}}}
   local m2, l2, o2 = setup()
   train.fit{model = m2, loss = "cross_entropy", optimizer = o2, data = l2, epochs = 2,
             verbose = 0, callbacks = {cb.ModelCheckpoint{path = pb}}}
   local m3, l3, o3 = setup()
   ty.random.seed(99)                    -- the checkpoint brings the RNG key back
   local hc = train.fit{model = m3, loss = "cross_entropy", optimizer = o3, data = l3,
                        epochs = 3, verbose = 0, resume = pb}
   assert(#hc.epochs == 3 and hc.epochs[3] == 3, "resumed history has 3 epochs")
   for e = 1, 3 do
      local a, c = ha.epoch.loss[e], hc.epoch.loss[e]
      assert(math.abs(a - c) <= 1e-6 * math.abs(a), string.format("epoch %d: %.9g vs %.9g", e, a, c))
   end
   assert(#hc.step.loss == #ha.step.loss, "per-step history continues")
   for i = 1, #ha.step.loss do
      assert(math.abs(ha.step.loss[i] - hc.step.loss[i]) <= 1e-5, "step " .. i)
   end
   assert((m1[4].weight - m3[4].weight):abs():max():item() < 1e-6, "same final weights")
   -- the checkpoint holds the optimizer state and the epoch
   local ck = ty.load_checkpoint(pa, {restore_rng = false})
   assert(ck.epoch == 3 and ck.optimizer and ck.model, "checkpoint contents")
   os.remove(pa); os.remove(pb)
   -- data given as {x, y}: fit makes the loader (its shuffling key drawn from
   -- the global key); the checkpoint keeps that key, and save_last names
   local function run(epochs, callbacks, resume)
      ty.random.seed(resume and 12345 or 11)   -- a resumed run gets all back from the file
      local model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))
      return train.fit{model = model, loss = "cross_entropy", optimizer = ty.optim.SGD{lr = 0.1,
                       momentum = 0.9}, data = {x, y}, batch_size = 48, epochs = epochs,
                       verbose = 0, callbacks = callbacks, resume = resume}
   end
   local best = tmpname(".safetensors")
   local last = best:gsub("%.safetensors$", ".last.safetensors")
   local full = run(4)
   run(2, {cb.ModelCheckpoint{path = best, monitor = "loss", save_best_only = true,
                              save_last = true}})
   assert(io.open(last) and io.open(best), "best and last files")
   local resumed = run(4, nil, last)
   for e = 1, 4 do
      assert(math.abs(full.epoch.loss[e] - resumed.epoch.loss[e]) <= 1e-6,
             string.format("{x, y} data, epoch %d: %.9g vs %.9g", e, full.epoch.loss[e],
                           resumed.epoch.loss[e]))
   end
   os.remove(best); os.remove(last)
end

T.callbacks_hooks_and_loggers = function()
   local x, y = toy(200, 6, 3, 2)
   local csv, jsonl = tmpname(".csv"), tmpname(".jsonl")
   local counts = {}
   local function count(name) return function() counts[name] = (counts[name] or 0) + 1 end end
   local hooks = {}
   for _, n in ipairs{"on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
                      "on_batch_begin", "on_batch_end"} do hooks[n] = count(n) end
   local bare = 0
   local opt = ty.optim.SGD{lr = 0.1}
   local plateau = {on_epoch_end = function(e, logs) logs.flat = 1 end}
   local rl = cb.ReduceLROnPlateau{monitor = "flat", patience = 1, factor = 0.5}
   local h = train.fit{model = nn.Linear(6, 3), loss = "cross_entropy", optimizer = opt,
                       data = {x, y}, batch_size = 50, val_data = {x, y}, epochs = 3,
                       metrics = {"accuracy"}, verbose = 0,
                       callbacks = {hooks, function() bare = bare + 1 end, plateau, rl,
                                    cb.CSVLogger{path = csv}, cb.JSONLogger{path = jsonl}}}
   assert(counts.on_train_begin == 1 and counts.on_train_end == 1)
   assert(counts.on_epoch_begin == 3 and counts.on_epoch_end == 3 and bare == 3)
   assert(counts.on_batch_begin == 12 and counts.on_batch_end == 12, counts.on_batch_end)
   -- flat at epochs 1, 2, 3: best at 1, reduced after epochs 2 and 3
   assert(math.abs(opt.lr - 0.025) < 1e-12, "lr " .. tostring(opt.lr))
   -- the logged lr is the one the epoch trained with
   assert(h.epoch.lr[1] == 0.1 and h.epoch.lr[2] == 0.1 and math.abs(h.epoch.lr[3] - 0.05) < 1e-12)
   local lines = {}
   for l in read(csv):gmatch("[^\n]+") do lines[#lines + 1] = l end
   assert(#lines == 4, "csv lines")
   assert(lines[1]:find("^epoch,accuracy,") and lines[1]:find("val_loss"), lines[1])
   assert(lines[2]:find("^1,"), lines[2])
   local n = 0
   for l in read(jsonl):gmatch("[^\n]+") do
      n = n + 1
      assert(l:find('"epoch":' .. n) and l:find('"val_accuracy"'), l)
   end
   assert(n == 3, "json lines")
   -- append=true adds rows (no second header); PlotCurves rewrites its image
   local png = tmpname(".png")
   train.fit{model = nn.Linear(6, 3), loss = "cross_entropy", optimizer = ty.optim.SGD{lr = 0.1},
             data = {x, y}, batch_size = 50, val_data = {x, y}, epochs = 1,
             metrics = {"accuracy"}, verbose = 0,
             callbacks = {cb.CSVLogger{path = csv, append = true},
                          cb.JSONLogger{path = jsonl, append = true}, cb.PlotCurves{path = png}}}
   local _, rows = read(csv):gsub("\n", "")
   local _, heads = read(csv):gsub("epoch,", "")
   local _, jrows = read(jsonl):gsub("\n", "")
   assert(rows == 5 and heads == 1 and jrows == 4, "appended logs")
   local img = read(png)
   assert(img:sub(1, 4) == "\137PNG", "PlotCurves wrote a PNG")
   os.remove(csv); os.remove(jsonl); os.remove(png)
   -- ReduceLROnPlateau on its own: min_lr bounds the reductions (Keras semantics)
   local fake = {optimizer = ty.optim.SGD{lr = 1}, message = function() end}
   local r = cb.ReduceLROnPlateau{monitor = "m", patience = 1, factor = 0.1, min_lr = 0.05,
                                  cooldown = 1}
   r:on_train_begin(fake)
   local lrs = {}
   for e = 1, 4 do
      r:on_epoch_end(e, {m = 1}, fake)
      lrs[e] = fake.optimizer.lr
   end
   assert(lrs[1] == 1 and math.abs(lrs[2] - 0.1) < 1e-12 and math.abs(lrs[4] - 0.05) < 1e-12,
          table.concat(lrs, " "))
   -- verbose output to a stream (not a terminal): log_every adds step lines
   local logp = tmpname(".log")
   local f = assert(io.open(logp, "w"))
   train.fit{model = nn.Linear(6, 3), loss = "cross_entropy", optimizer = ty.optim.SGD{lr = 0.1},
             data = {x, y}, batch_size = 50, epochs = 2, log_every = 2, stream = f,
             callbacks = {cb.EarlyStopping{monitor = "loss", patience = 1, min_delta = 10}}}
   f:close()
   local text = read(logp)
   os.remove(logp)
   assert(select(2, text:gsub("epoch 1/2 step %d/4 loss", "")) == 2, text)
   assert(text:find("epoch 2/2  loss") and not text:find("\r"), text)
   assert(text:find("early stopping at epoch 2"), text)
   -- TerminateOnNaN stops at the first NaN loss
   local nan_loss = function(pred, t) return ty.losses.cross_entropy(pred, t) * (0 / 0) end
   local tn = cb.TerminateOnNaN()
   local h2 = train.fit{model = nn.Linear(6, 3), loss = nan_loss, optimizer = ty.optim.SGD{lr = 0.1},
                        data = {x, y}, batch_size = 20, epochs = 5, verbose = 0, callbacks = {tn}}
   assert(tn.stopped_step == 1 and #h2.epochs == 1 and #h2.step.loss == 1, "TerminateOnNaN")
   assert(h2.epoch.loss[1] ~= h2.epoch.loss[1], "NaN loss recorded")
end

T.grad_accum_and_clip_norm = function()
   local x, y = toy(160, 6, 3, 4)
   local model = nn.Linear(6, 3)
   local h = train.fit{model = model, loss = "cross_entropy", optimizer = ty.optim.SGD{lr = 0.1},
                       data = {x, y}, batch_size = 20, epochs = 2, grad_accum = 3,
                       clip_norm = 0.5, verbose = 0}
   -- 8 batches per epoch, updates after batches 3, 6, 8: 3 updates per epoch
   assert(h.steps[8] == 3 and h.steps[16] == 6, "update count " .. tostring(h.steps[16]))
   assert(h.epoch.loss[2] < h.epoch.loss[1])
   -- grad_accum=2 over a whole dataset batch equals one step on batches of twice the size
   local function one(bs, accum)
      ty.random.seed(1)
      local m = nn.Linear(6, 3)
      train.fit{model = m, loss = "cross_entropy", optimizer = ty.optim.SGD{lr = 0.5},
                data = ty.data.DataLoader{ty.data.TensorDataset(x, y), batch_size = bs},
                epochs = 1, grad_accum = accum, verbose = 0}
      return m.weight
   end
   local a, b = one(80, 1), one(40, 2)
   assert((a - b):abs():max():item() < 1e-5, "accumulated gradients")
   local ok, err = pcall(train.fit, {model = model, loss = "nope", optimizer = ty.optim.SGD{lr = 1},
                                     data = {x, y}})
   assert(not ok and err:find("unknown loss 'nope'"), err)
   ok, err = pcall(train.fit, {model = model, loss = "mse", optimizer = ty.optim.SGD{lr = 1},
                               data = {x, y}, epohcs = 3})
   assert(not ok and err:find("unknown option 'epohcs'"), err)
end

T.history_save_load_plot = function()
   local h = train.History.new()
   h:record_epoch(1, {loss = 1.5, val_loss = 1.7, accuracy = 0.5})
   h:record_epoch(2, {loss = 0 / 0, val_loss = 1.2, accuracy = 0.75})
   h.step.loss = {2, 1.5, 1}
   h.steps = {1, 2, 3}
   local p = tmpname(".json")
   h:save(p)
   local g = train.History.load(p)
   assert(#g.epochs == 2 and g.epochs[2] == 2)
   assert(g.epoch.loss[1] == 1.5 and g.epoch.loss[2] ~= g.epoch.loss[2], "NaN survives")
   assert(g.epoch.val_loss[2] == 1.2 and g.step.loss[3] == 1 and g.steps[3] == 3)
   local keys = table.concat(g:keys(), ",")
   assert(keys == "loss,accuracy,val_loss", keys)
   local panels = g:curves()
   assert(#panels == 2 and panels[1].title == "loss" and #panels[1].series == 2)
   assert(panels[2].title == "accuracy" and #panels[2].series == 1)
   write(p, "{\"format\": \"something\"}")
   local ok, err = pcall(train.History.load, p)
   assert(not ok and err:find("not a tycho history"), err)
   os.remove(p)
   if ty.plot and ty.plot.curves then
      local png = tmpname(".png")
      h:plot(png)
      local s = read(png)
      assert(s:sub(1, 8) == "\137PNG\r\n\26\n" and #s > 2000, "a PNG")
      os.remove(png)
   end
   ok, err = pcall(train.History.new().plot, train.History.new(), "x.png")
   assert(not ok and err:find("no epochs"), err)
end

-- A script run by ./tycho for the output tests.
local script_file = helpers.script_file

local FIT_SCRIPT = [[
local nn = ty.nn
local x = ty.random.normal({2000, 8}, {key = ty.random.key(1)})
local y = (x:sum(-1):gt(0)):astype("int32") + 1
local h = ty.train.fit{model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)),
   loss = "cross_entropy", optimizer = ty.optim.Adam{lr = 1e-2}, data = {x, y},
   val_data = {x, y}, batch_size = 20, epochs = 2, metrics = {"accuracy"}}
print("done", #h.epochs)
]]

T.progress_bar_through_pipe_and_pty = function()
   local p = script_file(FIT_SCRIPT)
   -- through a pipe: one plain line per epoch, no carriage returns
   local out, rc = sh("./tycho " .. p .. " 2>&1")
   assert(rc == 0, out)
   assert(not out:find("\r"), "no carriage returns in a pipe")
   local n = 0
   for l in out:gmatch("[^\n]+") do
      if l:find("^epoch %d/2  loss") then
         n = n + 1
         assert(l:find("acc %d") and l:find("val_loss") and l:find("val_acc") and l:find("it/s%)"), l)
      end
   end
   assert(n == 2 and out:find("done\t2"), out)
   -- through a pseudo-terminal: the bar redraws in place, then the epoch lines stay
   local tty_out, trc = sh("COLUMNS=100 script -qec './tycho " .. p .. "' /dev/null 2>&1")
   if trc == 0 and tty_out:find("done") then
      assert(tty_out:find("\r"), "carriage returns on a terminal")
      assert(tty_out:find("█", 1, true) and tty_out:find("/100 %["), "a bar with counts")
      assert(tty_out:find("it/s%] loss %d%.%d+ acc %d"), "running loss and accuracy")
      assert(tty_out:find("epoch 2/2  loss"), "epoch line")
      for seg in tty_out:gmatch("[^\r\n]+") do
         local plain = seg:gsub("\27%[K", "")
         local w = utf8.len(plain) or #plain
         assert(not plain:find("it/s") or w <= 100, "line wider than the terminal: " .. w)
      end
   else
      print("  (skipped the pseudo-terminal half: `script` is not usable here: " .. tostring(trc) .. " " .. tty_out:sub(-300) .. ")")
   end
   os.remove(p)
end

T.generic_progress = function()
   local p = script_file([[
local s = 0
for i in ty.progress(50, {desc = "work"}) do s = s + i end
for i, v in ty.progress({10, 20, 30}) do s = s + v end
print("sum", s)
]])
   local out, rc = sh("./tycho " .. p .. " 2>&1")
   assert(rc == 0 and out:find("sum\t1335"), out)
   assert(not out:find("\r"), "pipe: no carriage returns")
   assert(out:find("work 50/50 %[") and out:find("\n3/3 %["), out)
   local tty_out, trc = sh("COLUMNS=80 script -qec './tycho " .. p .. "' /dev/null 2>&1")
   if trc == 0 and tty_out:find("sum") then
      assert(tty_out:find("\rwork ") and tty_out:find("█", 1, true), tty_out)
   end
   os.remove(p)
   -- in-process: counts and the iterator protocol (not a terminal: silent until the end)
   local seen = {}
   for i in ty.progress(3, {stream = io.open("/dev/null", "w")}) do seen[#seen + 1] = i end
   assert(#seen == 3 and seen[3] == 3)
   local ok, err = pcall(ty.progress, "x")
   assert(not ok and err:find("%[progress%]"), err)
end

T.ctrl_c_stops_after_the_step = function()
   local p = script_file([[
local f = io.open("/proc/self/stat"); local pid = f:read("a"):match("^(%d+)"); f:close()
local nn = ty.nn
local x = ty.random.normal({400, 8}, {key = ty.random.key(1)})
local y = (x:sum(-1):gt(0)):astype("int32") + 1
local model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
local hook = {on_batch_end = function(step, logs, tr)
   if tr.epoch == 2 and step == 5 then io.popen("kill -INT " .. pid):close() end
end}
local h = ty.train.fit{model = model, loss = "cross_entropy",
   optimizer = ty.optim.Adam{lr = 1e-2}, data = {x, y}, batch_size = 20, epochs = 50,
   callbacks = {hook}}
print("after fit", #h.epochs, h.interrupted, #h.step.loss)
print("usable", model(x):sum():item() == model(x):sum():item())
]])
   local out, rc = sh("./tycho " .. p .. " 2>&1")
   assert(rc == 0, out)
   assert(out:find("interrupted: training stopped in epoch 2"), out)
   -- epoch 1 (20 steps) and the 5 steps of epoch 2 are in the per-step history
   assert(out:find("after fit\t1\ttrue\t25"), out)
   assert(out:find("usable\ttrue"), out)
   os.remove(p)
end

T.everything_documented = function()
   local fns = {ty.progress, ty.summary, ty.nn.Module.summary, train.fit, train.evaluate,
                train.predict, train.Bar, train.History.new, train.History.load}
   for _, name in ipairs{"record_epoch", "get", "keys", "plot", "curves", "save", "to_table"} do
      fns[#fns + 1] = train.History[name]
   end
   for name, fn in pairs(cb) do
      if type(fn) == "function" then
         fns[#fns + 1] = fn
         assert(train[name] == fn, name .. " also as ty.train." .. name)
      end
   end
   for i, fn in ipairs(fns) do
      local d = ty.__doc[fn]
      assert(type(d) == "string" and d:find("^[%w_.:]+[%({]") , "function " .. i .. " has a doc")
   end
   assert(type(train.__doc) == "string" and type(cb.__doc) == "string")
end

local function eq(got, want, what)
   if got ~= want then
      error(string.format("%s: got %s, expected %s", what, tostring(got), tostring(want)), 2)
   end
end

-- QA: the bar fits any width and keeps the running loss at 80 columns
-- (shrinking the bar, then dropping the trailing metrics, then the bar)
T.bar_line_fits_and_keeps_the_loss = function()
   local b = train.Bar{total = 1250, desc = "epoch 1/10", tty = false}
   b.n, b.start = 1007, ty.time() - 2
   b.postfix = function() return "loss 0.8529 acc 0.7468 top5 0.9744" end
   for w = 12, 160, 3 do
      local l = b:line(w)
      assert(utf8.len(l) <= w, w .. ": " .. l)
   end
   local l80 = b:line(79)
   assert(l80:find("█", 1, true) and l80:find("loss 0.8529", 1, true), l80)
   local l60 = b:line(60)
   assert(l60:find("1007/1250", 1, true) and l60:find("loss 0.8529", 1, true), l60)
   local l120 = b:line(119)
   assert(l120:find("top5 0.9744", 1, true) and l120:find("█", 1, true), l120)
   assert(b:line(25):find("^epoch 1/10 1007/1250"), b:line(25))
   -- a dumb terminal (Emacs shell mode) gets no escape sequences, still \r
   local p = script_file(FIT_SCRIPT)
   local out, rc = sh("TERM=dumb COLUMNS=80 script -qec './tycho " .. p .. "' /dev/null 2>&1")
   if rc == 0 and out:find("done") then
      assert(out:find("\r") and not out:find("\27%["), "dumb terminal: " .. out:sub(1, 300))
      for seg in out:gmatch("[^\r\n]+") do
         assert(not seg:find("it/s%]") or utf8.len(seg) <= 80, seg)
      end
   end
   os.remove(p)
end

-- QA: mistakes get errors that name the function and say what to do
T.bad_input_explained = function()
   local x, y = toy(64, 5, 3, 4)
   local h0
   local function fit(o)
      o.model = o.model or nn.Sequential(nn.Linear(5, 3))
      if o.optimizer == nil then o.optimizer = ty.optim.SGD{lr = 0.1} end
      o.loss = o.loss or "cross_entropy"
      o.data = o.data or {x, y}
      o.verbose = 0
      return pcall(train.fit, o)
   end
   local ok, err = fit{data = {x, y - 1}}
   assert(not ok and err:find("^%[fit%] class labels are 1%-based") and err:find("y %+ 1"), err)
   -- a lazy error carries no frames of fit's insides; none has a position in train.lua
   assert(not err:find("stack traceback") and not err:find("train%.lua"), err)
   ok, err = fit{data = {x:reshape(64, 5, 1), y}}
   assert(not ok and err:find("^%[Linear%] expected input") and not err:find("^lua/"), err)
   ok, err = fit{data = {x, y + 1}}
   assert(not ok and err:find("^%[fit%] a class label is 4, outside 1..3"), err)
   ok, err = pcall(train.evaluate, {model = nn.Linear(5, 3), data = {x, y - 1},
                                    loss = "cross_entropy", verbose = 0})
   assert(not ok and err:find("^%[evaluate%] class labels are 1%-based"), err)
   ok, err = fit{optimizer = ty.optim.Adam}
   assert(not ok and err:find("optimizer class") and err:find("Adam{lr"), err)
   ok, err = fit{epochs = "3"}
   assert(not ok and err:find("got 3 %(a string%)"), err)
   ok, err = fit{callbacks = {cb.EarlyStopping{}}}
   assert(not ok and err:find("fit has no val_data: pass val_data= or monitor='loss'"), err)
   ok, err = fit{callbacks = {foo = 1}}
   assert(not ok and err:find("callbacks must be a list"), err)
   ok, h0 = fit{metrics = {"acc"}, val_data = {x, y}}
   assert(ok and h0.epoch.accuracy and h0.epoch.val_accuracy, "Keras's 'acc' is 'accuracy'")
   ok, err = fit{data = {x}}
   assert(not ok and err:find("^%[fit%] the batches of data have no targets"), err)
   ok, err = fit{callbacks = {42}}
   assert(not ok and err:find("callbacks%[1%] must be a callback"), err)
   ok, err = fit{resume = "/no/such/checkpoint.safetensors"}
   assert(not ok and err:find("^%[fit%] cannot resume"), err)
   ok, err = pcall(cb.ReduceLROnPlateau, {factor = "x"})
   assert(not ok and err:find("factor must be a number"), err)
   ok, err = pcall(cb.EarlyStopping, {patience = "3"})
   assert(not ok and err:find("patience must be a non%-negative integer"), err)
   ok, err = pcall(cb.PlotCurves, "curves.pdf")
   assert(not ok and err:find("no PDF"), err)
   -- a single metric name and a single callback are accepted as lists of one
   local seen = 0
   local h
   ok, h = fit{metrics = "accuracy", callbacks = {on_epoch_end = function() seen = seen + 1 end}}
   assert(ok and h.epoch.accuracy and seen == 1, tostring(h))
   local r = train.evaluate{model = nn.Linear(5, 3), data = {x, y}, metrics = "accuracy",
                            verbose = 0}
   assert(r.accuracy, "evaluate: metrics as one name")
end

-- QA: readable objects at the prompt, and History.load of every log format
T.printing_and_history_formats = function()
   local h = train.History.new()
   eq(tostring(h), "History(0 epochs)", "empty")
   h.steps, h.step.loss, h.interrupted = {1, 2, 3}, {0.5, 0.4, 0.3}, true
   eq(tostring(h), "History(0 epochs, 3 steps, interrupted)", "interrupted")
   local es = cb.EarlyStopping{patience = 2}
   assert(tostring(es):find('^EarlyStopping{.*monitor="val_loss", patience=2'), tostring(es))
   local csv = tmpname(".csv")
   write(csv, "epoch,accuracy,loss\n1,0.5,1.25\n2,1,0.75\n")
   local hc = train.History.load(csv)
   eq(#hc.epochs, 2, "csv epochs")
   eq(math.type(hc:get("accuracy")[2]), "float", "csv values are floats")
   assert(tostring(hc):find("acc 1.0000"), tostring(hc))
   os.remove(csv)
   local jl = tmpname(".jsonl")
   write(jl, '{"epoch":1,"loss":1.5,"val_loss":"nan"}\n{"epoch":2,"loss":1.0,"val_loss":0.9}\n')
   local hj = train.History.load(jl)
   eq(#hj.epochs, 2, "jsonl epochs")
   assert(hj:get("val_loss")[1] ~= hj:get("val_loss")[1] and hj:get("val_loss")[2] == 0.9)
   os.remove(jl)
   -- ty.progress takes a generic-for triple (prints one "3/3 [...]" line here)
   local sum, keys = 0, 0
   for i, v in ty.progress(ipairs({5, 6, 7})) do sum = sum + i * v end
   for k, v in ty.progress(pairs({a = 1, b = 2})) do keys = keys + v end
   eq(sum, 5 + 12 + 21, "progress(ipairs(t))")
   eq(keys, 3, "progress(pairs(t))")
   -- a break or an error inside the loop ends the bar's line (closing value)
   local p = script_file([[
for i in ty.progress(100, {desc = "brk"}) do if i == 40 then break end end
print("after break")
print(pcall(function() for i in ty.progress(9, {desc = "err"}) do error("boom") end end))
]])
   local out, rc = sh("./tycho " .. p .. " 2>&1")
   assert(rc == 0 and out:find("brk 39/100 %[") and out:find("\nafter break\n") and
          out:find("\nerr 0/9 %[.-\nfalse"), out)
   os.remove(p)
end

-- QA: a model of two inputs trains from data={x1, x2, y} (the last value of
-- a batch is the target), and evaluates the same way
T.fit_model_of_several_inputs = function()
   local Two = nn.Module:extend("QATwoInputs")
   function Two:init() self.a = nn.Linear(3, 8); self.b = nn.Linear(2, 8); self.out = nn.Linear(8, 2) end
   function Two:forward(x1, x2) return self.out(ty.relu(self.a(x1) + self.b(x2))) end
   local k = ty.random.split(ty.random.key(11), 2)
   local x1, x2 = ty.random.normal({200, 3}, {key = k[1]}), ty.random.normal({200, 2}, {key = k[2]})
   local y = ((x1:sum(-1) + x2:sum(-1)):gt(0)):astype("int32") + 1
   local m = Two()
   local h = train.fit{model = m, loss = "cross_entropy", optimizer = ty.optim.Adam{lr = 1e-2},
                       data = {x1, x2, y}, val_data = {x1, x2, y}, epochs = 5, batch_size = 20,
                       metrics = {"accuracy"}, verbose = 0}
   assert(h:get("val_accuracy")[5] > 0.8, tostring(h))
   local r = train.evaluate{model = m, data = {x1, x2, y}, metrics = "accuracy", verbose = 0}
   assert(math.abs(r.accuracy - h:get("val_accuracy")[5]) < 1e-6, r.accuracy)
end


-- A metric that gives an array (confusion_matrix, average='none') is refused
-- by fit before training, with where to get it; evaluate returns it as is.
T.non_scalar_metrics_refused_by_fit = function()
   local x = ty.random.normal({8, 2}, {key = ty.random.key(3)})
   local y = ty.array({1, 2, 1, 2, 1, 2, 1, 2}, "int32")
   local function fit(metric, model)
      return train.fit{model = model or nn.Linear(2, 2), loss = "cross_entropy",
                       optimizer = ty.optim.SGD{}, data = {x, y}, metrics = {metric},
                       verbose = 0}
   end
   local function refused(metric, fragment)
      local m = nn.Linear(2, 2)
      local before = m.weight:tolist()
      local ok, e = pcall(fit, metric, m)
      assert(not ok, "fit accepted a non-scalar metric")
      e = tostring(e)
      assert(e:find(fragment, 1, true), e)
      assert(e:find("ty.train.evaluate", 1, true), e)
      assert(not e:find("stack traceback", 1, true), e)
      return e, before, m
   end
   local e, before, m = refused("confusion_matrix",
                                "[fit] metric 'confusion_matrix' gives a (C,C) array, not a number")
   assert(not e:find("[item]", 1, true), e)
   assert(m.weight:tolist()[1][1] == before[1][1], "refused before training")
   refused(ty.metrics.ConfusionMatrix{num_classes = 2},
           "[fit] metric 'confusion_matrix' gives a (2,2) array, not a number")
   e = refused(ty.metrics.F1{average = "none"}, "[fit] metric 'f1' gives a (C,) array")
   assert(e:find("average='macro'", 1, true), e)
   refused(ty.metrics.AUROC{average = "none"}, "[fit] metric 'auroc' gives a (C,) array")
   -- a metric object of the user's: found at the end of the first epoch
   local custom = {name = "mine", reset = function() end, update = function() end,
                   compute = function() return ty.zeros{2, 2} end}
   refused(custom, "[fit] metric 'mine' gives a (2,2) array, not a number")
   custom.compute = function() return {0.5, 0.25} end
   refused(custom, "[fit] metric 'mine' gives a list of 2 values, not a number")
   -- scalar ones still log, including a one-element array
   custom.compute = function() return ty.array{0.5} end
   local hist = fit(custom)
   assert(hist:get("mine")[1] == 0.5, tostring(hist))
   hist = fit(ty.metrics.F1{average = "macro"})
   assert(type(hist:get("f1")[1]) == "number", tostring(hist))
   -- evaluate gives the arrays as they are
   local r = train.evaluate{model = nn.Linear(2, 2), data = {x, y}, verbose = 0,
                            metrics = {"confusion_matrix", ty.metrics.F1{average = "none"},
                                       "accuracy"}}
   assert(ty.is_array(r.confusion_matrix), tostring(r.confusion_matrix))
   assert(r.confusion_matrix.shape[1] == 2 and r.confusion_matrix.shape[2] == 2)
   assert(r.confusion_matrix:sum():item() == 8)
   assert(type(r.f1) == "table" and #r.f1 == 2, tostring(r.f1))
   assert(type(r.accuracy) == "number")
end

return T
