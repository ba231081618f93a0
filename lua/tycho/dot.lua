-- tycho.dot -- ty.dot: Graphviz export of models (the module graph, with
-- output shapes and parameter counts) and of lazy computation graphs (what
-- an unevaluated array, e.g. a loss and its gradients, will compute).
-- Rendering goes through libgvc (viz/dot.c) by the file's extension.
local ty = require "tycho"

local V = ty._viz
local M = ty.dot or {}
ty.dot = M
M.__doc = "ty.dot"

local docs = {}
local fmt = string.format
local SRC = debug.getinfo(1, "S").source

-- Raises msg at the first caller outside this file.
local function fail(msg)
   local lvl = 2
   while true do
      local info = debug.getinfo(lvl, "S")
      if not info then lvl = 0 break end
      if info.source ~= SRC and info.what ~= "C" then break end
      lvl = lvl + 1
   end
   error(msg, lvl)
end

local function call(fn, ...)
   local r = table.pack(pcall(fn, ...))
   if not r[1] then fail(r[2]) end
   return table.unpack(r, 2, r.n)
end

local function check_opts(fname, opts, allowed)
   if opts == nil then return {} end
   if type(opts) ~= "table" then fail(fmt("[%s] options must be a table, got %s", fname, type(opts))) end
   local set = {}
   for w in allowed:gmatch("%S+") do set[w] = true end
   for k in pairs(opts) do
      if not set[k] then
         fail(fmt("[%s] unknown option '%s' (expected %s)", fname, tostring(k),
                  allowed:gsub(" ", ", ")))
      end
   end
   return opts
end

local RANKDIRS = {TB = true, LR = true, BT = true, RL = true}

-- Checks the options common to model and graph.
local function check_common(fname, opts)
   if opts.rankdir ~= nil and not RANKDIRS[opts.rankdir] then
      fail(fmt("[%s] rankdir must be 'TB', 'LR', 'BT' or 'RL', got %s", fname,
               tostring(opts.rankdir)))
   end
   if opts.title ~= nil and type(opts.title) ~= "string" then
      fail(fmt("[%s] title must be a string, got %s", fname, type(opts.title)))
   end
end

-- A DOT string literal.
local function q(s)
   s = tostring(s):gsub('[\\"]', '\\%0'):gsub("\n", "\\n")
   return '"' .. s .. '"'
end

local function shape_x(a)
   local s = a.shape
   if #s == 0 then return "scalar" end
   return table.concat(s, "x")
end

local function shape_t(s)
   return "(" .. table.concat(s, ",") .. ")"
end

local function commas(n)
   local s = tostring(math.tointeger(n) or n)
   local k
   repeat s, k = s:gsub("^(-?%d+)(%d%d%d)", "%1,%2") until k == 0
   return s
end

local function write(text, path)
   if path ~= nil then
      if type(path) ~= "string" then fail("[dot] path must be a string, got " .. type(path)) end
      call(V.dot_write, text, path)
   end
   return text
end

-- ---------------------------------------------------------------- model graphs

local type_colors = {
   {"^Linear", "#dbe9f6"}, {"^Bilinear", "#dbe9f6"}, {"Conv", "#d9f0d3"},
   {"Pool", "#e5f5e0"}, {"Norm", "#fde0ef"}, {"Dropout", "#eeeeee"},
   {"Embedding", "#fee6ce"}, {"Attention", "#fdd0a2"}, {"Transformer", "#fdd0a2"},
   {"LSTM", "#e7d4e8"}, {"GRU", "#e7d4e8"}, {"RNN", "#e7d4e8"}, {"Flatten", "#f7f7f7"},
}

local function type_color(name)
   for _, tc in ipairs(type_colors) do
      if name:find(tc[1]) then return tc[2] end
   end
   return "#fff7bc" -- activations and the rest
end

local function first_array(v, depth)
   depth = depth or 0
   if ty.is_array(v) then return v end
   if type(v) == "table" and depth < 3 then
      for _, x in ipairs(v) do
         local a = first_array(x, depth + 1)
         if a then return a end
      end
   end
   return nil
end

