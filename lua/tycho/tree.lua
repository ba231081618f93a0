-- tycho.tree -- nested Lua tables of arrays (parameter trees, batches,
-- gradients): ty.tree.map, flatten, unflatten, leaves.
--
-- A tree is a table whose values are trees or leaves; every value that is not
-- a table (arrays, numbers, strings, booleans) is a leaf. Children come in a
-- fixed order: integer keys ascending (the array part in order), then string
-- keys sorted; other keys are an error. Tables keep their metatable through
-- map and unflatten.
local tree = {}

local LEAF = setmetatable({}, {__tostring = function() return "*" end})

local Spec = {}
Spec.__index = Spec
Spec.__name = "tycho.TreeSpec"

-- The keys of table t in tree order. A key that is neither an integer nor a
-- string is an error, or skipped when on_other is "skip", or passed to
-- on_other when it is a function (which raises its own error).
local function ordered_keys(t, on_other)
   local ints, strs = {}, {}
   for k in pairs(t) do
      if math.type(k) == "integer" then
         ints[#ints + 1] = k
      elseif type(k) == "string" then
         strs[#strs + 1] = k
      elseif type(on_other) == "function" then
         on_other(k)
      elseif on_other ~= "skip" then
         error(string.format("[tree] unsupported key %s (%s): keys are integers or strings",
                             tostring(k), type(k)), 0)
      end
   end
   table.sort(ints)
   table.sort(strs)
   for _, k in ipairs(strs) do ints[#ints + 1] = k end
   return ints
end

-- ty.tree.keys(t, [on_other]) -> list
tree.keys = ordered_keys

-- Glob patterns on dotted names ("fc1.weight", "layers.2.bias"): '*' matches
-- any run of characters (dots too), everything else itself; a pattern also
-- matches every name below it ("fc1" matches "fc1.weight").
local function glob_to_lua(p)
   local s = p:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*")
   return "^" .. s .. "$"
end

-- ty.tree.match_name(pattern, name) -> boolean
function tree.match_name(pattern, name)
   local lp = glob_to_lua(pattern)
   if name:match(lp) then return true end
   -- prefix: any leading dotted part
   local acc = nil
   for part in name:gmatch("[^.]+") do
      acc = acc and (acc .. "." .. part) or part
      if acc ~= name and acc:match(lp) then return true end
   end
   return false
end

local function flatten_into(t, leaves, visiting)
   if type(t) ~= "table" then
      leaves[#leaves + 1] = t
      return LEAF
   end
   if visiting[t] then error("[tree] the tree contains a cycle", 0) end
   visiting[t] = true
   local keys = ordered_keys(t)
   local node = {keys = keys, children = {}, mt = getmetatable(t)}
   for i, k in ipairs(keys) do node.children[i] = flatten_into(t[k], leaves, visiting) end
   visiting[t] = nil
   return node
end

local function count_leaves(node)
   if node == LEAF then return 1 end
   local n = 0
   for _, c in ipairs(node.children) do n = n + count_leaves(c) end
   return n
end

-- ty.tree.flatten(tree) -> leaves, spec
function tree.flatten(t)
   local leaves = {}
   local root = flatten_into(t, leaves, {})
   return leaves, setmetatable({root = root, n = #leaves}, Spec)
end

local function build(node, leaves, pos)
   if node == LEAF then return leaves[pos], pos + 1 end
   local t = {}
   for i, k in ipairs(node.keys) do t[k], pos = build(node.children[i], leaves, pos) end
   if node.mt then setmetatable(t, node.mt) end
   return t, pos
end

-- ty.tree.unflatten(spec, leaves) -> tree
function tree.unflatten(spec, leaves)
   if getmetatable(spec) ~= Spec then
      error("[tree.unflatten] argument 1 must be a spec from ty.tree.flatten, got " ..
            type(spec), 2)
   end
   if type(leaves) ~= "table" then
      error("[tree.unflatten] argument 2 must be a list of leaves, got " .. type(leaves), 2)
   end
   local n = #leaves
   if n > spec.n then
      error(string.format("[tree.unflatten] %d leaves for a tree of %d", n, spec.n), 2)
   end
   return (build(spec.root, leaves, 1))
end

-- ty.tree.leaves(tree) -> list
function tree.leaves(t)
   return (tree.flatten(t))
end

-- Number of leaves the spec holds.
function Spec:count() return self.n end

local function spec_string(node)
   if node == LEAF then return "*" end
   local parts, seq = {}, 1
   for i, k in ipairs(node.keys) do
      local c = spec_string(node.children[i])
      if k == seq then
         parts[#parts + 1] = c
         seq = seq + 1
      else
         parts[#parts + 1] = (type(k) == "string" and k:match("^[%a_][%w_]*$"))
            and (k .. "=" .. c) or ("[" .. string.format("%q", k) .. "]=" .. c)
      end
   end
   return "{" .. table.concat(parts, ", ") .. "}"
end
Spec.__tostring = function(self) return "TreeSpec" .. spec_string(self.root) end
Spec.__eq = function(a, b) return spec_string(a.root) == spec_string(b.root) end

local function map_node(fn, t, others, nothers, visiting)
   if type(t) ~= "table" then
      local args = {}
      for i = 1, nothers do args[i] = others[i] end
      return fn(t, table.unpack(args, 1, nothers))
   end
   if visiting[t] then error("[tree.map] the tree contains a cycle", 0) end
   visiting[t] = true
   local r = {}
   for _, k in ipairs(ordered_keys(t)) do
      local sub = {}
      for i = 1, nothers do
         local o = others[i]
         if o ~= nil and type(o) ~= "table" then
            error(string.format("[tree.map] tree %d has a %s where tree 1 has a table",
                                i + 1, type(o)), 0)
         end
         sub[i] = o and o[k]
      end
      r[k] = map_node(fn, t[k], sub, nothers, visiting)
   end
   visiting[t] = nil
   local mt = getmetatable(t)
   if mt then setmetatable(r, mt) end
   return r
end

-- ty.tree.map(fn, tree, ...) -> tree
function tree.map(fn, t, ...)
   if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
      error("[tree.map] argument 1 must be a function, got " .. type(fn), 2)
   end
   local n = select("#", ...)
   return map_node(fn, t, {...}, n, {})
end

tree.__doc = "ty.tree -- nested Lua tables of arrays (parameters, gradients, batches).\n" ..
   "  Every value that is not a table is a leaf. Children are visited in a fixed\n" ..
   "  order: integer keys ascending (the array part in order), then string keys\n" ..
   "  sorted. Tables keep their metatables through map and unflatten."

tree.docs = {
   [tree.map] = "ty.tree.map(fn, tree, ...) -> tree\n" ..
      "  A tree shaped like `tree` whose leaves are fn(leaf, leaf2, ...), leaf2... being\n" ..
      "  the values at the same place in the other trees (nil where they have none):\n" ..
      "  ty.tree.map(function(p, g) return p - 0.1 * g end, params, grads).",
   [tree.flatten] = "ty.tree.flatten(tree) -> leaves, spec\n" ..
      "  The leaves of tree as a list, in tree order, and a spec of its structure\n" ..
      "  (for ty.tree.unflatten). A leaf (non-table) is a tree of one leaf.",
   [tree.unflatten] = "ty.tree.unflatten(spec, leaves) -> tree\n" ..
      "  The tree of spec (from ty.tree.flatten) with the given leaves, in order.",
   [tree.leaves] = "ty.tree.leaves(tree) -> list\n" ..
      "  The leaves of tree in tree order (arrays, numbers, ... : every non-table value).",
   [tree.keys] = "ty.tree.keys(t, [on_other]) -> list\n" ..
      "  The keys of table t in tree order: integers ascending, then strings sorted.\n" ..
      "  Other keys are an error (on_other='skip': left out; a function: called with them).",
   [tree.match_name] = "ty.tree.match_name(pattern, name) -> boolean\n" ..
      "  Whether the dotted name ('fc1.weight', 'layers.2.bias') matches the glob pattern:\n" ..
      "  '*' matches any characters (dots too), the rest itself; a pattern also matches\n" ..
      "  the names below it ('fc1' matches 'fc1.weight'). Used by m:freeze and by the\n" ..
      "  match= of optimizer groups and ty.optim.MultiOptimizer.",
}

return tree
