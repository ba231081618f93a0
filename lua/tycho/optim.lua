-- tycho.optim -- ty.optim: optimizers, learning-rate schedules, gradient
-- clipping.
--
-- An optimizer takes only options: `ty.optim.Adam{lr=1e-3}`. Everything is
-- lazy: an update builds new parameter and state arrays without evaluating
-- anything, so `ty.eval(loss, model:parameters(), opt:state())` runs a whole
-- training step at once.
--
--   opt:update(model, grads)    new parameters into model (model:update(tree)),
--                               from grads shaped like model:trainable_parameters()
--   opt:apply(params, grads)    functional: returns the new parameter tree
--   opt:state() / opt:load_state(s)   the state tree {step=, params={...}}
--   opt.lr, opt:set_lr(v), opt.step
--
-- SGD, RMSprop, Adagrad, AdaDelta, Adam, AdamW, Adamax, NAdam, RAdam and Lion
-- run as one fused kernel per parameter (ty.optim_update, core/ops_optim.c);
-- Adafactor, Muon, LAMB, AdaBelief and AdaBound are compositions of ty ops;
-- Lookahead and MultiOptimizer combine optimizers.
--
-- Per-parameter groups: `groups = { {match=..., <options>}, ... }`; a
-- parameter takes the options of the first group whose `match` accepts its
-- dotted name ("fc1.weight", "layers.2.bias"): a glob pattern as m:freeze's
-- ('*' any characters; "fc1" also matches the names below it, "fc1.weight";
-- ty.tree.match_name), a list of patterns (any), or a function(name, param)
-- -> boolean. Others use the optimizer's options.
local ty = require "tycho"
local ty_tree = require "tycho.tree"

local M = ty.optim or {}
ty.optim = M
M.__doc = "ty.optim -- optimizers (SGD, Adam, AdamW, ...), schedules (ty.optim.schedules), " ..
   "clip_grad_norm, clip_grad_value"

local fmt = string.format
local DOCS = {}
local function doc(obj, text) DOCS[obj] = text end

local function shape_str(s)
   if #s == 1 then return "(" .. s[1] .. ",)" end
   return "(" .. table.concat(s, ",") .. ")"
end

local FLOAT = {float16 = true, bfloat16 = true, float32 = true, float64 = true}
local function is_float(dt) return FLOAT[dt] == true end

local function same_shape(a, b)
   if #a ~= #b then return false end
   for i = 1, #a do if a[i] ~= b[i] then return false end end
   return true
end

------------------------------------------------------------------------ trees

-- The keys of t in ty.tree order (integers ascending, then strings sorted).
local function unsupported_key(k)
   error(fmt("[optim] unsupported key %s in a parameter tree", tostring(k)), 0)
end
local function ordered_keys(t) return ty_tree.keys(t, unsupported_key) end

