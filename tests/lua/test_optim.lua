-- test_optim.lua -- ty.optim: every optimizer's first 8 steps on a fixed
-- problem against torch 1.13 (SGD variants, RMSprop, Adagrad, Adadelta, Adam,
-- AdamW, Adamax, NAdam, RAdam) or the papers' update rules written out in
-- NumPy (Lion, Adafactor, Muon, LAMB, AdaBelief, AdaBound, Lookahead) --
-- fixtures from tests/gen_optim_fixtures.py --; the fused kernel on Vulkan
-- against the CPU (skipped without a Vulkan device); state save/load through
-- checkpoints; groups, lr and schedules, clipping, laziness and errors.
local ty = require "tycho"
local h = require "helpers"
local O = ty.optim
local S = ty.optim.schedules

local T = {}
local FIX = dofile("tests/fixtures/optim_cases.lua")

local function params0()
   return {w = ty.array(FIX.w0), b = ty.array(FIX.b0)}
end
local function grads(t)
   return {w = ty.array(FIX.grads[t].w), b = ty.array(FIX.grads[t].b)}
end

local function make(case)
   if case.name == "Lookahead" then
      local o = case.opts
      return O.Lookahead{O[o.inner[1]](o.inner[2]), k = o.k, alpha = o.alpha}
   end
   return O[case.name](case.opts)
end

local function run_case(case, apply)
   local opt = make(case)
   local p = params0()
   for t = 1, #FIX.grads do
      p = apply(opt, p, grads(t))
      local what = string.format("%s%s step %d", case.name, h.plain and "" or "", t)
      h.assert_close(p.w, case.steps[t].w, 1e-5, what .. " w")
      h.assert_close(p.b, case.steps[t].b, 1e-5, what .. " b")
   end
   return opt
end

function T.every_optimizer_matches_reference()
   local seen = {}
   for _, case in ipairs(FIX.cases) do
      run_case(case, function(opt, p, g) return opt:apply(p, g) end)
      seen[case.name] = true
   end
   for _, n in ipairs{"SGD", "RMSprop", "Adagrad", "AdaDelta", "Adam", "AdamW", "Adamax",
                      "NAdam", "RAdam", "Lion", "Adafactor", "Muon", "LAMB", "AdaBelief",
                      "AdaBound", "Lookahead"} do
      assert(seen[n], "no fixture case for " .. n)
   end
end

-- opt:update(model, grads) on a stand-in for an nn module
local function fake_model(p)
   local m = {p = p, updates = 0}
   function m:trainable_parameters() return self.p end
   function m:update(tree)
      self.updates = self.updates + 1
      for k, v in pairs(tree) do self.p[k] = v end
   end
   return m
end

function T.update_model()
   local case = FIX.cases[2]                 -- SGD with momentum
   local m = fake_model(params0())
   local opt = make(case)
   for t = 1, 3 do opt:update(m, grads(t)) end
   h.assert_eq(m.updates, 3)
   h.assert_close(m.p.w, case.steps[3].w, 1e-5)
   h.assert_close(m.p.b, case.steps[3].b, 1e-5)
   h.assert_eq(opt.step, 3)
end

function T.updates_are_lazy()
   for _, name in ipairs{"Adam", "SGD", "Adafactor", "LAMB", "Muon"} do
      local p = params0()
      ty.eval(p)
      local opt = O[name]{}
      local np = opt:apply(p, grads(1))
      assert(ty.node(np.w) ~= nil, name .. ": the new parameter was evaluated")
      local st = opt:state()
      h.assert_eq(st.step, 1)
      -- one whole step evaluated at once
      ty.eval(np, st)
      assert(ty.node(np.w) == nil)
   end
end

function T.fused_kernel_rows_are_views()
   local p, g = ty.array{1, 2, 3}, ty.array{0.5, -1, 0}
   local np, m, v = ty.optim_update("adam", p, g, {ty.zeros{3}, ty.zeros{3}},
                                    {0.1, 0.9, 0.999, 1e-8, 0, 0, 1, math.sqrt(0.001), 0, 0})
   h.assert_eq(np.shape, {3})
   h.assert_close(m, {0.05, -0.1, 0})
   h.assert_close(v, {0.00025, 0.001, 0})
   -- p - m / (sqrt(v)/sqrt(bc2) + eps)
   h.assert_close(np, {1 - 0.05 / (math.sqrt(0.00025 / 0.001) + 1e-8),
                       2 + 0.1 / (math.sqrt(1) + 1e-8), 3}, 1e-5)
end

