-- test_checkpoint.lua -- ty.save_checkpoint / ty.load_checkpoint, the RNG
-- state (ty.random.get_state, set_state, key_to_string, key_from_string) and
-- the strict JSON of the checkpoint metadata.
local ty = require "tycho"
local h = require "helpers"
local json = require("tycho.checkpoint").json
local R = ty.random

local T = {}

local function check(cond, what)
   if not cond then error("check failed: " .. tostring(what), 2) end
end

local DIR = os.getenv("TMPDIR") or "/tmp"
local counter = 0
local function tmp_path()
   counter = counter + 1
   return string.format("%s/tycho_ckpt_%d_%d_%d.safetensors", DIR, os.time(),
                        math.random(1 << 30), counter)
end

-- Runs fn(path) with a fresh temporary path, removed afterwards.
local function with_file(fn)
   local path = tmp_path()
   local ok, err = pcall(fn, path)
   os.remove(path)
   if not ok then error(err, 0) end
end

local function expect_error(pattern, fn, ...)
   local ok, err = pcall(fn, ...)
   if ok then error("expected an error matching '" .. pattern .. "'", 2) end
   if not tostring(err):find(pattern) then
      error(string.format("error '%s' does not match '%s'", tostring(err), pattern), 2)
   end
end

local read_bytes, write_bytes = h.read_bytes, h.write_bytes

-- Arrays equal in shape, dtype and every value (bitwise for floats but NaN).
local function assert_same_array(got, expected, what)
   check(ty.is_array(got), what .. ": not an array")
   h.assert_eq(got.dtype, expected.dtype, what .. " dtype")
   h.assert_eq(table.concat(got.shape, ","), table.concat(expected.shape, ","),
                  what .. " shape")
   h.assert_close(got, expected, 0, what)
end

------------------------------------------------------------------------ RNG state

function T.rng_get_set_state_replays_draws()
   R.seed(123)
   local _ = ty.rand{4}
   local k = R.get_state()
   local a = ty.rand{5}:tolist()
   local b = ty.randn{3}:tolist()
   R.set_state(k)
   h.assert_eq(ty.rand{5}:tolist(), a)
   h.assert_eq(ty.randn{3}:tolist(), b)
   check(R.get_state() ~= k, "the global key moves on after draws")
end

function T.rng_key_strings()
   local k = R.key(0x0123456789abcdef)
   h.assert_eq(R.key_to_string(k), "0123456789abcdef")
   check(R.key_from_string("0123456789ABCDEF") == k)
   local s = R.key_to_string(R.split(k)[1])
   check(R.key_from_string(s) == R.split(k)[1])
   expect_error("16 hex digits", R.key_from_string, "0123")
   expect_error("16 hex digits", R.key_from_string, "0123456789abcdeg")
   expect_error("16 hex digits", R.key_from_string, "0123456789abcdef0")
   expect_error("expected a string", R.key_from_string, 12)
   expect_error("expected a key", R.set_state, "0123456789abcdef")
   expect_error("expected a key", R.key_to_string, {})
   for _, name in ipairs{"get_state", "set_state", "key_to_string", "key_from_string"} do
      check(type(ty.__doc[R[name]]) == "string", name .. " has a doc")
   end
end

------------------------------------------------------------------------ JSON

function T.json_round_trip_keeps_number_types()
   local v = {a = 1, b = 1.0, c = -0.5, d = 1e300, e = math.mininteger, f = 2^53,
              s = "q\"\\/\n\t\1\127é✓", list = {1, 2.5, "x", true, false, {}},
              nested = {deep = {deeper = {1, {2, {3}}}}}}
   local text = json.encode(v)
   local w = json.decode(text)
   h.assert_eq(math.type(w.a), "integer")
   h.assert_eq(math.type(w.b), "float")
   h.assert_eq(w.b, 1.0)
   h.assert_eq(w.c, -0.5)
   h.assert_eq(w.d, 1e300)
   h.assert_eq(w.e, math.mininteger)
   h.assert_eq(math.type(w.e), "integer")
   h.assert_eq(math.type(w.f), "float")
   h.assert_eq(w.s, v.s)
   h.assert_eq(w.list[2], 2.5)
   h.assert_eq(w.list[4], true)
   h.assert_eq(w.list[5], false)
   h.assert_eq(w.nested.deep.deeper[2][2][1], 3)
   h.assert_eq(json.decode('"\\u00e9\\ud83d\\ude00"'), "é😀")
   h.assert_eq(json.decode(" [ 1 , -0 , 0.5e1 , 1E-2 ] ")[3], 5.0)
