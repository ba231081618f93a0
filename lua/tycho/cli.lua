-- tycho.cli -- the subcommands `tycho summary`, `tycho dot` and `tycho plot`
-- (repl/main.c calls cli.run(name, args) and exits with its status).
local ty = require "tycho"

local M = {}
local fmt = string.format

local USAGE = {
   summary = [[usage: tycho summary FILE.lua [--input SHAPE] [--depth N] [--dtype T]
Prints the torchinfo-style summary of the model that FILE.lua returns
(ty.summary): layers, input and output shapes, parameters, mult-adds, sizes.
FILE returns a model (an nn.Module), or a model and an example input.
  --input SHAPE  the full input shape, batch included: 1x1x28x28 (several
                 inputs: 1x16,1x16); needed when FILE returns no example
  --depth N      the depth of nested layers shown (default 3)
  --dtype T      the dtype of the --input arrays (default float32; int32 for ids)
  -h, --help     show this help]],
   dot = [[usage: tycho dot FILE.lua -o OUT [--graph] [--input SHAPE]
Renders a graph with Graphviz; the format follows OUT's extension (.dot is
written as text; .svg, .png, .pdf are rendered).
  (default)      the module graph of the model that FILE.lua returns (a model,
                 or a model and an example input): layer types, output
                 shapes, parameter counts (ty.dot.model)
  --graph        FILE.lua returns a loss function and its arguments
                 (`return f, params, x, y`): draws the forward and backward
                 graph of ty.value_and_grad(f)(params, x, y) (ty.dot.graph)
  -o OUT         the output file (required)
  --input SHAPE  the input shape for the module graph: 1x784
  -h, --help     show this help]],
   plot = [[usage: tycho plot HISTORY.json -o OUT
Draws the training curves of a history saved by history:save (or the history
in a ModelCheckpoint .safetensors file, or a JSONLogger or CSVLogger file): loss
and each metric in separate panels, train vs validation. OUT's extension picks
the format: .png, .svg, .ps.
  -o OUT      the output image (required)
  -h, --help  show this help]],
}
M.usage = USAGE

-- A usage error: printed with the usage, exit status 2.
local UsageError = {}
local function usage_error(msg) error(setmetatable({msg = msg}, UsageError), 0) end