-- every kind, on a non-contiguous grad and in float16 / bfloat16
local KINDS = {
   {"sgd", 0, {0.1, 0, 0, 0.01, 0, 0}},
   {"sgd", 1, {0.1, 0.9, 0.1, 0.01, 0, 0}},
   {"sgd", 1, {0.1, 0.9, 0, 0, 1, 1}},
   {"adam", 2, {0.01, 0.9, 0.999, 1e-8, 0.01, 0, 0.1, 0.05, 0, 0}},
   {"adam", 3, {0.01, 0.9, 0.999, 1e-8, 0.01, 1, 0.1, 0.05, 0.02, 0}},
   {"adam", 2, {0.01, 0.9, 0.999, 1e-8, 0, 0, 0.1, 1, 0, 1}},
   {"rmsprop", 1, {0.01, 0.99, 1e-8, 0.01, 0, 0}},
   {"rmsprop", 3, {0.01, 0.99, 1e-8, 0, 0.9, 1}},
   {"adagrad", 1, {0.1, 1e-10, 0.01}},
   {"adadelta", 2, {1, 0.9, 1e-6, 0.01}},
   {"adamax", 2, {0.01, 0.9, 0.999, 1e-8, 0.01, 0.1}},
   {"lion", 1, {0.01, 0.9, 0.99, 0.1}},
}

local function kind_inputs(ns, dev, dt)
   local key = ty.random.key(11)
   local ks = {}
   local p = ty.random.normal({5, 7}, {key = key}):astype(dt)
   local gT = ty.random.normal({7, 5}, {key = ty.random.key(12)}):astype(dt)
   for i = 1, ns do
      ks[i] = ty.abs(ty.random.normal({5, 7}, {key = ty.random.key(20 + i)})):astype(dt)
   end
   if dev then
      p, gT = p:to(dev), gT:to(dev)
      for i = 1, ns do ks[i] = ks[i]:to(dev) end
   end
   return p, gT.T, ks                        -- the grad is a transposed view
end

local function ref_kind(kind, ns, hp)
   -- the same update computed with float64 ty ops from the formulas
   local p, g, s = kind_inputs(ns, "cpu", "float32")
   return table.pack(ty.optim_update(kind, p:astype("float64"), g:astype("float64"),
                                     (function()
                                        local r = {}
                                        for i = 1, ns do r[i] = s[i]:astype("float64") end
                                        return r
                                     end)(), hp))
end

function T.fused_kernels_every_dtype()
   for _, k in ipairs(KINDS) do
      local kind, ns, hp = k[1], k[2], k[3]
      local ref = ref_kind(kind, ns, hp)
      for dt, tol in pairs{float32 = 1e-5, float16 = 2e-2, bfloat16 = 1e-1} do
         local p, g, s = kind_inputs(ns, "cpu", dt)
         local got = table.pack(ty.optim_update(kind, p, g, s, hp))
         h.assert_eq(got.n, ns + 1)
         for i = 1, ns + 1 do
            h.assert_dtype(got[i], dt)
            h.assert_close(got[i]:astype("float32"), ref[i]:astype("float32"), tol,
                           kind .. " " .. dt .. " output " .. i)
         end
      end
   end
end

local VK = h.vulkan_device()

function T.fused_kernels_vulkan_match_cpu()
   if VK == nil then return end
   for _, k in ipairs(KINDS) do
      local kind, ns, hp = k[1], k[2], k[3]
      for dt, tol in pairs{float32 = 1e-5, float16 = 2e-3, bfloat16 = 1.6e-2} do
         local p, g, s = kind_inputs(ns, "cpu", dt)
         local want = table.pack(ty.optim_update(kind, p, g, s, hp))
         local vp, vg, vs = kind_inputs(ns, VK, dt)
         local got = table.pack(ty.optim_update(kind, vp, vg, vs, hp))
         for i = 1, ns + 1 do
            h.assert_eq(got[i].device, VK)
            h.assert_close(got[i]:to("cpu"):astype("float32"), want[i]:astype("float32"), tol,
                           kind .. " " .. dt .. " vulkan output " .. i)
         end
      end
   end
   -- a whole optimizer on the device
   local case = FIX.cases[12]                -- Adam amsgrad + weight decay
   local opt = make(case)
   local p = {w = ty.array(FIX.w0):to(VK), b = ty.array(FIX.b0):to(VK)}
   for t = 1, 3 do
      local g = grads(t)
      p = opt:apply(p, {w = g.w:to(VK), b = g.b:to(VK)})
   end
   h.assert_close(p.w:to("cpu"), case.steps[3].w, 1e-5)
end

------------------------------------------------------------------------ state