end

function T.json_is_strict()
   local bad = {"", "{", "[1,]", "{'a':1}", "{\"a\":1,}", "NaN", "01", "1.", ".5", "+1",
                "[1] x", "\"abc", "\"a\nb\"", "{\"a\":1,\"a\":2}", "\"\\x\"", "\"\\ud800\"",
                "tru", "[null]", "{a:1}", "1e", "--1", "\"\255\""}
   for _, s in ipairs(bad) do
      expect_error("invalid JSON", json.decode, s)
   end
   local deep = string.rep("[", 300) .. string.rep("]", 300)
   expect_error("nested deeper", json.decode, deep)
   expect_error("has no JSON form", json.encode, {f = print})
   expect_error("has no JSON form", json.encode, {x = 0 / 0})
   expect_error("not valid UTF%-8", json.encode, {s = "\255"})
   local cyc = {}
   cyc.self = cyc
   expect_error("cycle", json.encode, cyc)
end

------------------------------------------------------------------------ round trips

local function sample_model()
   local k = R.split(R.key(7), 8)
   return {
      layers = {
         {weight = R.normal({3, 4}, {key = k[1]}), bias = R.normal({4}, {key = k[2]})},
         {weight = R.normal({4, 2}, {key = k[3], dtype = "float64"})},
      },
      half = R.normal({2, 3}, {key = k[4], dtype = "float16"}),
      brain = R.normal({5}, {key = k[5], dtype = "bfloat16"}),
      counts = ty.array({1, -2, 3}, "int64"),
      ids = ty.array({{1, 2}, {3, 4}}, "int32"),
      pixels = ty.array({0, 128, 255}, "uint8"),
      mask = R.bernoulli(0.5, {6}, {key = k[6]}),
      scalar = ty.array(2.5),
      units = 4,             -- numbers and strings of a tree go to the metadata
      rate = 0.25,
      act = "tanh",
      frozen = false,
   }
end

