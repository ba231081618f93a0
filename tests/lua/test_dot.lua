-- test_dot.lua -- graph introspection (ty.node, ty.array_id, x:name) and
-- ty.dot: module graphs and lazy computation graphs written as DOT (parsed
-- back with libcgraph), SVG, PNG (size from IHDR) and PDF through libgvc.
local ty = require "tycho"
local h = require "helpers"

local eq, err = h.assert_eq, h.assert_error
local nn = ty.nn

local T = {}

local sh, read_bytes = h.sh, h.read_bytes
local DIR, tmp = h.tmpdir("dot")

-- ---------------------------------------------------------------- introspection

function T.node_of_unevaluated_and_evaluated_arrays()
   local x = ty.array{{1, 2, 3}, {4, 5, 6}}
   eq(ty.node(x), nil)                               -- data: evaluated
   local w = ty.array{{1}, {2}, {3}}
   local y = ty.matmul(x, w)
   local n = ty.node(y)
   eq(n.op, "matmul")
   eq(#n.inputs, 2)
   eq(ty.array_id(n.inputs[1]), ty.array_id(x))
   eq(ty.array_id(n.inputs[2]), ty.array_id(w))
   eq(n.id, ty.array_id(y))
   local z = ty.ones{3}                               -- creation nodes have no inputs
   eq(ty.node(z).op, "full")
   eq(#ty.node(z).inputs, 0)
   y:eval()
   eq(ty.node(y), nil, "an evaluated array has no node")
   eq(ty.node(x + 1).op, "add")
end

function T.view_nodes_are_nodes_too()
   local x = ty.array{{1, 2, 3}, {4, 5, 6}}
   eq(ty.node(x:reshape{3, 2}).op, "reshape")
   eq(ty.node(x.T).op, "transpose")
   eq(ty.node(ty.broadcast_to(x, {2, 2, 3})).op, "broadcast_to")
   eq(ty.node(x[{{1, 1}, {2, 3}}]).op, "slice")
end

function T.array_ids_are_unique_and_stable()
   local a, b = ty.zeros{2}, ty.zeros{2}
   assert(ty.array_id(a) ~= ty.array_id(b))
   assert(ty.array_id(b) > ty.array_id(a), "creation order")
   local id = ty.array_id(a)
   a:eval()
   eq(ty.array_id(a), id)
end

function T.names_set_get_clear()
   local x = ty.ones{2, 2}
   eq(x:name(), nil)
   local r = x:name("logits")
   assert(rawequal(r, x), "x:name(s) returns x")
   eq(x:name(), "logits")
   x:name(nil)
   eq(x:name(), nil)
   err(function() x:name(3) end, "[name]")
   assert(ty.__doc[ty.node] and ty.__doc[ty.array_id])
end

-- ---------------------------------------------------------------- model graphs

local function find_node(p, fragment)
   for _, n in ipairs(p.node_list) do
      if n.label:find(fragment, 1, true) then return n end
   end
   return nil
end

local function has_edge(p, a, b)
   for _, e in ipairs(p.edge_list) do
      if e.tail == a.name and e.head == b.name then return e end
   end
   return nil
end

function T.model_graph_of_a_sequential_mlp()
   local m = nn.Sequential(nn.Linear(784, 128), nn.ReLU(),
                           nn.Sequential(nn.Linear(128, 64), nn.ReLU()), nn.Linear(64, 10))
   local text = ty.dot.model(m, tmp("mlp.dot"), {input_shape = {32, 784}})
   eq(read_bytes(tmp("mlp.dot")), text)
   local p = ty.dot.parse(text)
   eq(p.nodes, 7)                                    -- 5 layers + input + output
   eq(p.edges, 6)                                    -- a chain
   local l1 = find_node(p, "1: Linear")
   assert(l1.label:find("(32,128)", 1, true), "output shape: " .. l1.label)
   assert(l1.label:find("100,480 params", 1, true), "parameter count: " .. l1.label)
   local relu = find_node(p, "2: ReLU")
   local inner = find_node(p, "3.1: Linear")
   assert(inner.label:find("8,256 params", 1, true))
   local e = has_edge(p, relu, inner)
   assert(e, "relu -> 3.1")
   eq(e.label, "32x128")
   local out = find_node(p, "output")
   assert(has_edge(p, find_node(p, "4: Linear"), out))
   assert(text:find("subgraph cluster_", 1, true), "the nested Sequential is a cluster")
   assert(text:find("109,386 parameters", 1, true), "the total in the title")
end

function T.model_graph_without_input_chains_children()
   local m = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
   local p = ty.dot.parse(ty.dot.model(m))
   eq(p.nodes, 3)
   eq(p.edges, 2)
end

function T.model_graph_follows_data_flow_with_residuals()
   local Block = nn.Module:extend("Block")
   function Block:init(d)
      self.fc1 = nn.Linear(d, d)
      self.act = nn.ReLU()
      self.fc2 = nn.Linear(d, d)
   end
   function Block:forward(x)
      return x + self.fc2(self.act(self.fc1(x)))
   end
   local Net = nn.Module:extend("Net")
   function Net:init()
      self.inp = nn.Linear(8, 16)
      self.block = Block(16)
      self.head = nn.Linear(16, 2)
   end
   function Net:forward(x) return self.head(self.block(self.inp(x))) end
   local net = Net()
   local text = ty.dot.model(net, nil, {input = ty.zeros{4, 8}})
   local p = ty.dot.parse(text)
   local inp, fc1, fc2, head = find_node(p, "inp: Linear"), find_node(p, "block.fc1: Linear"),
      find_node(p, "block.fc2: Linear"), find_node(p, "head: Linear")
   assert(has_edge(p, inp, fc1), "inp -> fc1")
   assert(has_edge(p, fc2, head), "fc2 -> head")
   assert(has_edge(p, inp, head), "the residual connection inp -> head")
   assert(not has_edge(p, fc1, head), "no false edge")
   eq(has_edge(p, inp, fc1).label, "4x16")
   err(function() ty.dot.model(net, nil, {input_shape = {4, 9}}) end,
       "[dot.model] the forward pass on input (4,9) failed")
   err(function() ty.dot.model({}, nil) end, "argument 1 must be a module")
end

function T.model_graph_renders_svg_png_pdf()
   local m = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))
   ty.dot.model(m, tmp("m.svg"), {input_shape = {1, 10}})
   local svg = read_bytes(tmp("m.svg"))
   assert(svg:find("<svg", 1, true) and svg:find("</svg>", 1, true))
   assert(svg:find("Linear", 1, true), "labels in the SVG")
   ty.dot.model(m, tmp("m.png"), {input_shape = {1, 10}})
   local png = read_bytes(tmp("m.png"))
   eq(png:sub(1, 8), "\137PNG\r\n\26\n")
   local w, hh = string.unpack(">I4I4", png, 17)
   assert(w > 50 and hh > 200, "a tall chain: " .. w .. "x" .. hh)
   local img = ty.plot.read_png(tmp("m.png"))
   eq(img.width, w)
   eq(img.height, hh)
   ty.dot.model(m, tmp("m.pdf"))
   eq(read_bytes(tmp("m.pdf")):sub(1, 5), "%PDF-")
   err(function() ty.dot.model(m, tmp("m.jpg")) end, "unknown file type")