local DIR = os.getenv("TMPDIR") or "/tmp"
local function tmp_path()
   return string.format("%s/tycho_optim_%d_%d.safetensors", DIR, os.time(),
                        math.random(1 << 30))
end

local function roundtrip(make_opt, what)
   local opt = make_opt()
   local p = params0()
   for t = 1, 3 do p = opt:apply(p, grads(t)) end
   local path = tmp_path()
   ty.save_checkpoint(path, {optimizer = opt})
   local opt2 = make_opt()
   local ok, err = pcall(ty.load_checkpoint, path, {optimizer = opt2})
   os.remove(path)
   if not ok then error(err, 0) end
   h.assert_eq(opt2.step, 3, what .. " step")
   local p1, p2 = p, p
   for t = 4, 6 do
      p1 = opt:apply(p1, grads(t))
      p2 = opt2:apply(p2, grads(t))
   end
   h.assert_close(p2.w, p1.w, 1e-6, what .. " w")
   h.assert_close(p2.b, p1.b, 1e-6, what .. " b")
end

function T.state_checkpoint_roundtrip()
   roundtrip(function() return O.Adam{lr = 0.01, amsgrad = true} end, "Adam")
   roundtrip(function() return O.SGD{lr = 0.1, momentum = 0.9} end, "SGD")
   roundtrip(function() return O.NAdam{lr = 0.01} end, "NAdam")
   roundtrip(function() return O.Adafactor{} end, "Adafactor")
   roundtrip(function() return O.Muon{} end, "Muon")
   roundtrip(function() return O.Lookahead{O.Adam{lr = 0.01}, k = 2} end, "Lookahead")
   roundtrip(function()
      return O.MultiOptimizer{{O.SGD{lr = 0.1, momentum = 0.5}, match = "b"},
                              {O.RMSprop{lr = 0.01}}}
   end, "MultiOptimizer")
end

function T.state_tree_and_validation()
   local opt = O.Adam{lr = 0.01}
   local p = opt:apply(params0(), grads(1))
   local s = opt:state()
   h.assert_eq(s.step, 1)
   h.assert_shape(s.params.w.exp_avg, {3, 4})
   h.assert_shape(s.params.b.exp_avg_sq, {4})
   h.assert_eq(s.params.w.step, 1)
   -- a state of the wrong shape
   local bad = opt:state()
   bad.params.w.exp_avg = ty.zeros{4, 3}
   h.assert_error(function() opt:load_state(bad) end,
                  "[Adam.load_state] state 'exp_avg' of 'w' has shape (4,3), expected (3,4)")
   -- a fresh optimizer checks at the next update
   local fresh = O.Adam{lr = 0.01}
   fresh:load_state(bad)
   h.assert_error(function() fresh:apply(p, grads(2)) end,
                  "state 'exp_avg' of 'w' has shape (4,3), parameter (3,4)")
   -- an SGD state is not an Adam state
   local sgd = O.SGD{lr = 0.1, momentum = 0.9}
   sgd:apply(params0(), grads(1))
   h.assert_error(function() opt:load_state(sgd:state()) end,
                  "unknown state 'momentum_buffer'")
   h.assert_error(function() opt:load_state({}) end, "[Adam.load_state] expected a table")
end

------------------------------------------------------------------------ options

function T.groups_per_parameter_options()
   local opt = O.AdamW{lr = 0.01, weight_decay = 0.1, groups = {{match = "b", weight_decay = 0},
                                                              {match = {"x", "w"}, lr = 0.02}}}
   local p = opt:apply(params0(), grads(1))
   local w_ref = O.AdamW{lr = 0.02, weight_decay = 0.1}:apply(params0(), grads(1))
   local b_ref = O.AdamW{lr = 0.01, weight_decay = 0}:apply(params0(), grads(1))
   h.assert_close(p.w, w_ref.w, 1e-6)
   h.assert_close(p.b, b_ref.b, 1e-6)
   -- a function predicate on name and parameter
   local sgd = O.SGD{lr = 0.1, groups = {{match = function(_, x) return x.ndim == 1 end, lr = 0}}}
   local q = sgd:apply(params0(), grads(1))
   h.assert_close(q.b, FIX.b0)
   h.assert_error(function() O.SGD{groups = {{match = "b", betas = 1}}} end,
                  "[SGD group 1] unknown option 'betas'")
end

