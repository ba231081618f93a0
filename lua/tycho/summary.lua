-- tycho.summary -- ty.summary(model, input, opts): a torchinfo-style table of
-- a model's layers with their input and output shapes, parameter counts and
-- mult-adds, and the memory estimates.
--
-- Shapes come from lazy shape inference: the input is a lazy array (ty.zeros
-- builds a node, nothing is allocated), the forward only builds graphs, and
-- forward hooks record what every module received and returned. No kernel runs
-- and no parameter memory is touched, so the summary of a model too large for
-- the machine prints at once.
--
-- Mult-adds: Linear, Conv*/ConvTranspose* and RNN/LSTM/GRU as torchinfo
-- counts them (Linear: the output's leading size times the weight and bias
-- counts; Conv: N x output spatial size times the weight and bias counts;
-- RNNs: N x L times all their weights). Any other module's
-- own work is found by walking its output graph back to its inputs and to its
-- children's outputs (ty.node): matmul = output size x k, conv = output size x
-- (C_in/groups x kernel size), attention = 2 x N x heads x L x S x head_dim;
-- elementwise ops, reductions and normalisations are not counted (as
-- torchinfo, which counts only layers with weights).
local ty = require "tycho"

local fmt = string.format

local ITEMSIZE = {float32 = 4, float64 = 8, float16 = 2, bfloat16 = 2, int8 = 1, uint8 = 1,
                  int16 = 2, uint16 = 2, int32 = 4, uint32 = 4, int64 = 8, uint64 = 8,
                  bool = 1, complex64 = 8}

local function nbytes(a)
   return a.size * (ITEMSIZE[a.dtype] or 4)
end

local function prod(t, i, j)
   local p = 1
   for k = i or 1, j or #t do p = p * t[k] end
   return p
end

local function commas(n)
   local s = tostring(math.tointeger(n) or math.floor(n + 0.5))
   local neg = s:sub(1, 1) == "-"
   if neg then s = s:sub(2) end
   local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
   if out:sub(1, 1) == "," then out = out:sub(2) end
   return (neg and "-" or "") .. out
end