local function arrays_in(v, out, depth)
   depth = depth or 0
   if ty.is_array(v) then
      out[#out + 1] = v
   elseif type(v) == "table" and depth < 3 then
      for _, x in ipairs(v) do arrays_in(x, out, depth + 1) end
   end
   return out
end

-- The example inputs from opts: input= (an array or a list of arrays), or
-- input_shape= (a shape, a list of shapes, an array or a list of arrays).
local function example_inputs(opts)
   local spec = opts.input
   if spec == nil then spec = opts.input_shape end
   if spec == nil then return nil end
   local dtype = opts.dtype or "float32"
   local function one(s)
      if ty.is_array(s) then return s end
      if type(s) == "table" then
         for _, d in ipairs(s) do
            if math.type(d) ~= "integer" or d < 0 then
               fail(fmt("[dot.model] input_shape must be a list of non-negative integers, got %s",
                        tostring(d)))
            end
         end
         return ty.zeros(s, {dtype = dtype})
      end
      fail("[dot.model] input_shape must be a shape table or an array, got " .. type(s))
   end
   if ty.is_array(spec) then return {spec} end
   if type(spec) == "table" and (ty.is_array(spec[1]) or type(spec[1]) == "table") then
      local list = {}
      for i, s in ipairs(spec) do list[i] = one(s) end
      return list
   end
   return {one(spec)}
end

local function param_count(m, recurse)
   local n = 0
   for _, p in ipairs(m:named_parameters({recurse = recurse})) do n = n + p[2].size end
   return n
end

function M.model(model, path, opts)
   if type(path) == "table" and opts == nil then path, opts = nil, path end
   opts = check_opts("dot.model", opts, "input input_shape dtype rankdir title")
   check_common("dot.model", opts)
   if opts.dtype ~= nil and (type(opts.dtype) ~= "string" or
                             not pcall(ty.zeros, {0}, {dtype = opts.dtype})) then
      fail(fmt("[dot.model] dtype must be a dtype name such as 'float32', got %s",
               tostring(opts.dtype)))
   end
   local nn = ty.nn
   if not (nn and nn.is_module and nn.is_module(model)) then
      fail("[dot.model] argument 1 must be a module (ty.nn.Module), got " .. type(model))
   end
   local named = model:named_modules()
   local info = {}      -- module -> {id=, name=, kids=, out=, inputs=}
   local order = {}
   for i, nm in ipairs(named) do
      local m = nm[2]
      if not info[m] then
         info[m] = {id = "m" .. i, name = nm[1], kids = {}}
         order[#order + 1] = m
      end
   end
   -- the module tree: a child counts under the parent it was first named
   -- through (a shared module is drawn once; a back reference such as
   -- self.child.parent = self is no child, so no endless recursion)
   for _, m in ipairs(order) do
      local pname = info[m].name
      for _, c in ipairs(m:named_children()) do
         local ci = info[c[2]]
         if ci and ci.name == (pname == "" and c[1] or pname .. "." .. c[1]) then
            table.insert(info[m].kids, c[2])
         end
      end
   end

   -- a lazy forward pass recording each module's inputs and output
   local inputs = example_inputs(opts)
   local final
   if inputs then
      local hooks = {}
      for _, m in ipairs(order) do
         hooks[#hooks + 1] = m:register_forward_hook(function(mod, ins, out)
            local rec = info[mod]
            rec.out = first_array(out)
            rec.outs = arrays_in(out, {})
            rec.ins = arrays_in(ins, {})
         end)
      end
      local ok, r = pcall(function() return model(table.unpack(inputs)) end)
      for _, h in ipairs(hooks) do h:remove() end
      if not ok then
         fail(fmt("[dot.model] the forward pass on input %s failed: %s",
                  shape_t(inputs[1].shape), (tostring(r):gsub("^[^%[]-:%d+: ", ""))))
      end
      final = first_array(r)
   end

   local lines = {"digraph model {",
                  fmt("  rankdir=%s;", opts.rankdir or "TB"),
                  '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
                  '  edge [fontname="Helvetica", fontsize=9, color="#555555"];'}
   local title = opts.title or fmt("%s  (%s parameters)", model:type_name(),
                                   commas(param_count(model, true)))
   lines[#lines + 1] = fmt('  labelloc=t; label=%s; fontname="Helvetica"; fontsize=14;', q(title))

   local function label_of(m)
      local rec = info[m]
      local name = rec.name == "" and "" or rec.name .. ": "
      local parts = {name .. m:type_name()}
      if rec.out then parts[#parts + 1] = "out " .. shape_t(rec.out.shape) end
      local n = param_count(m, true)
      if n > 0 then parts[#parts + 1] = commas(n) .. " params" end
      return table.concat(parts, "\n")
   end

   local leaves = {}
   local function emit(m, indent)
      local rec = info[m]
      if #rec.kids == 0 then
         lines[#lines + 1] = fmt("%s%s [label=%s, fillcolor=%s];", indent, rec.id,
                                 q(label_of(m)), q(type_color(m:type_name())))
         leaves[#leaves + 1] = m
         return
      end
      lines[#lines + 1] = fmt("%ssubgraph cluster_%s {", indent, rec.id)
      lines[#lines + 1] = fmt('%s  label=%s; style="rounded,dashed"; color="#888888"; fontsize=11;',
                              indent, q(label_of(m)))
      for _, c in ipairs(rec.kids) do emit(c, indent .. "  ") end
      lines[#lines + 1] = indent .. "}"
   end

   local root = info[model]
   if #root.kids == 0 then
      emit(model, "  ")
   else
      for _, c in ipairs(root.kids) do emit(c, "  ") end
   end

   local edges = {}
   local function edge(a, b, label)
      local key = a .. "->" .. b
      if edges[key] then return end
      edges[key] = true
      lines[#lines + 1] = fmt("  %s -> %s%s;", a, b, label and fmt(" [label=%s]", q(label)) or "")
   end

   if inputs then
      -- data flow: which leaf output (or model input) each leaf's inputs come from
      local producer = {}
      for i, x in ipairs(inputs) do
         local id = "in" .. i
         producer[ty.array_id(x)] = id
         lines[#lines + 1] = fmt('  %s [label=%s, shape=ellipse, fillcolor="#ffffff"];', id,
                                 q((#inputs > 1 and "input " .. i or "input") .. "\n" ..
                                   shape_t(x.shape)))
      end
      for _, m in ipairs(leaves) do
         for _, o in ipairs(info[m].outs or {}) do producer[ty.array_id(o)] = info[m].id end
      end
      -- walks back from array x through the ops (at most limit arrays) to the
      -- producers' outputs, drawing an edge from each producer to node `to`
      local function link_back(x, to, limit)
         local stack, seen, steps = {x}, {}, 0
         while #stack > 0 and steps < limit do
            local a = table.remove(stack)
            local id = ty.array_id(a)
            if not seen[id] then
               seen[id] = true
               steps = steps + 1
               local p = producer[id]
               if p and p ~= to then
                  edge(p, to, shape_x(a))
               elseif not p then
                  local node = ty.node(a)
                  if node then
                     for _, inp in ipairs(node.inputs) do stack[#stack + 1] = inp end
                  end
               end
            end
         end
      end
      local limit = opts.max_walk or 200000
      for _, m in ipairs(leaves) do
         local rec = info[m]
         for _, x in ipairs(rec.ins or {}) do link_back(x, rec.id, limit) end
      end
      if final then
         lines[#lines + 1] = fmt('  out [label=%s, shape=ellipse, fillcolor="#ffffff"];',
                                 q("output\n" .. shape_t(final.shape)))
         link_back(final, "out", math.huge)
      end
   else
      -- no example input: chain the children of each container in order
      local function entry(m)
         local rec = info[m]
         if #rec.kids == 0 then return rec.id end
         return entry(rec.kids[1])
      end
      local function exit(m)
         local rec = info[m]
         if #rec.kids == 0 then return rec.id end
         return exit(rec.kids[#rec.kids])
      end
      for _, m in ipairs(order) do
         local kids = info[m].kids
         for i = 2, #kids do edge(exit(kids[i - 1]), entry(kids[i])) end
      end
   end
   lines[#lines + 1] = "}"
   local text = table.concat(lines, "\n") .. "\n"
   return write(text, path)
end
docs[M.model] = [[
ty.dot.model(model, path=nil, {input_shape= | input=, dtype='float32', rankdir='TB', title=})
             -> dot text
  The module graph of an nn.Module: one box per layer with its name, type,
  output shape and parameter count; containers with children are drawn as
  clusters. With an example input (input_shape={1,784}, a list of shapes, an
  array or a list of arrays) a lazy forward pass records each module's output
  shape through forward hooks — nothing is evaluated — and edges follow the
  data flow (residual connections included), labelled with shapes. Without
  one, the children of each container are chained in order. path: .dot (the
  text), .svg, .png, .pdf, .ps (rendered by Graphviz); nil: only returned.]]

-- ---------------------------------------------------------------- lazy graphs

-- Walks a tree of arrays, calling fn(array, path) for each leaf.
local function walk_tree(v, path, fn, seen)
   if ty.is_array(v) then
      fn(v, path)
   elseif type(v) == "table" then
      if seen[v] then return end
      seen[v] = true
      if ty.nn and ty.nn.is_module and ty.nn.is_module(v) then
         for _, p in ipairs(v:named_parameters()) do
            fn(p[2], path == "" and p[1] or path .. "." .. p[1])
         end
         return
      end
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys, function(a, b)
         local ta, tb = type(a), type(b)
         if ta ~= tb then return ta == "number" end
         return a < b
      end)
      for _, k in ipairs(keys) do
         walk_tree(v[k], path == "" and tostring(k) or path .. "." .. tostring(k), fn, seen)
      end
   end
end

local function op_color(op)
   if op == "matmul" or op == "conv" then return "#dbe9f6" end
   if op == "reshape" or op == "transpose" or op == "broadcast_to" or op == "slice" then
      return "#f2f2f2"
   end
   if op == "sum" or op == "max" or op == "min" or op == "prod" or op == "mean" then
      return "#e5f5e0"
   end
   return "#ffffff"
end

function M.graph(arrays, path, opts)
   if type(path) == "table" and opts == nil then path, opts = nil, path end
   opts = check_opts("dot.graph", opts, "params names max_nodes title rankdir")
   check_common("dot.graph", opts)
   if opts.max_nodes ~= nil and (math.type(opts.max_nodes) ~= "integer" or opts.max_nodes < 1) then
      fail("[dot.graph] max_nodes must be a positive integer, got " .. tostring(opts.max_nodes))
   end
   for _, k in ipairs{"params", "names"} do
      if opts[k] ~= nil and (type(opts[k]) ~= "table" or ty.is_array(opts[k])) then
         fail(fmt("[dot.graph] %s must be a tree of arrays or a module, got %s", k,
                  ty.is_array(opts[k]) and "an array" or type(opts[k])))
      end
   end
   -- the roots
   local roots = {}
   if ty.is_array(arrays) then
      roots[1] = {a = arrays, label = arrays:name() or "output"}
   elseif type(arrays) == "table" then
      walk_tree(arrays, "", function(a, p) roots[#roots + 1] = {a = a, label = a:name() or p} end, {})
      for k, v in pairs(arrays) do
         if not ty.is_array(v) and type(v) ~= "table" then
            fail(fmt("[dot.graph] argument 1: entry '%s' must be an array or a table, got %s",
                     tostring(k), type(v)))
         end
      end
   else
      fail("[dot.graph] argument 1 must be an array or a tree of arrays, got " .. type(arrays))
   end
   if #roots == 0 then fail("[dot.graph] no arrays given") end
   for _, r in ipairs(roots) do
      if not ty.node(r.a) then
         fail(fmt("[dot.graph] the array%s is evaluated: it has no graph (build it again " ..
                  "before evaluating)", (#roots > 1 and r.label ~= "") and " '" .. r.label .. "'" or ""))
      end
   end
   -- parameter names (by array id)
   local pname = {}
   if opts.params ~= nil then
      walk_tree(opts.params, "", function(a, p) pname[ty.array_id(a)] = p end, {})
   end
   if opts.names ~= nil then
      walk_tree(opts.names, "", function(a, p) pname[ty.array_id(a)] = p end, {})
   end
   local max_nodes = opts.max_nodes or 3000

   -- identity views (same shape: traced inputs, stop_gradient) are drawn as
   -- their input; `traced` marks leaves seen through one (what gradients are
   -- taken against)
   local traced = {}
   local function resolve(a)
      local node = ty.node(a)
      while node and node.op == "reshape" and #node.inputs == 1 do
         local b = node.inputs[1]
         if shape_t(b.shape) ~= shape_t(a.shape) then break end
         local bid = ty.array_id(b)
         if pname[bid] or not ty.node(b) or node.view == "trace" then
            traced[bid] = true
            return b
         end
         a, node = b, ty.node(b)
      end
      return a
   end

   local nodes, order, edges = {}, {}, {}
   local stack = {}
   for _, r in ipairs(roots) do stack[#stack + 1] = resolve(r.a) end
   while #stack > 0 do
      local a = table.remove(stack)
      local id = ty.array_id(a)
      if not nodes[id] then
         local node = not (pname[id] or traced[id]) and ty.node(a) or nil
         nodes[id] = {a = a, node = node}
         order[#order + 1] = id
         if #order > max_nodes then
            fail(fmt("[dot.graph] the graph has more than %d nodes: pass {max_nodes=} to draw " ..
                     "it anyway (Graphviz gets slow on large graphs)", max_nodes))
         end
         if node then
            local ins = {}
            for i, inp in ipairs(node.inputs) do
               local r = resolve(inp)
               ins[i] = r
               stack[#stack + 1] = r
            end
            nodes[id].ins = ins
         end
      end
   end
   table.sort(order)

   local root_label = {}
   for _, r in ipairs(roots) do
      local id = ty.array_id(resolve(r.a))
      if root_label[id] then root_label[id] = root_label[id] .. ", " .. r.label
      else root_label[id] = r.label end
   end

   local lines = {"digraph graph_ {",
                  fmt("  rankdir=%s;", opts.rankdir or "TB"),
                  '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
                  '  edge [fontname="Helvetica", fontsize=8, color="#555555"];'}
   if opts.title then
      lines[#lines + 1] = fmt('  labelloc=t; label=%s; fontname="Helvetica";', q(opts.title))
   end
   local nparams, nops = 0, 0
   for _, id in ipairs(order) do
      local rec = nodes[id]
      local a, node = rec.a, rec.node
      local name = a:name()
      local label, attrs
      if not node then
         local pn = pname[id] or name
         if pname[id] or traced[id] then
            nparams = nparams + 1
            label = (pn or "param") .. "\n" .. shape_t(a.shape)
            attrs = 'shape=box, fillcolor="#c7e9c0", color="#238b45"'
         else
            local what = pn
            if not what then
               if a.size == 1 then
                  local v = a:item()
                  what = type(v) == "number" and fmt("%.6g", v) or tostring(v)
               else
                  what = "array"
               end
            end
            label = what .. "\n" .. shape_t(a.shape) .. " " .. a.dtype
            attrs = 'shape=box, style="filled", fillcolor="#f0f0f0"'
         end
      else
         nops = nops + 1
         label = node.op
         if name then label = name .. " = " .. label end
         if #node.inputs == 0 then label = label .. "\n" .. shape_t(a.shape) end
         attrs = fmt("fillcolor=%s", q(op_color(node.op)))
         if name then attrs = attrs .. ', color="#08519c", penwidth=2' end
      end
      if root_label[id] then
         label = label .. "\n[" .. root_label[id] .. " " .. shape_t(a.shape) .. "]"
         attrs = attrs .. ', peripheries=2'
      end
      lines[#lines + 1] = fmt("  n%d [label=%s, %s];", id, q(label), attrs)
   end
   for _, id in ipairs(order) do
      local rec = nodes[id]
      for _, inp in ipairs(rec.ins or {}) do
         edges[#edges + 1] = fmt("  n%d -> n%d [label=%s];", ty.array_id(inp), id,
                                 q(shape_x(inp)))
      end
   end
   for _, e in ipairs(edges) do lines[#lines + 1] = e end
   lines[#lines + 1] = "}"
   local text = table.concat(lines, "\n") .. "\n"
   return write(text, path), {nodes = #order, ops = nops, params = nparams, edges = #edges}
end
docs[M.graph] = [[
ty.dot.graph(arrays, path=nil, {params=, names=, max_nodes=3000, title=, rankdir='TB'})
             -> dot text, {nodes=, ops=, params=, edges=}
  The lazy computation graph behind unevaluated arrays (an array or a tree of
  them, e.g. the loss and the gradients value_and_grad returned: forward and
  backward together): one node per op (its name), edges labelled with the
  shapes that flow ("32x10"), evaluated leaves as inputs. Parameters are
  coloured green: those given by params= (a tree such as model:parameters(),
  or a module) with their names, and the arrays gradients are taken against.
  Arrays named with x:name("logits") are labelled and outlined; the given
  arrays are double-bordered with their names in the tree. An evaluated
  array has no graph: asking for it is an error. path as for ty.dot.model.]]

function M.render(text, path)
   if type(text) ~= "string" then fail("[dot.render] argument 1 must be DOT text, got " .. type(text)) end
   if type(path) ~= "string" then fail("[dot.render] argument 2 must be a path, got " .. type(path)) end
   call(V.dot_write, text, path)
   return path
end
docs[M.render] = [[
ty.dot.render(text, path) -> path
  Writes DOT text to path: .dot/.gv as is, .svg, .png, .pdf, .ps laid out with
  Graphviz's dot (atomically).]]

function M.parse(text)
   if type(text) ~= "string" then fail("[dot.parse] argument 1 must be DOT text, got " .. type(text)) end
   if not text:find("%S") then fail("[dot.parse] the DOT text is empty") end
   return call(V.dot_parse, text)
end
docs[M.parse] = [[
ty.dot.parse(text) -> {nodes=, edges=, node_list={{name=, label=}}, edge_list={{tail=, head=,
             label=}}}
  Parses DOT text with libcgraph: node and edge counts and lists (an error
  names the syntax problem).]]

for fn, doc in pairs(docs) do ty.__doc[fn] = doc end
return M