function T.multi_optimizer_subsets()
   local mo = O.MultiOptimizer{{O.SGD{lr = 0.1}, match = "b"}, {O.Adam{lr = 0.01}}}
   local p = mo:apply(params0(), grads(1))
   h.assert_close(p.b, O.SGD{lr = 0.1}:apply(params0(), grads(1)).b, 1e-6)
   h.assert_close(p.w, O.Adam{lr = 0.01}:apply(params0(), grads(1)).w, 1e-6)
   h.assert_close(mo.lr, 0.1)
   mo:set_lr(0.05)
   h.assert_close(mo.entries[2].opt.lr, 0.005)
   h.assert_error(function() O.MultiOptimizer{{O.SGD{}}, {O.Adam{}}} end, "needs match=")
end

function T.lr_schedule_and_set_lr()
   local sched = S.exponential_decay(0.1, 0.5)
   local opt = O.SGD{lr = sched}
   h.assert_close(opt.lr, 0.1)
   local p = params0()
   local want = ty.array(FIX.w0)
   for t = 1, 3 do
      local g = grads(t)
      p = opt:apply(p, g)
      want = want - g.w * (0.1 * 0.5 ^ (t - 1))
   end
   h.assert_close(p.w, want, 1e-6)
   h.assert_eq(opt.step, 3)
   h.assert_close(opt.lr, 0.1 * 0.5 ^ 3)
   opt:set_lr(0.001)                          -- scales the schedule
   h.assert_close(opt.lr, 0.001)
   p = opt:apply(p, grads(4))
   h.assert_close(opt.lr, 0.0005)
   local plain = O.Adam{lr = 0.01}
   plain.lr = 0.02
   h.assert_close(plain.lr, 0.02)
   h.assert_error(function() plain:set_lr("x") end, "[Adam.set_lr] expected a number")
end

function T.schedules_values()
   local function close(a, b) h.assert_close(a, b, 1e-12) end
   local sd = S.step_decay(1.0, 3, {gamma = 0.5})
   close(sd(1), 1); close(sd(3), 1); close(sd(4), 0.5); close(sd(7), 0.25)
   local ms = S.multistep(1.0, {2, 5}, {gamma = 0.1})
   close(ms(1), 1); close(ms(2), 1); close(ms(3), 0.1); close(ms(6), 0.01)
   local ex = S.exponential_decay(2.0, 0.9)
   close(ex(1), 2); close(ex(3), 2 * 0.81)
   local cd = S.cosine_decay(1.0, 10, {end_value = 0.1})
   close(cd(1), 1); close(cd(6), 0.55); close(cd(11), 0.1); close(cd(50), 0.1)
   local wr = S.cosine_warm_restarts(1.0, 4, {T_mult = 2})
   close(wr(1), 1); close(wr(3), 0.5); close(wr(5), 1); close(wr(9), 0.5); close(wr(13), 1)
   local li = S.linear(1.0, 0.0, 4)
   close(li(1), 1); close(li(3), 0.5); close(li(5), 0); close(li(9), 0)
   local po = S.polynomial(1.0, 0.0, 4, {power = 2})
   close(po(1), 1); close(po(3), 0.25); close(po(5), 0)
   -- one_cycle against torch.optim.lr_scheduler.OneCycleLR(max_lr=1, total_steps=10)
   local oc = S.one_cycle(1.0, 10)
   close(oc(1), 0.04); close(oc(3), 1.0)
   h.assert_close(oc(10), 0.04 / 1e4, 1e-9)
   h.assert_close(oc(2), 0.52, 1e-12)
   local lw = S.linear_warmup(0.1, 4)
   close(lw(1), 0.025); close(lw(4), 0.1); close(lw(9), 0.1)
   -- join hands over exactly at the boundary
   local j = S.join{schedules = {S.linear_warmup(1.0, 5), S.cosine_decay(1.0, 10)},
                    boundaries = {5}}
   close(j(4), 0.8); close(j(5), 1.0); close(j(6), 1.0)
   close(j(7), S.cosine_decay(1.0, 10)(2)); close(j(16), 0)
   local j3 = S.join{schedules = {0.1, S.exponential_decay(1, 0.5), 0.01}, boundaries = {2, 4}}
   close(j3(2), 0.1); close(j3(3), 1); close(j3(4), 0.5); close(j3(5), 0.01)
   h.assert_error(function() S.join{schedules = {0.1, 0.2}, boundaries = {}} end,
                  "[join] 2 schedules need 1 boundaries, got 0")
   h.assert_error(function() S.cosine_decay(1, 10, {end_lr = 0}) end,
                  "[cosine_decay] unknown option 'end_lr'")
   assert(ty.optim.cosine_decay == S.cosine_decay)
end

