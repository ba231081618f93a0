-- test_cli.lua -- the subcommands `tycho summary`, `tycho dot`, `tycho plot`
-- with good and bad files, their --help and usage errors (run as processes).
local ty = require "tycho"

local T = {}

local h = require "helpers"
local tmpname, write, read = h.tmpname, h.write_bytes, h.try_read

-- Runs ./tycho with args; returns stdout, stderr, exit status.
local function tycho(args)
   local err = tmpname(".err")
   local p = io.popen("./tycho " .. args .. " 2>" .. err .. "; echo \"::rc=$?\"")
   local out = p:read("a")
   p:close()
   local rc = tonumber(out:match("::rc=(%d+)%s*$"))
   local e = read(err) or ""
   os.remove(err)
   -- the CPU fallback notice is not an error of the command
   e = e:gsub("tycho: no Vulkan GPU found[^\n]*\n", "")
   return out:gsub("::rc=%d+%s*$", ""), e, rc
end

local files = {}
local function file(body)
   local p = h.script_file(body)
   files[#files + 1] = p
   return p
end

local MODEL = [[
local nn = ty.nn
return nn.Sequential(nn.Conv2d(1, 6, 5, {padding = 2}), nn.ReLU(), nn.MaxPool2d(2),
                     nn.Flatten(), nn.Linear(6 * 14 * 14, 10))
]]
local MODEL_WITH_INPUT = [[
local nn = ty.nn
return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)), ty.zeros{2, 784}
]]
local LOSS = [[
local p = {w = ty.random.normal{3, 2}, b = ty.zeros{2}}
local x = ty.ones{4, 3}
return function(p, x) return ty.tanh(x:matmul(p.w) + p.b):sum() end, p, x
]]

T.summary_command = function()
   local f = file(MODEL)
   local out, err, rc = tycho("summary " .. f .. " --input 1x1x28x28")
   assert(rc == 0, err)
   -- conv 6*25+6 = 156 params, 156*28*28 = 122,304 mult-adds; linear 1176*10+10 = 11,770
   assert(out:find("├─Conv2d: 1%-1") and out:find("122,304", 1, true), out)
   assert(out:find("Total params: 11,926", 1, true), out)
   assert(out:find("[1, 6, 28, 28]", 1, true), out)
   out, err, rc = tycho("summary " .. file(MODEL_WITH_INPUT) .. " --depth 0")
   assert(rc == 0, err)
   assert(out:find("Total params: 50,890", 1, true) and not out:find("Linear: 1"), out)
   assert(out:find("[2, 784]", 1, true), out)
   -- errors: no input, wrong return value, a file that fails, a missing file
   out, err, rc = tycho("summary " .. f)
   assert(rc == 1 and err:find("pass %-%-input SHAPE"), err)
   out, err, rc = tycho("summary " .. file("return 42"))
   assert(rc == 1 and err:find("returned a number; `tycho summary` needs a model"), err)
   out, err, rc = tycho("summary " .. file("error('boom')"))
   assert(rc == 1 and err:find("raised an error: .*boom"), err)
   out, err, rc = tycho("summary /nonexistent/model.lua --input 1x3")
   assert(rc == 1 and err:find("cannot open"), err)
   out, err, rc = tycho("summary " .. f .. " --input 1x1x30")
   assert(rc == 1 and err:find("forward pass failed"), err)
   out, err, rc = tycho("summary " .. f .. " --input 1xZ")
   assert(rc == 2 and err:find("bad shape") and err:find("usage: tycho summary"), err)
   out, err, rc = tycho("summary")
   assert(rc == 2 and err:find("missing FILE.lua"), err)
   out, err, rc = tycho("summary --help")
   assert(rc == 0 and out:find("^usage: tycho summary FILE.lua"), out)
end

T.dot_command = function()
   if not (ty.dot and ty.dot.model) then return end
   local svg = tmpname(".svg")
   local out, err, rc = tycho("dot " .. file(MODEL_WITH_INPUT) .. " -o " .. svg)
   assert(rc == 0 and out:find("wrote "), err)
   local s = read(svg) or ""
   assert(s:find("<svg") and s:find("Linear"), "an SVG with the layers")
   os.remove(svg)
   local dot = tmpname(".dot")
   out, err, rc = tycho("dot " .. file(LOSS) .. " --graph -o " .. dot)
   assert(rc == 0, err)
   s = read(dot) or ""
   assert(s:find("^digraph") and s:find("matmul") and s:find("tanh"), s)
   os.remove(dot)
   -- errors
   out, err, rc = tycho("dot " .. file(MODEL) .. " --graph -o " .. dot)
   assert(rc == 1 and err:find("needs a loss function"), err)
   out, err, rc = tycho("dot " .. file("return 'x'") .. " -o " .. dot)
   assert(rc == 1 and err:find("returned a string"), err)
   out, err, rc = tycho("dot " .. file(MODEL_WITH_INPUT))
   assert(rc == 2 and err:find("missing %-o OUT"), err)
   out, err, rc = tycho("dot --help")
   assert(rc == 0 and out:find("usage: tycho dot"), out)