local function parse_shape(s)
   local shapes = {}
   for part in s:gmatch("[^,]+") do
      local shape = {}
      for d in part:gmatch("[^xX*]+") do
         local n = math.tointeger(tonumber(d))
         if not n or n < 0 then usage_error(fmt("--input: bad shape '%s' (expected 1x1x28x28)", s)) end
         shape[#shape + 1] = n
      end
      if #shape == 0 then usage_error(fmt("--input: bad shape '%s' (expected 1x1x28x28)", s)) end
      shapes[#shapes + 1] = shape
   end
   if #shapes == 0 then usage_error("--input needs a shape such as 1x1x28x28") end
   return #shapes == 1 and shapes[1] or shapes
end

-- Parses args against a spec: name -> "flag" | "value"; returns opts, positionals.
local function parse(args, spec)
   local opts, pos = {}, {}
   local i = 1
   while i <= #args do
      local a = args[i]
      if a == "-h" or a == "--help" then
         opts.help = true
      elseif a:sub(1, 1) == "-" and #a > 1 then
         local name, val = a:match("^(%-%-?[^=]+)=(.*)$")
         name = name or a
         local kind = spec[name]
         if not kind then usage_error("unknown option '" .. a .. "'") end
         if kind == "flag" then
            opts[name] = true
         else
            if val == nil then
               i = i + 1
               val = args[i]
               if val == nil then usage_error("option " .. name .. " needs a value") end
            end
            opts[name] = val
         end
      else
         pos[#pos + 1] = a
      end
      i = i + 1
   end
   return opts, pos
end

local function describe(v)
   if v == nil then return "nothing" end
   if ty.is_array(v) then return "an array" end
   if type(v) == "table" and ty.nn and ty.nn.is_module and ty.nn.is_module(v) then
      return "a module (" .. v:type_name() .. ")"
   end
   return "a " .. type(v)
end

-- Runs FILE (a Lua chunk) and returns its results (packed).
local function run_file(path, cmd)
   local f = io.open(path, "rb")
   if not f then error(fmt("cannot open %s", path), 0) end
   f:close()
   local chunk, err = loadfile(path)
   if not chunk then error(err, 0) end
   local res = table.pack(pcall(chunk))
   if not res[1] then error(fmt("%s raised an error: %s", path, tostring(res[2])), 0) end
   return table.pack(table.unpack(res, 2, res.n))
end

local function is_module(v)
   return ty.nn and ty.nn.is_module and ty.nn.is_module(v)
end

local function model_and_input(path, res, opts, cmd)
   local model, example = res[1], res[2]
   if not is_module(model) then
      error(fmt("%s returned %s; `tycho %s` needs a model (an nn.Module), optionally " ..
                "followed by an example input: end the file with `return model` or " ..
                "`return model, x`", path, describe(model), cmd), 0)
   end
   local input
   if opts["--input"] then
      input = parse_shape(opts["--input"])
   elseif example ~= nil then
      if not (ty.is_array(example) or type(example) == "table") then
         error(fmt("%s returned %s as the example input; expected an array, a shape " ..
                   "table or a list of arrays", path, describe(example)), 0)
      end
      input = example
   else
      error(fmt("%s returned a model without an example input: pass --input SHAPE " ..
                "(e.g. --input 1x1x28x28) or end the file with `return model, x`", path), 0)
   end
   return model, input
end

local commands = {}

function commands.summary(args)
   local opts, pos = parse(args, {["--input"] = "value", ["--depth"] = "value",
                                  ["--dtype"] = "value"})
   if opts.help then print(USAGE.summary) return 0 end
   if #pos ~= 1 then usage_error(#pos == 0 and "missing FILE.lua" or "too many arguments") end
   local depth
   if opts["--depth"] then
      depth = math.tointeger(tonumber(opts["--depth"]))
      if not depth or depth < 0 then usage_error("--depth needs a non-negative integer") end
   end
   local model, input = model_and_input(pos[1], run_file(pos[1], "summary"), opts, "summary")
   local sopts = {depth = depth}
   if opts["--dtype"] then sopts.dtypes = opts["--dtype"] end
   ty.summary(model, input, sopts)
   return 0
end

function commands.dot(args)
   local opts, pos = parse(args, {["-o"] = "value", ["--output"] = "value",
                                  ["--graph"] = "flag", ["--input"] = "value"})
   if opts.help then print(USAGE.dot) return 0 end
   local out = opts["-o"] or opts["--output"]
   if #pos ~= 1 then usage_error(#pos == 0 and "missing FILE.lua" or "too many arguments") end
   if not out then usage_error("missing -o OUT (the output file: .dot, .svg, .png, .pdf)") end
   if not ty.dot then error("ty.dot is not available in this build", 0) end
   local path = pos[1]
   local res = run_file(path, "dot")
   if opts["--graph"] then
      local f = res[1]
      if type(f) ~= "function" then
         error(fmt("%s returned %s; `tycho dot --graph` needs a loss function followed by " ..
                   "its arguments: end the file with `return loss_fn, params, x, y`", path,
                   describe(f)), 0)
      end
      if res.n < 2 then
         error(fmt("%s returned a function without arguments: `return loss_fn, params, ...`",
                   path), 0)
      end
      local g = ty.value_and_grad(f)
      local r = table.pack(pcall(g, table.unpack(res, 2, res.n)))
      if not r[1] then error("the loss function failed: " .. tostring(r[2]), 0) end
      local value, grads = r[2], r[r.n]
      if not ty.is_array(value) then error("the loss function did not return an array", 0) end
      local params = res[2]
      if type(params) == "table" or ty.is_array(params) then
         ty.dot.graph({loss = value, grads = grads}, out, {params = params})
      else
         ty.dot.graph({loss = value, grads = grads}, out)
      end
   else
      local model, input = model_and_input(path, res, opts, "dot")
      ty.dot.model(model, out, {input_shape = input})
   end
   print("wrote " .. out)
   return 0
end

function commands.plot(args)
   local opts, pos = parse(args, {["-o"] = "value", ["--output"] = "value"})
   if opts.help then print(USAGE.plot) return 0 end
   local out = opts["-o"] or opts["--output"]
   if #pos ~= 1 then usage_error(#pos == 0 and "missing HISTORY.json" or "too many arguments") end
   if not out then usage_error("missing -o OUT (the image: .png, .svg, .ps)") end
   local h = ty.train.History.load(pos[1])
   if #h.epochs == 0 then error(pos[1] .. ": the history has no epochs to plot", 0) end
   h:plot(out)
   print("wrote " .. out)
   return 0
end

-- cli.run(name, args) -> exit status (0 ok, 1 error, 2 usage); messages go to
-- stderr prefixed by "tycho NAME: ".
function M.run(name, args)
   local cmd = commands[name]
   if not cmd then
      io.stderr:write("tycho: unknown command '" .. tostring(name) .. "'\n")
      return 2
   end
   local ok, res = pcall(cmd, args)
   if ok then return res or 0 end
   io.stdout:flush()
   if getmetatable(res) == UsageError then
      io.stderr:write(fmt("tycho %s: %s\n%s\n", name, res.msg, USAGE[name]))
      return 2
   end
   -- positions inside tycho's own Lua files mean nothing to the user
   local msg = tostring(res):gsub("^lua/tycho/[%w_]+%.lua:%d+: ", "")
   if msg:find("interrupted", 1, true) then
      io.stderr:write(fmt("tycho %s: interrupted\n", name))
      return 130
   end
   io.stderr:write(fmt("tycho %s: %s\n", name, msg))
   return 1
end

return M