function T.clipping()
   local g = {a = ty.array{3, 0}, b = {ty.array{{0, 4}}}}
   local c, n = O.clip_grad_norm(g, 1.0)
   assert(ty.node(n) ~= nil, "clip_grad_norm evaluated eagerly")
   h.assert_close(n, 5)
   h.assert_close(c.a, {0.6, 0}, 1e-5)
   h.assert_close(c.b[1], {{0, 0.8}}, 1e-5)
   local c2 = O.clip_grad_norm(g, 10)
   h.assert_close(c2.a, {3, 0})
   local v = O.clip_grad_value(g, 2.5)
   h.assert_close(v.a, {2.5, 0})
   h.assert_close(v.b[1], {{0, 2.5}})
end

function T.errors()
   h.assert_error(function() O.Adam{lr = 1e-3, betaz = 0.9} end,
                  "[Adam] unknown option 'betaz' (expected amsgrad, betas, eps, groups, lr, " ..
                  "weight_decay)")
   h.assert_error(function() O.Adam{}:apply(params0(), {w = ty.zeros{4, 3}, b = ty.zeros{4}}) end,
                  "[Adam.apply] gradient of 'w' has shape (4,3), parameter (3,4)")
   h.assert_error(function() O.SGD{}:update(fake_model(params0()), {w = ty.zeros{3}}) end,
                  "[SGD.update] gradient of 'w' has shape (3,), parameter (3,4)")
   h.assert_error(function() O.SGD{}:update(42, {}) end, "[SGD.update] argument 1 must be a model")
   h.assert_error(function() O.SGD{nesterov = true} end, "[SGD] nesterov requires momentum")
   h.assert_error(function() ty.optim_update("adamz", ty.zeros{2}, ty.zeros{2}, {}, {}) end,
                  "[optim_update] unknown kind 'adamz'")
   h.assert_error(function()
      ty.optim_update("adam", ty.zeros{2}, ty.zeros{3}, {ty.zeros{2}, ty.zeros{2}},
                      {0, 0, 0, 0, 0, 0, 0, 1, 0, 0})
   end, "[optim_update] adam: grad shape (3,) does not match param (2,)")
   h.assert_error(function()
      ty.optim_update("adam", ty.zeros{2}, ty.zeros{2}, {ty.zeros{2}}, {0, 0, 0, 0, 0, 0, 0, 1, 0, 0})
   end, "[optim_update] adam expects 2 or 3 state arrays")
   h.assert_error(function() ty.optim_update("lion", ty.zeros{2}, ty.zeros{2}, {ty.zeros{2}}, {1}) end,
                  "[optim_update] lion takes 4 hyperparameters, got 1")
   h.assert_error(function()
      ty.optim_update("lion", ty.zeros({2}, {dtype = "int32"}), ty.zeros{2}, {ty.zeros{2}},
                      {1, 0.9, 0.99, 0})
   end, "param must be a float array, got int32")
   -- a missing gradient leaves the parameter unchanged
   local p = O.Adam{}:apply(params0(), {w = grads(1).w})
   h.assert_close(p.b, FIX.b0)
end

function T.docs()
   for _, name in ipairs{"SGD", "RMSprop", "Adagrad", "AdaDelta", "Adam", "AdamW", "Adamax",
                         "NAdam", "RAdam", "Lion", "Adafactor", "Muon", "LAMB", "AdaBelief",
                         "AdaBound", "Lookahead", "MultiOptimizer", "clip_grad_norm",
                         "clip_grad_value"} do
      local d = ty.__doc[O[name]]
      assert(type(d) == "string" and d:find("ty.optim." .. name, 1, true), "no doc for " .. name)
   end
   for _, name in ipairs{"step_decay", "multistep", "exponential_decay", "cosine_decay",
                         "cosine_warm_restarts", "linear", "polynomial", "one_cycle",
                         "linear_warmup", "join"} do
      assert(ty.__doc[S[name]], "no doc for schedules." .. name)
   end
   assert(ty.__doc[ty.optim_update]:find("ty.optim_update(kind", 1, true))
end