end

-- ---------------------------------------------------------------- lazy graphs

function T.graph_of_a_matmul_has_the_expected_nodes_and_edges()
   local x = ty.array{{1, 2, 3}, {4, 5, 6}}
   local w = ty.array{{1}, {2}, {3}}
   local y = ty.matmul(x, w):name("y")
   local text, stats = ty.dot.graph(y, tmp("mm.dot"))
   local p = ty.dot.parse(read_bytes(tmp("mm.dot")))
   eq(p.nodes, 3)
   eq(p.edges, 2)
   eq(stats.nodes, 3)
   local mm = find_node(p, "y = matmul")
   assert(mm, "the named op is labelled")
   local labels = {}
   for _, e in ipairs(p.edge_list) do labels[#labels + 1] = e.label end
   table.sort(labels)
   eq(labels, {"2x3", "3x1"})
   assert(text:find("peripheries=2", 1, true), "the output is marked")
end

function T.graph_of_loss_and_gradients()
   local m = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
   local x = ty.random.normal{5, 6}
   local y = ty.array{1, 2, 3, 1, 2}
   local g = nn.value_and_grad(m, function(x, y)
      local logits = m(x):name("logits")
      return ((logits - y:reshape{5, 1}) ^ 2):mean()
   end)
   local loss, grads = g(x, y)
   local text, stats = ty.dot.graph({loss = loss, grads = grads}, tmp("g.svg"),
                                    {params = m:parameters(), title = "step"})
   eq(stats.params, 4, "the four parameters are coloured")
   local p = ty.dot.parse(text)
   eq(p.nodes, stats.nodes)
   eq(p.edges, stats.edges)
   assert(find_node(p, "1.weight"), "parameter names")
   assert(find_node(p, "logits = "), "the named logits")
   assert(find_node(p, "[grads.1.weight (4,6)]"), "the gradient outputs are labelled")
   assert(find_node(p, "[loss ()]"), "the loss")
   assert(find_node(p, "matmul"))
   local svg = read_bytes(tmp("g.svg"))
   assert(svg:find("<svg", 1, true) and #svg > 5000)
   -- without params=, the traced inputs of value_and_grad are still coloured
   local _, s2 = ty.dot.graph({loss, grads})
   eq(s2.params, 4)
   -- the traced inputs are identity views marked as such
   local traced = 0
   local seen, stack = {}, {loss}
   while #stack > 0 do
      local a = table.remove(stack)
      local n = ty.node(a)
      if n and not seen[n.id] then
         seen[n.id] = true
         if n.view == "trace" then traced = traced + 1 end
         for _, i in ipairs(n.inputs) do stack[#stack + 1] = i end
      end
   end
   eq(traced, 4)
end

function T.evaluated_arrays_have_no_graph()
   local x = ty.ones{3} * 2
   x:eval()
   err(function() ty.dot.graph(x, tmp("e.svg")) end,
       "[dot.graph] the array is evaluated: it has no graph (build it again before evaluating)")
   err(function() ty.dot.graph({a = ty.ones{2} + 1, b = x}) end, "the array 'b' is evaluated")
   err(function() ty.dot.graph(3) end, "argument 1 must be an array")
   local big = ty.ones{2}
   for _ = 1, 30 do big = big + 1 end
   err(function() ty.dot.graph(big, nil, {max_nodes = 10}) end, "more than 10 nodes")
end

function T.dot_parse_and_render_errors()
   local p = ty.dot.parse("digraph { a -> b; b -> c; a [label=\"A\"]; }")
   eq(p.nodes, 3)
   eq(p.edges, 2)
   eq(find_node(p, "A").name, "a")
   err(function() ty.dot.parse("digraph { a -> ") end, "[dot] the DOT text does not parse")
   err(function() ty.dot.render("digraph { a -> ", tmp("bad.svg")) end, "does not parse")
   ty.dot.render("digraph { a -> b }", tmp("ab.png"))
   eq(read_bytes(tmp("ab.png")):sub(2, 4), "PNG")
   for _, name in ipairs{"model", "graph", "render", "parse"} do
      assert(ty.__doc[ty.dot[name]]:find("ty.dot." .. name, 1, true), name .. " is documented")
   end
end

-- QA regressions: bad options used to pass silently (rankdir=XX wrote broken
-- DOT, max_nodes=0 and params=5 were ignored) or fail deep inside (dtype).
function T.qa_bad_options_are_clean_errors()
   local m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
   err(function() ty.dot.model(m, {rankdir = "XX"}) end,
       "[dot.model] rankdir must be 'TB', 'LR', 'BT' or 'RL', got XX")
   err(function() ty.dot.model(m, {input_shape = {2, 4}, dtype = "float99"}) end,
       "[dot.model] dtype must be a dtype name")
   err(function() ty.dot.model(m, {title = {}}) end, "[dot.model] title must be a string")
   assert(ty.dot.model(m, {rankdir = "LR"}):find("rankdir=LR", 1, true))
   local loss = m(ty.randn{2, 4}):sum()
   err(function() ty.dot.graph(loss, {max_nodes = 0}) end,
       "[dot.graph] max_nodes must be a positive integer, got 0")
   err(function() ty.dot.graph(loss, {params = 5}) end,
       "[dot.graph] params must be a tree of arrays or a module, got number")
   err(function() ty.dot.graph(loss, {names = loss}) end, "names must be a tree")
   err(function() ty.dot.graph({loss, 3}) end,
       "[dot.graph] argument 1: entry '2' must be an array or a table, got number")
   err(function() ty.dot.graph(loss, {rankdir = "up"}) end, "[dot.graph] rankdir")
   err(function() ty.dot.parse("") end, "[dot.parse] the DOT text is empty")
   assert(ty.dot.graph(loss, {params = m, rankdir = "LR"}):find("1.weight", 1, true))
end

-- a back reference (child.parent = self) used to make dot.model recurse
-- until the process ran out of memory; a shared module is drawn once
function T.qa_model_with_back_reference_and_shared_module()
   local C = nn.Module:extend("QACycleDot")
   function C:init() self.child = nn.Linear(2, 2); self.child.parent = self end
   function C:forward(x) return self.child(x) end
   local p = ty.dot.parse(ty.dot.model(C(), {input_shape = {1, 2}}))
   eq(p.nodes, 3) -- child, input, output
   local lin = nn.Linear(4, 4)
   local S = nn.Module:extend("QAShared")
   function S:init() self.a = lin; self.b = lin end
   function S:forward(x) return self.b(ty.relu(self.a(x))) end
   p = ty.dot.parse(ty.dot.model(S()))
   eq(p.nodes, 1)
end

return T