-- The string keys of a table holding arrays (a dict of outputs), sorted;
-- nil for a list.
local function dict_keys(v)
   if type(v) ~= "table" or getmetatable(v) or v[1] ~= nil then return nil end
   local ks = {}
   for k, x in pairs(v) do
      if type(k) == "string" and (ty.is_array(x) or type(x) == "table") then ks[#ks + 1] = k end
   end
   if #ks == 0 then return nil end
   table.sort(ks)
   return ks
end

local function shape_text(v)
   if ty.is_array(v) then
      return "[" .. table.concat(v.shape, ", ") .. "]"
   end
   local ks = dict_keys(v)
   if ks then
      -- a dict of outputs: "aux: [2, 5], logits: [2, 3]"
      local parts = {}
      for _, k in ipairs(ks) do
         local t = shape_text(v[k])
         if t ~= "--" then parts[#parts + 1] = k .. ": " .. t end
      end
      if #parts == 0 then return "--" end
      if #parts > 2 then return parts[1] .. ", ... (" .. #parts .. " arrays)" end
      return table.concat(parts, ", ")
   end
   if type(v) == "table" then
      local parts = {}
      for _, x in ipairs(v) do
         if ty.is_array(x) then parts[#parts + 1] = shape_text(x) end
      end
      if #parts == 0 then return "--" end
      local same = true
      for k = 2, #parts do if parts[k] ~= parts[1] then same = false end end
      if same and #parts > 1 then return #parts .. " x " .. parts[1] end
      if #parts > 2 then return parts[1] .. ", ... (" .. #parts .. " arrays)" end
      return table.concat(parts, ", ")
   end
   return "--"
end

-- Arrays among a value (an array, or a list of values).
local function arrays_of(v, out)
   out = out or {}
   if ty.is_array(v) then out[#out + 1] = v
   elseif type(v) == "table" and not getmetatable(v) then
      for _, x in ipairs(v) do arrays_of(x, out) end
      for _, k in ipairs(dict_keys(v) or {}) do arrays_of(v[k], out) end
   end
   return out
end

local function array_key(a)
   if ty.array_id then return ty.array_id(a) end
   return a
end

-- ------------------------------------------------------------------ mult-adds

-- Mult-adds of one graph node (ty.node result) whose output is a.
local function node_macs(node, a)
   local op = node.op
   local ins = node.inputs
   if op == "matmul" and ins[1] then
      local s = ins[1].shape
      local k = s[#s] or 1
      return a.size * k
   elseif op == "conv" and ins[2] then
      local w = ins[2].shape
      return a.size * prod(w, 2)
   elseif op == "attention" and ins[1] and ins[2] then
      local q, k = ins[1].shape, ins[2].shape
      local L, S, D = q[#q - 1] or 1, k[#k - 1] or 1, q[#q] or 1
      return 2 * prod(q, 1, #q - 2) * L * S * D
   end
   return 0
end

-- The module's own mult-adds in one call: its graph from its outputs back to
-- its inputs (stop). A child's output (jumps[id] = the child call's inputs)
-- stands for the child's work, which is not counted here: the walk goes on
-- from the child's inputs.
local MAX_WALK = 200000
local function walk_macs(outputs, stop, jumps)
   if not ty.node then return 0 end
   local total, seen, stack, count = 0, {}, {}, 0
   for _, a in ipairs(outputs) do stack[#stack + 1] = a end
   while #stack > 0 do
      local a = table.remove(stack)
      local node = ty.node(a)
      if node then
         local id = node.id
         if not seen[id] and not stop[id] then
            seen[id] = true
            count = count + 1
            if count > MAX_WALK then break end
            local j = jumps[id]
            if j then
               for _, x in ipairs(j) do stack[#stack + 1] = x end
            else
               total = total + node_macs(node, a)
               for _, x in ipairs(node.inputs) do stack[#stack + 1] = x end
            end
         end
      end
   end
   return total
end

local function layer_kind(tname)
   if tname == "Linear" or tname == "Bilinear" or tname == "LazyLinear" then return "linear" end
   if tname == "RNN" or tname == "LSTM" or tname == "GRU" then return "rnn" end
   if tname:match("^Conv%d?[dD]?") or tname:match("^ConvTranspose") then return "conv" end
   return nil
end

-- ------------------------------------------------------------------ inputs

local function parse_inputs(input, opts)
   local dtypes = opts.dtypes
   if type(dtypes) == "string" then
      -- one dtype for every input
      local d = dtypes
      dtypes = setmetatable({}, {__index = function() return d end})
   end
   local function make(shape, i)
      local s = {}
      for k, v in ipairs(shape) do
         if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) then
            error(fmt("[summary] input shape must hold integers, got %s", tostring(v)), 4)
         end
         s[k] = math.tointeger(v)
      end
      if opts.batch_dim then table.insert(s, opts.batch_dim, 1) end
      local dt = dtypes and dtypes[i] or "float32"
      return ty.zeros(s, dt)
   end
   if ty.is_array(input) then return {input} end
   if type(input) ~= "table" then
      error("[summary] argument 2 must be an input shape {1, 784}, an example array or a " ..
            "list of them, got " .. type(input), 3)
   end
   if type(input[1]) == "number" then return {make(input, 1)} end
   local list = {}
   for i, v in ipairs(input) do
      if ty.is_array(v) then list[i] = v
      elseif type(v) == "table" then list[i] = make(v, i)
      else
         error(fmt("[summary] input %d must be a shape or an array, got %s", i, type(v)), 3)
      end
   end
   if #list == 0 then error("[summary] argument 2 is an empty table", 3) end
   return list
end

-- ------------------------------------------------------------------ table

local COLUMNS = {
   input_shape = "Input Shape", output_shape = "Output Shape", params = "Param #",
   mult_adds = "Mult-Adds", trainable = "Trainable",
}

local function unit(n)
   if n >= 1e12 then return "T", n / 1e12 end
   if n >= 1e9 then return "G", n / 1e9 end
   return "M", n / 1e6
end

local function render(res, opts)
   local cols = opts.columns
   local head = opts.var_names and "Layer (type (var_name):depth-idx)" or "Layer (type:depth-idx)"
   local cells = {{head}}
   for _, c in ipairs(cols) do cells[1][#cells[1] + 1] = COLUMNS[c] end
   for _, r in ipairs(res.rows) do
      if r.shown then
         local label
         if r.depth == 0 then
            label = r.type
            if opts.var_names and r.name ~= "" then label = label .. " (" .. r.name .. ")" end
         else
            label = r.prefix .. r.type
            if opts.var_names then label = label .. " (" .. r.leaf_name .. ")" end
            label = label .. fmt(": %d-%d", r.depth, r.idx)
         end
         local line = {label}
         for _, c in ipairs(cols) do
            local v
            if c == "input_shape" then v = r.input_text
            elseif c == "output_shape" then v = r.output_text
            elseif c == "params" then
               local p = r.expanded and r.own_params or r.total_params
               v = (p == 0 and (r.has_children or r.total_params == 0)) and "--" or commas(p)
               if r.recursive then v = "(recursive)" end
            elseif c == "mult_adds" then
               local m = r.expanded and r.own_mult_adds or r.mult_adds
               v = m == 0 and "--" or commas(m)
            elseif c == "trainable" then v = r.trainable_text end
            line[#line + 1] = v or "--"
         end
         cells[#cells + 1] = line
      end
   end
   local ncol = #cells[1]
   local width = {}
   for c = 1, ncol do
      local w = 0
      for _, line in ipairs(cells) do w = math.max(w, utf8.len(line[c]) or #line[c]) end
      width[c] = w
   end
   local function pad(s, w)
      return s .. string.rep(" ", w - (utf8.len(s) or #s))
   end
   local out = {}
   local total_w = 0
   for c = 1, ncol do total_w = total_w + width[c] + (c < ncol and 3 or 0) end
   total_w = math.max(total_w, 60)
   local rule = string.rep("=", total_w)
   local function emit(line)
      local parts = {}
      for c = 1, ncol do
         parts[c] = c < ncol and pad(line[c], width[c] + 3) or line[c]
      end
      out[#out + 1] = table.concat(parts):gsub("%s+$", "")
   end
   out[#out + 1] = rule
   emit(cells[1])
   out[#out + 1] = rule
   for i = 2, #cells do emit(cells[i]) end
   out[#out + 1] = rule
   out[#out + 1] = "Total params: " .. commas(res.total_params)
   out[#out + 1] = "Trainable params: " .. commas(res.trainable_params)
   out[#out + 1] = "Non-trainable params: " .. commas(res.non_trainable_params)
   if opts.no_input then
      out[#out + 1] = rule
      return table.concat(out, "\n")
   end
   local u, v = unit(res.total_mult_adds)
   out[#out + 1] = fmt("Total mult-adds (%s): %.2f", u, v)
   out[#out + 1] = rule
   out[#out + 1] = fmt("Input size (MB): %.2f", res.input_size_mb)
   out[#out + 1] = fmt("Forward/backward pass size (MB): %.2f", res.forward_backward_mb)
   out[#out + 1] = fmt("Params size (MB): %.2f", res.params_size_mb)
   out[#out + 1] = fmt("Estimated Total Size (MB): %.2f", res.total_size_mb)
   out[#out + 1] = rule
   return table.concat(out, "\n")
end

-- ------------------------------------------------------------------ summary

local VALID_COLUMNS = {input_shape = true, output_shape = true, params = true,
                       mult_adds = true, trainable = true}
local OPTS = {depth = true, columns = true, batch_dim = true, dtypes = true, print = true,
              var_names = true}

local result_mt = {
   __tostring = function(r)
      if r.no_input then
         return fmt("summary of %s: %s params (%s trainable)", r.model_type,
                    commas(r.total_params), commas(r.trainable_params))
      end
      local u, v = unit(r.total_mult_adds)
      return fmt("summary of %s: %s params (%s trainable), %.2f %s mult-adds", r.model_type,
                 commas(r.total_params), commas(r.trainable_params), v, u)
   end,
}

local function summary(model, input, opts)
   local nn = ty.nn
   local is_module = nn and nn.is_module or function(v)
      return type(v) == "table" and type(v.forward) == "function"
   end
   if not is_module(model) then
      error("[summary] argument 1 must be a model (an nn.Module), got " .. type(model), 2)
   end
   -- without an input (as torchinfo's summary(model)): the layers and their
   -- parameters only, no forward pass
   if opts == nil and type(input) == "table" and not ty.is_array(input) and input[1] == nil
      and next(input) ~= nil then
      -- ty.summary(model, {depth=2}): options without an input
      local only_opts = true
      for k in pairs(input) do if not OPTS[k] then only_opts = false end end
      if only_opts then input, opts = nil, input end
   end
   local no_input = input == nil
   opts = opts or {}
   if type(opts) ~= "table" then error("[summary] argument 3 must be an options table", 2) end
   for k in pairs(opts) do
      if not OPTS[k] then
         error(fmt("[summary] unknown option '%s' (expected depth, columns, batch_dim, " ..
                   "dtypes, print, var_names)", tostring(k)), 2)
      end
   end
   local depth = opts.depth or 3
   if math.type(depth) ~= "integer" or depth < 0 then
      error("[summary] depth must be a non-negative integer, got " .. tostring(depth), 2)
   end
   local columns = opts.columns or (no_input and {"params"}) or
      {"input_shape", "output_shape", "params", "mult_adds"}
   for _, c in ipairs(columns) do
      if not VALID_COLUMNS[c] then
         error(fmt("[summary] unknown column '%s' (expected input_shape, output_shape, " ..
                   "params, mult_adds, trainable)", tostring(c)), 2)
      end
      if no_input and c ~= "params" and c ~= "trainable" then
         error(fmt("[summary] column '%s' needs an input: pass an input shape such as " ..
                   "{1, 784} or an example input as argument 2", c), 2)
      end
   end
   local inputs = no_input and {} or parse_inputs(input, opts)

   -- the module tree, pre-order, with each module's first appearance
   local info = {}            -- module -> record
   local order = {}
   -- depth-idx as torchinfo: idx counts the rows of each depth through the
   -- whole table (3-1 ... 3-5 in the first block, 3-6 ... in the next), so
   -- that every label is unique
   local counters = {}
   local function visit(m, name, leaf_name, depth_, _, prefix, parent)
      counters[depth_] = (counters[depth_] or 0) + 1
      local idx = counters[depth_]
      local rec = info[m]
      local row = {module = m, name = name, leaf_name = leaf_name, type = m:type_name(),
                   depth = depth_, idx = idx, prefix = prefix, parent = parent, children = {}}
      order[#order + 1] = row
      if rec then
         row.recursive = true
         row.first = rec
         return row
      end
      info[m] = row
      row.calls = {}
      local kids = m:named_children()
      row.has_children = #kids > 0
      for i, kv in ipairs(kids) do
         local last = i == #kids
         local child_prefix
         if depth_ == 0 then child_prefix = "" else
            child_prefix = prefix:gsub("├─$", "│   "):gsub("└─$", "    ")
         end
         local cp = child_prefix .. (last and "└─" or "├─")
         local cname = name == "" and kv[1] or (name .. "." .. kv[1])
         row.children[i] = visit(kv[2], cname, kv[1], depth_ + 1, i, cp, row)
      end
      return row
   end
   local root = visit(model, "", "", 0, 1, "", nil)

   -- hooks record every call's inputs and outputs
   local hooks = {}
   for m, row in pairs(info) do
      hooks[#hooks + 1] = m:register_forward_hook(function(_, ins, out)
         row.calls[#row.calls + 1] = {inputs = ins, output = out}
      end)
   end
   local was_training = model.training
   model:eval()
   local ok, err = pcall(function()
      if no_input then return end
      return model(table.unpack(inputs))
   end)
   for _, h in ipairs(hooks) do h.remove() end
   if was_training then model:train() end
   if not ok then
      local msg = tostring(err):gsub("^lua/tycho/summary%.lua:%d+: ", "")
      if msg:find("integer indices", 1, true) and not opts.dtypes then
         msg = msg .. " (an input of ids: pass {dtypes={'int32'}}, or --dtype int32 to " ..
            "`tycho summary`)"
      end
      error("[summary] the forward pass failed on input " .. shape_text(inputs) .. ": " ..
            msg, 2)
   end

   -- parameters: unique arrays, first owner in pre-order
   local trainable = {}
   local tp = model.named_trainable_parameters and model:named_trainable_parameters() or nil
   if tp then
      for _, kv in ipairs(tp) do trainable[kv[2]] = true end
   else
      for _, a in ipairs(ty.tree.leaves(model:trainable_parameters())) do trainable[a] = true end
   end
   local owned = {}
   local total_params, trainable_params, params_bytes = 0, 0, 0
   for _, row in ipairs(order) do
      row.own_params, row.own_trainable = 0, 0
      if not row.recursive then
         for _, kv in ipairs(row.module:named_parameters({recurse = false})) do
            local a = kv[2]
            if not owned[a] then
               owned[a] = true
               row.own_params = row.own_params + a.size
               if trainable[a] then row.own_trainable = row.own_trainable + a.size end
               total_params = total_params + a.size
               params_bytes = params_bytes + nbytes(a)
               if trainable[a] then trainable_params = trainable_params + a.size end
            end
         end
      end
   end

   -- mult-adds per module (own work, every call)
   local fwd_bytes = 0
   for _, row in ipairs(order) do
      row.own_mult_adds = 0
      if not row.recursive then
         local kind = layer_kind(row.type)
         for _, call in ipairs(row.calls) do
            local outs = arrays_of(call.output)
            if kind == "linear" and outs[1] then
               local s = outs[1].shape
               row.own_mult_adds = row.own_mult_adds + prod(s, 1, #s - 1) * row.own_params
            elseif kind == "rnn" and outs[1] then
               -- as torchinfo: every step of every sequence uses all the weights
               local s = outs[1].shape
               row.own_mult_adds = row.own_mult_adds + prod(s, 1, math.min(2, #s - 1)) *
                  row.own_params
            elseif kind == "conv" and outs[1] then
               local s = outs[1].shape
               local n = (#s >= 3) and (s[1] * prod(s, 3)) or prod(s, 2)
               row.own_mult_adds = row.own_mult_adds + n * row.own_params
            else
               local stop, jumps = {}, {}
               for _, a in ipairs(arrays_of(call.inputs)) do stop[array_key(a)] = true end
               for _, child in ipairs(row.children) do
                  local target = child.recursive and child.first or child
                  for _, cc in ipairs(target.calls or {}) do
                     local cin = arrays_of(cc.inputs)
                     for _, a in ipairs(arrays_of(cc.output)) do jumps[array_key(a)] = cin end
                  end
               end
               for _, p in ipairs(row.module:named_parameters()) do stop[array_key(p[2])] = true end
               row.own_mult_adds = row.own_mult_adds + walk_macs(outs, stop, jumps)
            end
            -- as torchinfo: the outputs of the leaf layers that have parameters
            if not row.has_children and row.own_params > 0 then
               for _, a in ipairs(outs) do fwd_bytes = fwd_bytes + nbytes(a) end
            end
         end
      end
   end

   -- subtree totals (post-order: children come after parents in `order`)
   for i = #order, 1, -1 do
      local row = order[i]
      row.total_params = row.own_params
      row.total_trainable = row.own_trainable
      row.mult_adds = row.own_mult_adds
      for _, c in ipairs(row.children) do
         row.total_params = row.total_params + c.total_params
         row.total_trainable = row.total_trainable + c.total_trainable
         row.mult_adds = row.mult_adds + c.mult_adds
      end
   end
   local total_macs = root.mult_adds

   -- display fields
   local occurrence = {}
   for _, row in ipairs(order) do
      row.shown = row.depth <= depth
      row.expanded = row.has_children and row.depth < depth
      local call
      if row.recursive then
         -- the n-th appearance of a shared module shows its n-th call
         local first = row.first
         occurrence[first] = (occurrence[first] or 1) + 1
         local calls = first.calls or {}
         call = calls[occurrence[first]] or calls[1]
      else
         call = (row.calls or {})[1]
      end
      if call then
         row.input_shape = (arrays_of(call.inputs)[1] or {}).shape
         local o = arrays_of(call.output)[1]
         row.output_shape = o and o.shape
         row.input_text = shape_text(arrays_of(call.inputs))
         row.output_text = shape_text(call.output)
      else
         row.input_text, row.output_text = "--", "--"
      end
      local tot, tr_ = row.total_params, row.total_trainable
      if tot == 0 then row.trainable_text = "--"
      elseif tr_ == tot then row.trainable_text = "True"
      elseif tr_ == 0 then row.trainable_text = "False"
      else row.trainable_text = "Partial" end
      row.trainable = row.trainable_text
      row.params = row.expanded and row.own_params or row.total_params
   end
   for _, row in ipairs(order) do
      row.module, row.parent, row.calls, row.first = nil, nil, nil, nil
   end

   local input_bytes = 0
   for _, a in ipairs(inputs) do input_bytes = input_bytes + nbytes(a) end
   local res = {
      model_type = root.type,
      rows = order,
      total_params = total_params,
      trainable_params = trainable_params,
      non_trainable_params = total_params - trainable_params,
      total_mult_adds = total_macs,
      input_size_mb = input_bytes / 1e6,
      forward_backward_mb = 2 * fwd_bytes / 1e6,
      params_size_mb = params_bytes / 1e6,
   }
   res.total_size_mb = res.input_size_mb + res.forward_backward_mb + res.params_size_mb
   res.no_input = no_input or nil
   res.text = render(res, {columns = columns, var_names = opts.var_names, no_input = no_input})
   for _, row in ipairs(order) do row.children = nil end
   if opts.print ~= false then print(res.text) end
   return setmetatable(res, result_mt)
end

ty.summary = summary
ty.__doc[summary] = [[ty.summary(model, [input], [{depth=3, columns=, batch_dim=, dtypes=, print=true,
                                var_names=false}]) -> table
  Prints a torchinfo-style table of model's layers: "Layer (type:depth-idx)"
  drawn as a tree, Input Shape, Output Shape, Param #, Mult-Adds (columns: any
  of 'input_shape', 'output_shape', 'params', 'mult_adds', 'trainable'), then
  the total / trainable / non-trainable parameters, total mult-adds, and the
  input, forward/backward (2 x the outputs of the leaf layers with parameters,
  as torchinfo), parameter and total sizes in MB. Rows are labelled
  "Type: depth-idx", idx counting the rows of each depth through the table. input: a full input shape {1, 1, 28, 28} (batch included; or
  without it and batch_dim=1), an example array, or a list of shapes/arrays for
  several inputs (dtypes={'int32', ...} for each shape, or one dtype name for
  all; default float32). Without an input (nil), as torchinfo's summary(model):
  the layers and their parameters only (columns 'params' and 'trainable').
  Shapes come from lazy shape inference: the forward only builds graphs, so
  even a model too large for memory is summarised at once and nothing is
  allocated. Layers deeper than depth are folded into their parent's row.
  Mult-adds: Linear, Conv and RNN/LSTM/GRU as torchinfo; other layers' own matmuls,
  convolutions and attention from their graphs (ty.node); elementwise work is
  not counted. Returns the data: {rows={{name=, type=, depth=, idx=,
  input_shape=, output_shape=, params=, own_params=, total_params=,
  mult_adds=, trainable=}, ...}, total_params=, trainable_params=,
  non_trainable_params=, total_mult_adds=, input_size_mb=,
  forward_backward_mb=, params_size_mb=, total_size_mb=, text=}.]]

if ty.nn and ty.nn.Module then
   local Module = ty.nn.Module
   function Module.summary(self, input, opts)
      return summary(self, input, opts)
   end
   ty.__doc[Module.summary] = "module:summary([input], [opts]) -> table\n" ..
      "  ty.summary(module, input, opts): see help(ty.summary)."
end

return summary