-- QA regressions: option types and ranges are checked at construction, with
-- the option's name (before: "attempt to mul a 'string'", silent nonsense).
function T.qa_option_validation()
   h.assert_error(function() O.Adam{lr = "x"} end,
                  "[Adam] option lr must be a number or a schedule")
   h.assert_error(function() O.Adam{lr = -1} end, "[Adam] option lr must be >= 0, got -1")
   h.assert_error(function() O.Adam{betas = {1.5, 0.9}} end,
                  "[Adam] option betas must hold numbers in [0, 1), got {1.5, 0.9}")
   h.assert_error(function() O.Adam{betas = {0.9}} end, "option betas must be a list of 2 numbers")
   h.assert_error(function() O.SGD{momentum = -1} end, "[SGD] option momentum must be >= 0")
   h.assert_error(function() O.Adam{eps = "a"} end, "[Adam] option eps must be a number, got a")
   h.assert_error(function() O.Adam{amsgrad = 1} end, "[Adam] option amsgrad must be a boolean")
   h.assert_error(function() O.Adam{groups = {{match = "b", lr = -2}}} end,
                  "[Adam group 1] option lr must be >= 0")
   h.assert_error(function() O.Lookahead{O.SGD{}, k = 0} end,
                  "[Lookahead] option k must be an integer >= 1, got 0")
   h.assert_error(function() O.Lookahead{O.SGD{}, alpha = "x"} end,
                  "[Lookahead] option alpha must be a number in [0, 1]")
   h.assert_error(function() O.clip_grad_norm({ty.ones{2}}, -1) end,
                  "[clip_grad_norm] max_norm must be >= 0")
   h.assert_error(function() O.clip_grad_value({ty.ones{2}}, -1) end,
                  "[clip_grad_value] v must be >= 0")
   -- still accepted: schedules, Adafactor's lr=false/beta1, a 0 learning rate
   O.Adam{lr = S.cosine_decay(1e-3, 10)}
   O.Adafactor{beta1 = 0.9}
   O.SGD{lr = 0}
end

-- Schedules reject non-positive lengths (before: NaN learning rates, a
-- division error, and an endless loop in cosine_warm_restarts with T_0 = 0).
function T.qa_schedule_lengths()
   h.assert_error(function() S.cosine_decay(1e-3, 0) end, "[cosine_decay] decay_steps must be > 0")
   h.assert_error(function() S.step_decay(1e-3, 0) end, "[step_decay] step_size must be > 0")
   h.assert_error(function() S.linear(1, 0, 0) end, "[linear] steps must be > 0")
   h.assert_error(function() S.polynomial(1, 0, 0) end, "[polynomial] steps must be > 0")
   h.assert_error(function() S.linear_warmup(1, 0) end, "[linear_warmup] steps must be > 0")
   h.assert_error(function() S.one_cycle(1, 0) end, "[one_cycle] total_steps must be > 0")
   h.assert_error(function() S.cosine_warm_restarts(1, 0, {T_mult = 2}) end,
                  "[cosine_warm_restarts] T_0 must be > 0")
   h.assert_error(function() S.cosine_warm_restarts(1, 10, {T_mult = 0.5}) end,
                  "[cosine_warm_restarts] T_mult must be a number >= 1")
   -- option values are checked when the schedule is made, not at its first call
   h.assert_error(function() S.multistep(0.1, {"a", 3}) end,
                  "[multistep] milestones[1] must be a number, got string")
   h.assert_error(function() S.join{schedules = {1, 2}, boundaries = {"x"}} end,
                  "[join] boundaries[1] must be a number")
   h.assert_error(function() S.step_decay(0.1, 10, {gamma = "x"}) end,
                  "[step_decay] option gamma must be a number, got string")
   h.assert_error(function() S.one_cycle(0.1, 100, {pct_start = 2}) end,
                  "[one_cycle] pct_start must be in (0, 1), got 2")
   h.assert_error(function() S.one_cycle(0.1, 100, {anneal_strategy = "cosine"}) end,
                  "[one_cycle] anneal_strategy must be 'cos' or 'linear', got cosine")
end

-- Integer parameters or gradients are named errors (before: LAMB silently
-- turned an int32 parameter into float32; the fused ones failed inside
-- optim_update); a float64 gradient of a float32 parameter is cast.
function T.qa_dtypes()
   local i32 = ty.array({1, 2, 3}, {dtype = "int32"})
   h.assert_error(function() O.LAMB{}:apply({w = i32}, {w = ty.ones{3}}) end,
                  "[LAMB.apply] parameter 'w' must be a float array, got int32 (3,)")
   h.assert_error(function() O.Adam{}:apply({w = ty.ones{3}}, {w = i32}) end,
                  "[Adam.apply] gradient of 'w' must be a float array, got int32 (3,)")
   for _, name in ipairs{"Adam", "LAMB", "AdaBelief"} do
      local p = O[name]{}:apply({w = ty.ones({3}, {device = "cpu"})},
                                {w = ty.ones({3}, {dtype = "float64", device = "cpu"})})
      h.assert_dtype(p.w, "float32")
   end
end