function T.round_trip_every_field()
   with_file(function(path)
      local model = sample_model()
      local optimizer = {step = 3, lr = 0.1, betas = {0.9, 0.999},
                         state = {{m = ty.zeros{3, 4}, v = ty.ones{3, 4}}, {m = ty.ones{4}}}}
      local extra = {
         name = "run \"1\"\n\tü", tags = {"a", "b"}, best = math.huge, worst = -math.huge,
         nested = {deep = {x = 1, y = 2.0, z = true, w = {1, {2, {3.5}}}}},
         history = {0.5, 0.25, 0.125}, sparse = {[1] = "one", [3] = "three"},
         mixed = {10, 20, key = "v"}, empty = {}, dollar = {["$tensor"] = "not a tensor"},
         arrays = {ty.arange(5), {inner = ty.eye(2)}},
         seed_key = R.key(99),
      }
      ty.save_checkpoint(path, {model = model, optimizer = optimizer, epoch = 7,
                                rng = R.key(5), extra = extra})

      -- the file is a plain safetensors file with the documented tensor names
      local tensors, meta = ty.load(path)
      for _, name in ipairs{"model/layers.1.weight", "model/layers.1.bias",
                            "model/layers.2.weight", "model/half", "model/mask",
                            "optimizer/state.1.m", "optimizer/state.2.m",
                            "extra/arrays.1", "extra/arrays.2.inner"} do
         check(ty.is_array(tensors[name]), "tensor " .. name)
      end
      h.assert_eq(json.decode(meta["tycho.checkpoint"]).version, 1)

      local c = ty.load_checkpoint(path)
      h.assert_eq(c.version, 1)
      h.assert_eq(c.epoch, 7)
      h.assert_eq(math.type(c.epoch), "integer")
      check(c.rng == R.key(5), "rng key")
      -- model: every dtype, shapes, tree structure, scalars in the metadata
      assert_same_array(c.model.layers[1].weight, model.layers[1].weight, "layers.1.weight")
      assert_same_array(c.model.layers[1].bias, model.layers[1].bias, "layers.1.bias")
      assert_same_array(c.model.layers[2].weight, model.layers[2].weight, "layers.2.weight")
      for _, name in ipairs{"half", "brain", "counts", "ids", "pixels", "mask", "scalar"} do
         assert_same_array(c.model[name], model[name], name)
      end
      h.assert_eq(#c.model.layers, 2)
      h.assert_eq(c.model.units, 4)
      h.assert_eq(math.type(c.model.units), "integer")
      h.assert_eq(c.model.rate, 0.25)
      h.assert_eq(c.model.act, "tanh")
      h.assert_eq(c.model.frozen, false)
      -- optimizer
      h.assert_eq(c.optimizer.step, 3)
      h.assert_eq(math.type(c.optimizer.step), "integer")
      h.assert_eq(math.type(c.optimizer.lr), "float")
      h.assert_eq(c.optimizer.betas, {0.9, 0.999})
      assert_same_array(c.optimizer.state[1].v, optimizer.state[1].v, "state.1.v")
      assert_same_array(c.optimizer.state[2].m, optimizer.state[2].m, "state.2.m")
      -- extra
      local e = c.extra
      h.assert_eq(e.name, extra.name)
      h.assert_eq(e.tags, {"a", "b"})
      h.assert_eq(e.best, math.huge)
      h.assert_eq(e.worst, -math.huge)
      h.assert_eq(e.nested.deep.x, 1)
      h.assert_eq(math.type(e.nested.deep.x), "integer")
      h.assert_eq(e.nested.deep.y, 2.0)
      h.assert_eq(math.type(e.nested.deep.y), "float")
      h.assert_eq(e.nested.deep.z, true)
      h.assert_eq(e.nested.deep.w[2][2][1], 3.5)
      h.assert_eq(e.history, extra.history)
      h.assert_eq(e.sparse[1], "one")
      h.assert_eq(e.sparse[3], "three")
      h.assert_eq(e.sparse[2], nil)
      h.assert_eq(e.mixed[1], 10)
      h.assert_eq(e.mixed[2], 20)
      h.assert_eq(e.mixed.key, "v")
      h.assert_eq(next(e.empty), nil)
      h.assert_eq(e.dollar["$tensor"], "not a tensor")
      assert_same_array(e.arrays[1], extra.arrays[1], "extra arange")
      assert_same_array(e.arrays[2].inner, extra.arrays[2].inner, "extra eye")
      check(e.seed_key == R.key(99), "a key inside extra")
   end)
end

-- Tables nested deep (each level a non-sequence, the costliest JSON form).
function T.deep_extra()
   local function chain(n)
      local t = {leaf = ty.ones{1}}
      for _ = 1, n do t = {[2] = t, x = 1} end
      return t
   end
   with_file(function(path)
      ty.save_checkpoint(path, {extra = chain(58)})
      local e = ty.load_checkpoint(path).extra
      for _ = 1, 58 do e = e[2] end
      h.assert_eq(e.leaf:tolist(), {1})
      expect_error("nested deeper than 60 tables", ty.save_checkpoint, path,
                   {extra = chain(70)})
   end)
end

function T.fields_are_optional()
   with_file(function(path)
      ty.save_checkpoint(path, {epoch = 1.5})
      local c = ty.load_checkpoint(path)
      h.assert_eq(c.epoch, 1.5)
      h.assert_eq(math.type(c.epoch), "float")
      h.assert_eq(c.model, nil)
      h.assert_eq(c.rng, nil)
   end)
end

-- An object with state_dict / load_state_dict (as nn modules have).
local Box = {}
Box.__index = Box
function Box.new(w, b) return setmetatable({w = w, b = b, loads = 0}, Box) end
function Box:state_dict() return {weight = self.w, bias = self.b} end
function Box:load_state_dict(t)
   self.w, self.b = t.weight, t.bias
   self.loads = self.loads + 1
end

function T.state_dict_objects()
   with_file(function(path)
      local m = Box.new(ty.arange(6):reshape{2, 3}, ty.ones{3})
      local opt = {velocity = {ty.full({2}, 3)}, step = 10}
      ty.save_checkpoint(path, {model = m, optimizer = opt})
      local tensors = ty.load(path)
      check(ty.is_array(tensors["model/weight"]), "model/weight")
      local fresh = Box.new(nil, nil)
      local fresh_opt = {stale = true}
      local c = ty.load_checkpoint(path, {model = fresh, optimizer = fresh_opt})
      h.assert_eq(fresh.loads, 1)
      assert_same_array(fresh.w, m.w, "restored weight")
      assert_same_array(fresh.b, m.b, "restored bias")
      assert_same_array(c.model.weight, m.w, "returned tree")
      h.assert_eq(fresh_opt.stale, nil)
      h.assert_eq(fresh_opt.step, 10)
      assert_same_array(fresh_opt.velocity[1], opt.velocity[1], "plain table restored")
   end)
end

function T.rng_true_restores_the_global_key()
   with_file(function(path)
      R.seed(42)
      local _ = ty.rand{3}
      ty.save_checkpoint(path, {rng = true})
      local after = ty.rand{4}:tolist()
      local _ = ty.rand{10}
      local c = ty.load_checkpoint(path)
      h.assert_eq(ty.rand{4}:tolist(), after)
      check(ty.is_array(ty.rand{1}) and c.rng ~= nil, "rng returned")
      -- restore_rng=false leaves the global key alone
      local k = R.get_state()
      ty.load_checkpoint(path, {restore_rng = false})
      check(R.get_state() == k, "restore_rng=false")
   end)
end

------------------------------------------------------------------------ resuming

-- A two-layer network trained by gradient descent with momentum on random
-- minibatches drawn from the global key.
local N, DIN, DH = 64, 4, 8

local function data()
   local k = R.split(R.key(2024), 2)
   local x = R.normal({N, DIN}, {key = k[1]})
   local y = ty.sin(ty.matmul(x, R.normal({DIN, 1}, {key = k[2]})))
   return x, y
end

local function init_params()
   local k = R.split(R.key(11), 2)
   return {layers = {{w = R.normal({DIN, DH}, {key = k[1]}) * 0.5, b = ty.zeros{DH}},
                     {w = R.normal({DH, 1}, {key = k[2]}) * 0.5, b = ty.zeros{1}}}}
end

local function loss_fn(p, x, y)
   local hdn = ty.tanh(ty.matmul(x, p.layers[1].w) + p.layers[1].b)
   local err = ty.matmul(hdn, p.layers[2].w) + p.layers[2].b - y
   return (err * err):mean()
end

local step_fn = ty.value_and_grad(loss_fn)

-- Runs steps from..to; returns the losses, the params and the optimizer state.
local function train(params, opt, from, to, x, y)
   local losses = {}
   for s = from, to do
      local idx = R.randint(1, N, {16})
      local l, g = step_fn(params, x[idx], y[idx])
      opt.velocity = ty.tree.map(function(v, dp) return 0.9 * v + dp end, opt.velocity, g)
      params = ty.tree.map(function(p, v) return p - opt.lr * v end, params, opt.velocity)
      opt.step = opt.step + 1
      ty.eval(l, params, opt.velocity)
      losses[s] = l:item()
   end
   return losses, params, opt
end

function T.resume_reproduces_the_uninterrupted_run()
   local x, y = data()
   local function fresh_opt(params)
      return {lr = 0.05, step = 0,
              velocity = ty.tree.map(function(p) return ty.zeros_like(p) end, params)}
   end
   R.seed(77)
   local p0 = init_params()
   local straight = train(p0, fresh_opt(p0), 1, 6, x, y)

   with_file(function(path)
      R.seed(77)
      local p1 = init_params()
      local first, params, opt = train(p1, fresh_opt(p1), 1, 3, x, y)
      for s = 1, 3 do h.assert_eq(first[s], straight[s], "loss " .. s) end
      ty.save_checkpoint(path, {model = params, optimizer = opt, epoch = 3, rng = true})
      -- lose everything: other draws move the global key, fresh tables
      params, opt = nil, nil
      R.seed(999)
      local _ = ty.rand{100}
      local model, optim = {}, {}
      local c = ty.load_checkpoint(path, {model = model, optimizer = optim})
      h.assert_eq(c.epoch, 3)
      h.assert_eq(optim.step, 3)
      h.assert_eq(math.type(optim.step), "integer")
      local rest = train(model, optim, 4, 6, x, y)
      for s = 4, 6 do
         check(rest[s] == straight[s], string.format(
            "step %d: resumed loss %.9g, uninterrupted %.9g", s, rest[s], straight[s]))
      end
      check(straight[6] < straight[1], "the losses go down")
   end)
end

------------------------------------------------------------------------ errors

function T.save_errors()
   with_file(function(path)
      expect_error("unknown field 'epochs'", ty.save_checkpoint, path, {epochs = 1})
      expect_error("argument 2", ty.save_checkpoint, path, 5)
      expect_error("argument 1", ty.save_checkpoint, 5, {})
      expect_error("epoch must be a number", ty.save_checkpoint, path, {epoch = "3"})
      expect_error("rng must be true", ty.save_checkpoint, path, {rng = "yes"})
      expect_error("model.f: a function cannot be saved", ty.save_checkpoint, path,
                   {model = {f = print}})
      expect_error("extra.s: the string is not valid UTF%-8", ty.save_checkpoint, path,
                   {extra = {s = "\255"}})
      local cyc = {}
      cyc.again = cyc
      expect_error("cycle", ty.save_checkpoint, path, {extra = cyc})
      expect_error("two arrays get the tensor name \"model/a.b\"", ty.save_checkpoint, path,
                   {model = {["a.b"] = ty.ones{1}, a = {b = ty.ones{1}}}})
      expect_error("keys are integers or strings", ty.save_checkpoint, path,
                   {extra = {[true] = 1, x = 2}})
      h.assert_eq(io.open(path, "rb"), nil)     -- nothing was written
   end)
end

-- Writes a safetensors file whose "tycho.checkpoint" entry is `text`.
local function with_meta(path, text, tensors)
   ty.save(path, tensors or {x = ty.ones{2}}, {metadata = text and {["tycho.checkpoint"] = text}
                                                or {other = "1"}})
end

function T.malformed_checkpoints()
   with_file(function(path)
      with_meta(path, nil)
      expect_error("not a tycho checkpoint %(no 'tycho.checkpoint' metadata", ty.load_checkpoint,
                   path)
      ty.save(path, {x = ty.ones{2}})
      expect_error("not a tycho checkpoint", ty.load_checkpoint, path)
      with_meta(path, '{"format": "tycho.checkpoint", "version": 2}')
      expect_error("version 2 is not supported %(this tycho reads version 1%)",
                   ty.load_checkpoint, path)
      with_meta(path, '{"format": "tycho.checkpoint"}')
      expect_error("version nil is not supported", ty.load_checkpoint, path)
      with_meta(path, '{"format": "something else", "version": 1}')
      expect_error("not a tycho checkpoint %(format field is something else%)",
                   ty.load_checkpoint, path)
      with_meta(path, '[1, 2]')
      expect_error("not a tycho checkpoint", ty.load_checkpoint, path)
      with_meta(path, 'os.exit(3)')
      expect_error("metadata is not valid: invalid JSON", ty.load_checkpoint, path)
      with_meta(path, '{"format": "tycho.checkpoint", "version": 1,')
      expect_error("metadata is not valid: invalid JSON", ty.load_checkpoint, path)
      with_meta(path, '{"format": "tycho.checkpoint", "version": 1, ' ..
                      '"model": {"w": {"$tensor": "model/w"}}}')
      expect_error("names tensor \"model/w\" which the file lacks", ty.load_checkpoint, path)
      with_meta(path, '{"format": "tycho.checkpoint", "version": 1, ' ..
                      '"extra": {"a": {"$code": "print(1)"}}}')
      expect_error("unknown tag %$code", ty.load_checkpoint, path)
      with_meta(path, '{"format": "tycho.checkpoint", "version": 1, "rng": "xyz"}')
      expect_error("bad rng key", ty.load_checkpoint, path)
      with_meta(path, '{"format": "tycho.checkpoint", "version": 1, "epoch": "3"}')
      expect_error("epoch is not a number", ty.load_checkpoint, path)
      expect_error("unknown option 'modle'", ty.load_checkpoint, path, {modle = {}})
   end)
   expect_error("%[load_checkpoint%]", ty.load_checkpoint,
                DIR .. "/tycho_no_such_file.safetensors")
end

function T.truncated_file()
   with_file(function(path)
      ty.save_checkpoint(path, {model = sample_model(), epoch = 2, rng = true})
      local bytes = read_bytes(path)
      for _, keep in ipairs{#bytes - 1, #bytes // 2, 12, 4} do
         write_bytes(path, bytes:sub(1, keep))
         local ok, err = pcall(ty.load_checkpoint, path)
         check(not ok, "a file cut to " .. keep .. " bytes loads")
         check(err:find("[load_checkpoint]", 1, true) and err:find(path, 1, true),
               "the error names the file: " .. err)
      end
      write_bytes(path, bytes)
      h.assert_eq(ty.load_checkpoint(path).epoch, 2)
   end)
end

function T.documented()
   check(type(ty.__doc[ty.save_checkpoint]) == "string", "save_checkpoint doc")
   check(type(ty.__doc[ty.load_checkpoint]) == "string", "load_checkpoint doc")
end

return T
