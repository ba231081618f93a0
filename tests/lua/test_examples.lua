-- test_examples.lua -- the examples a new user runs first, each with --quick
-- through ./tycho (a process, as a user would): exit status, the result line,
-- the files written under --out, and the command-line mistakes.
local T = {}

local h = require "helpers"

-- Runs ./tycho with args; returns stdout, stderr, exit status.
local function tycho(args)
   local err = h.tmpname(".err")
   local out, rc = h.run("./tycho " .. args .. " 2>" .. err)
   local e = h.try_read(err) or ""
   os.remove(err)
   -- the CPU fallback notice is not an error of the command
   e = e:gsub("tycho: no Vulkan GPU found[^\n]*\n", "")
   return out, e, rc
end

local function size(path)
   local s = h.try_read(path)
   return s and #s or 0
end

T.fashion_cnn_quick = function()
   local dir, at = h.tmpdir("fashion_cnn")
   local out, err, rc = tycho("examples/fashion_cnn.lua --quick --out " .. dir)
   assert(rc == 0, err .. out)
   assert(out:find("Conv2d") and out:find("Total params: 421,642"), out)   -- the summary
   local acc = tonumber(out:match("test accuracy (%d%.%d+)"))
   -- one epoch on 5,000 images reaches 0.7305 (chance: 0.10)
   assert(acc and acc > 0.5, "no test accuracy line, or too low:\n" .. out)
   assert(size(at("fashion_cnn_curves.png")) > 1000, "no curves PNG")
   assert(h.read_bytes(at("fashion_cnn_curves.png")):sub(2, 4) == "PNG")
   assert(size(at("fashion_cnn.safetensors")) > 421642 * 4, "no checkpoint")
   assert(size(at("fashion_cnn_history.json")) > 0, "no history")
   -- the checkpoint loads back into the same model
   local ck = ty.load(at("fashion_cnn.safetensors"))
   assert(ck["model/1.weight"] and ck["model/1.weight"].shape[1] == 32, "checkpoint keys")
   h.sh("rm -rf " .. dir)
end

T.char_transformer_quick = function()
   local dir, at = h.tmpdir("char_transformer")
   local out, err, rc = tycho("examples/char_transformer.lua --quick --out " .. dir)
   assert(rc == 0, err .. out)
   assert(out:find("TransformerEncoderLayer"), out)
   local loss = tonumber(out:match("validation loss (%d+%.%d+)"))
   -- a few steps already beat the uniform guess, log(vocabulary) > 4
   assert(loss and loss < 4, "no validation loss line, or too high:\n" .. out)
   local sample = out:match("sample %([^\n]*\n([^\n]*)")
   assert(sample and sample:find("^The licenses for ") and #sample > #"The licenses for ",
          "no generated text:\n" .. out)
   local saved = h.read_bytes(at("char_transformer_sample.txt"))
   assert(#saved > 80 and saved:find("^The licenses for "), saved)
   assert(size(at("char_transformer_curves.png")) > 1000, "no curves PNG")
   assert(size(at("char_transformer.safetensors")) > 0, "no checkpoint")
   -- seeded: a second run generates the same text
   local dir2, at2 = h.tmpdir("char_transformer")
   out, err, rc = tycho("examples/char_transformer.lua --quick --out " .. dir2)
   assert(rc == 0, err)
   assert(h.read_bytes(at2("char_transformer_sample.txt")) == saved, "not deterministic")
   h.sh("rm -rf " .. dir .. " " .. dir2)
end

-- mistakes on the command line: the message and the usage, status 2, at once
T.examples_options = function()
   for _, ex in ipairs{"fashion_cnn", "char_transformer"} do
      local script = "examples/" .. ex .. ".lua"
      local out, err, rc = tycho(script .. " --bogus")
      assert(rc == 2 and err:find("unknown option %-%-bogus") and err:find("usage:") and
             not err:find("traceback"), err)
      out, err, rc = tycho(script .. " --epochs 0")
      assert(rc == 2 and err:find("%-%-epochs needs a positive integer"), err)
      out, err, rc = tycho(script .. " --quick --out /no/such/dir")
      assert(rc == 2 and err:find("not a writable directory") and not out:find("epoch"), err)
      out, err, rc = tycho(script .. " --help")
      assert(rc == 0 and out:find("^usage:"), out)
   end
   local out, err, rc = tycho("examples/char_transformer.lua --text /no/such/file")
   assert(rc == 2 and err:find("cannot read"), err)
   out, err, rc = tycho("examples/char_transformer.lua --quick --prompt '\xe2\x82\xac'")
   assert(rc == 2 and err:find("not in the text"), err)
end

return T