-- Gradients keyed unlike every parameter are an error, not a silent no-op.
function T.qa_no_matching_gradient()
   h.assert_error(function() O.Adam{}:apply({w = ty.ones{2}}, {ww = ty.ones{2}}) end,
                  "[Adam.apply] no gradient matches a parameter: gradients 'ww', parameters 'w'")
   h.assert_error(function() O.SGD{}:apply({w = ty.ones{2}}, {ty.ones{2}}) end,
                  "no gradient matches a parameter")
   -- a subset is fine (frozen or unused parameters stay unchanged)
   local p = O.SGD{lr = 1}:apply({w = ty.ones{2}, b = ty.ones{2}}, {w = ty.ones{2}})
   h.assert_close(p.w, {0, 0})
   h.assert_close(p.b, {1, 1})
end

-- set_lr (ReduceLROnPlateau) survives state()/load_state and checkpoints.
function T.qa_set_lr_survives_state()
   local o = O.Adam{lr = 1e-2}
   o:apply({w = ty.ones{3}}, {w = ty.ones{3}})
   o:set_lr(1e-3)
   local o2 = O.Adam{lr = 1e-2}
   o2:load_state(o:state())
   h.assert_close(o2.lr, 1e-3)
   local base = os.tmpname()
   os.remove(base)
   local path = base .. ".safetensors"
   ty.save_checkpoint(path, {optimizer = o})
   local o3 = O.Adam{lr = 1e-2}
   ty.load_checkpoint(path, {optimizer = o3})
   os.remove(path)
   h.assert_close(o3.lr, 1e-3)
   local sch = O.Adam{lr = S.exponential_decay(1e-2, 0.5)}
   sch:apply({w = ty.ones{3}}, {w = ty.ones{3}})
   sch:set_lr(1)
   local sch2 = O.Adam{lr = S.exponential_decay(1e-2, 0.5)}
   sch2:load_state(sch:state())
   h.assert_close(sch2.lr, 1)
end

-- A gradient on another device than its parameter is named (before: the
-- message of optim_update or of an inner [add]).
function T.qa_device_mismatch()
   if VK == nil then return end
   for _, name in ipairs{"Adam", "LAMB"} do
      h.assert_error(function()
         O[name]{}:apply({w = ty.ones({3}, {device = VK})}, {w = ty.ones({3}, {device = "cpu"})})
      end, "[" .. name .. ".apply] gradient of 'w' is on cpu, the parameter on " .. VK)
   end
end