-- Leaves of a tree with dotted names, in ty.tree.flatten order.
local function named_leaves(t, prefix, names, leaves)
   names, leaves = names or {}, leaves or {}
   if type(t) ~= "table" or ty.is_array(t) then
      names[#names + 1] = prefix or ""
      leaves[#leaves + 1] = t
      return names, leaves
   end
   for _, k in ipairs(ordered_keys(t)) do
      local n = prefix and prefix ~= "" and (prefix .. "." .. tostring(k)) or tostring(k)
      named_leaves(t[k], n, names, leaves)
   end
   return names, leaves
end

-- Flat map name -> leaf of a tree.
local function leaf_map(t)
   local names, leaves = named_leaves(t)
   local m = {}
   for i, n in ipairs(names) do m[n] = leaves[i] end
   return m
end

------------------------------------------------------------------------ options

local function copy(t)
   local r = {}
   for k, v in pairs(t) do r[k] = v end
   return r
end

local function allowed_list(defaults, extra)
   local keys = {}
   for k in pairs(defaults) do keys[#keys + 1] = k end
   for _, k in ipairs(extra or {}) do keys[#keys + 1] = k end
   table.sort(keys)
   return table.concat(keys, ", ")
end

local function check_options(fname, opts, defaults, extra, level)
   local ok_extra = {}
   for _, k in ipairs(extra) do ok_extra[k] = true end
   for k in pairs(opts) do
      if defaults[k] == nil and not ok_extra[k] then
         error(fmt("[%s] unknown option '%s' (expected %s)", fname, tostring(k),
                   allowed_list(defaults, extra)), level + 1)
      end
   end
end

local function is_callable(v)
   if type(v) == "function" then return true end
   local mt = getmetatable(v)
   return type(mt) == "table" and mt.__call ~= nil
end

-- Options that must be >= 0 when numbers, and pairs of coefficients in [0, 1).
local NONNEG = {lr = true, eps = true, weight_decay = true, momentum = true, lr_decay = true,
                initial_accumulator_value = true, adam_lr = true, adam_eps = true,
                adam_weight_decay = true, final_lr = true, gamma = true, alpha = true,
                clip_threshold = true, dampening = true}
local UNIT = {betas = true, adam_betas = true, rho = true, beta1 = true}

-- Checks the types and ranges of resolved options `o` against `defaults`
-- (as PyTorch's "Invalid learning rate" checks, with the option's name).
local function validate_options(fname, o, defaults, level)
   for k, v in pairs(o) do
      local d = defaults[k]
      local function bad(what)
         local shown = tostring(v)
         if type(v) == "table" then
            local parts = {}
            for i, x in ipairs(v) do parts[i] = tostring(x) end
            shown = "{" .. table.concat(parts, ", ") .. "}"
         end
         error(fmt("[%s] option %s %s, got %s", fname, k, what, shown), level + 1)
      end
      if k == "lr" then
         if not (type(v) == "number" or is_callable(v) or (v == false and d == false)) then
            bad("must be a number or a schedule (function step -> lr)")
         end
      elseif k == "beta1" then
         if v ~= false and type(v) ~= "number" then bad("must be a number or false") end
      elseif type(d) == "number" then
         if type(v) ~= "number" then bad("must be a number") end
         if v ~= v then bad("must not be NaN") end
      elseif type(d) == "boolean" then
         if type(v) ~= "boolean" then bad("must be a boolean") end
      elseif type(d) == "table" then
         if type(v) ~= "table" or #v ~= #d then bad(fmt("must be a list of %d numbers", #d)) end
         for i = 1, #d do
            if type(v[i]) ~= "number" then bad(fmt("must be a list of %d numbers", #d)) end
         end
      end
      if type(v) == "number" and NONNEG[k] and not (v >= 0) then bad("must be >= 0") end
      if UNIT[k] then
         local list = type(v) == "table" and v or {v}
         for _, x in ipairs(list) do
            if type(x) == "number" and not (x >= 0 and x < 1) then
               bad(type(v) == "table" and "must hold numbers in [0, 1)" or "must be in [0, 1)")
            end
         end
      end
   end
end

-- Value of a learning rate (number or schedule) at step t.
local function lr_at(lr, t)
   if is_callable(lr) then return lr(t) end
   return lr
end

-- Errors unless match is a glob pattern (string), a list of them, or a function.
local function check_match(fname, what, match, level)
   local list = type(match) == "string" and {match} or
      (type(match) == "table" and not is_callable(match) and match) or nil
   if list == nil then
      if match == nil or is_callable(match) then return end
      error(fmt("[%s] %s must be a glob pattern, a list of patterns or a function(name, " ..
                "param), got %s", fname, what, type(match)), level + 1)
   end
   for _, pat in ipairs(list) do
      if type(pat) ~= "string" then
         error(fmt("[%s] %s must hold glob patterns (strings), got %s", fname, what, type(pat)),
               level + 1)
      end
   end
end

-- Whether match (nil: everything; a glob pattern on dotted names, as
-- m:freeze's (ty.tree.match_name); a list of them; a function(name, p))
-- accepts the parameter `name`.
local function matches(match, name, p)
   if match == nil then return true end
   if type(match) == "string" then return ty_tree.match_name(match, name) end
   if type(match) == "table" and not is_callable(match) then
      for _, m in ipairs(match) do if ty_tree.match_name(m, name) then return true end end
      return false
   end
   return match(name, p) and true or false
end

------------------------------------------------------------------------ base class

local Optimizer = {}
Optimizer.__name = "Optimizer"
M.Optimizer = Optimizer

local function class_index(cls)
   return function(self, k)
      if k == "lr" then return self:get_lr() end
      return cls[k]
   end
end

-- Defines optimizer class `name`: spec.defaults (options and defaults; lr
-- always), spec.states (list of state names or a function(o, p) -> list),
-- spec.update_param(self, p, g, st, o, t, name) -> new p (st: the parameter's
-- state table to update; o: resolved options with lr a number at this step;
-- t: the parameter's step count, from 1).
local function define(name, spec)
   local cls = {}
   for k, v in pairs(spec) do cls[k] = v end
   cls.__name = name
   cls.__index = class_index(cls)
   cls.__newindex = function(self, k, v)
      if k == "lr" then self:set_lr(v) else rawset(self, k, v) end
   end
   cls.__tostring = function(self)
      local parts = {}
      for _, k in ipairs(ordered_keys(self.defaults)) do
         local v = self.defaults[k]
         if is_callable(v) then v = "schedule"
         elseif type(v) == "table" then
            local s = {}
            for i, x in ipairs(v) do s[i] = tostring(x) end
            v = "{" .. table.concat(s, ", ") .. "}"
         end
         parts[#parts + 1] = k .. "=" .. tostring(v)
      end
      return fmt("%s{%s} step %d", name, table.concat(parts, ", "), self.step)
   end
   setmetatable(cls, {__index = Optimizer, __call = function(c, opts) return c.new(opts) end})
   cls.new = function(opts)
      if opts ~= nil and type(opts) ~= "table" then
         error(fmt("[%s] expected an options table, got %s", name, type(opts)), 3)
      end
      opts = opts or {}
      check_options(name, opts, cls.options, {"groups"}, 3)
      local o = copy(cls.options)
      for k, v in pairs(opts) do if k ~= "groups" then o[k] = v end end
      local self = setmetatable({step = 0, _lr_scale = 1, defaults = o, groups = {},
                                 _params = {}, _opts = {}}, cls)
      if opts.groups ~= nil then
         if type(opts.groups) ~= "table" then
            error(fmt("[%s] groups must be a list of tables, got %s", name,
                      type(opts.groups)), 3)
         end
         for i, gsp in ipairs(opts.groups) do
            if type(gsp) ~= "table" then
               error(fmt("[%s] groups[%d] must be a table, got %s", name, i, type(gsp)), 3)
            end
            check_options(name .. " group " .. i, gsp, cls.options, {"match"}, 3)
            check_match(name, "groups[" .. i .. "].match", gsp.match, 3)
            self.groups[i] = copy(gsp)
         end
      end
      validate_options(name, o, cls.options, 3)
      for i, gsp in ipairs(self.groups) do
         local go = copy(o)
         for k, v in pairs(gsp) do if k ~= "match" then go[k] = v end end
         validate_options(name .. " group " .. i, go, cls.options, 3)
      end
      if cls.init then cls.init(self, 3) end
      return self
   end
   M[name] = cls
   return cls
end
M.define = define
doc(define, "ty.optim.define(name, {options=, state_names_all=, update_param=, " ..
    "init=}) -> class\n  Defines a new optimizer class ty.optim.<name>: options (name -> " ..
    "default, lr among them), state_names_all (the state names load_state accepts), " ..
    "update_param(self, p, g, st, o, t, name) -> new p (st: the parameter's state table, " ..
    "to update with lazy arrays; o: its options with lr a number; t: its step from 1).")

-- Options of parameter `name` (defaults overridden by its group).
function Optimizer:options_for(name, p)
   local o = self._opts[name]
   if o then return o end
   o = copy(self.defaults)
   for _, gsp in ipairs(self.groups) do
      if matches(gsp.match, name, p) then
         for k, v in pairs(gsp) do if k ~= "match" then o[k] = v end end
         break
      end
   end
   self._opts[name] = o
   return o
end

-- Current learning rate: the value for the next step.
function Optimizer:get_lr()
   return lr_at(self.defaults.lr, self.step + 1) * self._lr_scale
end

function Optimizer:set_lr(v)
   if type(v) ~= "number" then
      error(fmt("[%s.set_lr] expected a number, got %s", self.__name, type(v)), 2)
   end
   local raw = lr_at(self.defaults.lr, self.step + 1)
   if type(raw) ~= "number" then
      error(fmt("[%s.set_lr] no lr option to scale (lr is %s)", self.__name, tostring(raw)), 2)
   end
   if raw == 0 then
      if v ~= 0 then
         error(fmt("[%s.set_lr] the learning rate is 0 at this step; cannot scale it",
                   self.__name), 2)
      end
      return
   end
   self._lr_scale = v / raw
end

-- On the first step: warns (stderr, once) about a group whose match accepts
-- no parameter: a silent no-op otherwise (e.g. a misspelt name).
local function check_groups_match(self, names, ps)
   for i, gsp in ipairs(self.groups) do
      if gsp.match ~= nil and not self._warned_group then
         local any = false
         for j, n in ipairs(names) do
            if matches(gsp.match, n, ps[j]) then any = true; break end
         end
         if not any and #names > 0 then
            local ex = {}
            for j = 1, math.min(3, #names) do ex[j] = "'" .. names[j] .. "'" end
            local msg = fmt("[%s] warning: groups[%d].match %s accepts no parameter (a glob " ..
                            "pattern on dotted names such as %s; '*' is the wildcard)", self.__name,
                            i, type(gsp.match) == "string" and ("'" .. gsp.match .. "'") or
                            type(gsp.match), table.concat(ex, ", "))
            self.warnings = self.warnings or {}
            self.warnings[#self.warnings + 1] = msg
            io.stderr:write(msg, "\n")
         end
      end
   end
   self._warned_group = true
end

-- One step on named parameters: names, ps, gs lists; returns new ps.
function Optimizer:_apply_named(names, ps, gs, fname)
   self.step = self.step + 1
   if not self._warned_group and #self.groups > 0 then check_groups_match(self, names, ps) end
   local out = {}
   for i, name in ipairs(names) do
      local p, g = ps[i], gs[i]
      if g == nil then
         out[i] = p
      else
         if not ty.is_array(g) then
            error(fmt("[%s] gradient of '%s' is a %s, not an array", fname, name, type(g)), 0)
         end
         if not is_float(p.dtype) then
            error(fmt("[%s] parameter '%s' must be a float array, got %s %s", fname, name,
                      p.dtype, shape_str(p.shape)), 0)
         end
         if not is_float(g.dtype) then
            error(fmt("[%s] gradient of '%s' must be a float array, got %s %s", fname, name,
                      g.dtype, shape_str(g.shape)), 0)
         end
         if not same_shape(g.shape, p.shape) then
            error(fmt("[%s] gradient of '%s' has shape %s, parameter %s", fname, name,
                      shape_str(g.shape), shape_str(p.shape)), 0)
         end
         if g.device ~= p.device then
            error(fmt("[%s] gradient of '%s' is on %s, the parameter on %s (move it with " ..
                      "g:to(device))", fname, name, tostring(g.device), tostring(p.device)), 0)
         end
         -- the update keeps the parameter's dtype (float64 or float16 gradients of a
         -- float32 parameter are cast, as the fused kernels do)
         if g.dtype ~= p.dtype then g = g:astype(p.dtype) end
         local st = self._params[name]
         if st == nil then
            st = {step = 0}
            self._params[name] = st
         end
         for k, v in pairs(st) do
            -- states loaded from a checkpoint onto another device follow the parameter
            if ty.is_array(v) and v.device ~= p.device then
               v = v:to(p.device)
               st[k] = v
            end
            if ty.is_array(v) and not same_shape(v.shape, p.shape) and
               not (self.state_shape_ok and self:state_shape_ok(k, v, p)) then
               error(fmt("[%s] state '%s' of '%s' has shape %s, parameter %s", fname, k,
                         name, shape_str(v.shape), shape_str(p.shape)), 0)
            end
         end
         st.step = st.step + 1
         local o = copy(self:options_for(name, p))
         if o.lr then o.lr = lr_at(o.lr, self.step) * self._lr_scale end
         out[i] = self.update_param(self, p, g, st, o, st.step, name)
      end
   end
   return out
end

local function call_apply(self, params, grads, fname)
   if type(params) ~= "table" and not ty.is_array(params) then
      error(fmt("[%s] params must be a tree of arrays, got %s", fname, type(params)), 3)
   end
   if type(grads) ~= "table" and not ty.is_array(grads) then
      error(fmt("[%s] grads must be a tree of arrays, got %s", fname, type(grads)), 3)
   end
   local names, ps = named_leaves(params)
   local gm = leaf_map(grads)
   local gs = {}
   local matched = 0
   for i, n in ipairs(names) do
      if not ty.is_array(ps[i]) then
         error(fmt("[%s] parameter '%s' is a %s, not an array", fname, n, type(ps[i])), 3)
      end
      gs[i] = gm[n]
      if gs[i] ~= nil then matched = matched + 1 end
   end
   if matched == 0 and next(gm) ~= nil and #names > 0 then
      -- grads keyed differently from the parameters would silently train nothing
      local gnames = {}
      for n in pairs(gm) do gnames[#gnames + 1] = "'" .. n .. "'" end
      table.sort(gnames)
      local pn = {}
      for i = 1, math.min(#names, 6) do pn[i] = "'" .. names[i] .. "'" end
      if #names > 6 then pn[#pn + 1] = "..." end
      if #gnames > 6 then gnames = {table.unpack(gnames, 1, 6)}; gnames[7] = "..." end
      error(fmt("[%s] no gradient matches a parameter: gradients %s, parameters %s", fname,
                table.concat(gnames, ", "), table.concat(pn, ", ")), 3)
   end
   local ok, res = pcall(self._apply_named, self, names, ps, gs, fname)
   if not ok then error(res, 3) end
   local _, spec = ty.tree.flatten(params)
   return ty.tree.unflatten(spec, res)
end

function Optimizer:apply(params, grads)
   return call_apply(self, params, grads, self.__name .. ".apply")
end

function Optimizer:update(model, grads)
   if type(model) ~= "table" or type(model.trainable_parameters) ~= "function" then
      error(fmt("[%s.update] argument 1 must be a model with trainable_parameters() " ..
                "and update(tree), got %s", self.__name, type(model)), 2)
   end
   local new = call_apply(self, model:trainable_parameters(), grads, self.__name .. ".update")
   model:update(new)
   return new
end

-- The state tree: {step = n, params = {[name] = {step = k, <state arrays>}}}.
function Optimizer:state()
   local params = {}
   for name, st in pairs(self._params) do params[name] = copy(st) end
   local s = {step = self.step, params = params}
   if self._lr_scale ~= 1 then s.lr_scale = self._lr_scale end   -- from set_lr
   if self.extra_state then self:extra_state(s) end
   return s
end

function Optimizer:load_state(s)
   local fname = self.__name .. ".load_state"
   if type(s) ~= "table" or type(s.step) ~= "number" or type(s.params or {}) ~= "table" then
      error(fmt("[%s] expected a table {step=, params=} from opt:state()", fname), 2)
   end
   if s.lr_scale ~= nil and (type(s.lr_scale) ~= "number" or not (s.lr_scale >= 0)) then
      error(fmt("[%s] lr_scale must be a number >= 0, got %s", fname, tostring(s.lr_scale)), 2)
   end
   local names = self.state_names_all or {}
   local known = {step = true}
   for _, k in ipairs(names) do known[k] = true end
   local new = {}
   for name, st in pairs(s.params or {}) do
      if type(st) ~= "table" then
         error(fmt("[%s] state of '%s' must be a table, got %s", fname, tostring(name),
                   type(st)), 2)
      end
      for k, v in pairs(st) do
         if not known[k] then
            error(fmt("[%s] unknown state '%s' for '%s' (a %s has %s)", fname, tostring(k),
                      tostring(name), self.__name, table.concat(names, ", ")), 2)
         end
         local cur = self._params[name] and self._params[name][k]
         if ty.is_array(cur) and ty.is_array(v) and not same_shape(cur.shape, v.shape) then
            error(fmt("[%s] state '%s' of '%s' has shape %s, expected %s", fname, k,
                      tostring(name), shape_str(v.shape), shape_str(cur.shape)), 2)
         end
      end
      new[name] = copy(st)
   end
   if self.load_extra_state then self:load_extra_state(s, fname) end
   self._params = new
   self.step = s.step
   self._lr_scale = s.lr_scale or 1
end

-- Aliases used by ty.save_checkpoint / ty.load_checkpoint.
function Optimizer:state_dict() return self:state() end
function Optimizer:load_state_dict(s) return self:load_state(s) end

------------------------------------------------------------------------ helpers

local function zeros_like(p) return ty.zeros_like(p) end
local function betas_of(o, fname)
   local b = o.betas
   if type(b) ~= "table" or type(b[1]) ~= "number" or type(b[2]) ~= "number" then
      error(fmt("[%s] betas must be a pair of numbers {beta1, beta2}", fname), 0)
   end
   return b[1], b[2]
end

-- Gets (creating with value `init`, default 0) the listed states.
local function states(st, p, list, init)
   local r = {}
   for i, k in ipairs(list) do
      if st[k] == nil then
         st[k] = init and ty.full_like(p, init) or zeros_like(p)
      end
      r[i] = st[k]
   end
   return r
end

local MAX_FUSED_NDIM = 7   -- the fused output (1 + nstate, *shape) needs one more axis

local function fused(kind, p, g, st, list, hp, init)
   local ss = states(st, p, list, init)
   if p.ndim > MAX_FUSED_NDIM then           -- flattened through the kernel
      local shape = p.shape
      for i, s in ipairs(ss) do ss[i] = s:reshape{-1} end
      local res = table.pack(ty.optim_update(kind, p:reshape{-1}, g:reshape{-1}, ss, hp))
      for i, k in ipairs(list) do st[k] = res[i + 1]:reshape(shape) end
      return res[1]:reshape(shape)
   end
   local res = table.pack(ty.optim_update(kind, p, g, ss, hp))
   for i, k in ipairs(list) do st[k] = res[i + 1] end
   return res[1]
end

local function sqrt(x) return math.sqrt(x) end

------------------------------------------------------------------------ fused optimizers

local SGD = define("SGD", {
   options = {lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false},
   state_names_all = {"momentum_buffer"},
   init = function(self, level)
      local o = self.defaults
      if o.nesterov and (o.momentum <= 0 or o.dampening ~= 0) then
         error("[SGD] nesterov requires momentum > 0 and dampening = 0", level + 1)
      end
   end,
   update_param = function(self, p, g, st, o)
      local hp = {o.lr, o.momentum, o.dampening, o.weight_decay, o.nesterov and 1 or 0, 0}
      if o.momentum == 0 then return fused("sgd", p, g, st, {}, hp) end
      hp[6] = st.momentum_buffer == nil and 1 or 0
      return fused("sgd", p, g, st, {"momentum_buffer"}, hp)
   end,
})
doc(SGD, "ty.optim.SGD{lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=false, " ..
    "groups=} -> optimizer\n  Stochastic gradient descent with momentum (PyTorch's " ..
    "formulation: the first step sets the buffer to the gradient). Fused kernel.")

local function adam_like(name, opts, decoupled_default, extra_doc)
   local cls = define(name, {
      options = opts,
      state_names_all = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
      update_param = function(self, p, g, st, o, t)
         local b1, b2 = betas_of(o, name)
         local bc1, bc2 = 1 - b1 ^ t, 1 - b2 ^ t
         local hp = {o.lr, b1, b2, o.eps, o.weight_decay, decoupled_default and 1 or 0,
                     o.lr / bc1, sqrt(bc2), 0, 0}
         local list = o.amsgrad and {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"} or
            {"exp_avg", "exp_avg_sq"}
         return fused("adam", p, g, st, list, hp)
      end,
   })
   doc(cls, extra_doc)
   return cls
end

adam_like("Adam", {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0,
                   amsgrad = false}, false,
          "ty.optim.Adam{lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, " ..
          "amsgrad=false, groups=} -> optimizer\n  Adam (weight_decay: L2 added to the " ..
          "gradient, as PyTorch). States exp_avg, exp_avg_sq (max_exp_avg_sq). Fused kernel.")
adam_like("AdamW", {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2,
                    amsgrad = false}, true,
          "ty.optim.AdamW{lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=1e-2, " ..
          "amsgrad=false, groups=} -> optimizer\n  Adam with decoupled weight decay " ..
          "(p *= 1 - lr*weight_decay). Fused kernel.")

local RMSprop = define("RMSprop", {
   options = {lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0,
              centered = false},
   state_names_all = {"square_avg", "momentum_buffer", "grad_avg"},
   update_param = function(self, p, g, st, o)
      local list = {"square_avg"}
      if o.momentum > 0 then list[#list + 1] = "momentum_buffer" end
      if o.centered then list[#list + 1] = "grad_avg" end
      return fused("rmsprop", p, g, st, list,
                   {o.lr, o.alpha, o.eps, o.weight_decay, o.momentum, o.centered and 1 or 0})
   end,
})
doc(RMSprop, "ty.optim.RMSprop{lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, " ..
    "centered=false, groups=} -> optimizer\n  RMSprop as in PyTorch. Fused kernel.")

local Adagrad = define("Adagrad", {
   options = {lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0,
              eps = 1e-10},
   state_names_all = {"sum"},
   update_param = function(self, p, g, st, o, t)
      local clr = o.lr / (1 + (t - 1) * o.lr_decay)
      return fused("adagrad", p, g, st, {"sum"}, {clr, o.eps, o.weight_decay},
                   o.initial_accumulator_value ~= 0 and o.initial_accumulator_value or nil)
   end,
})
doc(Adagrad, "ty.optim.Adagrad{lr=1e-2, lr_decay=0, weight_decay=0, " ..
    "initial_accumulator_value=0, eps=1e-10, groups=} -> optimizer\n  Adagrad as in " ..
    "PyTorch (lr / (1 + (t-1)*lr_decay)). Fused kernel.")

local AdaDelta = define("AdaDelta", {
   options = {lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0},
   state_names_all = {"square_avg", "acc_delta"},
   update_param = function(self, p, g, st, o)
      return fused("adadelta", p, g, st, {"square_avg", "acc_delta"},
                   {o.lr, o.rho, o.eps, o.weight_decay})
   end,
})
doc(AdaDelta, "ty.optim.AdaDelta{lr=1, rho=0.9, eps=1e-6, weight_decay=0, groups=} -> " ..
    "optimizer\n  Adadelta as in PyTorch. Fused kernel.")
M.Adadelta = AdaDelta

local Adamax = define("Adamax", {
   options = {lr = 2e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0},
   state_names_all = {"exp_avg", "exp_inf"},
   update_param = function(self, p, g, st, o, t)
      local b1, b2 = betas_of(o, "Adamax")
      return fused("adamax", p, g, st, {"exp_avg", "exp_inf"},
                   {o.lr, b1, b2, o.eps, o.weight_decay, o.lr / (1 - b1 ^ t)})
   end,
})
doc(Adamax, "ty.optim.Adamax{lr=2e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, " ..
    "groups=} -> optimizer\n  Adamax (infinity norm) as in PyTorch. Fused kernel.")

local NAdam = define("NAdam", {
   options = {lr = 2e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0,
              momentum_decay = 4e-3},
   state_names_all = {"exp_avg", "exp_avg_sq", "mu_product"},
   update_param = function(self, p, g, st, o, t)
      local b1, b2 = betas_of(o, "NAdam")
      local mu = b1 * (1 - 0.5 * 0.96 ^ (t * o.momentum_decay))
      local mu_next = b1 * (1 - 0.5 * 0.96 ^ ((t + 1) * o.momentum_decay))
      local prod = (st.mu_product or 1) * mu
      st.mu_product = prod
      local prod_next = prod * mu_next
      local hp = {o.lr, b1, b2, o.eps, o.weight_decay, 0,
                  o.lr * mu_next / (1 - prod_next), sqrt(1 - b2 ^ t),
                  o.lr * (1 - mu) / (1 - prod), 0}
      return fused("adam", p, g, st, {"exp_avg", "exp_avg_sq"}, hp)
   end,
})
doc(NAdam, "ty.optim.NAdam{lr=2e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, " ..
    "momentum_decay=4e-3, groups=} -> optimizer\n  Adam with Nesterov momentum " ..
    "(Dozat 2016) as in PyTorch; runs on the fused Adam kernel.")

local RAdam = define("RAdam", {
   options = {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0},
   state_names_all = {"exp_avg", "exp_avg_sq"},
   update_param = function(self, p, g, st, o, t)
      local b1, b2 = betas_of(o, "RAdam")
      local bc1, bc2 = 1 - b1 ^ t, 1 - b2 ^ t
      local rho_inf = 2 / (1 - b2) - 1
      local rho_t = rho_inf - 2 * t * b2 ^ t / bc2
      local hp
      if rho_t > 5 then
         local rect = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                           ((rho_inf - 4) * (rho_inf - 2) * rho_t))
         hp = {o.lr, b1, b2, o.eps / sqrt(bc2), o.weight_decay, 0, o.lr * rect / bc1,
               sqrt(bc2), 0, 0}
      else
         hp = {o.lr, b1, b2, o.eps, o.weight_decay, 0, o.lr / bc1, 1, 0, 1}
      end
      return fused("adam", p, g, st, {"exp_avg", "exp_avg_sq"}, hp)
   end,
})
doc(RAdam, "ty.optim.RAdam{lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, " ..
    "groups=} -> optimizer\n  Rectified Adam (Liu et al. 2019) as in PyTorch; runs on " ..
    "the fused Adam kernel.")

local Lion = define("Lion", {
   options = {lr = 1e-4, betas = {0.9, 0.99}, weight_decay = 0},
   state_names_all = {"exp_avg"},
   update_param = function(self, p, g, st, o)
      local b1, b2 = betas_of(o, "Lion")
      return fused("lion", p, g, st, {"exp_avg"}, {o.lr, b1, b2, o.weight_decay})
   end,
})
doc(Lion, "ty.optim.Lion{lr=1e-4, betas={0.9, 0.99}, weight_decay=0, groups=} -> " ..
    "optimizer\n  Lion (Chen et al. 2023): p -= lr*(sign(b1*m + (1-b1)*g) + wd*p); " ..
    "m = b2*m + (1-b2)*g. Fused kernel.")

------------------------------------------------------------------------ composed optimizers

local function rms(x) return ty.sqrt(ty.mean(x * x)) end

local Adafactor = define("Adafactor", {
   options = {lr = false, eps = {1e-30, 1e-3}, clip_threshold = 1.0, decay_rate = -0.8,
              beta1 = false, weight_decay = 0, scale_parameter = true,
              warmup_init = false},
   state_names_all = {"exp_avg", "exp_avg_sq", "exp_avg_sq_row", "exp_avg_sq_col"},
   state_shape_ok = function(self, k) return k == "exp_avg_sq_row" or k == "exp_avg_sq_col" end,
   get_lr = function(self)
      local lr, t = self.defaults.lr, self.step + 1
      if not lr then                     -- the relative step (before the RMS(p) scale)
         return math.min(self.defaults.warmup_init and 1e-6 * t or 1e-2, 1 / sqrt(t))
      end
      return lr_at(lr, t) * self._lr_scale
   end,
   update_param = function(self, p, g, st, o, t)
      local eps1, eps2 = o.eps[1], o.eps[2]
      local lr = o.lr
      if not lr then                       -- relative step (lr not given)
         local min_step = o.warmup_init and 1e-6 * t or 1e-2
         lr = math.min(min_step, 1 / sqrt(t))
      end
      if o.scale_parameter then lr = ty.maximum(rms(p), eps2) * lr end
      local beta2t = 1 - t ^ o.decay_rate
      local upd = g * g + eps1
      local factored = p.ndim >= 2
      if factored then
         local rshape, cshape = {}, {}
         for i = 1, p.ndim - 1 do rshape[i] = p.shape[i] end
         for i = 1, p.ndim do cshape[i] = p.shape[i] end
         table.remove(cshape, p.ndim - 1)
         local row = st.exp_avg_sq_row or ty.zeros(rshape, {dtype = p.dtype, device = p.device})
         local col = st.exp_avg_sq_col or ty.zeros(cshape, {dtype = p.dtype, device = p.device})
         row = row * beta2t + ty.mean(upd, -1) * (1 - beta2t)
         col = col * beta2t + ty.mean(upd, -2) * (1 - beta2t)
         st.exp_avg_sq_row, st.exp_avg_sq_col = row, col
         local r = ty.rsqrt(row / ty.mean(row, -1, {keepdims = true}))
         local c = ty.rsqrt(col)
         upd = ty.expand_dims(r, -1) * ty.expand_dims(c, -2) * g
      else
         local v = st.exp_avg_sq or zeros_like(p)
         v = v * beta2t + upd * (1 - beta2t)
         st.exp_avg_sq = v
         upd = ty.rsqrt(v) * g
      end
      upd = upd / ty.maximum(rms(upd) / o.clip_threshold, 1.0)
      upd = upd * lr
      if o.beta1 then
         local m = st.exp_avg or zeros_like(p)
         m = m * o.beta1 + upd * (1 - o.beta1)
         st.exp_avg = m
         upd = m
      end
      if o.weight_decay ~= 0 then p = p - p * (lr * o.weight_decay) end
      return p - upd
   end,
})
doc(Adafactor, "ty.optim.Adafactor{lr=false, eps={1e-30, 1e-3}, clip_threshold=1, " ..
    "decay_rate=-0.8, beta1=false, weight_decay=0, scale_parameter=true, " ..
    "warmup_init=false, groups=} -> optimizer\n  Adafactor (Shazeer " ..
    "& Stern 2018) as in HF transformers: factored second moments (row/column means) " ..
    "for >= 2-D parameters; without lr the relative step size min(1e-2, 1/sqrt(t)) " ..
    "(min(1e-6*t, 1/sqrt(t)) with warmup_init) is used " ..
    "(times RMS(p) with scale_parameter). Composed of ty ops.")

-- Newton-Schulz orthogonalisation of a 2-D array (Muon reference: 5 steps,
-- a, b, c = 3.4445, -4.7750, 2.0315), in float32.
local function newton_schulz(G, steps)
   local a, b, c = 3.4445, -4.7750, 2.0315
   local X = G:astype("float32")
   local tall = G.shape[1] > G.shape[2]
   if tall then X = X.T end
   X = X / (ty.sqrt(ty.sum(X * X)) + 1e-7)
   for _ = 1, steps do
      local A = ty.matmul(X, X.T)
      local B = A * b + ty.matmul(A, A) * c
      X = X * a + ty.matmul(B, X)
   end
   if tall then X = X.T end
   return X
end
M.newton_schulz = newton_schulz

local Muon = define("Muon", {
   options = {lr = 0.02, momentum = 0.95, nesterov = true, ns_steps = 5, weight_decay = 0,
              use_muon = true, adam_lr = 3e-4, adam_betas = {0.9, 0.95}, adam_eps = 1e-10,
              adam_weight_decay = 0},
   state_names_all = {"momentum_buffer", "exp_avg", "exp_avg_sq"},
   update_param = function(self, p, g, st, o, t)
      if p.ndim >= 2 and o.use_muon then
         local buf = st.momentum_buffer or zeros_like(p)
         buf = buf + (g - buf) * (1 - o.momentum)            -- lerp(g, 1 - beta)
         st.momentum_buffer = buf
         local u = o.nesterov and (g + (buf - g) * o.momentum) or buf
         local rows = p.shape[1]
         local u2 = u:reshape{rows, -1}
         local X = newton_schulz(u2, o.ns_steps)
         X = X * math.sqrt(math.max(1, u2.shape[1] / u2.shape[2]))
         X = X:reshape(p.shape):astype(p.dtype)
         if o.weight_decay ~= 0 then p = p * (1 - o.lr * o.weight_decay) end
         return p - X * o.lr
      end
      -- AdamW for the others (the reference's auxiliary Adam)
      local b1, b2 = o.adam_betas[1], o.adam_betas[2]
      local lr = o.adam_lr * self._lr_scale
      local bc1, bc2 = 1 - b1 ^ t, 1 - b2 ^ t
      return fused("adam", p, g, st, {"exp_avg", "exp_avg_sq"},
                   {lr, b1, b2, o.adam_eps, o.adam_weight_decay, 1, lr / bc1, sqrt(bc2), 0, 0})
   end,
})
doc(Muon, "ty.optim.Muon{lr=0.02, momentum=0.95, nesterov=true, ns_steps=5, " ..
    "weight_decay=0, use_muon=true, adam_lr=3e-4, adam_betas={0.9, 0.95}, " ..
    "adam_eps=1e-10, adam_weight_decay=0, groups=} -> optimizer\n  Muon (K. Jordan 2024): " ..
    "momentum, then Newton-Schulz orthogonalisation (5 steps, a,b,c = 3.4445, -4.7750, " ..
    "2.0315; float32 here, bfloat16 in the reference) of updates of >= 2-D parameters " ..
    "(flattened to (shape[1], -1)), scaled by sqrt(max(1, rows/cols)). Other parameters, " ..
    "and those of a group with use_muon=false (embeddings, heads), use AdamW with the " ..
    "adam_* options, as the reference does. set_lr scales both learning rates; a " ..
    "schedule drives lr only.")

-- An exponential moving average: prev (zeros when nil) * beta + x * (1 - beta).
local function ema(prev, p, x, beta)
   return (prev or zeros_like(p)) * beta + x * (1 - beta)
end

-- Adam's moment estimates of gradient g: exp_avg, exp_avg_sq (stored in st).
local function adam_moments(st, p, g, b1, b2)
   local m, v = ema(st.exp_avg, p, g, b1), ema(st.exp_avg_sq, p, g * g, b2)
   st.exp_avg, st.exp_avg_sq = m, v
   return m, v
end

local LAMB = define("LAMB", {
   options = {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-6, weight_decay = 0,
              bias_correction = true},
   state_names_all = {"exp_avg", "exp_avg_sq"},
   update_param = function(self, p, g, st, o, t)
      local b1, b2 = betas_of(o, "LAMB")
      local m, v = adam_moments(st, p, g, b1, b2)
      local mh, vh = m, v
      if o.bias_correction then
         mh, vh = m / (1 - b1 ^ t), v / (1 - b2 ^ t)
      end
      local r = mh / (ty.sqrt(vh) + o.eps)
      if o.weight_decay ~= 0 then r = r + p * o.weight_decay end
      local pn, rn = ty.sqrt(ty.sum(p * p)), ty.sqrt(ty.sum(r * r))
      local trust = ty.where(ty.logical_and(ty.gt(pn, 0), ty.gt(rn, 0)), pn / rn, 1.0)
      return p - r * (trust * o.lr)
   end,
})
doc(LAMB, "ty.optim.LAMB{lr=1e-3, betas={0.9, 0.999}, eps=1e-6, weight_decay=0, " ..
    "bias_correction=true, groups=} -> optimizer\n  LAMB (You et al. 2019): the Adam " ..
    "direction r (+ weight_decay*p) scaled per parameter by the trust ratio ||p||/||r|| " ..
    "(1 when either is 0). Composed of ty ops.")

local AdaBelief = define("AdaBelief", {
   options = {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-16, weight_decay = 0,
              decoupled = true},
   state_names_all = {"exp_avg", "exp_avg_var"},
   update_param = function(self, p, g, st, o, t)
      local b1, b2 = betas_of(o, "AdaBelief")
      if o.weight_decay ~= 0 then
         if o.decoupled then p = p * (1 - o.lr * o.weight_decay)
         else g = g + p * o.weight_decay end
      end
      local m = ema(st.exp_avg, p, g, b1)
      local d = g - m
      local s = ema(st.exp_avg_var, p, d * d, b2) + o.eps
      st.exp_avg, st.exp_avg_var = m, s
      local denom = ty.sqrt(s / (1 - b2 ^ t)) + o.eps
      return p - m / denom * (o.lr / (1 - b1 ^ t))
   end,
})
doc(AdaBelief, "ty.optim.AdaBelief{lr=1e-3, betas={0.9, 0.999}, eps=1e-16, " ..
    "weight_decay=0, decoupled=true, groups=} -> optimizer\n  AdaBelief (Zhuang et al. " ..
    "2020, Algorithm 2): s = b2*s + (1-b2)*(g-m)^2 + eps; p -= lr*mhat/(sqrt(shat)+eps). " ..
    "Composed of ty ops.")

local AdaBound = define("AdaBound", {
   options = {lr = 1e-3, betas = {0.9, 0.999}, final_lr = 0.1, gamma = 1e-3, eps = 1e-8,
              weight_decay = 0},
   state_names_all = {"exp_avg", "exp_avg_sq"},
   update_param = function(self, p, g, st, o, t)
      local b1, b2 = betas_of(o, "AdaBound")
      if o.weight_decay ~= 0 then g = g + p * o.weight_decay end
      local m, v = adam_moments(st, p, g, b1, b2)
      local step_size = o.lr * sqrt(1 - b2 ^ t) / (1 - b1 ^ t)
      local final_lr = o.final_lr * self._lr_scale
      local lower = final_lr * (1 - 1 / (o.gamma * t + 1))
      local upper = final_lr * (1 + 1 / (o.gamma * t))
      local ss = ty.clip(step_size / (ty.sqrt(v) + o.eps), lower, upper)
      return p - ss * m
   end,
})
doc(AdaBound, "ty.optim.AdaBound{lr=1e-3, betas={0.9, 0.999}, final_lr=0.1, gamma=1e-3, " ..
    "eps=1e-8, weight_decay=0, groups=} -> optimizer\n  AdaBound (Luo et al. 2019): " ..
    "Adam steps clipped to [final_lr*(1-1/(gamma*t+1)), final_lr*(1+1/(gamma*t))]; " ..
    "set_lr scales final_lr too. Composed of ty ops.")

------------------------------------------------------------------------ wrappers

local Lookahead = {}
Lookahead.__name = "Lookahead"
Lookahead.__index = function(self, k)
   if k == "lr" then return self.inner.lr end
   return Lookahead[k]
end
Lookahead.__newindex = function(self, k, v)
   if k == "lr" then self.inner:set_lr(v) else rawset(self, k, v) end
end
Lookahead.__tostring = function(self)
   return fmt("Lookahead{k=%d, alpha=%g} of %s", self.k, self.alpha, tostring(self.inner))
end
setmetatable(Lookahead, {__index = Optimizer, __call = function(_, opts)
   if type(opts) ~= "table" then
      error("[Lookahead] expected an options table {optimizer, k=5, alpha=0.5}", 2)
   end
   local inner = opts[1] or opts.optimizer
   for k in pairs(opts) do
      if k ~= 1 and k ~= "optimizer" and k ~= "k" and k ~= "alpha" then
         error(fmt("[Lookahead] unknown option '%s' (expected optimizer (or [1]), k, alpha)",
                   tostring(k)), 2)
      end
   end
   if type(inner) ~= "table" or type(inner._apply_named) ~= "function" then
      error("[Lookahead] option optimizer (or [1]) must be an optimizer", 2)
   end
   if opts.k ~= nil and (type(opts.k) ~= "number" or math.tointeger(opts.k) == nil or
                         opts.k < 1) then
      error(fmt("[Lookahead] option k must be an integer >= 1, got %s", tostring(opts.k)), 2)
   end
   if opts.alpha ~= nil and (type(opts.alpha) ~= "number" or
                             not (opts.alpha >= 0 and opts.alpha <= 1)) then
      error(fmt("[Lookahead] option alpha must be a number in [0, 1], got %s",
                tostring(opts.alpha)), 2)
   end
   return setmetatable({inner = inner, k = math.tointeger(opts.k or 5),
                        alpha = opts.alpha or 0.5, step = 0, _slow = {}}, Lookahead)
end})
M.Lookahead = Lookahead
function Lookahead:get_lr() return self.inner.lr end
function Lookahead:set_lr(v) return self.inner:set_lr(v) end
function Lookahead:_apply_named(names, ps, gs, fname)
   self.step = self.step + 1
   for i, n in ipairs(names) do
      if self._slow[n] == nil and gs[i] ~= nil then self._slow[n] = ps[i] end
   end
   local out = self.inner:_apply_named(names, ps, gs, fname)
   if self.step % self.k == 0 then
      for i, n in ipairs(names) do
         local slow = self._slow[n]
         if slow ~= nil and slow.device ~= out[i].device then slow = slow:to(out[i].device) end
         if slow ~= nil and gs[i] ~= nil then
            slow = slow + (out[i] - slow) * self.alpha
            self._slow[n] = slow
            out[i] = slow
         end
      end
   end
   return out
end
function Lookahead:state()
   local slow = {}
   for n, a in pairs(self._slow) do slow[n] = a end
   return {step = self.step, slow = slow, inner = self.inner:state()}
end
function Lookahead:load_state(s)
   if type(s) ~= "table" or type(s.step) ~= "number" or type(s.inner) ~= "table" then
      error("[Lookahead.load_state] expected a table {step=, slow=, inner=} from opt:state()", 2)
   end
   for n, a in pairs(s.slow or {}) do
      local cur = self._slow[n]
      if cur and ty.is_array(a) and not same_shape(cur.shape, a.shape) then
         error(fmt("[Lookahead.load_state] slow weights of '%s' have shape %s, expected %s",
                   n, shape_str(a.shape), shape_str(cur.shape)), 2)
      end
   end
   self.inner:load_state(s.inner)
   self.step = s.step
   self._slow = copy(s.slow or {})
end
doc(Lookahead, "ty.optim.Lookahead{optimizer, k=5, alpha=0.5} -> optimizer\n  Lookahead " ..
    "(Zhang et al. 2019) around any optimizer: slow weights start at the parameters; " ..
    "every k steps slow += alpha*(fast - slow) and the parameters are set to them.")

local MultiOptimizer = {}
MultiOptimizer.__name = "MultiOptimizer"
MultiOptimizer.__index = function(self, k)
   if k == "lr" then return self.entries[1].opt.lr end
   return MultiOptimizer[k]
end
MultiOptimizer.__newindex = function(self, k, v)
   if k == "lr" then self:set_lr(v) else rawset(self, k, v) end
end
MultiOptimizer.__tostring = function(self)
   local parts = {}
   for i, e in ipairs(self.entries) do parts[i] = tostring(e.opt) end
   return "MultiOptimizer{" .. table.concat(parts, "; ") .. "}"
end
setmetatable(MultiOptimizer, {__index = Optimizer, __call = function(_, list)
   if type(list) ~= "table" or #list == 0 then
      error("[MultiOptimizer] expected a list { {optimizer, match=}, ..., {optimizer} }", 2)
   end
   local entries = {}
   for i, e in ipairs(list) do
      if type(e) ~= "table" then
         error(fmt("[MultiOptimizer] entry %d must be a table {optimizer, match=}", i), 2)
      end
      local opt = e[1] or e.optimizer
      if type(opt) ~= "table" or type(opt._apply_named) ~= "function" then
         error(fmt("[MultiOptimizer] entry %d: [1] (or optimizer) must be an optimizer", i), 2)
      end
      for k in pairs(e) do
         if k ~= 1 and k ~= "optimizer" and k ~= "match" then
            error(fmt("[MultiOptimizer] entry %d: unknown option '%s' (expected optimizer " ..
                      "(or [1]), match)", i, tostring(k)), 2)
         end
      end
      check_match("MultiOptimizer", "entry " .. i .. " match", e.match, 2)
      if e.match == nil and i < #list then
         error(fmt("[MultiOptimizer] entry %d needs match= (only the last may omit it)", i), 2)
      end
      entries[i] = {opt = opt, match = e.match}
   end
   return setmetatable({entries = entries, step = 0}, MultiOptimizer)
end})
M.MultiOptimizer = MultiOptimizer
function MultiOptimizer:get_lr() return self.entries[1].opt.lr end
function MultiOptimizer:set_lr(v)
   local base = self.entries[1].opt.lr
   for _, e in ipairs(self.entries) do
      if base ~= 0 then e.opt:set_lr(e.opt.lr * v / base) end
   end
end
function MultiOptimizer:_apply_named(names, ps, gs, fname)
   self.step = self.step + 1
   local parts = {}
   for i = 1, #self.entries do parts[i] = {names = {}, ps = {}, gs = {}, idx = {}} end
   local out = {}
   for i, n in ipairs(names) do
      out[i] = ps[i]
      for j, e in ipairs(self.entries) do
         if matches(e.match, n, ps[i]) then
            local pt = parts[j]
            local k = #pt.names + 1
            pt.names[k], pt.ps[k], pt.gs[k], pt.idx[k] = n, ps[i], gs[i], i
            break
         end
      end
   end
   for j, e in ipairs(self.entries) do
      local pt = parts[j]
      if #pt.names > 0 then
         local r = e.opt:_apply_named(pt.names, pt.ps, pt.gs, fname)
         for k, i in ipairs(pt.idx) do out[i] = r[k] end
      end
   end
   return out
end
function MultiOptimizer:state()
   local s = {step = self.step, optimizers = {}}
   for i, e in ipairs(self.entries) do s.optimizers[i] = e.opt:state() end
   return s
end
function MultiOptimizer:load_state(s)
   if type(s) ~= "table" or type(s.step) ~= "number" or type(s.optimizers) ~= "table" or
      #s.optimizers ~= #self.entries then
      error(fmt("[MultiOptimizer.load_state] expected {step=, optimizers={...}} with %d " ..
                "entries", #self.entries), 2)
   end
   for i, e in ipairs(self.entries) do e.opt:load_state(s.optimizers[i]) end
   self.step = s.step
end
doc(MultiOptimizer, "ty.optim.MultiOptimizer{ {opt1, match=...}, ..., {optN} } -> optimizer\n" ..
    "  Different optimizers for parameter subsets: a parameter goes to the first entry " ..
    "whose match (a glob pattern as m:freeze's: '*' any characters, 'fc1' also matches " ..
    "'fc1.weight'; a list of patterns; or a function(name, param)) accepts its " ..
    "dotted name; the last entry may omit match and takes the rest (with a match there, " ..
    "unmatched parameters stay unchanged). opt.lr is the first optimizer's; set_lr " ..
    "scales all.")

doc(Optimizer, "ty.optim.Optimizer -- base of the optimizers. Methods: " ..
    "opt:update(model, grads), opt:apply(params, grads) -> params, opt:state() -> " ..
    "{step=, params={[name]={step=, <states>}}}, opt:load_state(s) (checks shapes and " ..
    "state names), opt.lr (for the next step) / opt:set_lr(v) (scales a schedule), " ..
    "opt.step. Options: lr= number or schedule (step -> lr, steps from 1), groups= " ..
    "{ {match=pattern|{patterns}|function(name, p), <options>}, ... } (first match wins; " ..
    "patterns are globs on dotted names as m:freeze's: '*.bias', 'fc1').")

------------------------------------------------------------------------ schedules

local S = {}
M.schedules = S
S.__doc = "ty.optim.schedules -- learning-rate schedules: functions step -> lr (steps " ..
   "from 1), usable as lr= of any optimizer"

local function num(fname, what, v)
   if type(v) ~= "number" then
      error(fmt("[%s] %s must be a number, got %s", fname, what, type(v)), 3)
   end
   return v
end
local function pos(fname, what, v)
   num(fname, what, v)
   if not (v > 0) then
      error(fmt("[%s] %s must be > 0, got %s", fname, what, tostring(v)), 3)
   end
   return v
end
local function sched_opts(fname, opts, allowed)
   if opts == nil then return {} end
   if type(opts) ~= "table" then
      error(fmt("[%s] expected an options table, got %s", fname, type(opts)), 3)
   end
   local ok = {}
   for _, k in ipairs(allowed) do ok[k] = true end
   for k, v in pairs(opts) do
      if not ok[k] then
         error(fmt("[%s] unknown option '%s' (expected %s)", fname, tostring(k),
                   table.concat(allowed, ", ")), 3)
      end
      if k == "anneal_strategy" then
         if v ~= "cos" and v ~= "linear" then
            error(fmt("[%s] anneal_strategy must be 'cos' or 'linear', got %s", fname,
                      tostring(v)), 3)
         end
      elseif type(v) ~= "number" then
         error(fmt("[%s] option %s must be a number, got %s", fname, k, type(v)), 3)
      end
   end
   if opts.pct_start ~= nil and not (opts.pct_start > 0 and opts.pct_start < 1) then
      error(fmt("[%s] pct_start must be in (0, 1), got %s", fname, tostring(opts.pct_start)), 3)
   end
   return opts
end

function S.step_decay(init, step_size, opts)
   num("step_decay", "init", init)
   pos("step_decay", "step_size", step_size)
   local gamma = sched_opts("step_decay", opts, {"gamma"}).gamma or 0.1
   return function(t) return init * gamma ^ ((t - 1) // step_size) end
end
doc(S.step_decay, "ty.optim.schedules.step_decay(init, step_size, {gamma=0.1}) -> schedule\n" ..
    "  init * gamma^floor((step-1)/step_size) (PyTorch StepLR).")

function S.multistep(init, milestones, opts)
   num("multistep", "init", init)
   if type(milestones) ~= "table" then
      error("[multistep] milestones must be a list of steps", 2)
   end
   for i, m in ipairs(milestones) do
      if type(m) ~= "number" then
         error(fmt("[multistep] milestones[%d] must be a number, got %s", i, type(m)), 2)
      end
   end
   local gamma = sched_opts("multistep", opts, {"gamma"}).gamma or 0.1
   local ms = copy(milestones)
   table.sort(ms)
   return function(t)
      local n = 0
      for _, m in ipairs(ms) do if t - 1 >= m then n = n + 1 end end
      return init * gamma ^ n
   end
end
doc(S.multistep, "ty.optim.schedules.multistep(init, milestones, {gamma=0.1}) -> schedule\n" ..
    "  init * gamma^(number of milestones <= step-1) (PyTorch MultiStepLR).")

function S.exponential_decay(init, gamma)
   num("exponential_decay", "init", init)
   num("exponential_decay", "gamma", gamma)
   return function(t) return init * gamma ^ (t - 1) end
end
doc(S.exponential_decay, "ty.optim.schedules.exponential_decay(init, gamma) -> schedule\n" ..
    "  init * gamma^(step-1).")

function S.cosine_decay(init, decay_steps, opts)
   num("cosine_decay", "init", init)
   pos("cosine_decay", "decay_steps", decay_steps)
   local e = sched_opts("cosine_decay", opts, {"end_value"}).end_value or 0
   return function(t)
      local s = math.min(t - 1, decay_steps)
      return e + (init - e) * 0.5 * (1 + math.cos(math.pi * s / decay_steps))
   end
end
doc(S.cosine_decay, "ty.optim.schedules.cosine_decay(init, decay_steps, {end_value=0}) -> " ..
    "schedule\n  Cosine from init (step 1) to end_value (step decay_steps+1 and after).")

function S.cosine_warm_restarts(init, T_0, opts)
   num("cosine_warm_restarts", "init", init)
   pos("cosine_warm_restarts", "T_0", T_0)
   opts = sched_opts("cosine_warm_restarts", opts, {"T_mult", "eta_min"})
   local mult, eta_min = opts.T_mult or 1, opts.eta_min or 0
   if type(mult) ~= "number" or not (mult >= 1) then
      error(fmt("[cosine_warm_restarts] T_mult must be a number >= 1, got %s", tostring(mult)), 2)
   end
   return function(t)
      local e, Ti = t - 1, T_0
      if mult == 1 then
         e = e % T_0
      else
         while e >= Ti do
            e = e - Ti
            Ti = Ti * mult
         end
      end
      return eta_min + (init - eta_min) * (1 + math.cos(math.pi * e / Ti)) / 2
   end
end
doc(S.cosine_warm_restarts, "ty.optim.schedules.cosine_warm_restarts(init, T_0, {T_mult=1, " ..
    "eta_min=0}) -> schedule\n  SGDR (PyTorch CosineAnnealingWarmRestarts at epoch step-1): " ..
    "cosine cycles of T_0, T_0*T_mult, ... steps.")

function S.linear(init, end_value, steps)
   num("linear", "init", init)
   num("linear", "end_value", end_value)
   pos("linear", "steps", steps)
   return function(t)
      return init + (end_value - init) * math.min(t - 1, steps) / steps
   end
end
doc(S.linear, "ty.optim.schedules.linear(init, end_value, steps) -> schedule\n" ..
    "  From init (step 1) linearly to end_value (step steps+1 and after).")

function S.polynomial(init, end_value, steps, opts)
   num("polynomial", "init", init)
   num("polynomial", "end_value", end_value)
   pos("polynomial", "steps", steps)
   local power = sched_opts("polynomial", opts, {"power"}).power or 1
   return function(t)
      local s = math.min(t - 1, steps)
      return (init - end_value) * (1 - s / steps) ^ power + end_value
   end
end
doc(S.polynomial, "ty.optim.schedules.polynomial(init, end_value, steps, {power=1}) -> " ..
    "schedule\n  (init - end_value)*(1 - (step-1)/steps)^power + end_value.")

function S.one_cycle(max_lr, total_steps, opts)
   num("one_cycle", "max_lr", max_lr)
   pos("one_cycle", "total_steps", total_steps)
   opts = sched_opts("one_cycle", opts,
                     {"pct_start", "div_factor", "final_div_factor", "anneal_strategy"})
   local pct = opts.pct_start or 0.3
   local initial = max_lr / (opts.div_factor or 25)
   local min_lr = initial / (opts.final_div_factor or 1e4)
   local linear = opts.anneal_strategy == "linear"
   local e1 = pct * total_steps - 1
   local e2 = total_steps - 1
   local function anneal(a, b, f)
      if linear then return (b - a) * f + a end
      return b + (a - b) / 2 * (math.cos(math.pi * f) + 1)
   end
   return function(t)
      local e = t - 1
      if e <= e1 then return anneal(initial, max_lr, e / e1) end
      return anneal(max_lr, min_lr, math.min(e - e1, e2 - e1) / (e2 - e1))
   end
end
doc(S.one_cycle, "ty.optim.schedules.one_cycle(max_lr, total_steps, {pct_start=0.3, " ..
    "div_factor=25, final_div_factor=1e4, anneal_strategy='cos'}) -> schedule\n" ..
    "  PyTorch OneCycleLR (two phases) at step-1.")

function S.linear_warmup(peak, steps, opts)
   num("linear_warmup", "peak", peak)
   pos("linear_warmup", "steps", steps)
   local init = sched_opts("linear_warmup", opts, {"init"}).init or 0
   return function(t)
      return init + (peak - init) * math.min(t, steps) / steps
   end
end
doc(S.linear_warmup, "ty.optim.schedules.linear_warmup(peak, steps, {init=0}) -> schedule\n" ..
    "  init + (peak-init)*min(step, steps)/steps: reaches peak at step `steps`.")

function S.join(spec)
   if type(spec) ~= "table" or type(spec.schedules) ~= "table" or
      type(spec.boundaries) ~= "table" then
      error("[join] expected {schedules={...}, boundaries={...}}", 2)
   end
   local sc, bd = spec.schedules, spec.boundaries
   if #bd ~= #sc - 1 then
      error(fmt("[join] %d schedules need %d boundaries, got %d", #sc, #sc - 1, #bd), 2)
   end
   for i, s in ipairs(sc) do
      if not is_callable(s) and type(s) ~= "number" then
         error(fmt("[join] schedules[%d] must be a schedule or a number", i), 2)
      end
   end
   for i = 1, #bd do
      if type(bd[i]) ~= "number" then
         error(fmt("[join] boundaries[%d] must be a number, got %s", i, type(bd[i])), 2)
      end
      if i > 1 and bd[i] <= bd[i - 1] then error("[join] boundaries must increase", 2) end
   end
   return function(t)
      local start = 0
      for i = 1, #bd do
         if t <= bd[i] then return lr_at(sc[i], t - start) end
         start = bd[i]
      end
      return lr_at(sc[#sc], t - start)
   end
end
doc(S.join, "ty.optim.schedules.join{schedules={s1, s2, ...}, boundaries={b1, ...}} -> " ..
    "schedule\n  s1 for steps 1..b1, then s2 counting its own steps from 1 at step b1+1, " ..
    "...: join{schedules={linear_warmup(1e-3, 100), cosine_decay(1e-3, 900)}, " ..
    "boundaries={100}} peaks at step 100 and hands over at step 101.")

for _, k in ipairs{"step_decay", "multistep", "exponential_decay", "cosine_decay",
                   "cosine_warm_restarts", "linear", "polynomial", "one_cycle",
                   "linear_warmup", "join"} do
   M[k] = S[k]
end

------------------------------------------------------------------------ clipping

function M.clip_grad_norm(grads, max_norm)
   num("clip_grad_norm", "max_norm", max_norm)
   if not (max_norm >= 0) then
      error(fmt("[clip_grad_norm] max_norm must be >= 0, got %s", tostring(max_norm)), 2)
   end
   local leaves = ty.tree.leaves(grads)
   local total
   -- float32 sums (float16 squares overflow), float64 where a gradient is float64
   local any64 = false
   for _, g in ipairs(leaves) do
      if ty.is_array(g) and g.dtype == "float64" then any64 = true end
   end
   for _, g in ipairs(leaves) do
      if ty.is_array(g) then
         local s = ty.sum(ty.square(g:astype(g.dtype == "float64" and "float64" or "float32")))
         if any64 then s = s:astype("float64") end
         total = total and (total + s) or s
      end
   end
   if total == nil then return grads, ty.array(0) end
   total = ty.sqrt(total)
   local scale = ty.minimum(max_norm / (total + 1e-6), 1.0)
   local clipped = ty.tree.map(function(g)
      if not ty.is_array(g) then return g end
      return g * scale:astype(g.dtype)
   end, grads)
   return clipped, total
end
doc(M.clip_grad_norm, "ty.optim.clip_grad_norm(grads, max_norm) -> grads, total_norm\n" ..
    "  Scales every gradient by min(1, max_norm/(total_norm + 1e-6)) where total_norm is " ..
    "the 2-norm of all of them together (PyTorch clip_grad_norm_). Lazy.")

function M.clip_grad_value(grads, v)
   num("clip_grad_value", "v", v)
   if not (v >= 0) then
      error(fmt("[clip_grad_value] v must be >= 0, got %s", tostring(v)), 2)
   end
   return ty.tree.map(function(g)
      if not ty.is_array(g) then return g end
      return ty.clip(g, -v, v)
   end, grads)
end
doc(M.clip_grad_value, "ty.optim.clip_grad_value(grads, v) -> grads\n" ..
    "  Clips every gradient element to [-v, v]. Lazy.")

for obj, text in pairs(DOCS) do ty.__doc[obj] = text end
M.__docs = DOCS
return M