end

T.plot_command = function()
   local h = ty.train.History.new()
   h:record_epoch(1, {loss = 1.0, val_loss = 1.1, accuracy = 0.6, val_accuracy = 0.55})
   h:record_epoch(2, {loss = 0.7, val_loss = 0.9, accuracy = 0.7, val_accuracy = 0.66})
   local json = tmpname(".json")
   h:save(json)
   local png = tmpname(".png")
   local out, err, rc = tycho("plot " .. json .. " -o " .. png)
   if ty.plot and ty.plot.curves then
      assert(rc == 0, err)
      local s = read(png) or ""
      assert(s:sub(1, 8) == "\137PNG\r\n\26\n", "a PNG")
      os.remove(png)
   end
   write(json, "not json")
   out, err, rc = tycho("plot " .. json .. " -o " .. png)
   assert(rc == 1 and err:find("not valid JSON"), err)
   out, err, rc = tycho("plot " .. json)
   assert(rc == 2 and err:find("missing %-o OUT"), err)
   out, err, rc = tycho("plot --help")
   assert(rc == 0 and out:find("usage: tycho plot"), out)
   os.remove(json)
   out, err, rc = tycho("--help")
   assert(out:find("summary") and out:find("dot") and out:find("plot"), out)
   for _, p in ipairs(files) do os.remove(p) end
end

-- QA: `tycho plot` reads what the usage promises (a ModelCheckpoint file, a
-- JSONLogger or CSVLogger file) and errors carry no positions in tycho's files
T.plot_reads_checkpoints_and_logger_files = function()
   local cb = ty.train.callbacks
   local x = ty.random.normal({64, 4}, {key = ty.random.key(3)})
   local y = (x:sum(-1):gt(0)):astype("int32") + 1
   local m = ty.nn.Sequential(ty.nn.Linear(4, 2))
   local ck, jl, csv = tmpname(".safetensors"), tmpname(".jsonl"), tmpname(".csv")
   ty.train.fit{model = m, loss = "cross_entropy", optimizer = ty.optim.SGD{lr = 0.1},
                data = {x, y}, batch_size = 16, epochs = 2, verbose = 0,
                metrics = {"accuracy"},
                callbacks = {cb.ModelCheckpoint{path = ck}, cb.JSONLogger{path = jl},
                             cb.CSVLogger{path = csv}}}
   for _, f in ipairs{ck, jl, csv} do
      local h = ty.train.History.load(f)
      assert(#h.epochs == 2 and #h:get("loss") == 2 and h:get("accuracy")[2] >= 0, f)
      local png = tmpname(".png")
      local out, err, rc = tycho("plot " .. f .. " -o " .. png)
      if ty.plot and ty.plot.curves then
         assert(rc == 0 and out:find("wrote"), f .. ": " .. err)
         assert((read(png) or ""):sub(1, 4) == "\137PNG", "a PNG from " .. f)
         os.remove(png)
      end
      os.remove(f)
   end
   local out, err, rc = tycho("plot /no/such/file.json -o x.png")
   assert(rc == 1 and err:find("cannot open") and not err:find("lua/tycho/"), err)
   local bad = file("return ty.nn.Linear(4, 2)")
   out, err, rc = tycho("summary " .. bad .. " --input 3x5")
   assert(rc == 1 and err:find("%[Linear%] expected input") and not err:find("lua/tycho/"), err)
end

-- QA: the main job's command line: mistakes give the usage and status 2 at
-- once (not a traceback, not after ten epochs)
T.fashion_mlp_options = function()
   local out, err, rc = tycho("examples/fashion_mlp.lua --bogus")
   assert(rc == 2 and err:find("unknown option %-%-bogus") and err:find("usage:") and
          not err:find("traceback"), err)
   out, err, rc = tycho("examples/fashion_mlp.lua --epochs 0")
   assert(rc == 2 and err:find("%-%-epochs needs a positive integer"), err)
   out, err, rc = tycho("examples/fashion_mlp.lua --out /no/such/dir --quick")
   assert(rc == 2 and err:find("not a writable directory") and not out:find("epoch"), err)
   out, err, rc = tycho("examples/fashion_mlp.lua --help")
   assert(rc == 0 and out:find("^usage:"), out)
end

return T