-- A group whose match accepts no parameter warns once (a misspelt name would
-- silently apply nothing); a match that is no pattern is an error.
function T.qa_group_match_checks()
   local stderr, written = io.stderr, {}
   io.stderr = {write = function(_, ...)
      for _, v in ipairs{...} do written[#written + 1] = v end
   end}
   local ok, err = pcall(function()
      local p = {fc = {weight = ty.ones{2}, bias = ty.ones{2}}}
      local o = O.SGD{groups = {{match = "*.bais", lr = 0}}}
      o:apply(p, p)
      o:apply(p, p)
      assert(#o.warnings == 1, "one warning")
      assert(o.warnings[1]:find("[SGD] warning: groups[1].match '*.bais' accepts no parameter",
                                1, true), o.warnings[1])
      -- a Lua pattern is no glob: 'bias$' is taken literally
      local o2 = O.SGD{groups = {{match = "bias$", lr = 0}}}
      o2:apply(p, p)
      assert(o2.warnings and #o2.warnings == 1, "'bias$' matches nothing")
      local o3 = O.SGD{groups = {{match = "*.bias", lr = 0}}}
      o3:apply(p, p)
      assert(o3.warnings == nil)
   end)
   io.stderr = stderr
   assert(ok, err)
   assert(table.concat(written):find("accepts no parameter", 1, true))
   h.assert_error(function() O.SGD{groups = {{match = 3}}} end,
                  "[SGD] groups[1].match must be a glob pattern, a list of patterns or a function")
   h.assert_error(function() O.MultiOptimizer{{O.SGD{}, match = {"a", 2}}, {O.SGD{}}} end,
                  "[MultiOptimizer] entry 1 match must hold glob patterns (strings), got number")
end

-- match= of groups and MultiOptimizer is the glob of m:freeze
-- (ty.tree.match_name): '*' any characters, a name also matches the names
-- below it, Lua pattern characters are themselves; a function still works.
function T.group_match_is_freezes_glob()
   local function names_of(match)
      local got = {}
      local params = {fc1 = {weight = ty.ones{2}, bias = ty.ones{2}},
                      fc2 = {weight = ty.ones{2}, bias = ty.ones{2}},
                      layers = {{w = ty.ones{2}}, {w = ty.ones{2}}}}
      local mo = O.MultiOptimizer{{O.SGD{lr = 1}, match = match}, {O.SGD{lr = 0}}}
      local out = mo:apply(params, params)
      for _, k in ipairs{"fc1", "fc2"} do
         for _, f in ipairs{"weight", "bias"} do
            if out[k][f]:tolist()[1] == 0 then got[#got + 1] = k .. "." .. f end
         end
      end
      for i = 1, 2 do
         if out.layers[i].w:tolist()[1] == 0 then got[#got + 1] = "layers." .. i .. ".w" end
      end
      return table.concat(got, " ")
   end
   h.assert_eq(names_of("fc1"), "fc1.weight fc1.bias")
   h.assert_eq(names_of("*.bias"), "fc1.bias fc2.bias")
   h.assert_eq(names_of("fc*"), "fc1.weight fc1.bias fc2.weight fc2.bias")
   h.assert_eq(names_of("fc2.w*"), "fc2.weight")
   h.assert_eq(names_of({"fc1.bias", "layers.2"}), "fc1.bias layers.2.w")
   h.assert_eq(names_of("layers.*.w"), "layers.1.w layers.2.w")
   h.assert_eq(names_of("fc%d"), "")                 -- no Lua pattern
   h.assert_eq(names_of("fc."), "")
   h.assert_eq(names_of(function(n) return n:sub(-1) == "w" end), "layers.1.w layers.2.w")
   -- the same strings freeze the same parameters of a module
   local nn = ty.nn
   local m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
   for _, pat in ipairs{"*.bias", "1", "2.w*"} do
      m:unfreeze()
      m:freeze(pat)
      local frozen, grouped = {}, {}
      for _, n in ipairs{"1.weight", "1.bias", "2.weight", "2.bias"} do
         if m:is_frozen(n) then frozen[#frozen + 1] = n end
         if ty.tree.match_name(pat, n) then grouped[#grouped + 1] = n end
      end
      h.assert_eq(table.concat(frozen, " "), table.concat(grouped, " "), pat)
   end
end

-- 8-d parameters (the most tycho allows) go through the fused kernels
-- flattened (before: "[optim_update] adam: param has 8 dims, at most 7").
function T.qa_eight_dim_parameters()
   local shape = {1, 1, 1, 1, 1, 1, 2, 2}
   for _, name in ipairs{"SGD", "Adam", "RMSprop", "Lion"} do
      local o, o1 = O[name]{lr = 0.1, momentum = name == "SGD" and 0.9 or nil}, O[name]{lr = 0.1,
         momentum = name == "SGD" and 0.9 or nil}
      local p, q = {w = ty.ones(shape)}, {w = ty.ones{4}}
      for _ = 1, 3 do
         p = o:apply(p, {w = ty.full(shape, 0.5)})
         q = o1:apply(q, {w = ty.full({4}, 0.5)})
      end
      h.assert_shape(p.w, shape)
      h.assert_close(p.w:reshape{4}, q.w, 1e-6, name)
      for _, st in pairs(o:state().params.w) do
         if ty.is_array(st) then h.assert_shape(st, shape) end
      end
   end
end

-- clip_grad_norm sums float64 gradients in float64 (before: their squares
-- overflowed float32 to inf and every gradient was zeroed).
function T.qa_clip_grad_norm_float64()
   local g, n = O.clip_grad_norm({a = ty.full({3}, 1e30, {dtype = "float64", device = "cpu"}),
                                  b = ty.ones({2}, {device = "cpu"})}, 1)
   h.assert_dtype(n, "float64")
   h.assert_close(n, math.sqrt(3) * 1e30, 1e-6)
   h.assert_close(g.a, {1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)}, 1e-6)
   h.assert_dtype(g.b, "float32")
end

-- State loaded on the CPU (a checkpoint) follows parameters on another device
-- (before: "[optim_update] arrays are on different devices").
function T.qa_state_follows_device()
   if VK == nil then return end
   for _, make in ipairs{function() return O.Adam{lr = 0.1} end,
                         function()
                            return O.Lookahead{O.SGD{lr = 0.1, momentum = 0.9}, k = 1}
                         end} do
      local cpu = {device = "cpu"}
      local o = make()
      local p = o:apply({w = ty.ones({3}, cpu)}, {w = ty.ones({3}, cpu)})
      local o2 = make()
      o2:load_state(o:state())
      local want = o:apply(p, {w = ty.ones({3}, cpu)})
      local got = o2:apply({w = p.w:to(VK)}, {w = ty.ones({3}, {device = VK})})
      h.assert_eq(got.w.device, VK)
      h.assert_close(got.w:to("cpu"), want.w, 1e-6)
   end
end

return T
