-- tycho.autograd -- function transforms over Lua functions of arrays:
-- grad, value_and_grad, vjp, jvp, checkpoint, gradcheck (attached to ty by
-- tycho.init). Built on the C primitives of lua/grad.c (tycho._grad):
-- the differentiated array leaves are replaced by traced handles
-- (ty_trace_input), f runs with the graph retained, and ty_vjp / ty_jvp walk
-- the graph from f's outputs back to those handles. Nothing is evaluated:
-- gradients are lazy arrays like any other.
local ty = require "tycho"
local core = require "tycho._grad"
local tree = require "tycho.tree"

local is_array = ty.is_array
local pack, unpack = table.pack, table.unpack

local M = {}

local FLOAT = {float16 = true, bfloat16 = true, float32 = true, float64 = true}

local function is_float_array(x)
   return is_array(x) and FLOAT[x.dtype] == true
end

-- "(2,3)", "(3,)" or "()", as the core's messages write shapes.
local function shape_string(x)
   local s = table.concat(x.shape, ",")
   return "(" .. s .. (#x.shape == 1 and ",)" or ")")
end

local function is_callable(f)
   if type(f) == "function" then return true end
   local mt = getmetatable(f)
   return type(mt) == "table" and mt.__call ~= nil
end

local function check_callable(fname, f)
   if not is_callable(f) then
      error(string.format("[%s] argument 1 (f) must be a function, got %s", fname, type(f)), 3)
   end
end

-- The values r[from..r.n] as a list (a tree whose integer keys keep their
-- places even where some values are nil).
local function sublist(r, from)
   local t = {}
   for i = from, r.n do t[i - from + 1] = r[i] end
   return t, r.n - from + 1
end

-- Runs fn(...) with the graph retained (ty_retain_graph_begin/end); the end
-- runs even when fn raises, and the error goes on unchanged.
local function retained(fn, ...)
   core.begin()
   local r = pack(pcall(fn, ...))
   core.finish()
   if not r[1] then error(r[2], 0) end
   return unpack(r, 2, r.n)
end

-- Replaces each float array leaf of the tree x by a traced handle, appended
-- to `inputs`. Returns the traced tree and a record for rebuild().
local function trace_tree(x, inputs)
   local leaves, spec = tree.flatten(x)
   local slots = {}
   for i = 1, spec.n do
      if is_float_array(leaves[i]) then
         local t = core.trace(leaves[i])
         inputs[#inputs + 1] = t
         leaves[i] = t
         slots[i] = #inputs
      end
   end
   return tree.unflatten(spec, leaves), {spec = spec, slots = slots}
end

-- The tree of record `rec` with results[slot] at each traced leaf and nil at
-- the other leaves.
local function rebuild(rec, results)
   local leaves = {}
   for i = 1, rec.spec.n do
      local s = rec.slots[i]
      if s then leaves[i] = results[s] end
   end
   return tree.unflatten(rec.spec, leaves)
end

-- argnums: nil (1), an integer, or a non-empty list of integers. Returns the
-- list and whether a single number was given.
local function parse_argnums(fname, argnums)
   if argnums == nil then return {1}, true end
   if math.type(argnums) == "integer" then
      if argnums < 1 then
         error(string.format("[%s] argnums must be >= 1, got %d", fname, argnums), 3)
      end
      return {argnums}, true
   end
   if type(argnums) == "table" and not is_array(argnums) then
      local list = {}
      for i, a in ipairs(argnums) do
         if math.type(a) ~= "integer" or a < 1 then
            error(string.format("[%s] argnums[%d] must be an integer >= 1, got %s",
                                fname, i, tostring(a)), 3)
         end
         list[i] = a
      end
      if #list == 0 then error(string.format("[%s] argnums is an empty list", fname), 3) end
      return list, false
   end
   error(string.format("[%s] argnums must be an integer or a list of integers, got %s",
                       fname, type(argnums)), 3)
end

local function check_scalar(fname, value)
   if not is_array(value) then
      error(string.format("[%s] f must return a scalar array, got %s", fname,
                          type(value)), 0)
   end
   if value.size ~= 1 then
      error(string.format("[%s] f must return a scalar array, got shape %s", fname,
                          shape_string(value)), 0)
   end
   if not FLOAT[value.dtype] then
      error(string.format("[%s] f must return a float scalar array, got %s", fname,
                          value.dtype), 0)
   end
end

-- The transform behind grad and value_and_grad: g(...) returns value, the
-- pack of f's results and the gradients (one tree, or a list for a list of
-- argnums).
local function grad_transform(fname, f, argnums)
   check_callable(fname, f)
   local nums, single = parse_argnums(fname, argnums)
   return function(...)
      local n = select("#", ...)
      local args = {...}
      return retained(function()
         local inputs, recs = {}, {}
         for _, a in ipairs(nums) do
            if a > n then
               error(string.format("[%s] argnums %d is out of range: f got %d argument%s",
                                   fname, a, n, n == 1 and "" or "s"), 0)
            end
            if not recs[a] then args[a], recs[a] = trace_tree(args[a], inputs) end
         end
         local out = pack(f(unpack(args, 1, n)))
         local value = out[1]
         check_scalar(fname, value)
         local g = core.vjp({value}, {}, inputs)
         local grads = {}
         for k, a in ipairs(nums) do grads[k] = rebuild(recs[a], g) end
         if single then grads = grads[1] end
         return value, out, grads
      end)
   end
end

function M.grad(f, argnums)
   local g = grad_transform("grad", f, argnums)
   return function(...)
      local _, _, grads = g(...)
      return grads
   end
end

function M.value_and_grad(f, argnums)
   local g = grad_transform("value_and_grad", f, argnums)
   return function(...)
      local _, out, grads = g(...)
      out[out.n + 1] = grads
      return unpack(out, 1, out.n + 1)
   end
end

-- A list argument of vjp/jvp: a bare array stands for a one-element list.
local function list_arg(fname, what, v, allow_nil)
   if is_array(v) then return {v}, 1, true end
   if v == nil and allow_nil then return nil, 0, false end
   if type(v) ~= "table" then
      error(string.format("[%s] %s must be a list (or one array), got %s", fname, what,
                          type(v)), 3)
   end
   return v, v.n or #v, false
end

-- A cotangent or tangent leaf for the array x: an array, a number (filled),
-- or nil.
local function seed_leaf(fname, what, v, x)
   if v == nil or is_array(v) then return v end
   if type(v) == "number" then return ty.full_like(x, v) end
   error(string.format("[%s] %s must hold arrays or numbers, got %s", fname, what, type(v)), 0)
end

-- Traces each argument list[1..n] (trees); returns the traced list and one
-- record per argument.
local function trace_list(list, n, inputs)
   local args, recs = {}, {}
   for i = 1, n do args[i], recs[i] = trace_tree(list[i], inputs) end
   return args, recs
end

-- The leaves of seeds[i] (a tree shaped like the i-th of `trees`, or nil),
-- matched with the leaves of that tree: calls fn(leaf, seed) for each leaf.
local function match_seeds(fname, what, trees, n, seeds, fn)
   for i = 1, n do
      local leaves, spec = tree.flatten(trees[i])
      local sl, sspec
      if seeds and seeds[i] ~= nil then
         sl, sspec = tree.flatten(seeds[i])
         if sspec.n ~= spec.n then
            error(string.format("[%s] %s %d has %d leaves, expected %d", fname, what, i,
                                sspec.n, spec.n), 0)
         end
      end
      for k = 1, spec.n do fn(leaves[k], sl and sl[k], sl ~= nil) end
   end
end

function M.vjp(f, primals, cotangents)
   check_callable("vjp", f)
   local prims, np, bare_in = list_arg("vjp", "primals", primals)
   local cots, ncot, bare_out = list_arg("vjp", "cotangents", cotangents, true)
   local outs, nout, vjps = retained(function()
      local inputs = {}
      local args, recs = trace_list(prims, np, inputs)
      local r = pack(f(unpack(args, 1, np)))
      local out_list, n = sublist(r, 1)
      if cots and ncot ~= n then
         error(string.format("[vjp] %d cotangent%s for %d output%s of f", ncot,
                             ncot == 1 and "" or "s", n, n == 1 and "" or "s"), 0)
      end
      local o, c = {}, {}
      match_seeds("vjp", "cotangent", out_list, n, cots, function(leaf, seed, given)
         if is_float_array(leaf) then
            o[#o + 1] = leaf
            -- no cotangents at all: ones; a cotangent tree with a nil leaf: zero
            if given then c[#o] = seed_leaf("vjp", "cotangents", seed, leaf)
               or ty.zeros_like(leaf)
            elseif cots then c[#o] = ty.zeros_like(leaf) end
         end
      end)
      local g = #o > 0 and core.vjp(o, c, inputs) or {}
      local res = {}
      for i = 1, np do res[i] = rebuild(recs[i], g) end
      return out_list, n, res
   end)
   if bare_out or (cots == nil and bare_in and nout == 1) then outs = outs[1] end
   if bare_in then vjps = vjps[1] end
   return outs, vjps
end

function M.jvp(f, primals, tangents)
   check_callable("jvp", f)
   local prims, np, bare_in = list_arg("jvp", "primals", primals)
   local tans = list_arg("jvp", "tangents", tangents)
   local outs, nout, touts = retained(function()
      local inputs = {}
      local args = trace_list(prims, np, inputs)
      local t, pos = {}, 0
      match_seeds("jvp", "tangent", prims, np, tans, function(leaf, seed)
         if is_float_array(leaf) then
            pos = pos + 1
            t[pos] = seed_leaf("jvp", "tangents", seed, leaf)
         end
      end)
      local r = pack(f(unpack(args, 1, np)))
      local out_list, n = sublist(r, 1)
      local oleaves, ospec = tree.flatten(out_list)
      local o, where = {}, {}
      for i = 1, ospec.n do
         if is_float_array(oleaves[i]) then
            o[#o + 1] = oleaves[i]
            where[#o] = i
         end
      end
      local res = #o > 0 and core.jvp(o, inputs, t) or {}
      local tl = {}
      for k, i in ipairs(where) do tl[i] = res[k] end
      return out_list, n, tree.unflatten(ospec, tl)
   end)
   if bare_in and nout == 1 then return outs[1], touts[1] end
   return outs, touts
end

function M.checkpoint(f)
   check_callable("checkpoint", f)
   return function(...)
      local n = select("#", ...)
      local leaves, spec = tree.flatten({...})
      -- the callback below keeps only non-array leaves (constants) and the
      -- positions of the arrays; the arrays travel through the C node.
      local consts, pos, ins = {}, {}, {}
      for i = 1, spec.n do
         local v = leaves[i]
         if is_float_array(v) then
            pos[#pos + 1] = i
            ins[#ins + 1] = v
         else
            consts[i] = v
         end
      end
      -- The forward pass, with the graph not retained. Reverse mode never
      -- walks behind a custom-VJP node's output (the callback stands for
      -- it), so the backward pass holds none of f's intermediate values;
      -- forward mode does walk it (the JVP of a checkpoint is f's JVP).
      local depth = core.suspend()
      local r = pack(pcall(f, ...))
      core.resume(depth)
      if not r[1] then error(r[2], 0) end
      local out_list, nout = sublist(r, 2)
      if #ins == 0 then return unpack(out_list, 1, nout) end
      local oleaves, ospec = tree.flatten(out_list)
      for j = 1, ospec.n do
         if is_float_array(oleaves[j]) then
            oleaves[j] = core.custom_vjp(oleaves[j], ins, function(g, ...)
               local saved = {...}
               return retained(function()
                  local l2, traced = {}, {}
                  for i = 1, spec.n do l2[i] = consts[i] end
                  for k, p in ipairs(pos) do
                     traced[k] = core.trace(saved[k])
                     l2[p] = traced[k]
                  end
                  local r2 = pack(f(unpack(tree.unflatten(spec, l2), 1, n)))
                  local o2 = tree.flatten((sublist(r2, 1)))
                  if not is_array(o2[j]) then
                     error("[checkpoint] f returned different outputs when run again", 0)
                  end
                  return core.vjp({o2[j]}, {g}, traced)
               end)
            end)
         end
      end
      return unpack(tree.unflatten(ospec, oleaves), 1, nout)
   end
end

-- ------------------------------------------------------------ gradcheck

local function subscripts(shape, k)
   local idx, rest = {}, k - 1
   for d = #shape, 1, -1 do
      idx[d] = rest % shape[d] + 1
      rest = rest // shape[d]
   end
   return idx
end

local GRADCHECK_OPTS = {eps = true, tol = true, jvp = true, seed = true}

function M.gradcheck(f, args, opts)
   check_callable("gradcheck", f)
   opts = opts or {}
   if type(opts) ~= "table" then
      error("[gradcheck] argument 3 (opts) must be a table, got " .. type(opts), 2)
   end
   for k in pairs(opts) do
      if not GRADCHECK_OPTS[k] then
         error(string.format("[gradcheck] unknown option '%s' (expected eps, jvp, seed, tol)",
                             tostring(k)), 2)
      end
   end
   local eps, tol = opts.eps or 1e-6, opts.tol or 1e-4
   local list, n = list_arg("gradcheck", "args", args)
   -- float64 copies on the CPU of every float array leaf
   local leaves, spec = tree.flatten({unpack(list, 1, n)})
   local checked = {}                  -- {leaf=, arg=, sub=} per float leaf
   local arg_of = {}
   for a = 1, n do
      local _, s = tree.flatten(list[a])
      for _ = 1, s.n do arg_of[#arg_of + 1] = {a, s.n > 1 or type(list[a]) == "table"} end
   end
   local sub_count = {}
   for i = 1, spec.n do
      local v = leaves[i]
      if is_array(v) then
         v = ty.to(v, "cpu")
         if FLOAT[v.dtype] then
            v = v:astype("float64")
            local a = arg_of[i][1]
            sub_count[a] = (sub_count[a] or 0) + 1
            checked[#checked + 1] = {leaf = i, arg = a,
                                     sub = arg_of[i][2] and sub_count[a] or nil}
         end
         leaves[i] = v
      end
   end
   local function call(lv)
      local r = pack(f(unpack(tree.unflatten(spec, lv), 1, n)))
      return tree.flatten((sublist(r, 1)))
   end
   -- random cotangents u for the float outputs; s(x) = sum_j <u_j, f_j(x)>
   local key = ty.random.key(opts.seed or 0)
   local us, ujs = {}, {}              -- ujs: the indices of us, in order
   local outs, ospec = call(leaves)
   for j = 1, ospec.n do
      local o = outs[j]
      if is_float_array(o) then
         ujs[#ujs + 1] = j
         local k2
         key, k2 = table.unpack(ty.random.split(key, 2))
         us[j] = ty.random.normal({o.size}, {key = k2, dtype = "float64", device = "cpu"})
            :reshape(o.shape)
      end
   end
   local function s_of(lv)
      local o = call(lv)
      local s = 0
      for _, j in ipairs(ujs) do
         s = s + (ty.to(o[j], "cpu"):astype("float64") * us[j]):sum():item()
      end
      return s
   end
   -- analytic: one VJP, and (opts.jvp) one JVP per element
   local vjp_leaves = retained(function()
      local lv, inputs, slot = {}, {}, {}
      for i = 1, spec.n do lv[i] = leaves[i] end
      for _, c in ipairs(checked) do
         inputs[#inputs + 1] = core.trace(leaves[c.leaf])
         lv[c.leaf] = inputs[#inputs]
         slot[c.leaf] = #inputs
      end
      local o = call(lv)
      local os, cs = {}, {}
      for _, j in ipairs(ujs) do
         os[#os + 1] = o[j]
         cs[#os] = us[j]
      end
      local g = core.vjp(os, cs, inputs)
      local res = {}
      for i, s in pairs(slot) do res[i] = g[s] end
      return res
   end)
   local function jvp_dot(leaf, k)
      return retained(function()
         local lv, inputs, tans = {}, {}, {}
         for i = 1, spec.n do lv[i] = leaves[i] end
         local x = leaves[leaf]
         local onehot = {}
         for e = 1, x.size do onehot[e] = e == k and 1 or 0 end
         local t = ty.array(onehot, {dtype = "float64", device = "cpu"}):reshape(x.shape)
         inputs[1] = core.trace(x)
         tans[1] = t
         lv[leaf] = inputs[1]
         local o = call(lv)
         local os, js = {}, {}
         for _, j in ipairs(ujs) do
            os[#os + 1] = o[j]
            js[#os] = j
         end
         local r = core.jvp(os, inputs, tans)
         local s = 0
         for m, j in ipairs(js) do
            s = s + (ty.to(r[m], "cpu"):astype("float64") * us[j]):sum():item()
         end
         return s
      end)
   end
   local report = {max_abs_err = 0, max_rel_err = 0, checked = 0}
   local ok, worst_score = true, -1
   local function compare(c, k, analytic, numeric, mode, x)
      local err = math.abs(analytic - numeric)
      local scale = math.max(math.abs(analytic), math.abs(numeric))
      local rel = scale > 0 and err / scale or 0
      if err ~= err then err, rel = math.huge, math.huge end
      report.max_abs_err = math.max(report.max_abs_err, err)
      report.max_rel_err = math.max(report.max_rel_err, rel)
      report.checked = report.checked + 1
      local score = err / (1 + math.abs(numeric))
      if score > tol then ok = false end
      if score > worst_score then
         worst_score = score
         report.worst = {arg = c.arg, leaf = c.sub, index = subscripts(x.shape, k),
                         analytic = analytic, numeric = numeric, mode = mode}
      end
   end
   for _, c in ipairs(checked) do
      local x = leaves[c.leaf]
      local vals = x:reshape(-1):tolist()
      if type(vals) ~= "table" then vals = {vals} end
      local g = vjp_leaves[c.leaf]
      local gv = g and g:reshape(-1):tolist() or {}
      if type(gv) ~= "table" then gv = {gv} end
      for k = 1, #vals do
         local function at(delta)
            local v = {}
            for e = 1, #vals do v[e] = vals[e] end
            v[k] = vals[k] + delta
            local lv = {}
            for i = 1, spec.n do lv[i] = leaves[i] end
            lv[c.leaf] = ty.array(v, {dtype = "float64", device = "cpu"}):reshape(x.shape)
            return s_of(lv)
         end
         local numeric = (at(eps) - at(-eps)) / (2 * eps)
         compare(c, k, gv[k] or 0, numeric, "vjp", x)
         if opts.jvp then compare(c, k, jvp_dot(c.leaf, k), numeric, "jvp", x) end
      end
   end
   return ok, report
end

M.docs = {
   grad = "ty.grad(f, [argnums]) -> g\n" ..
      "  g(...) is the gradient of f(...) with respect to argument argnums (default 1):\n" ..
      "  f returns a scalar (one-element float) array first; any further results are\n" ..
      "  dropped (see ty.value_and_grad). An argument may be an array or a tree (nested\n" ..
      "  tables) of arrays; its gradient comes back in the same shape, with nil where a\n" ..
      "  leaf is not a float array (numbers, strings, integer arrays are constants).\n" ..
      "  argnums may be a list {1, 3}: then g returns the list of gradients, in order.\n" ..
      "  Gradients are lazy arrays; ty.grad(ty.grad(f)) gives second derivatives.",
   value_and_grad = "ty.value_and_grad(f, [argnums]) -> g\n" ..
      "  g(...) returns value, aux..., grads: f's results (its scalar value and any\n" ..
      "  extra results, passed through) followed by the gradients as in ty.grad.",
   vjp = "ty.vjp(f, primals, [cotangents]) -> outputs, vjps\n" ..
      "  Reverse mode. primals: the list of f's arguments (arrays or trees);\n" ..
      "  cotangents: a list matching f's results (nil: ones). Returns f's results (a\n" ..
      "  list) and the cotangents pulled back to each primal (a list of trees). A bare\n" ..
      "  array in place of a list stands for a one-element list, and the matching\n" ..
      "  result comes back bare too.",
   jvp = "ty.jvp(f, primals, tangents) -> outputs, tangents\n" ..
      "  Forward mode. tangents: a list matching primals (nil or a number in a leaf:\n" ..
      "  zero or that constant). Returns f's results and their derivatives along the\n" ..
      "  tangents, as lists (bare when primals is a bare array and f has one result).",
   checkpoint = "ty.checkpoint(f) -> g\n" ..
      "  g(...) computes f(...) without keeping f's intermediate values for the backward\n" ..
      "  pass: when a gradient reaches g's results, f runs again on the saved arguments.\n" ..
      "  Saves memory in deep models at the cost of recomputation (once per float\n" ..
      "  result of f that receives a gradient).",
   gradcheck = "ty.gradcheck(f, args, [{eps=1e-6, tol=1e-4, jvp=false, seed=0}])" ..
      " -> ok, report\n" ..
      "  Compares f's VJP with central finite differences at args (a list of f's\n" ..
      "  arguments, or one array), on float64 copies on the CPU: the function checked is\n" ..
      "  sum(u * f(args)) for random u. With jvp=true the JVP is checked too. An entry\n" ..
      "  passes when |analytic - numeric| <= tol * (1 + |numeric|). report = {max_abs_err=,\n" ..
      "  max_rel_err=, checked=, worst={arg=, leaf=, index={...}, analytic=, numeric=,\n" ..
      "  mode=}} (leaf: the leaf's number in a tree argument). Prints nothing.",
}

return M
