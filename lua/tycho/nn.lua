-- tycho.nn -- ty.nn: the Module base (parameter trees, containers, train/eval,
-- freeze, hooks, save/load in safetensors incl. PyTorch state_dicts), core
-- layers (Linear, Bilinear, Embedding, Dropout, positional encodings, RoPE,
-- ...), activations (modules and functions), initialisers (ty.nn.init) and
-- nn.value_and_grad. Convolution, pooling, normalisation, attention,
-- Transformer and recurrent layers come from tycho.nn_layers (required at the
-- end), which adds to the same table.
--
-- Everything here is lazy: constructing a module draws its parameters as
-- random-number nodes that nothing evaluates, and forward only builds graphs.
local ty = require "tycho"
local ty_tree = require "tycho.tree"

local M = ty.nn or {}
ty.nn = M
M.__doc = "ty.nn -- neural-network modules, activations, initialisers (see help(ty.nn.Module))"

local is_array = ty.is_array
local fmt = string.format
local pack, unpack = table.pack, table.unpack
local sqrt = math.sqrt

local function doc(fn, text) ty.__doc[fn] = text end

-- error(msg, level) with level > 0 reports the position of the first caller
-- outside tycho.nn and tycho.nn_layers (the user's line), however deep in
-- containers (Sequential, value_and_grad, constructors) the check ran.
local SRC_NN = debug.getinfo(1, "S").source
local SRC_LAYERS = SRC_NN:gsub("nn%.lua$", "nn_layers.lua")
local raw_error = error
local function user_error(msg)
   local lvl = 2
   while true do
      local info = debug.getinfo(lvl, "S")
      if not info then return raw_error(msg, 0) end
      if info.what ~= "C" and info.source ~= SRC_NN and info.source ~= SRC_LAYERS then break end
      lvl = lvl + 1
   end
   return raw_error(msg, lvl)
end
M._user_error = user_error
local function error(msg, level)
   if level == 0 or type(msg) ~= "string" then return raw_error(msg, level) end
   return user_error(msg)
end

-- "(2,3)", "(3,)" or "()".
local function shape_str(s)
   if is_array(s) then s = s.shape end
   return "(" .. table.concat(s, ",") .. (#s == 1 and ",)" or ")")
end
M._shape_str = shape_str

local FLOAT = {float16 = true, bfloat16 = true, float32 = true, float64 = true}

-- Raises "[name] unknown option 'k' (expected a, b)" unless every string key
-- of opts is in the space-separated list allowed.
local function check_keys(name, opts, allowed, level)
   local set = {}
   for w in allowed:gmatch("%S+") do set[w] = true end
   for k in pairs(opts) do
      if not set[k] then
         error(fmt("[%s] unknown option '%s' (expected %s)", name, tostring(k),
                   (allowed:gsub(" ", ", "))), level + 1)
      end
   end
end
M._check_keys = check_keys

-- A core error message without its "file:line: " position.
local function bare(msg)
   msg = tostring(msg)
   return (msg:gsub("^[^%[]-:%d+: ", ""))
end

------------------------------------------------------------------------ Module

local Module = {}
Module.__name = "Module"
Module.__index = Module
Module.__is_module_class = true
M.Module = Module

local function is_module(v)
   if type(v) ~= "table" then return false end
   local mt = getmetatable(v)
   return type(mt) == "table" and rawget(mt, "__is_module_class") == true and
      rawget(v, "_order") ~= nil
end
M.is_module = is_module

-- Assignments of new fields are recorded in order (names, summary, tostring).
local function module_newindex(self, k, v)
   local order = rawget(self, "_order")
   if order and not (type(k) == "string" and k:sub(1, 1) == "_") then
      local set = rawget(self, "_orderset")
      if not set[k] then
         order[#order + 1] = k
         set[k] = true
      end
   end
   rawset(self, k, v)
end

-- m(...) -> m:forward(...), then the forward hooks.
local function module_call(self, ...)
   local out = pack(self:forward(...))
   local hooks = rawget(self, "_hooks")
   if hooks and #hooks > 0 then
      local inputs = pack(...)
      for _, h in ipairs({table.unpack(hooks)}) do
         local o = out.n <= 1 and out[1] or {unpack(out, 1, out.n)}
         local r = h.fn(self, inputs, o)
         if r ~= nil then
            if out.n > 1 and type(r) == "table" and not is_array(r) then
               out = pack(unpack(r, 1, r.n or #r))
            else
               out = pack(r)
            end
         end
      end
   end
   return unpack(out, 1, out.n)
end

local function module_tostring(self)
   return self:_repr("")
end

local function new_instance(cls, ...)
   local self = setmetatable({}, cls)
   rawset(self, "_order", {})
   rawset(self, "_orderset", {})
   rawset(self, "_buffers", {})
   rawset(self, "_frozen", {})
   rawset(self, "_hooks", {})
   rawset(self, "training", true)
   local init = cls.init
   if init then init(self, ...) end
   return self
end

-- Module:extend(name) -> a subclass; Sub(...) builds an instance and calls
-- Sub.init(self, ...).
function Module:extend(name)
   if type(name) ~= "string" then
      error("[Module:extend] argument 1 (name) must be a string, got " .. type(name), 2)
   end
   local cls = {}
   -- metamethods and markers are looked up raw: copy them down
   for k, v in pairs(self) do
      if type(k) == "string" and k:sub(1, 2) == "__" and k ~= "__index" and k ~= "__name"
         and k ~= "__doc" then
         cls[k] = v
      end
   end
   cls.__index = cls
   cls.__name = name
   cls.super = self
   return setmetatable(cls, {__index = self, __call = new_instance,
                             __tostring = function() return "class " .. name end})
end

Module.__newindex = module_newindex
Module.__call = module_call
Module.__tostring = module_tostring
setmetatable(Module, {__call = new_instance, __tostring = function() return "class Module" end})

function Module:init() end

function Module:forward()
   error(fmt("[%s] forward is not implemented", self:type_name()), 2)
end

function Module:type_name()
   return getmetatable(self).__name
end

-- Ordered keys of a plain table: integers ascending, then strings sorted
-- (other keys left out).
local function table_keys(t) return ty_tree.keys(t, "skip") end

-- The module's own fields in assignment order (non-nil values only).
local function field_keys(m)
   local keys = {}
   for _, k in ipairs(rawget(m, "_order")) do
      if rawget(m, k) ~= nil and k ~= "training" then keys[#keys + 1] = k end
   end
   return keys
end

local function is_plain_table(v)
   return type(v) == "table" and getmetatable(v) == nil
end

local function join(prefix, k)
   if prefix == "" then return tostring(k) end
   return prefix .. "." .. tostring(k)
end

-- Walks the module tree depth-first in field order. visit(kind, info) is
-- called with kind "module" (info = {name=, module=}) or "param"/"buffer"
-- (info = {name=, array=, owner=, path= (local dotted path in owner),
-- container=, key=, dup= (already seen array)}). Modules are visited once.
local function walk(root, visit)
   local seen_mod, seen_arr = {}, {}
   local function walk_value(v, owner, name, path, container, key, kind, visiting)
      if is_array(v) then
         local dup = seen_arr[v] ~= nil
         if not dup then seen_arr[v] = name end
         visit(kind, {name = name, array = v, owner = owner, path = path,
                      container = container, key = key, dup = dup, first = seen_arr[v]})
      elseif is_module(v) then
         if seen_mod[v] then return end
         seen_mod[v] = true
         visit("module", {name = name, module = v})
         for _, k in ipairs(field_keys(v)) do
            local kk = (rawget(v, "_buffers")[k] and "buffer") or "param"
            walk_value(rawget(v, k), v, join(name, k), tostring(k), v, k, kk, {})
         end
      elseif is_plain_table(v) then
         if visiting[v] then return end
         visiting[v] = true
         for _, k in ipairs(table_keys(v)) do
            walk_value(v[k], owner, join(name, k), join(path, k), v, k, kind, visiting)
         end
         visiting[v] = nil
      end
   end
   walk_value(root, nil, "", "", nil, nil, "param", {})
end
M._walk = walk

-- Tree builder: sets tree[path] along the container chain.
local function tree_insert(tree, parts, v)
   local t = tree
   for i = 1, #parts - 1 do
      local k = parts[i]
      if t[k] == nil then t[k] = {} end
      t = t[k]
   end
   t[parts[#parts]] = v
end

-- Name components: "layers.1.weight" -> {"layers", 1, "weight"}.
local function split_name(name)
   local parts = {}
   for p in name:gmatch("[^.]+") do
      parts[#parts + 1] = (p:match("^%d+$") and math.tointeger(tonumber(p))) or p
   end
   return parts
end

-- A tree of the arrays of `kind`, keyed like the fields (children modules
-- appear as (possibly empty) tables).
local function collect_tree(self, kind, filter)
   local tree = {}
   walk(self, function(k, info)
      if k == "module" then
         if info.name ~= "" then tree_insert(tree, split_name(info.name), {}) end
      elseif k == kind and not info.dup and (not filter or filter(info)) then
         tree_insert(tree, split_name(info.name), info.array)
      end
   end)
   -- remove the empty tables of plain containers (keep module tables)
   return tree
end

local function collect_named(self, kind, recurse, filter)
   local list = {}
   walk(self, function(k, info)
      if k == kind and not info.dup and (recurse or info.owner == self)
         and (not filter or filter(info)) then
         list[#list + 1] = {info.name, info.array}
      end
   end)
   return list
end

local function is_frozen(info)
   return rawget(info.owner, "_frozen")[info.path] == true
end

function Module:parameters()
   return collect_tree(self, "param")
end

function Module:trainable_parameters()
   return collect_tree(self, "param", function(info) return not is_frozen(info) end)
end

local function recurse_opt(opts)
   if opts == nil then return true end
   if type(opts) == "boolean" then return opts end
   if type(opts) ~= "table" or is_array(opts) then
      error("[named_parameters] options must be a table {recurse=true} or a boolean, got " ..
            type(opts), 3)
   end
   check_keys("named_parameters", opts, "recurse", 3)
   if opts.recurse == nil then return true end
   return opts.recurse
end

function Module:named_parameters(opts)
   return collect_named(self, "param", recurse_opt(opts))
end

function Module:named_trainable_parameters(opts)
   return collect_named(self, "param", recurse_opt(opts),
                       function(info) return not is_frozen(info) end)
end

function Module:buffers()
   return collect_tree(self, "buffer")
end

function Module:named_buffers(opts)
   return collect_named(self, "buffer", recurse_opt(opts))
end

-- Number of parameter elements (tied ones once).
function Module:num_parameters(opts)
   local n = 0
   local trainable = type(opts) == "table" and opts.trainable
   for _, p in ipairs(trainable and self:named_trainable_parameters() or self:named_parameters()) do
      n = n + p[2].size
   end
   return n
end

function Module:state_dict()
   local d = {}
   walk(self, function(k, info)
      if (k == "param" or k == "buffer") and not info.dup then d[info.name] = info.array end
   end)
   return d
end

function Module:named_children()
   local list = {}
   local function add(v, name, visiting)
      if is_module(v) then
         list[#list + 1] = {name, v}
      elseif is_plain_table(v) and not visiting[v] then
         visiting[v] = true
         for _, k in ipairs(table_keys(v)) do add(v[k], join(name, k), visiting) end
      end
   end
   for _, k in ipairs(field_keys(self)) do add(rawget(self, k), tostring(k), {}) end
   return list
end

function Module:children()
   local list = {}
   for i, c in ipairs(self:named_children()) do list[i] = c[2] end
   return list
end

function Module:named_modules()
   local list = {}
   walk(self, function(k, info)
      if k == "module" then list[#list + 1] = {info.name, info.module} end
   end)
   return list
end

function Module:modules()
   local list = {}
   for i, c in ipairs(self:named_modules()) do list[i] = c[2] end
   return list
end

function Module:register_buffer(name, value)
   if type(name) ~= "string" then
      error(fmt("[%s:register_buffer] argument 1 (name) must be a string, got %s",
                self:type_name(), type(name)), 2)
   end
   if value ~= nil and not is_array(value) then
      error(fmt("[%s:register_buffer] argument 2 must be an array, got %s",
                self:type_name(), type(value)), 2)
   end
   rawget(self, "_buffers")[name] = true
   self[name] = value
   return value
end

-- Replaces arrays of the model per tree (same keys as parameters()/buffers());
-- tied copies of a replaced array are replaced as well.
local function update_arrays(self, tree, kind, fname)
   if type(tree) ~= "table" or is_array(tree) then
      error(fmt("[%s] argument 1 must be a tree of arrays, got %s", fname, type(tree)), 3)
   end
   local mapping, any = {}, false
   local sets = {}
   local function rec(container, t, name)
      for k, v in pairs(t) do
         local cur = is_module(container) and rawget(container, k) or container[k]
         local full = join(name, k)
         if is_array(v) then
            if not is_array(cur) then
               error(fmt("[%s] the model has no %s '%s'", fname,
                         kind == "buffer" and "buffer" or "parameter", full), 0)
            end
            if shape_str(cur) ~= shape_str(v) then
               error(fmt("[%s] '%s' has shape %s, got %s", fname, full, shape_str(cur),
                         shape_str(v)), 0)
            end
            if not rawequal(cur, v) then
               mapping[cur] = v
               any = true
               sets[#sets + 1] = {container, k, v}
            end
         elseif type(v) == "table" then
            if type(cur) ~= "table" then
               error(fmt("[%s] the model has no module or table '%s'", fname, full), 0)
            end
            rec(cur, v, full)
         elseif v ~= nil then
            error(fmt("[%s] '%s' must be an array or a table, got %s", fname, full, type(v)), 0)
         end
      end
   end
   local ok, err = pcall(rec, self, tree, "")
   if not ok then error(err, 3) end
   for _, st in ipairs(sets) do
      if is_module(st[1]) then rawset(st[1], st[2], st[3]) else st[1][st[2]] = st[3] end
   end
   if any then
      walk(self, function(k, info)
         if (k == "param" or k == "buffer") then
            local new = mapping[info.array]
            if new ~= nil then
               if is_module(info.container) then rawset(info.container, info.key, new)
               else info.container[info.key] = new end
            end
         end
      end)
   end
   return self
end

function Module:update(tree)
   return update_arrays(self, tree, "param", "update")
end

function Module:update_buffers(tree)
   return update_arrays(self, tree, "buffer", "update_buffers")
end

function Module:train(mode)
   if mode == nil then mode = true end
   if type(mode) ~= "boolean" then
      error(fmt("[%s:train] mode must be a boolean, got %s", self:type_name(), type(mode)), 2)
   end
   for _, m in ipairs(self:modules()) do rawset(m, "training", mode and true or false) end
   return self
end

function Module:eval()
   return self:train(false)
end

-- Glob matching of dotted names (ty.tree.match_name): '*' matches any run of
-- characters; a pattern also matches every name below it ("fc1" matches
-- "fc1.weight"). The optimizers' match= uses the same.
local function name_matches(name, patterns)
   for _, p in ipairs(patterns) do
      if ty_tree.match_name(p, name) then return true end
   end
   return false
end

-- The patterns of freeze/unfreeze as a list (nil: all); level: of the error.
local function patterns_arg(fname, self, p, level)
   if p == nil then return nil end
   if type(p) == "string" then return {p} end
   if type(p) == "table" and not is_array(p) then
      if p.patterns then return patterns_arg(fname, self, p.patterns, level) end
      if #p == 0 then return nil end
      for i, s in ipairs(p) do
         if type(s) ~= "string" then
            error(fmt("[%s] pattern %d must be a string, got %s", fname, i, type(s)), level)
         end
      end
      return p
   end
   error(fmt("[%s] patterns must be a string or a list of strings, got %s", fname, type(p)),
         level)
end

-- m:freeze / m:unfreeze (verb) of the parameters matching patterns (all
-- when nil); errors (at the caller of m:verb) when patterns match none.
local function set_frozen(self, verb, patterns, value)
   local fname = self:type_name() .. ":" .. verb
   local p = patterns_arg(fname, self, patterns, 4)
   local count = 0
   walk(self, function(k, info)
      if k == "param" and (p == nil or name_matches(info.name, p)) then
         rawget(info.owner, "_frozen")[info.path] = value or nil
         count = count + 1
      end
   end)
   if p and count == 0 then
      error(fmt("[%s] no parameter matches %s", fname, table.concat(p, ", ")), 3)
   end
   return self
end

function Module:freeze(patterns)
   local m = set_frozen(self, "freeze", patterns, true)
   return m
end

function Module:unfreeze(patterns)
   local m = set_frozen(self, "unfreeze", patterns, false)
   return m
end

-- Whether the parameter with dotted name `name` is frozen.
function Module:is_frozen(name)
   local found
   walk(self, function(k, info)
      if k == "param" and info.name == name then found = is_frozen(info) end
   end)
   if found == nil then
      error(fmt("[%s:is_frozen] no parameter '%s'", self:type_name(), tostring(name)), 2)
   end
   return found
end

-- fn(module) on every submodule (children first), then on self, as PyTorch.
function Module:apply(fn)
   if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
      error(fmt("[%s:apply] argument 1 must be a function, got %s", self:type_name(), type(fn)), 2)
   end
   local mods = self:modules()
   for i = #mods, 1, -1 do fn(mods[i]) end
   return self
end

function Module:register_forward_hook(fn)
   if type(fn) ~= "function" then
      error(fmt("[%s:register_forward_hook] argument 1 must be a function, got %s",
                self:type_name(), type(fn)), 2)
   end
   local hooks = rawget(self, "_hooks")
   local h = {fn = fn}
   hooks[#hooks + 1] = h
   function h.remove()
      for i, x in ipairs(hooks) do
         if x == h then table.remove(hooks, i) return true end
      end
      return false
   end
   return h
end

-- Config shown in tostring: "in_features=784, out_features=512, bias=true".
function Module:extra_repr()
   return ""
end

-- (ancestors: the modules being printed around this one; a child that is
-- one of them -- a back reference such as self.child.parent = self -- is
-- printed as a reference instead of recursing forever)
function Module:_repr(indent, ancestors)
   ancestors = ancestors or {}
   local head = self:type_name() .. "("
   local extra = self:extra_repr() or ""
   local kids = self:named_children()
   if #kids == 0 then return head .. extra .. ")" end
   local lines = {head .. extra}
   local ind = indent .. "  "
   ancestors[self] = true
   for _, c in ipairs(kids) do
      local r = ancestors[c[2]] and ("<cycle: " .. c[2]:type_name() .. ">") or
                c[2]:_repr(ind, ancestors)
      lines[#lines + 1] = ind .. "(" .. c[1] .. "): " .. r
   end
   ancestors[self] = nil
   lines[#lines + 1] = indent .. ")"
   return table.concat(lines, "\n")
end

-- The device of the first parameter (or the default device).
function Module:device()
   for _, p in ipairs(self:named_parameters()) do return p[2].device end
   return ty.default_device and ty.default_device() or "cpu"
end

-- Converts every floating parameter and buffer with fn(array) -> array.
function Module:map_arrays(fn)
   local mapping = {}
   walk(self, function(k, info)
      if k == "param" or k == "buffer" then
         local new = mapping[info.array]
         if new == nil then
            new = fn(info.array, info.name, k)
            mapping[info.array] = new
         end
         if is_module(info.container) then rawset(info.container, info.key, new)
         else info.container[info.key] = new end
      end
   end)
   return self
end

-- m:astype(dtype): floating parameters and buffers to dtype (lazy).
function Module:astype(dtype)
   if not FLOAT[dtype] then
      error(fmt("[%s:astype] dtype must be a floating type (float16, bfloat16, float32, " ..
                "float64), got %s", self:type_name(), tostring(dtype)), 2)
   end
   return self:map_arrays(function(a)
      if FLOAT[a.dtype] and a.dtype ~= dtype then return a:astype(dtype) end
      return a
   end)
end

-- m:to(device): every parameter and buffer moved to device.
function Module:to(device)
   return self:map_arrays(function(a) return a:to(device) end)
end

M._update_arrays = update_arrays
M._split_name = split_name

------------------------------------------------------------------------ init

-- ty.nn.init: initialisers. Each takes a shape (a table) or an array (its
-- shape and dtype are used) and an options table ({dtype=, key=, device=}
-- plus the initialiser's own), and returns a NEW lazy array (nothing is
-- evaluated, except by orthogonal).
local init = {}
M.init = init

local INIT_KEYS = {
   constant = "", uniform = "low high a b", normal = "mean std",
   truncated_normal = "mean std a b", xavier_uniform = "gain", xavier_normal = "gain",
   kaiming_uniform = "a mode nonlinearity", kaiming_normal = "a mode nonlinearity",
   orthogonal = "gain lua_qr",
}

local function init_args(fname, s, opts)
   opts = opts or {}
   if type(opts) ~= "table" or is_array(opts) then
      error(fmt("[init.%s] options must be a table, got %s", fname, type(opts)), 3)
   end
   check_keys("init." .. fname, opts, "dtype key device " .. (INIT_KEYS[fname] or ""), 3)
   local shape, dtype, device
   if is_array(s) then
      shape, dtype, device = s.shape, s.dtype, s.device
   elseif type(s) == "table" then
      shape = s
   elseif math.type(s) == "integer" then
      shape = {s}
   else
      error(fmt("[init.%s] argument 1 must be a shape or an array, got %s", fname, type(s)), 3)
   end
   local ro = {dtype = opts.dtype or dtype, key = opts.key, device = opts.device or device}
   if ro.dtype and not FLOAT[ro.dtype] then
      error(fmt("[init.%s] dtype must be a floating type, got %s", fname, ro.dtype), 3)
   end
   return shape, ro, opts
end

-- fan_in, fan_out of a weight shape as PyTorch computes them.
function init.calculate_fan_in_and_fan_out(shape)
   if is_array(shape) then shape = shape.shape end
   if #shape < 2 then
      error(fmt("[init] fan in and fan out need at least 2 dimensions, got %s", shape_str(shape)), 2)
   end
   local receptive = 1
   for i = 3, #shape do receptive = receptive * shape[i] end
   return shape[2] * receptive, shape[1] * receptive
end

function init.calculate_gain(nonlinearity, param)
   nonlinearity = nonlinearity or "leaky_relu"
   local lin = {linear = 1, conv1d = 1, conv2d = 1, conv3d = 1, conv_transpose1d = 1,
                conv_transpose2d = 1, conv_transpose3d = 1, sigmoid = 1, identity = 1}
   if lin[nonlinearity] then return 1 end
   if nonlinearity == "tanh" then return 5 / 3 end
   if nonlinearity == "relu" then return sqrt(2) end
   if nonlinearity == "leaky_relu" then
      local a = param or 0.01
      return sqrt(2 / (1 + a * a))
   end
   if nonlinearity == "selu" then return 3 / 4 end
   error(fmt("[init.calculate_gain] unsupported nonlinearity '%s'", tostring(nonlinearity)), 2)
end

local function empty_shape(shape)
   for _, d in ipairs(shape) do if d == 0 then return true end end
   return false
end

local function draw_uniform(shape, low, high, ro)
   if empty_shape(shape) then
      return ty.zeros(shape, {dtype = ro.dtype or "float32", device = ro.device})
   end
   return ty.random.uniform(shape, {low = low, high = high, key = ro.key, dtype = ro.dtype,
                                    device = ro.device})
end

local function draw_normal(shape, mean, std, ro)
   if empty_shape(shape) then
      return ty.zeros(shape, {dtype = ro.dtype or "float32", device = ro.device})
   end
   return ty.random.normal(shape, {mean = mean, std = std, key = ro.key, dtype = ro.dtype,
                                   device = ro.device})
end

function init.constant(s, value, opts)
   local shape, ro = init_args("constant", s, opts)
   if type(value) ~= "number" then
      error("[init.constant] argument 2 (value) must be a number, got " .. type(value), 2)
   end
   return ty.full(shape, value, {dtype = ro.dtype or "float32", device = ro.device})
end

function init.zeros(s, opts) return init.constant(s, 0, opts) end
function init.ones(s, opts) return init.constant(s, 1, opts) end

function init.uniform(s, opts)
   local shape, ro, o = init_args("uniform", s, opts)
   return draw_uniform(shape, o.low or o.a or 0, o.high or o.b or 1, ro)
end

function init.normal(s, opts)
   local shape, ro, o = init_args("normal", s, opts)
   return draw_normal(shape, o.mean or 0, o.std or 1, ro)
end

function init.truncated_normal(s, opts)
   local shape, ro, o = init_args("truncated_normal", s, opts)
   local mean, std = o.mean or 0, o.std or 1
   local a, b = o.a or -2, o.b or 2
   local x = ty.random.truncated_normal((a - mean) / std, (b - mean) / std, shape,
                                        {key = ro.key, dtype = ro.dtype})
   if ro.device then x = x:to(ro.device) end
   if std ~= 1 then x = x * std end
   if mean ~= 0 then x = x + mean end
   return x
end

function init.xavier_uniform(s, opts)
   local shape, ro, o = init_args("xavier_uniform", s, opts)
   local fi, fo = init.calculate_fan_in_and_fan_out(shape)
   local bound = (o.gain or 1) * sqrt(6 / (fi + fo))
   return draw_uniform(shape, -bound, bound, ro)
end

function init.xavier_normal(s, opts)
   local shape, ro, o = init_args("xavier_normal", s, opts)
   local fi, fo = init.calculate_fan_in_and_fan_out(shape)
   return draw_normal(shape, 0, (o.gain or 1) * sqrt(2 / (fi + fo)), ro)
end

local function kaiming_std(fname, shape, o)
   local fi, fo = init.calculate_fan_in_and_fan_out(shape)
   local mode = o.mode or "fan_in"
   local fan
   if mode == "fan_in" then fan = fi elseif mode == "fan_out" then fan = fo
   else error(fmt("[init.%s] mode must be 'fan_in' or 'fan_out', got '%s'", fname, tostring(mode)), 3) end
   local gain = init.calculate_gain(o.nonlinearity or "leaky_relu", o.a or 0)
   return gain / sqrt(fan)
end

function init.kaiming_uniform(s, opts)
   local shape, ro, o = init_args("kaiming_uniform", s, opts)
   local bound = sqrt(3) * kaiming_std("kaiming_uniform", shape, o)
   return draw_uniform(shape, -bound, bound, ro)
end

function init.kaiming_normal(s, opts)
   local shape, ro, o = init_args("kaiming_normal", s, opts)
   return draw_normal(shape, 0, kaiming_std("kaiming_normal", shape, o), ro)
end

init.glorot_uniform = init.xavier_uniform
init.glorot_normal = init.xavier_normal
init.he_uniform = init.kaiming_uniform
init.he_normal = init.kaiming_normal

-- Householder QR of an m x n (m >= n) matrix given as a list of rows; returns
-- Q's first n columns (m x n, rows) and R's diagonal signs applied (Q * sign(diag R)).
local function householder_q(A, m, n)
   -- work on columns
   local R = {}
   for i = 1, m do R[i] = {} for j = 1, n do R[i][j] = A[i][j] end end
   local vs = {}
   for k = 1, n do
      local norm = 0
      for i = k, m do norm = norm + R[i][k] ^ 2 end
      norm = sqrt(norm)
      local v = {}
      for i = k, m do v[i] = R[i][k] end
      local alpha = (R[k][k] >= 0) and -norm or norm
      v[k] = v[k] - alpha
      local vn = 0
      for i = k, m do vn = vn + v[i] ^ 2 end
      if vn > 0 then
         for j = k, n do
            local d = 0
            for i = k, m do d = d + v[i] * R[i][j] end
            d = 2 * d / vn
            for i = k, m do R[i][j] = R[i][j] - d * v[i] end
         end
      end
      vs[k] = {v = v, vn = vn}
   end
   -- Q = H1 H2 ... Hn applied to the first n columns of the identity
   local Q = {}
   for i = 1, m do Q[i] = {} for j = 1, n do Q[i][j] = (i == j) and 1 or 0 end end
   for k = n, 1, -1 do
      local v, vn = vs[k].v, vs[k].vn
      if vn > 0 then
         for j = 1, n do
            local d = 0
            for i = k, m do d = d + v[i] * Q[i][j] end
            d = 2 * d / vn
            for i = k, m do Q[i][j] = Q[i][j] - d * v[i] end
         end
      end
   end
   for j = 1, n do
      if R[j][j] < 0 then for i = 1, m do Q[i][j] = -Q[i][j] end end
   end
   return Q
end

init._householder_q = householder_q

-- Orthogonal init (Saxe et al.), as torch.nn.init.orthogonal_: EVALUATES a
-- normal draw and its QR (ty.linalg.qr when available, else Householder in Lua).
function init.orthogonal(s, opts)
   local shape, ro, o = init_args("orthogonal", s, opts)
   if #shape < 2 then
      error(fmt("[init.orthogonal] needs at least 2 dimensions, got %s", shape_str(shape)), 2)
   end
   local rows = shape[1]
   local cols = 1
   for i = 2, #shape do cols = cols * shape[i] end
   local flat = ty.random.normal({rows, cols}, {key = ro.key, dtype = "float32"})
   local tall = rows >= cols
   if not tall then flat = ty.transpose(flat) end
   local m, n = tall and rows or cols, tall and cols or rows
   local q
   local linalg = rawget(ty, "linalg")
   if linalg and linalg.qr and not o.lua_qr then
      local ok, Q, R = pcall(linalg.qr, flat)
      if ok and Q and R then
         local d = ty.sign((R * ty.eye(n, {dtype = R.dtype, device = R.device})):sum(1))
         d = ty.where(ty.eq(d, 0), 1, d)
         q = Q * d
      end
   end
   if not q then
      local A = flat:tolist()
      if m == 1 and n == 1 and type(A[1]) ~= "table" then A = {{A[1]}} end
      q = ty.array(householder_q(A, m, n), "float32")
   end
   if not tall then q = ty.transpose(q) end
   q = q:reshape(shape) * (o.gain or 1)
   q = q:astype(ro.dtype or "float32")
   if ro.device then q = q:to(ro.device) end
   return q
end

init.__doc = "ty.nn.init -- initialisers returning new lazy arrays"
local INIT_DOCS = {
   constant = "ty.nn.init.constant(shape|array, value, [{dtype=, device=}]) -> array\n  Filled with value.",
   zeros = "ty.nn.init.zeros(shape|array, [opts]) -> array",
   ones = "ty.nn.init.ones(shape|array, [opts]) -> array",
   uniform = "ty.nn.init.uniform(shape|array, [{low=0, high=1, key=, dtype=, device=}]) -> array\n  U(low, high) draws (lazy).",
   normal = "ty.nn.init.normal(shape|array, [{mean=0, std=1, key=, dtype=}]) -> array\n  N(mean, std^2) draws (lazy).",
   truncated_normal = "ty.nn.init.truncated_normal(shape|array, [{mean=0, std=1, a=-2, b=2, key=}]) -> array\n  Normal draws restricted to [a, b] (absolute bounds, as torch.nn.init.trunc_normal_).",
   xavier_uniform = "ty.nn.init.xavier_uniform(shape|array, [{gain=1, key=}]) -> array\n  U(-b, b), b = gain*sqrt(6/(fan_in+fan_out)). Alias glorot_uniform.",
   xavier_normal = "ty.nn.init.xavier_normal(shape|array, [{gain=1, key=}]) -> array\n  N(0, std), std = gain*sqrt(2/(fan_in+fan_out)). Alias glorot_normal.",
   kaiming_uniform = "ty.nn.init.kaiming_uniform(shape|array, [{a=0, mode='fan_in', nonlinearity='leaky_relu', key=}]) -> array\n  U(-b, b), b = gain*sqrt(3/fan) as PyTorch. Alias he_uniform.",
   kaiming_normal = "ty.nn.init.kaiming_normal(shape|array, [{a=0, mode='fan_in', nonlinearity='leaky_relu', key=}]) -> array\n  N(0, gain/sqrt(fan)). Alias he_normal.",
   orthogonal = "ty.nn.init.orthogonal(shape|array, [{gain=1, key=}]) -> array\n  A (semi-)orthogonal matrix from the QR of a normal draw (flattened past axis 1).\n  Evaluates (uses ty.linalg.qr when present, else Householder QR in Lua).",
   calculate_gain = "ty.nn.init.calculate_gain(nonlinearity, [param]) -> number\n  PyTorch's gains: linear/conv/sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu sqrt(2/(1+a^2)), selu 3/4.",
   calculate_fan_in_and_fan_out = "ty.nn.init.calculate_fan_in_and_fan_out(shape|array) -> fan_in, fan_out\n  As PyTorch: shape[2]*receptive, shape[1]*receptive.",
}
for k, d in pairs(INIT_DOCS) do doc(init[k], d) end

------------------------------------------------------------------------ helpers

-- Options table check (nil -> {}).
local function options(name, opts, level, allowed)
   if opts == nil then return {} end
   if type(opts) ~= "table" or is_array(opts) or is_module(opts) then
      error(fmt("[%s] options must be a table, got %s", name, type(opts)), (level or 2) + 1)
   end
   if allowed then check_keys(name, opts, allowed, (level or 2) + 1) end
   return opts
end
M._options = options

local function check_int(name, what, v, min)
   if math.type(v) ~= "integer" or v < (min or 1) then
      error(fmt("[%s] %s must be an integer >= %d, got %s", name, what, min or 1, tostring(v)), 3)
   end
   return v
end

local function check_array(name, x, what)
   if not is_array(x) then
      error(fmt("[%s] %s must be an array, got %s", name, what or "input", type(x)), 3)
   end
end

-- An input of shape s must be (..., dim), or (..., L, dim) when seq; level: of
-- the error, as the caller's own.
local function check_last_dim(name, s, dim, seq, level)
   if #s < (seq and 2 or 1) or s[#s] ~= dim then
      error(fmt("[%s] expected input (...,%s%d), got %s", name, seq and "L," or "", dim,
                shape_str(s)), level + 1)
   end
end

local function fmt_num(v)
   if type(v) == "number" then
      if math.type(v) == "integer" then return tostring(v) end
      return fmt("%g", v)
   end
   if type(v) == "table" and not is_array(v) then
      local p = {}
      for i, x in ipairs(v) do p[i] = fmt_num(x) end
      return "(" .. table.concat(p, ", ") .. (#p == 1 and ",)" or ")")
   end
   if type(v) == "string" then return "'" .. v .. "'" end
   return tostring(v)
end
M._fmt_num = fmt_num

-- A position offset: an integer >= 0.
local function check_offset(name, v)
   if math.type(v) ~= "integer" or v < 0 then
      error(fmt("[%s] offset must be an integer >= 0, got %s", name,
                type(v) == "string" and "'" .. v .. "'" or tostring(v)), 3)
   end
   return v
end

-- "a=1, b=true" from a list of field names of self (nil fields skipped).
local function repr_fields(self, names)
   local parts = {}
   for _, n in ipairs(names) do
      local v = rawget(self, n)
      if v ~= nil then parts[#parts + 1] = n .. "=" .. fmt_num(v) end
   end
   return table.concat(parts, ", ")
end
M._repr_fields = repr_fields

------------------------------------------------------------------------ containers

local Identity = Module:extend("Identity")
M.Identity = Identity
function Identity:init() end
function Identity:forward(x, ...) return x, ... end

local Sequential = Module:extend("Sequential")
M.Sequential = Sequential
function Sequential:init(...)
   local mods = pack(...)
   if mods.n == 1 and is_plain_table(mods[1]) then mods = mods[1]; mods.n = #mods end
   for i = 1, mods.n do
      if not is_module(mods[i]) and type(mods[i]) ~= "function" then
         error(fmt("[Sequential] argument %d must be a module, got %s", i, type(mods[i])), 3)
      end
      self[i] = mods[i]
   end
end
function Sequential:forward(x, ...)
   local r = pack(x, ...)
   for i = 1, #self do
      r = pack(self[i](unpack(r, 1, r.n)))
   end
   return unpack(r, 1, r.n)
end
function Sequential:append(m)
   if not is_module(m) then
      error("[Sequential:append] argument must be a module, got " .. type(m), 2)
   end
   self[#self + 1] = m
   return self
end
function Sequential:__len() return rawlen(self) end

local ModuleList = Module:extend("ModuleList")
M.ModuleList = ModuleList
function ModuleList:init(list)
   if list ~= nil then
      if not is_plain_table(list) then
         error("[ModuleList] argument 1 must be a list of modules, got " .. type(list), 3)
      end
      for i, m in ipairs(list) do
         if not is_module(m) then
            error(fmt("[ModuleList] element %d must be a module, got %s", i, type(m)), 3)
         end
         self[i] = m
      end
   end
end
function ModuleList:append(m)
   if not is_module(m) then
      error("[ModuleList:append] argument must be a module, got " .. type(m), 2)
   end
   self[#self + 1] = m
   return self
end
function ModuleList:forward()
   error("[ModuleList] a ModuleList has no forward; index it and call its modules", 2)
end
ModuleList.__len = Sequential.__len
-- (ipairs works: the modules are the integer fields 1..n)

------------------------------------------------------------------------ Linear

local Linear = Module:extend("Linear")
M.Linear = Linear
function Linear:init(in_features, out_features, opts)
   opts = options("Linear", opts, 3, "bias dtype device")
   check_int("Linear", "in_features", in_features, 0)
   check_int("Linear", "out_features", out_features, 0)
   self.in_features, self.out_features = in_features, out_features
   local dt = {dtype = opts.dtype, device = opts.device}
   self.weight = init.kaiming_uniform({out_features, in_features},
                                      {a = sqrt(5), dtype = dt.dtype, device = dt.device})
   if opts.bias ~= false then
      local b = in_features > 0 and 1 / sqrt(in_features) or 0
      self.bias = init.uniform({out_features}, {low = -b, high = b, dtype = dt.dtype,
                                               device = dt.device})
   end
end
function Linear:forward(x)
   check_array("Linear", x)
   local s = x.shape
   check_last_dim("Linear", s, self.in_features, false, 3)
   local y = ty.matmul(x, self.weight.T)
   if self.bias then y = y + self.bias end
   return y
end
function Linear:extra_repr()
   return fmt("in_features=%d, out_features=%d, bias=%s", self.in_features,
              self.out_features, tostring(self.bias ~= nil))
end

local Bilinear = Module:extend("Bilinear")
M.Bilinear = Bilinear
function Bilinear:init(in1, in2, out, opts)
   opts = options("Bilinear", opts, 3, "bias dtype device")
   check_int("Bilinear", "in1_features", in1)
   check_int("Bilinear", "in2_features", in2)
   check_int("Bilinear", "out_features", out)
   self.in1_features, self.in2_features, self.out_features = in1, in2, out
   local b = 1 / sqrt(in1)
   local o = {low = -b, high = b, dtype = opts.dtype, device = opts.device}
   self.weight = init.uniform({out, in1, in2}, o)
   if opts.bias ~= false then self.bias = init.uniform({out}, o) end
end
function Bilinear:forward(x1, x2)
   check_array("Bilinear", x1, "input 1")
   check_array("Bilinear", x2, "input 2")
   local s1, s2 = x1.shape, x2.shape
   if #s1 == 0 or s1[#s1] ~= self.in1_features or #s2 == 0 or s2[#s2] ~= self.in2_features
      or #s1 ~= #s2 then
      error(fmt("[Bilinear] expected inputs (...,%d) and (...,%d), got %s and %s",
                self.in1_features, self.in2_features, shape_str(s1), shape_str(s2)), 3)
   end
   for i = 1, #s1 - 1 do
      if s1[i] ~= s2[i] then
         error(fmt("[Bilinear] the inputs' leading dimensions differ: %s and %s",
                   shape_str(s1), shape_str(s2)), 3)
      end
   end
   local lead = {}
   for i = 1, #s1 - 1 do lead[i] = s1[i] end
   local i1, i2, o = self.in1_features, self.in2_features, self.out_features
   -- (N, in1) @ (in1, out*in2) -> (N, out, in2), times x2, summed over in2
   local w = ty.transpose(self.weight, {2, 1, 3}):reshape{i1, o * i2}
   local a = ty.matmul(x1:reshape{-1, i1}, w):reshape{-1, o, i2}
   local y = (a * x2:reshape{-1, 1, i2}):sum(3)
   if self.bias then y = y + self.bias end
   lead[#lead + 1] = o
   return y:reshape(lead)
end
function Bilinear:extra_repr()
   return fmt("in1_features=%d, in2_features=%d, out_features=%d, bias=%s", self.in1_features,
              self.in2_features, self.out_features, tostring(self.bias ~= nil))
end

------------------------------------------------------------------------ shape layers

local function norm_axis(name, axis, ndim)
   local a = axis < 0 and ndim + 1 + axis or axis
   if a < 1 or a > ndim then
      error(fmt("[%s] axis %d is out of range for %d dimensions", name, axis, ndim), 4)
   end
   return a
end

local Flatten = Module:extend("Flatten")
M.Flatten = Flatten
function Flatten:init(start_dim, end_dim)
   for i, v in ipairs{start_dim or 2, end_dim or -1} do
      if math.type(v) ~= "integer" or v == 0 then
         error(fmt("[Flatten] %s must be a nonzero integer (1-based axis, negative from the " ..
                   "end), got %s", i == 1 and "start_dim" or "end_dim", tostring(v)), 3)
      end
   end
   self.start_dim = start_dim or 2
   self.end_dim = end_dim or -1
end
function Flatten:forward(x)
   check_array("Flatten", x)
   local nd = #x.shape
   if nd == 0 then return x:reshape{1} end
   local s = norm_axis("Flatten", self.start_dim, nd)
   local e = norm_axis("Flatten", self.end_dim, nd)
   return ty.flatten(x, s, e)
end
function Flatten:extra_repr() return repr_fields(self, {"start_dim", "end_dim"}) end

local Unflatten = Module:extend("Unflatten")
M.Unflatten = Unflatten
function Unflatten:init(dim, sizes)
   if math.type(dim) ~= "integer" then
      error("[Unflatten] argument 1 (dim) must be an integer, got " .. tostring(dim), 3)
   end
   if type(sizes) ~= "table" then
      error("[Unflatten] argument 2 (sizes) must be a table, got " .. type(sizes), 3)
   end
   self.dim, self.unflattened_size = dim, sizes
end
function Unflatten:forward(x)
   check_array("Unflatten", x)
   local s = x.shape
   local d = norm_axis("Unflatten", self.dim, #s)
   local new = {}
   for i = 1, d - 1 do new[#new + 1] = s[i] end
   local prod, neg = 1, false
   for _, v in ipairs(self.unflattened_size) do
      new[#new + 1] = v
      if v == -1 then neg = true else prod = prod * v end
   end
   if (not neg and prod ~= s[d]) or (neg and s[d] % prod ~= 0) then
      error(fmt("[Unflatten] cannot unflatten dimension %d of %s into %s", d, shape_str(s),
                shape_str(self.unflattened_size)), 3)
   end
   for i = d + 1, #s do new[#new + 1] = s[i] end
   return x:reshape(new)
end
function Unflatten:extra_repr()
   return fmt("dim=%d, unflattened_size=%s", self.dim, fmt_num(self.unflattened_size))
end

------------------------------------------------------------------------ Dropout

local function check_p(name, p)
   if type(p) ~= "number" or not (p >= 0 and p <= 1) then
      error(fmt("[%s] p must be a number in [0, 1], got %s", name, tostring(p)), 4)
   end
   return p
end

-- x with elements (or whole channels: mask_shape) zeroed with probability p,
-- the rest scaled by 1/(1-p).
local function dropout_apply(x, p, mask_shape, key)
   if p == 0 then return x end
   if p == 1 then return x * 0 end
   local keep = ty.random.bernoulli(1 - p, mask_shape, {key = key})
   if keep.device ~= x.device then keep = keep:to(x.device) end
   return ty.where(keep, x * (1 / (1 - p)), 0)
end

function M.dropout(x, p, opts)
   opts = options("dropout", opts, nil, "key training")
   check_array("dropout", x)
   p = check_p("dropout", p or 0.5)
   if opts.training == false then return x end
   return dropout_apply(x, p, x.shape, opts.key)
end

local Dropout = Module:extend("Dropout")
M.Dropout = Dropout
function Dropout:init(p)
   if type(p) == "table" then p = p.p end
   self.p = check_p("Dropout", p or 0.5)
end
-- forward(x, [{key=}])
function Dropout:forward(x, opts)
   check_array("Dropout", x)
   opts = options("Dropout", opts, 3, "key")
   if not self.training or self.p == 0 then return x end
   local key = opts.key
   return dropout_apply(x, self.p, x.shape, key)
end
function Dropout:extra_repr() return fmt("p=%g", self.p) end

local function channel_dropout(name, ndim_min)
   local cls = Module:extend(name)
   function cls:init(p)
      if type(p) == "table" then p = p.p end
      self.p = check_p(name, p or 0.5)
   end
   function cls:forward(x, opts)
      check_array(name, x)
      opts = options(name, opts, 3, "key")
      local s = x.shape
      if #s < ndim_min then
         error(fmt("[%s] expected an input with at least %d dimensions, got %s", name,
                   ndim_min, shape_str(s)), 3)
      end
      if not self.training or self.p == 0 then return x end
      -- (N, C, spatial...) or (C, spatial...) without batch: one draw per channel
      local nspatial = ndim_min - 1
      local ms = {}
      for i = 1, #s do ms[i] = i > #s - nspatial and 1 or s[i] end
      return dropout_apply(x, self.p, ms, opts.key)
   end
   function cls:extra_repr() return fmt("p=%g", self.p) end
   return cls
end
M.Dropout1d = channel_dropout("Dropout1d", 1 + 1)
M.Dropout2d = channel_dropout("Dropout2d", 1 + 2)
M.Dropout3d = channel_dropout("Dropout3d", 1 + 3)

------------------------------------------------------------------------ Embedding

local Embedding = Module:extend("Embedding")
M.Embedding = Embedding
function Embedding:init(num, dim, opts)
   opts = options("Embedding", opts, 3, "padding_idx dtype device")
   check_int("Embedding", "num_embeddings", num)
   check_int("Embedding", "embedding_dim", dim)
   self.num_embeddings, self.embedding_dim = num, dim
   local w = init.normal({num, dim}, {dtype = opts.dtype, device = opts.device})
   local pad = opts.padding_idx
   if pad ~= nil then
      if math.type(pad) ~= "integer" then
         error("[Embedding] padding_idx must be an integer, got " .. tostring(pad), 3)
      end
      if pad < 0 then pad = num + 1 + pad end
      if pad < 1 or pad > num then
         error(fmt("[Embedding] padding_idx %d is out of range 1..%d", opts.padding_idx, num), 3)
      end
      self.padding_idx = pad
      local rowmask = ty.ne(ty.arange(num), pad):reshape{num, 1}
      w = ty.where(rowmask, w, 0)
   end
   self.weight = w
end
-- forward(ids): ids are 1-based integer indices (an array or a table).
function Embedding:forward(ids)
   if type(ids) == "table" and not is_array(ids) then ids = ty.array(ids, "int32") end
   check_array("Embedding", ids)
   if FLOAT[ids.dtype] or ids.dtype == "bool" then
      error(fmt("[Embedding] expected integer indices, got %s", ids.dtype), 3)
   end
   local rows = ty.take(self.weight, ids, 1)
   if self.padding_idx then
      -- the padding row gets no gradient, as in PyTorch
      local is_pad = ty.eq(ids, self.padding_idx):reshape(
         (function() local s = {} for i, v in ipairs(ids.shape) do s[i] = v end
                     s[#s + 1] = 1 return s end)())
      rows = ty.where(is_pad, ty.stop_gradient(rows), rows)
   end
   return rows
end
-- emb:as_linear(x) -> x @ weight^T (tied output projection).
function Embedding:as_linear(x)
   check_array("Embedding:as_linear", x)
   local s = x.shape
   check_last_dim("Embedding", s, self.embedding_dim, false, 2)
   return ty.matmul(x, self.weight.T)
end
function Embedding:extra_repr()
   local s = fmt("%d, %d", self.num_embeddings, self.embedding_dim)
   if self.padding_idx then s = s .. ", padding_idx=" .. self.padding_idx end
   return s
end

------------------------------------------------------------------------ LayerScale

local LayerScale = Module:extend("LayerScale")
M.LayerScale = LayerScale
function LayerScale:init(dim, opts)
   opts = options("LayerScale", opts, 3, "init_values dtype device")
   check_int("LayerScale", "dim", dim)
   self.dim = dim
   self.init_values = opts.init_values or 1e-5
   self.gamma = ty.full({dim}, self.init_values, {dtype = opts.dtype or "float32", device = opts.device})
end
function LayerScale:forward(x)
   check_array("LayerScale", x)
   local s = x.shape
   check_last_dim("LayerScale", s, self.dim, false, 3)
   return x * self.gamma
end
function LayerScale:extra_repr() return fmt("dim=%d, init_values=%g", self.dim, self.init_values) end

------------------------------------------------------------------------ positional encodings

-- (L, dim) sinusoidal table for positions offset .. offset+L-1 (0-based as in
-- "Attention is all you need"): even features sin(pos*w_i), odd cos(pos*w_i),
-- w_i = base^(-2i/dim).
local function sinusoid_table(L, dim, offset, base, dtype, device)
   local half = dim // 2
   local pos = (ty.arange(L, {dtype = "float32", device = device}) + (offset - 1)):reshape{L, 1}
   local i = ty.arange(half, {dtype = "float32", device = device}) - 1
   local freq = ty.exp(i * (-2 * math.log(base) / dim)):reshape{1, half}
   local ang = pos * freq
   local t = ty.stack({ty.sin(ang), ty.cos(ang)}, 3):reshape{L, 2 * half}
   if dim % 2 == 1 then t = ty.pad(t, {{0, 0}, {0, 1}}) end
   if dtype and dtype ~= "float32" then t = t:astype(dtype) end
   return t
end

local SPE = Module:extend("SinusoidalPositionalEncoding")
M.SinusoidalPositionalEncoding = SPE
function SPE:init(dim, opts)
   opts = options("SinusoidalPositionalEncoding", opts, 3, "base scale")
   check_int("SinusoidalPositionalEncoding", "dim", dim)
   self.dim = dim
   self.base = opts.base or 10000
   self.scale = opts.scale
end
-- forward(x, [{offset=0}]): x (..., L, dim) -> x + table[offset+1 .. offset+L]
function SPE:forward(x, opts)
   check_array("SinusoidalPositionalEncoding", x)
   local s = x.shape
   check_last_dim("SinusoidalPositionalEncoding", s, self.dim, true, 3)
   local offset = check_offset("SinusoidalPositionalEncoding",
                               options("SinusoidalPositionalEncoding", opts, 3, "offset").offset or 0)
   local t = sinusoid_table(s[#s - 1], self.dim, offset, self.base, x.dtype, x.device)
   if self.scale then x = x * self.scale end
   return x + t
end
-- spe:encoding(L, [offset=0]) -> (L, dim) table.
function SPE:encoding(L, offset)
   return sinusoid_table(L, self.dim, offset or 0, self.base, "float32")
end
function SPE:extra_repr() return fmt("dim=%d, base=%g", self.dim, self.base) end

local LPE = Module:extend("LearnedPositionalEncoding")
M.LearnedPositionalEncoding = LPE
function LPE:init(max_len, dim, opts)
   opts = options("LearnedPositionalEncoding", opts, 3, "std dtype device")
   check_int("LearnedPositionalEncoding", "max_len", max_len)
   check_int("LearnedPositionalEncoding", "dim", dim)
   self.max_len, self.dim = max_len, dim
   self.weight = init.normal({max_len, dim}, {std = opts.std or 0.02, dtype = opts.dtype,
                                              device = opts.device})
end
function LPE:forward(x, opts)
   check_array("LearnedPositionalEncoding", x)
   local s = x.shape
   local offset = check_offset("LearnedPositionalEncoding",
                               options("LearnedPositionalEncoding", opts, 3, "offset").offset or 0)
   check_last_dim("LearnedPositionalEncoding", s, self.dim, true, 3)
   local L = s[#s - 1]
   if offset + L > self.max_len then
      error(fmt("[LearnedPositionalEncoding] positions %d..%d exceed max_len %d", offset + 1,
                offset + L, self.max_len), 3)
   end
   return x + self.weight[{{offset + 1, offset + L}}]
end
function LPE:extra_repr() return fmt("max_len=%d, dim=%d", self.max_len, self.dim) end

------------------------------------------------------------------------ RoPE

-- Rotary position embedding on x (..., L, D), as mlx.nn.RoPE: the first
-- `dims` features rotate; traditional=true rotates consecutive pairs,
-- otherwise the two halves. Position of row l: (offset + l - 1) * scale.
function M.rope(x, dims, opts)
   opts = options("rope", opts, nil, "base offset scale traditional")
   check_array("rope", x)
   local s = x.shape
   local D = s[#s]
   dims = dims or D
   if #s < 2 or dims > D or dims % 2 ~= 0 then
      error(fmt("[RoPE] expected input (...,L,D) with D >= %d (even dims), got %s", dims,
                shape_str(s)), 3)
   end
   local L = s[#s - 1]
   local base = opts.base or 10000
   local scale = opts.scale or 1
   local offset = check_offset("rope", opts.offset or 0)
   local half = dims // 2
   local pos = ((ty.arange(L, {dtype = "float32", device = x.device}) + (offset - 1)) * scale)
      :reshape{L, 1}
   local i = ty.arange(half, {dtype = "float32", device = x.device}) - 1
   local theta = pos * ty.exp(i * (-2 * math.log(base) / dims)):reshape{1, half}
   local cos, sin = ty.cos(theta), ty.sin(theta)
   if x.dtype ~= "float32" then cos, sin = cos:astype(x.dtype), sin:astype(x.dtype) end
   local nd = #s
   local function slice_last(a, lo, hi)
      local idx = {}
      for k = 1, nd - 1 do idx[k] = {} end
      idx[nd] = {lo, hi}
      return a[idx]
   end
   local rot
   if opts.traditional then
      local xr = slice_last(x, 1, dims)
      local shp = {}
      for k = 1, nd - 1 do shp[k] = s[k] end
      shp[nd], shp[nd + 1] = half, 2
      xr = xr:reshape(shp)
      local idx1, idx2 = {}, {}
      for k = 1, nd do idx1[k] = {}; idx2[k] = {} end
      idx1[nd + 1] = {1, 1}; idx2[nd + 1] = {2, 2}
      local x1 = xr[idx1]:squeeze(nd + 1)
      local x2 = xr[idx2]:squeeze(nd + 1)
      local r1 = x1 * cos - x2 * sin
      local r2 = x1 * sin + x2 * cos
      shp[nd], shp[nd + 1] = dims, nil
      rot = ty.stack({r1, r2}, nd + 1):reshape(shp)
   else
      local x1 = slice_last(x, 1, half)
      local x2 = slice_last(x, half + 1, dims)
      rot = ty.cat({x1 * cos - x2 * sin, x1 * sin + x2 * cos}, nd)
   end
   if dims < D then rot = ty.cat({rot, slice_last(x, dims + 1, D)}, nd) end
   return rot
end

local RoPE = Module:extend("RoPE")
M.RoPE = RoPE
function RoPE:init(dims, opts)
   opts = options("RoPE", opts, 3, "base scale traditional")
   check_int("RoPE", "dims", dims)
   if dims % 2 ~= 0 then error("[RoPE] dims must be even, got " .. dims, 3) end
   self.dims = dims
   self.traditional = opts.traditional or false
   self.base = opts.base or 10000
   self.scale = opts.scale or 1
end
-- forward(x, [{offset=0}]) or forward(x, offset)
function RoPE:forward(x, opts)
   local offset = type(opts) == "number" and opts or options("RoPE", opts, 3, "offset").offset or 0
   return M.rope(x, self.dims, {traditional = self.traditional, base = self.base,
                                scale = self.scale, offset = offset})
end
function RoPE:extra_repr()
   return fmt("%d, traditional=%s, base=%g, scale=%g", self.dims, tostring(self.traditional),
              self.base, self.scale)
end

------------------------------------------------------------------------ activations

local A = {}   -- function name -> doc

local function act_fn(name, fn, d)
   M[name] = function(x, ...)
      check_array(name, x)
      return fn(x, ...)
   end
   A[name] = d
end

act_fn("relu", function(x) return ty.relu(x) end, "ty.nn.relu(x) -> max(x, 0)")
act_fn("relu6", function(x) return ty.clip(x, 0, 6) end, "ty.nn.relu6(x) -> min(max(x, 0), 6)")
act_fn("leaky_relu", function(x, slope)
   slope = slope or 0.01
   return ty.where(ty.ge(x, 0), x, x * slope)
end, "ty.nn.leaky_relu(x, [negative_slope=0.01]) -> x if x >= 0 else slope*x")
act_fn("prelu", function(x, w)
   check_array("prelu", w, "weight")
   local s = x.shape
   if w.size > 1 and #s >= 2 then
      local shp = {w.size}
      for _ = 3, #s do shp[#shp + 1] = 1 end
      w = w:reshape(shp)
   end
   return ty.where(ty.ge(x, 0), x, x * w)
end, "ty.nn.prelu(x, weight) -> x if x >= 0 else weight*x (weight per channel, axis 2)")
act_fn("elu", function(x, alpha)
   alpha = alpha or 1
   return ty.where(ty.gt(x, 0), x, ty.expm1(ty.minimum(x, 0)) * alpha)
end, "ty.nn.elu(x, [alpha=1]) -> x if x > 0 else alpha*(e^x - 1)")
local SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
act_fn("selu", function(x)
   return ty.where(ty.gt(x, 0), x, ty.expm1(ty.minimum(x, 0)) * SELU_ALPHA) * SELU_SCALE
end, "ty.nn.selu(x) -> scale*elu(x, alpha) with PyTorch's constants")
act_fn("celu", function(x, alpha)
   alpha = alpha or 1
   return ty.where(ty.gt(x, 0), x, ty.expm1(ty.minimum(x, 0) / alpha) * alpha)
end, "ty.nn.celu(x, [alpha=1]) -> max(0,x) + min(0, alpha*(e^(x/alpha) - 1))")
act_fn("gelu", function(x, opts)
   if type(opts) == "table" then check_keys("gelu", opts, "approximate", 3) end
   local approx = type(opts) == "table" and opts.approximate or opts
   if approx == nil or approx == "none" then return ty.gelu(x) end
   if approx == "tanh" then return ty.gelu_tanh(x) end
   error("[gelu] approximate must be 'none' or 'tanh', got " .. tostring(approx), 3)
end, "ty.nn.gelu(x, [{approximate='none'|'tanh'}]) -> x*Phi(x) (exact erf form or tanh approximation)")
act_fn("silu", function(x) return ty.silu(x) end, "ty.nn.silu(x) -> x*sigmoid(x) (alias swish)")
M.swish = M.silu
act_fn("mish", function(x) return x * ty.tanh(M.softplus(x)) end, "ty.nn.mish(x) -> x*tanh(softplus(x))")
act_fn("hardswish", function(x) return x * ty.clip(x + 3, 0, 6) / 6 end,
       "ty.nn.hardswish(x) -> x*relu6(x+3)/6")
act_fn("hardsigmoid", function(x) return ty.clip(x + 3, 0, 6) / 6 end,
       "ty.nn.hardsigmoid(x) -> relu6(x+3)/6")
act_fn("hardtanh", function(x, lo, hi) return ty.clip(x, lo or -1, hi or 1) end,
       "ty.nn.hardtanh(x, [min=-1], [max=1]) -> clip(x, min, max)")
act_fn("tanh", function(x) return ty.tanh(x) end, "ty.nn.tanh(x)")
act_fn("sigmoid", function(x) return ty.sigmoid(x) end, "ty.nn.sigmoid(x) -> 1/(1+e^-x)")
act_fn("log_sigmoid", function(x) return -ty.softplus(-x) end, "ty.nn.log_sigmoid(x) -> -softplus(-x)")
act_fn("softplus", function(x, opts)
   opts = options("softplus", opts, 3, "beta threshold")
   local beta, threshold = opts.beta or 1, opts.threshold or 20
   local bx = beta == 1 and x or x * beta
   local sp = ty.softplus(ty.minimum(bx, threshold))
   if beta ~= 1 then sp = sp / beta end
   return ty.where(ty.gt(bx, threshold), x, sp)
end, "ty.nn.softplus(x, [{beta=1, threshold=20}]) -> log(1+e^(beta*x))/beta (x where beta*x > threshold)")
act_fn("softsign", function(x) return x / (ty.abs(x) + 1) end, "ty.nn.softsign(x) -> x/(1+|x|)")
act_fn("softmax", function(x, axis) return ty.softmax(x, axis or -1) end,
       "ty.nn.softmax(x, [axis=-1])")
act_fn("log_softmax", function(x, axis) return ty.log_softmax(x, axis or -1) end,
       "ty.nn.log_softmax(x, [axis=-1])")
act_fn("glu", function(x, axis)
   axis = axis or -1
   local nd = #x.shape
   local a = axis < 0 and nd + 1 + axis or axis
   local n = x.shape[a]
   if n == nil or n % 2 ~= 0 then
      error(fmt("[GLU] axis %d of %s must have an even length", axis, shape_str(x)), 3)
   end
   local parts = ty.split(x, 2, a)
   return parts[1] * ty.sigmoid(parts[2])
end, "ty.nn.glu(x, [axis=-1]) -> a*sigmoid(b) for the halves a, b of x along axis")
act_fn("star_relu", function(x, scale, bias)
   local r = ty.relu(x)
   return r * r * (scale or 0.8944271909999159) + (bias or -0.4472135954999579)
end, "ty.nn.star_relu(x, [scale=0.8944], [bias=-0.4472]) -> scale*relu(x)^2 + bias")

-- Module forms: cls(args...) stores its config; forward calls the function.
local function act_module(cname, fname, fields, defaults, call)
   local cls = Module:extend(cname)
   M[cname] = cls
   function cls:init(...)
      local args = pack(...)
      local named = args.n == 1 and type(args[1]) == "table" and not is_array(args[1])
      if named then check_keys(cname, args[1], table.concat(fields, " "), 3) end
      for i, f in ipairs(fields) do
         local v
         if named then v = args[1][f] else v = args[i] end
         if v == nil then v = defaults[i] end
         if type(v) ~= type(defaults[i]) then
            error(fmt("[%s] %s must be a %s, got %s", cname, f, type(defaults[i]),
                      type(v) == "string" and "'" .. v .. "'" or type(v)), 3)
         end
         self[f] = v
      end
   end
   function cls:forward(x)
      check_array(cname, x)
      if call then return call(self, x) end
      return M[fname](x)
   end
   function cls:extra_repr() return repr_fields(self, fields) end
   return cls
end

act_module("ReLU", "relu", {}, {})
act_module("ReLU6", "relu6", {}, {})
act_module("LeakyReLU", "leaky_relu", {"negative_slope"}, {0.01},
           function(self, x) return M.leaky_relu(x, self.negative_slope) end)
act_module("ELU", "elu", {"alpha"}, {1.0}, function(self, x) return M.elu(x, self.alpha) end)
act_module("SELU", "selu", {}, {})
act_module("CELU", "celu", {"alpha"}, {1.0}, function(self, x) return M.celu(x, self.alpha) end)
act_module("GELU", "gelu", {"approximate"}, {"none"},
           function(self, x) return M.gelu(x, self.approximate) end)
act_module("SiLU", "silu", {}, {})
M.Swish = M.SiLU
act_module("Mish", "mish", {}, {})
act_module("Hardswish", "hardswish", {}, {})
act_module("Hardsigmoid", "hardsigmoid", {}, {})
act_module("Hardtanh", "hardtanh", {"min_val", "max_val"}, {-1.0, 1.0},
           function(self, x) return M.hardtanh(x, self.min_val, self.max_val) end)
act_module("Tanh", "tanh", {}, {})
act_module("Sigmoid", "sigmoid", {}, {})
act_module("LogSigmoid", "log_sigmoid", {}, {})
act_module("Softplus", "softplus", {"beta", "threshold"}, {1.0, 20.0},
           function(self, x) return M.softplus(x, {beta = self.beta, threshold = self.threshold}) end)
act_module("Softsign", "softsign", {}, {})
act_module("Softmax", "softmax", {"dim"}, {-1}, function(self, x) return M.softmax(x, self.dim) end)
act_module("LogSoftmax", "log_softmax", {"dim"}, {-1},
           function(self, x) return M.log_softmax(x, self.dim) end)
act_module("GLU", "glu", {"dim"}, {-1}, function(self, x) return M.glu(x, self.dim) end)

local PReLU = Module:extend("PReLU")
M.PReLU = PReLU
function PReLU:init(num_parameters, opts)
   if type(num_parameters) == "table" then opts, num_parameters = num_parameters, nil end
   opts = options("PReLU", opts, 3, "num_parameters init dtype device")
   self.num_parameters = num_parameters or opts.num_parameters or 1
   check_int("PReLU", "num_parameters", self.num_parameters)
   self.weight = ty.full({self.num_parameters}, opts.init or 0.25,
                         {dtype = opts.dtype or "float32", device = opts.device})
end
function PReLU:forward(x)
   check_array("PReLU", x)
   local s = x.shape
   if self.num_parameters > 1 and (#s < 2 or s[2] ~= self.num_parameters) then
      error(fmt("[PReLU] expected input (N,%d,...), got %s", self.num_parameters, shape_str(s)), 3)
   end
   return M.prelu(x, self.weight)
end
function PReLU:extra_repr() return fmt("num_parameters=%d", self.num_parameters) end

local StarReLU = Module:extend("StarReLU")
M.StarReLU = StarReLU
function StarReLU:init(opts)
   opts = options("StarReLU", opts, 3, "scale_value bias_value learnable dtype device")
   self.scale_value = opts.scale_value or 0.8944271909999159
   self.bias_value = opts.bias_value or -0.4472135954999579
   local o = {dtype = opts.dtype or "float32", device = opts.device}
   self.scale = ty.full({1}, self.scale_value, o)
   self.bias = ty.full({1}, self.bias_value, o)
   if opts.learnable == false then self:freeze() end
end
function StarReLU:forward(x)
   check_array("StarReLU", x)
   local r = ty.relu(x)
   return r * r * self.scale + self.bias
end
function StarReLU:extra_repr() return fmt("scale=%g, bias=%g", self.scale_value, self.bias_value) end

------------------------------------------------------------------------ value_and_grad

-- nn.value_and_grad(model, fn) -> g; g(...) -> fn's results..., grads (a tree
-- shaped like model:trainable_parameters()).
function M.value_and_grad(model, fn)
   if not is_module(model) then
      error("[nn.value_and_grad] argument 1 must be a module, got " .. type(model), 2)
   end
   if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
      error("[nn.value_and_grad] argument 2 must be a function, got " .. type(fn), 2)
   end
   local vg = ty.value_and_grad(function(params, ...)
      local original = model:trainable_parameters()
      local before = {}
      for _, b in ipairs(model:named_buffers()) do before[b[1]] = b[2] end
      update_arrays(model, params, "param", "nn.value_and_grad")
      local r = pack(pcall(fn, ...))
      update_arrays(model, original, "param", "nn.value_and_grad")
      -- buffers the forward replaced (running statistics) must not keep the trace
      local changed = {}
      walk(model, function(k, info)
         if k == "buffer" and not info.dup and not rawequal(before[info.name], info.array) then
            changed[#changed + 1] = info
         end
      end)
      for _, info in ipairs(changed) do
         local v = ty.stop_gradient(info.array)
         if is_module(info.container) then rawset(info.container, info.key, v)
         else info.container[info.key] = v end
      end
      if not r[1] then error(r[2], 0) end
      return unpack(r, 2, r.n)
   end)
   return function(...)
      return vg(model:trainable_parameters(), ...)
   end
end

------------------------------------------------------------------------ save / load

-- The model's keys: names -> {info}, and alias names of tied arrays -> first name.
local function model_keys(self)
   local keys, aliases, order = {}, {}, {}
   walk(self, function(k, info)
      if k == "param" or k == "buffer" then
         if info.dup then aliases[info.name] = info.first
         else keys[info.name] = info; order[#order + 1] = info.name end
      end
   end)
   return keys, aliases, order
end

local function list_str(t, n)
   n = n or 20
   local s = {}
   for i = 1, math.min(#t, n) do s[i] = t[i] end
   if #t > n then s[#s + 1] = fmt("... (%d more)", #t - n) end
   return table.concat(s, ", ")
end

-- m:load_state_dict(dict, [{strict=true}]): dict name -> array.
function Module:load_state_dict(dict, opts, fname)
   fname = fname or "load_state_dict"
   opts = options(fname, opts, nil, "strict")
   if type(dict) ~= "table" or is_array(dict) then
      error(fmt("[%s] argument 1 must be a table name -> array, got %s", fname, type(dict)), 2)
   end
   local strict = opts.strict ~= false
   local keys, aliases, order = model_keys(self)
   local missing, unexpected, mismatch = {}, {}, {}
   local values = {}
   for name, v in pairs(dict) do
      local target = keys[name] and name or aliases[name]
      if not target then
         unexpected[#unexpected + 1] = tostring(name)
      elseif not is_array(v) then
         error(fmt("[%s] '%s' must be an array, got %s", fname, name, type(v)), 2)
      elseif values[target] == nil or keys[name] then
         local cur = keys[target].array
         if cur.size == 1 and v.size == 1 and #cur.shape ~= #v.shape then
            v = v:reshape(cur.shape)   -- torch's 0-d scalars (num_batches_tracked)
         end
         if shape_str(cur) ~= shape_str(v) then
            mismatch[#mismatch + 1] = fmt("%s: file %s, model %s", name, shape_str(v), shape_str(cur))
         else
            values[target] = v
         end
      end
   end
   for _, name in ipairs(order) do
      if values[name] == nil and not dict[name] then missing[#missing + 1] = name end
   end
   table.sort(unexpected)
   table.sort(mismatch)
   if #mismatch > 0 or (strict and (#missing > 0 or #unexpected > 0)) then
      local lines = {fmt("[%s] the weights do not match the %s model:", fname, self:type_name())}
      if strict and #missing > 0 then lines[#lines + 1] = "  missing keys: " .. list_str(missing) end
      if strict and #unexpected > 0 then
         lines[#lines + 1] = "  unexpected keys: " .. list_str(unexpected)
      end
      if #mismatch > 0 then lines[#lines + 1] = "  shape mismatches: " .. list_str(mismatch) end
      error(table.concat(lines, "\n"), fname == "load_weights" and 0 or 2)
   end
   local mapping = {}
   for name, v in pairs(values) do
      local cur = keys[name].array
      if v.dtype ~= cur.dtype then v = v:astype(cur.dtype) end
      if v.device ~= cur.device then v = v:to(cur.device) end
      mapping[cur] = v
   end
   walk(self, function(k, info)
      if k == "param" or k == "buffer" then
         local new = mapping[info.array]
         if new ~= nil then
            if is_module(info.container) then rawset(info.container, info.key, new)
            else info.container[info.key] = new end
         end
      end
   end)
   return self, missing, unexpected
end

local function check_path(fname, path)
   if type(path) ~= "string" then
      error(fmt("[%s] argument 1 (path) must be a string, got %s", fname, type(path)), 3)
   end
   if not (path:match("%.safetensors$") or path:match("%.npz$")) then
      error(fmt("[%s] path must end in .safetensors (or .npz), got '%s'", fname, path), 3)
   end
end

-- m:save_weights(path): parameters and buffers (state_dict) in safetensors.
function Module:save_weights(path)
   check_path("save_weights", path)
   local sd = self:state_dict()
   local ok, err
   if path:match("%.safetensors$") then
      ok, err = pcall(ty.save, path, sd, {metadata = {format = "tycho", model = self:type_name()}})
   else
      ok, err = pcall(ty.save, path, sd)
   end
   if not ok then error("[save_weights] " .. bare(err), 2) end
   return self
end

-- "0.weight" -> "1.weight", "layers.10.bias" -> "layers.11.bias".
local function torch_name(name)
   local parts = {}
   for p in name:gmatch("[^.]+") do
      if p:match("^%d+$") then p = tostring(math.tointeger(tonumber(p)) + 1) end
      parts[#parts + 1] = p
   end
   return table.concat(parts, ".")
end
M._torch_name = torch_name

-- Maps a PyTorch state_dict (name -> array) onto the model's names: 0-based
-- positions -> 1-based, then the per-class hooks cls.from_torch(module,
-- local_tensors, prefix) (deepest modules first), then int64
-- num_batches_tracked entries the model has no buffer for are dropped.
function M.from_torch(model, tensors)
   local t = {}
   for k, v in pairs(tensors) do t[torch_name(k)] = v end
   local mods = model:named_modules()
   for i = #mods, 1, -1 do
      local name, mod = mods[i][1], mods[i][2]
      local hook = mod.from_torch
      if type(hook) == "function" then
         local prefix = name == "" and "" or name .. "."
         local sub = {}
         for k, v in pairs(t) do
            if k:sub(1, #prefix) == prefix then
               sub[k:sub(#prefix + 1)] = v
               t[k] = nil
            end
         end
         local out = hook(mod, sub, prefix)
         if type(out) ~= "table" then
            error(fmt("[load_weights] %s.from_torch must return a table, got %s",
                      mod:type_name(), type(out)), 0)
         end
         for k, v in pairs(out) do t[prefix .. k] = v end
      end
   end
   local keys, aliases = model_keys(model)
   for k in pairs(t) do
      if k:match("num_batches_tracked$") and not keys[k] and not aliases[k] then t[k] = nil end
   end
   return t
end

-- m:load_weights(path, [{strict=true, from=nil|'torch'}])
function Module:load_weights(path, opts)
   check_path("load_weights", path)
   opts = options("load_weights", opts, nil, "strict from")
   local okl, tensors = pcall(ty.load, path)
   if not okl then error("[load_weights] " .. bare(tensors), 2) end
   if opts.from ~= nil then
      if opts.from ~= "torch" then
         error("[load_weights] from must be 'torch' (or nil), got " .. tostring(opts.from), 2)
      end
      tensors = M.from_torch(self, tensors)
   end
   local ok, err = pcall(self.load_state_dict, self, tensors, {strict = opts.strict},
                         "load_weights")
   if not ok then
      if opts.from == nil then
         -- would the PyTorch names (0-based positions, packed in_proj) match?
         local okt, t = pcall(M.from_torch, self, tensors)
         if okt then
            local keys, aliases, order = model_keys(self)
            local all = #order > 0
            for _, name in ipairs(order) do
               if t[name] == nil then all = false break end
            end
            for k in pairs(t) do
               if not keys[k] and not aliases[k] then all = false break end
            end
            if all then
               err = tostring(err) .. "\n  (the names are those of a PyTorch state_dict: " ..
                  "pass {from='torch'})"
            end
         end
      end
      error(err, 2)
   end
   return self
end

-- m.parameters() (a '.' for the ':' PyTorch users type by habit) would run
-- with self = nil and quietly return an empty tree: every Module method
-- checks that it got a module.
for _, k in ipairs(table_keys(Module)) do
   local f = Module[k]
   if type(f) == "function" and type(k) == "string" and k:sub(1, 2) ~= "__" and k ~= "extend"
      and k ~= "init" and k ~= "forward" then
      Module[k] = function(self, ...)
         if not is_module(self) then
            error(fmt("[Module:%s] call it with a colon: m:%s(...) (self was %s)", k, k,
                      is_array(self) and "an array" or type(self)), 2)
         end
         return f(self, ...)
      end
   end
end

------------------------------------------------------------------------ docs

local MODULE_DOCS = {
   extend = "ty.nn.Module:extend(name) -> class\n  A subclass: define cls:init(...) (called by cls(...)) and cls:forward(...).\n  Fields assigned in init are remembered in order; arrays are parameters,\n  modules (and plain tables of them) are children.",
   init = "Cls:init(...)  (a subclass's constructor body: Cls(...) makes the instance, then calls it)",
   forward = "m:forward(...) -> outputs  (m(...) calls it and then the forward hooks)",
   type_name = "m:type_name() -> string  (the class name, e.g. 'Linear')",
   parameters = "m:parameters() -> tree\n  Nested tables keyed like the fields (containers 1-based) with the parameter arrays\n  at the leaves; buffers excluded; tied arrays appear once.",
   trainable_parameters = "m:trainable_parameters() -> tree  (parameters() without frozen ones)",
   named_parameters = "m:named_parameters([{recurse=true}]) -> {{dotted_name, array}, ...}\n  In field order; tied arrays once (first name); recurse=false: own only.",
   named_trainable_parameters = "m:named_trainable_parameters([{recurse=true}]) -> {{name, array}, ...}",
   buffers = "m:buffers() -> tree of the buffers (register_buffer)",
   named_buffers = "m:named_buffers([{recurse=true}]) -> {{dotted_name, array}, ...}",
   num_parameters = "m:num_parameters([{trainable=false}]) -> integer  (elements; tied once)",
   state_dict = "m:state_dict() -> {dotted_name = array}  (parameters and buffers)",
   load_state_dict = "m:load_state_dict(dict, [{strict=true}]) -> m\n  Replaces parameters/buffers by dict's arrays (converted to their dtype/device).\n  Errors list missing, unexpected and shape-mismatched keys (mismatches always).",
   named_children = "m:named_children() -> {{name, module}, ...}  (direct children, in field order)",
   children = "m:children() -> {module, ...}",
   named_modules = "m:named_modules() -> {{dotted_name, module}, ...}  (depth-first pre-order; '' = self)",
   modules = "m:modules() -> {module, ...}  (self first, depth-first; shared modules once)",
   register_buffer = "m:register_buffer(name, array) -> array\n  A saved, not trained array field (running statistics, masks).",
   update = "m:update(tree) -> m\n  Replaces parameters by a (partial) tree shaped like parameters(); tied copies follow.",
   update_buffers = "m:update_buffers(tree) -> m  (like update, for buffers)",
   train = "m:train([mode=true]) -> m  (sets .training on every module)",
   eval = "m:eval() -> m  (train(false): Dropout off, BatchNorm uses running stats)",
   freeze = "m:freeze([patterns]) -> m\n  Freezes all parameters, or those whose dotted names match a pattern ('*' is a\n  wildcard; a pattern also matches the names below it: 'fc1' freezes fc1.weight\n  and fc1.bias; '*.bias'). patterns: a string or a list. Frozen parameters leave\n  trainable_parameters() (and so gradients and optimizer updates).",
   unfreeze = "m:unfreeze([patterns]) -> m  (the reverse of freeze)",
   is_frozen = "m:is_frozen(name) -> boolean",
   apply = "m:apply(fn) -> m  (fn(module) on every submodule, children first, then self)",
   register_forward_hook = "m:register_forward_hook(fn) -> handle\n  fn(module, inputs, output) runs after each m(...) call (inputs: the list of\n  arguments; output: the result, a list when forward returns several); a non-nil\n  return replaces the output (a list replaces several results). handle:remove() removes it.",
   extra_repr = "m:extra_repr() -> string  (config shown by tostring(m); override in subclasses)",
   save_weights = "m:save_weights(path) -> m  (state_dict in safetensors; .npz also accepted)",
   load_weights = "m:load_weights(path, [{strict=true, from=nil|'torch'}]) -> m\n  Loads a safetensors file of save_weights, or with from='torch' a PyTorch\n  state_dict saved as safetensors: 0-based positions become 1-based, classes with\n  a from_torch hook repack their layouts, int64 num_batches_tracked is dropped\n  when the model has no such buffer. Strict: errors list missing, unexpected\n  and shape-mismatched keys.",
   device = "m:device() -> string  (the device of the first parameter)",
   map_arrays = "m:map_arrays(fn) -> m  (every parameter/buffer replaced by fn(array, name, kind))",
   astype = "m:astype(dtype) -> m  (floating parameters and buffers converted, lazily)",
   to = "m:to(device) -> m  (parameters and buffers moved)",
}
for k, d in pairs(MODULE_DOCS) do doc(Module[k], d) end
doc(Module, "ty.nn.Module -- base class of layers and models.\n" ..
   "  local Net = ty.nn.Module:extend('Net'); function Net:init(n) self.fc = ty.nn.Linear(n, 2) end\n" ..
   "  function Net:forward(x) return self.fc(x) end; local m = Net(4); m(x)\n" ..
   "  Methods: parameters, trainable_parameters, named_parameters, buffers, state_dict,\n" ..
   "  children, modules, named_modules, update, train, eval, freeze, unfreeze, apply,\n" ..
   "  register_buffer, register_forward_hook, save_weights, load_weights.\n" ..
   "  Hook for load_weights{from='torch'}: a class may define\n" ..
   "  cls.from_torch(module, tensors, prefix) -> table: tensors holds the PyTorch\n" ..
   "  entries under the module (prefix = its dotted name and '.', '' for the root),\n" ..
   "  keyed by the rest of the name with container positions already 1-based; the\n" ..
   "  returned table (same local keys, tycho layouts) replaces them all.")

local CLASS_DOCS = {
   Identity = "ty.nn.Identity() -> module  (returns its input)",
   Sequential = "ty.nn.Sequential(m1, m2, ...) -> module\n  Calls the modules (or plain functions) in turn, passing all results on;\n  children named 1, 2, ...; seq[i]; seq:append(m); #seq. Also Sequential{m1, m2}.",
   ModuleList = "ty.nn.ModuleList({m1, m2, ...}) -> module\n  A list of modules (names 1, 2, ...); ml:append(m); #ml; ml[i]; no forward.",
   Linear = "ty.nn.Linear(in_features, out_features, [{bias=true, dtype=}]) -> module\n  y = x @ W^T + b; W (out, in) ~ kaiming_uniform(a=sqrt(5)), b ~ U(+-1/sqrt(in)) as PyTorch.",
   Bilinear = "ty.nn.Bilinear(in1, in2, out, [{bias=true}]) -> module\n  y_o = x1^T W_o x2 + b_o; W (out, in1, in2), W and b ~ U(+-1/sqrt(in1)). Called m(x1, x2).",
   Flatten = "ty.nn.Flatten([start_dim=2], [end_dim=-1]) -> module  (1-based axes: keeps the batch axis)",
   Unflatten = "ty.nn.Unflatten(dim, sizes) -> module  (axis dim becomes sizes)",
   Dropout = "ty.nn.Dropout([p=0.5]) -> module\n  Training: zeroes elements with probability p (ty.random.bernoulli), scales the rest\n  by 1/(1-p); identity in eval(). forward(x, [{key=}]).",
   Dropout1d = "ty.nn.Dropout1d([p=0.5]) -> module  (zeroes whole channels of (N,C,L))",
   Dropout2d = "ty.nn.Dropout2d([p=0.5]) -> module  (zeroes whole channels of (N,C,H,W))",
   Dropout3d = "ty.nn.Dropout3d([p=0.5]) -> module  (zeroes whole channels of (N,C,D,H,W))",
   Embedding = "ty.nn.Embedding(num_embeddings, embedding_dim, [{padding_idx=}]) -> module\n  forward(ids): rows of weight (N(0,1)) at 1-based integer ids -> ids.shape..(dim).\n  padding_idx (1-based): a zero row that gets no gradient. emb:as_linear(x) = x @ W^T.",
   LayerScale = "ty.nn.LayerScale(dim, [{init_values=1e-5}]) -> module  (x * gamma, gamma learnable (dim))",
   SinusoidalPositionalEncoding = "ty.nn.SinusoidalPositionalEncoding(dim, [{base=10000, scale=}]) -> module\n  forward(x, [{offset=0}]): x (...,L,dim) + PE (sin at even features, cos at odd ones,\n  positions offset..offset+L-1 counted from 0). pe:encoding(L, [offset]) -> (L, dim).",
   LearnedPositionalEncoding = "ty.nn.LearnedPositionalEncoding(max_len, dim, [{std=0.02}]) -> module\n  forward(x, [{offset=0}]): x (...,L,dim) + weight[offset+1..offset+L].",
   RoPE = "ty.nn.RoPE(dims, [{traditional=false, base=10000, scale=1}]) -> module\n  Rotary position embedding on x (...,L,D) as mlx.nn.RoPE; forward(x, [{offset=0}])\n  (offset: the position of the first row, for key/value caches).",
   PReLU = "ty.nn.PReLU([num_parameters=1], [{init=0.25}]) -> module  (learnable slope per channel, axis 2)",
   StarReLU = "ty.nn.StarReLU([{scale_value=0.8944, bias_value=-0.4472, learnable=true}]) -> module\n  s * relu(x)^2 + b with learnable scalars s, b (MetaFormer).",
   ReLU = "ty.nn.ReLU() -> module", ReLU6 = "ty.nn.ReLU6() -> module",
   LeakyReLU = "ty.nn.LeakyReLU([negative_slope=0.01]) -> module",
   ELU = "ty.nn.ELU([alpha=1]) -> module", SELU = "ty.nn.SELU() -> module",
   CELU = "ty.nn.CELU([alpha=1]) -> module",
   GELU = "ty.nn.GELU([approximate='none'|'tanh']) -> module",
   SiLU = "ty.nn.SiLU() -> module  (alias Swish)", Mish = "ty.nn.Mish() -> module",
   Hardswish = "ty.nn.Hardswish() -> module", Hardsigmoid = "ty.nn.Hardsigmoid() -> module",
   Hardtanh = "ty.nn.Hardtanh([min_val=-1], [max_val=1]) -> module",
   Tanh = "ty.nn.Tanh() -> module", Sigmoid = "ty.nn.Sigmoid() -> module",
   LogSigmoid = "ty.nn.LogSigmoid() -> module",
   Softplus = "ty.nn.Softplus([beta=1], [threshold=20]) -> module",
   Softsign = "ty.nn.Softsign() -> module",
   Softmax = "ty.nn.Softmax([dim=-1]) -> module", LogSoftmax = "ty.nn.LogSoftmax([dim=-1]) -> module",
   GLU = "ty.nn.GLU([dim=-1]) -> module",
}
for k, d in pairs(CLASS_DOCS) do doc(M[k], d) end
for k, d in pairs(A) do doc(M[k], d) end
doc(M.dropout, "ty.nn.dropout(x, [p=0.5], [{training=true, key=}]) -> array")
doc(M.rope, "ty.nn.rope(x, [dims=D], [{traditional=false, base=10000, scale=1, offset=0}]) -> array\n  Rotary position embedding of x (...,L,D) (see ty.nn.RoPE).")
doc(M.is_module, "ty.nn.is_module(v) -> boolean")
doc(Sequential.append, "seq:append(module) -> seq  (adds a module at the end)")
doc(ModuleList.append, "list:append(module) -> list")
doc(Embedding.as_linear, "emb:as_linear(x) -> x @ weight^T  (a tied output projection (...,dim) -> (...,num))")
doc(SPE.encoding, "pe:encoding(L, [offset=0]) -> (L, dim) array of the sinusoidal table")
doc(init.calculate_fan_in_and_fan_out, INIT_DOCS.calculate_fan_in_and_fan_out)
doc(M.value_and_grad, "ty.nn.value_and_grad(model, fn) -> g\n  g(...) returns fn(...)'s results (a scalar loss first, extra results passed\n  through) followed by the gradients, a tree shaped like model:trainable_parameters().\n  fn closes over the model; while it runs the trainable parameters are traced.")
doc(M.from_torch, "ty.nn.from_torch(model, tensors) -> tensors\n  Renames a PyTorch state_dict for model (see Module:load_weights{from='torch'}).")

require "tycho.nn_layers"

return M
