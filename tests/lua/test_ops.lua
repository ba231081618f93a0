-- test_ops.lua -- every op of lua/ops.c against NumPy (tests/fixtures) or
-- hand-computed values; 1-based indices; views; error messages.
local ty = require "tycho"
local h = require "helpers"
local E = dofile("tests/fixtures/ops_expected.lua")

local close, eq, err = h.assert_close, h.assert_eq, h.assert_error
local X = {-2.5, -1.0, -0.3, 0.0, 0.5, 1.7, 3.0}
local A = {{1, -2, 3}, {4, 5, -6}}
local B = {2, -3, 0.5}
local M = {{3, 1, 4, 1}, {5, 9, 2, 6}, {5, 3, 5, 8}}
local function R() return ty.arange(1, 24, {dtype = "float32"}):reshape{2, 3, 4} * 0.5 - 3 end

local T = {}

-- creation ----------------------------------------------------------------

function T.zeros_ones_full_shapes_and_dtypes()
   eq(ty.zeros{2, 3}, {{0, 0, 0}, {0, 0, 0}})
   h.assert_shape(ty.zeros(2, 3), {2, 3})
   h.assert_dtype(ty.zeros(2, 3), "float32")
   h.assert_dtype(ty.ones({2}, "int32"), "int32")
   h.assert_dtype(ty.ones({2}, {dtype = "int64"}), "int64")
   eq(ty.full({2, 2}, 7), {{7, 7}, {7, 7}})
   eq(ty.full(3, true), {true, true, true})
   h.assert_dtype(ty.full({1}, 2.5, {dtype = "float64", device = "cpu"}), "float64")
   h.assert_shape(ty.zeros{}, {})
end

function T.like_constructors_follow_their_input()
   local x = ty.array({{1, 2}, {3, 4}}, "int32")
   eq(ty.zeros_like(x), {{0, 0}, {0, 0}})
   h.assert_dtype(ty.ones_like(x), "int32")
   h.assert_dtype(ty.ones_like(x, "float32"), "float32")
   eq(ty.full_like(x, 5), {{5, 5}, {5, 5}})
end

function T.arange_includes_the_end_like_lua_for()
   eq(ty.arange(5), {1, 2, 3, 4, 5})
   h.assert_dtype(ty.arange(5), "int32")
   eq(ty.arange(2, 6), {2, 3, 4, 5, 6})
   eq(ty.arange(10, 1, -3), {10, 7, 4, 1})
   eq(ty.arange(1, 10, 4), {1, 5, 9})
   eq(ty.arange(0), {})
   eq(ty.arange(3, 1), {})
   local f = ty.arange(0, 1, 0.1)
   h.assert_dtype(f, "float32")
   h.assert_shape(f, {11})
   close(f[11], 1.0)
   h.assert_shape(ty.arange(0, 0.3, 0.1), {4})
   h.assert_shape(ty.arange(1, 2, 0.3), {4})
   h.assert_dtype(ty.arange(1, 3, {dtype = "float32"}), "float32")
   close(ty.arange(0.5, 2), {0.5, 1.5})
end

function T.arange_errors()
   err(function() ty.arange(1, 5, 0) end, "[arange] step must not be zero")
   err(function() ty.arange() end, "[arange]")
end

function T.linspace_and_eye()
   close(ty.linspace(0, 1, 5), {0, 0.25, 0.5, 0.75, 1})
   h.assert_shape(ty.linspace(0, 1), {50})
   eq(ty.eye(3), {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}})
   eq(ty.eye(2, 3, {k = 1}), {{0, 1, 0}, {0, 0, 1}})
   h.assert_dtype(ty.eye(2, {dtype = "int32"}), "int32")
end

function T.shape_errors_name_the_function()
   err(function() ty.zeros{2, -1} end, "[zeros] shape entries must be non-negative")
   err(function() ty.ones("x") end, "[ones] shape must be a table")
   err(function() ty.zeros({2}, "complex") end, "[zeros] unknown dtype 'complex'")
end

-- elementwise -------------------------------------------------------------

function T.every_unary_op_matches_numpy()
   local x = ty.array(X)
   for name, expected in pairs(E.unary) do
      assert(ty[name], "missing ty." .. name)
      close(ty[name](x), expected, 2e-5, name)
      close(x[name](x), expected, 2e-5, name .. " (method)")
   end
end

function T.erfinv_inverts_erf()
   local y = ty.array{-0.9, -0.5, 0, 0.3, 0.99}
   close(ty.erf(ty.erfinv(y)), y, 1e-5)
end

function T.gelu_approximate_tanh_option()
   local x = ty.array(X)
   close(ty.gelu(x, {approximate = "tanh"}), E.unary.gelu_tanh, 2e-5)
   err(function() ty.gelu(x, {approximate = "fast"}) end, "[gelu] approximate must be")
end

function T.every_binary_op_matches_numpy_with_broadcasting()
   local a, b = ty.array(A), ty.array(B)
   for name, expected in pairs(E.binary) do
      assert(ty[name], "missing ty." .. name)
      close(ty[name](a, b), expected, 2e-5, name)
      close(a[name](a, b), expected, 2e-5, name .. " (method)")
   end
end

function T.binary_ops_accept_numbers_as_weak_scalars()
   local i = ty.array({1, 2, 3}, "int32")
   h.assert_dtype(ty.add(i, 1), "int32")
   h.assert_dtype(ty.add(1, i), "int32")
   h.assert_dtype(ty.mul(i, 0.5), "float32")
   eq(ty.sub(10, i), {9, 8, 7})
   eq(i:lt(2), {true, false, false})
   h.assert_dtype(ty.add(ty.array({1}, "float16"), 1.5), "float16")
   eq(ty.maximum(2, 5), 5)
end

function T.binary_shape_mismatch_is_an_error()
   err(function() ty.add(ty.ones{2, 3}, ty.ones{4}) end, "(2,3)")
end

function T.where_clip_astype()
   local x = ty.array{-2, -1, 0, 1, 2}
   eq(ty.where(x:gt(0), x, 0), {0, 0, 0, 1, 2})
   eq(ty.where(x:lt(0), -1, 1), {-1, -1, 1, 1, 1})
   eq(ty.clip(x, -1, 1), {-1, -1, 0, 1, 1})
   eq(x:clip(nil, 0), {-2, -1, 0, 0, 0})
   eq(ty.clip(x, 1), {1, 1, 1, 1, 2})
   local i = ty.astype(ty.array{1.7, -1.7}, "int32")
   h.assert_dtype(i, "int32")
   eq(i, {1, -1})
   h.assert_dtype(x:astype("bool"), "bool")
   err(function() ty.astype(x, "nope") end, "[astype] unknown dtype 'nope'")
end

function T.elementwise_on_non_contiguous_views()
   local a = ty.array(A)
   close(ty.exp(a.T), {{math.exp(1), math.exp(4)}, {math.exp(-2), math.exp(5)},
                       {math.exp(3), math.exp(-6)}}, 1e-5)
   close(ty.add(a.T, ty.array{10, 20}), {{11, 24}, {8, 25}, {13, 14}})
   close(ty.abs(a[{{}, {2, 3}}]), {{2, 3}, {5, 6}})
end

-- reductions --------------------------------------------------------------

function T.reductions_match_numpy()
   for name, ex in pairs(E.reductions) do
      if ty[name] then
         local r = R()
         close(ty[name](r), ex.all, 1e-4, name .. " all")
         close(r[name](r, 2), ex.axis2, 1e-4, name .. " axis 2")
         close(ty[name](r, {1, 3}), ex.axes13, 1e-4, name .. " axes {1,3}")
         close(ty[name](r, -1, true), ex.last_keep, 1e-4, name .. " keepdims")
         close(ty[name](r, {axis = -1, keepdims = true}), ex.last_keep, 1e-4,
               name .. " options")
      end
   end
end

function T.var_std_ddof()
   close(ty.var(R(), 2, {ddof = 1}), E.reductions.var_ddof1, 1e-4)
   close(R():std({ddof = 1}), E.reductions.std_ddof1, 1e-4)
end

function T.all_any_and_keepdims_shapes()
   local b = ty.array{{true, false}, {true, true}}
   eq(ty.all(b, 2), {false, true})
   eq(b:any(1), {true, true})
   eq(ty.all(b), false)
   h.assert_shape(ty.sum(ty.ones{2, 3, 4}, {1, 3}, true), {1, 3, 1})
   h.assert_shape(ty.ones{2, 3}:sum(true), {1, 1})
end

function T.reduction_axis_errors_are_one_based()
   local x = ty.ones{2, 3}
   err(function() x:sum(3) end, "[sum] axis 3 is out of range for shape (2,3)")
   err(function() x:sum(0) end, "axis 0 is invalid")
   err(function() x:mean(-3) end, "[mean] axis -3 is out of range")
   err(function() x:sum({1, 1}) end, "[sum] axis 1 repeated")
end

function T.argmax_argmin_are_one_based()
   local m = ty.array(M)
   eq(ty.argmax(m, 2), E.misc.argmax_axis2)
   eq(m:argmin(1), E.misc.argmin_axis1)
   eq(m:argmax(), E.misc.argmax_flat)
   h.assert_dtype(m:argmax(), "int32")
   h.assert_shape(m:argmax(2, true), {3, 1})
   h.assert_shape(m:argmax(nil, true), {1, 1})
   eq(ty.argmax(ty.array{1, 3, 3, 2}), 2)
end

function T.cumsum_cumprod()
   local m = ty.array(M)
   close(ty.cumsum(m, 2), E.misc.cumsum_axis2)
   close(m:cumprod(1), E.misc.cumprod_axis1)
   close(m:cumsum(2, {reverse = true}), E.misc.cumsum_rev)
   close(ty.cumsum(ty.array{{1, 2}, {3, 4}}), {1, 3, 6, 10})
end

function T.softmax_log_softmax()
   local m = ty.array(M)
   close(ty.softmax(m), E.misc.softmax, 1e-5)
   close(m:log_softmax(), E.misc.log_softmax, 1e-5)
   close(ty.softmax(m, 1), E.misc.softmax_axis1, 1e-5)
   close(ty.softmax(m, -1):sum(-1), {1, 1, 1}, 1e-5)
end

-- linear algebra and shapes ---------------------------------------------------

function T.matmul_2d_batched_and_views()
   local a = ty.arange(6, {dtype = "float32"}):reshape{2, 3}
   local b = ty.arange(12, {dtype = "float32"}):reshape{3, 4} / 4
   close(ty.matmul(a, b), E.misc.matmul, 1e-5)
   close(a:matmul(b), E.misc.matmul, 1e-5)
   close(a.T.T:matmul(b), E.misc.matmul_T, 1e-5)
   close(ty.matmul(ty.stack{a, a * 2}, b), E.misc.batched, 1e-5)
   close(ty.matmul(ty.array{1, 2}, ty.array{3, 4}), 11)
end

function T.matmul_error_names_shapes()
   err(function() ty.matmul(ty.ones{2, 3}, ty.ones{4, 5}) end,
       "[matmul] inner dimensions differ: (2,3) @ (4,5)")
end

function T.reshape_with_table_varargs_and_minus_one()
   local x = ty.arange(6)
   h.assert_shape(x:reshape{2, 3}, {2, 3})
   h.assert_shape(ty.reshape(x, 3, 2), {3, 2})
   h.assert_shape(x:reshape{-1, 2}, {3, 2})
   eq(x:reshape(2, 3), {{1, 2, 3}, {4, 5, 6}})
   err(function() x:reshape{4, 2} end, "[reshape] cannot reshape")
   err(function() x:reshape{-1, -1} end, "[reshape] at most one shape entry may be -1")
end

function T.transpose_permute_swapaxes()
   local x = ty.arange(24):reshape{2, 3, 4}
   h.assert_shape(x:transpose(), {4, 3, 2})
   h.assert_shape(x:transpose{2, 3, 1}, {3, 4, 2})
   h.assert_shape(ty.permute(x, 3, 1, 2), {4, 2, 3})
   h.assert_shape(x:transpose(1, 3), {4, 3, 2})
   h.assert_shape(x:swapaxes(1, 2), {3, 2, 4})
   eq(ty.arange(6):reshape{2, 3}:transpose{2, 1}, {{1, 4}, {2, 5}, {3, 6}})
   eq(x:permute{3, 1, 2}[{2, 1, 3}], x[{1, 3, 2}])
   err(function() x:transpose{1, 2} end, "[transpose] permutation has 2 axes for shape")
   err(function() x:permute{1, 1, 2} end, "[permute] axis 1 repeated")
end

function T.broadcast_squeeze_unsqueeze_flatten()
   eq(ty.broadcast_to(ty.array{1, 2}, {2, 2}), {{1, 2}, {1, 2}})
   local x = ty.zeros{1, 3, 1}
   h.assert_shape(x:squeeze(), {3})
   h.assert_shape(x:squeeze(1), {3, 1})
   h.assert_shape(x:squeeze{1, 3}, {3})
   h.assert_shape(ty.unsqueeze(ty.zeros{2, 3}, 1), {1, 2, 3})
   h.assert_shape(ty.expand_dims(ty.zeros{2, 3}, -1), {2, 3, 1})
   h.assert_shape(ty.zeros{2, 3}:unsqueeze(2), {2, 1, 3})
   h.assert_shape(ty.zeros{2, 3}:unsqueeze(3), {2, 3, 1})
   local y = ty.zeros{2, 3, 4, 5}
   h.assert_shape(y:flatten(), {120})
   h.assert_shape(y:flatten(2), {2, 60})
   h.assert_shape(y:flatten(2, 3), {2, 12, 5})
   err(function() ty.broadcast_to(ty.ones{3}, {2, 2}) end, "[broadcast_to] cannot broadcast")
   err(function() x:squeeze(2) end, "[squeeze]")
end

function T.concatenate_stack_split()
   local a, b = ty.array{{1, 2}}, ty.array{{3, 4}}
   eq(ty.concatenate{a, b}, {{1, 2}, {3, 4}})
   eq(ty.concatenate({a, b}, 2), {{1, 2, 3, 4}})
   eq(ty.cat({a, b}, -1), {{1, 2, 3, 4}})
   h.assert_shape(ty.stack{a, b}, {2, 1, 2})
   h.assert_shape(ty.stack({a, b}, -1), {1, 2, 2})
   local parts = ty.split(ty.arange(6), 3)
   assert(#parts == 3)
   eq(parts[3], {5, 6})
   parts = ty.arange(6):split{3, 5}          -- parts start at elements 3 and 5
   eq(parts[1], {1, 2})
   eq(parts[2], {3, 4})
   eq(parts[3], {5, 6})
   parts = ty.split(ty.arange(6):reshape{2, 3}, {2}, 2)
   eq(parts[1], {{1}, {4}})
   eq(parts[2], {{2, 3}, {5, 6}})
   err(function() ty.concatenate{} end, "[concatenate] expected a non-empty list")
   err(function() ty.concatenate{ty.ones{2}, ty.ones{2, 2}} end, "[concatenate]")
   err(function() ty.split(ty.arange(5), 2) end, "[split]")
end

function T.pad_repeat_tile_flip()
   local x = ty.array{{1, 2}, {3, 4}}
   eq(ty.pad(x, 1), {{0, 0, 0, 0}, {0, 1, 2, 0}, {0, 3, 4, 0}, {0, 0, 0, 0}})
   eq(x:pad({{0, 0}, {1, 2}}, {value = 9}), {{9, 1, 2, 9, 9}, {9, 3, 4, 9, 9}})
   eq(ty.pad(ty.array{1}, {2, 0}), {0, 0, 1})
   eq(ty.repeat_interleave(x, 2, 1), {{1, 2}, {1, 2}, {3, 4}, {3, 4}})
   eq(ty["repeat"](x, 2), {1, 1, 2, 2, 3, 3, 4, 4})
   eq(ty.tile(ty.array{1, 2}, 2), {1, 2, 1, 2})
   eq(x:tile{2, 1}, {{1, 2}, {3, 4}, {1, 2}, {3, 4}})
   eq(ty.flip(x), {{4, 3}, {2, 1}})
   eq(x:flip(2), {{2, 1}, {4, 3}})
   err(function() ty.pad(x, {{1, 1}, {1, 1}, {1, 1}}) end, "[pad] 3 width pairs given")
   err(function() ty.pad(x, -1) end, "[pad] widths must be >= 0")
end

function T.contiguous_keeps_values()
   local x = ty.arange(6):reshape{2, 3}.T
   eq(ty.contiguous(x), x)
   eq(x:contiguous(), {{1, 4}, {2, 5}, {3, 6}})
end

-- indexing and sorting ----------------------------------------------------

function T.take_is_one_based()
   local x = ty.array{{10, 20, 30}, {40, 50, 60}}
   eq(ty.take(x, {1, 6}), {10, 60})
   eq(x:take({3, 1}, 2), {{30, 10}, {60, 40}})
   eq(x:take(ty.array({2}, "int32"), 1), {{40, 50, 60}})
   eq(ty.take(x.T, {2}), {40})
end

function T.take_negative_index_counts_from_the_end()
   local x = ty.array{10, 20, 30}
   eq(x:take(-1), 30)
   eq(ty.take(x, {-3, -2}), {10, 20})
   err(function() x:take(0):eval() end, "out of range")
end

function T.take_along_axis_and_gather()
   local x = ty.array{{10, 20, 30}, {40, 50, 60}}
   local idx = ty.array({{3}, {1}}, "int32")
   eq(ty.take_along_axis(x, idx, 2), {{30}, {40}})
   eq(x:gather(idx, 2), {{30}, {40}})
   eq(ty.gather(x, 2, idx), {{30}, {40}})
   local order = ty.argsort(x, 2, true)
   eq(x:take_along_axis(order, 2), {{30, 20, 10}, {60, 50, 40}})
end

function T.scatter_add_is_one_based()
   local x = ty.zeros{2, 3}
   local idx = ty.array({{1, 1, 3}}, "int32")
   local src = ty.array{{1, 2, 3}}
   eq(ty.scatter_add(x, 2, idx, src), {{3, 0, 3}, {0, 0, 0}})
   eq(ty.scatter_add(ty.zeros{4}, 1, {1, 4, 4}, ty.array{1, 1, 1}), {1, 0, 0, 2})
end

function T.one_hot_labels_are_one_based()
   eq(ty.one_hot({1, 3}, 3), {{1, 0, 0}, {0, 0, 1}})
   h.assert_dtype(ty.one_hot({2}, 2), "float32")
   h.assert_dtype(ty.one_hot({2}, 2, {dtype = "bool"}), "bool")
   eq(ty.array({2, 1}, "int32"):one_hot(2), {{0, 1}, {1, 0}})
   err(function() ty.one_hot({1}, 0) end, "[one_hot] num_classes must be >= 1")
end

function T.sort_and_argsort()
   local m = ty.array(M)
   eq(ty.argsort(m), E.misc.argsort)
   eq(m:argsort(-1, {descending = true}), E.misc.argsort_desc)
   eq(m:argsort(-1, true), E.misc.argsort_desc)
   close(ty.sort(m, 1), E.misc.sort_axis1)
   close(ty.sort(ty.array{3, 1, 2}, {descending = true}), {3, 2, 1})
   close(ty.sort(m.T, 2), ty.sort(m, 1).T)
end

function T.topk_values_and_one_based_indices()
   local v, i = ty.topk(ty.array{1, 5, 3, 4}, 2)
   eq(v, {5, 4})
   eq(i, {2, 4})
   v, i = ty.array(M):topk(1, 1, {largest = false})
   eq(v, {{3, 1, 2, 1}})
   eq(i, {{1, 1, 2, 1}})
   err(function() ty.topk(ty.array{1, 2}, 3) end, "[topk] k = 3 is out of range")
end

function T.index_errors()
   err(function() ty.take(ty.array{1, 2}, {"a"}) end, "")
   err(function() ty.take(ty.array{1, 2}, {5}):eval() end, "")
end

-- eval --------------------------------------------------------------------

function T.eval_takes_trees_and_returns_its_arguments()
   local a, b = ty.ones{2} + 1, ty.zeros{3} * 2
   local t = {w = a, list = {b, {b}}, n = 3}
   local r1, r2 = ty.eval(t, a)
   assert(r1 == t and r2 == a)
   assert(ty.eval() == nil)
   t.self = t                                  -- cycles are fine
   ty.eval(t)
   eq(a, {2, 2})
end

function T.every_function_is_documented()
   local missing = {}
   for name, fn in pairs(ty) do
      if type(fn) == "function" and not ty.__doc[fn] then missing[#missing + 1] = name end
   end
   for name, fn in pairs(ty.random) do
      if type(fn) == "function" and not ty.__doc[fn] then
         missing[#missing + 1] = "random." .. name
      end
   end
   table.sort(missing)
   assert(#missing == 0, "undocumented: " .. table.concat(missing, ", "))
   assert(ty.__doc[ty.matmul]:find("^ty.matmul%(a, b%)"))
end

function T.released_arrays_raise_cleanly()
   local x = ty.ones{2}
   x:release()
   err(function() ty.exp(x) end, "attempt to use a released array")
   err(function() ty.add(x, 1) end, "attempt to use a released array")
end

-- options tables, axes as options, argument errors ---------------------------

function T.unknown_options_are_errors()
   local x = ty.ones{2, 3}
   err(function() x:sum(2, {keepdimz = true}) end,
       "[sum] unknown option 'keepdimz' (expected axis, keepdims)")
   err(function() x:var({ddoff = 1}) end,
       "[var] unknown option 'ddoff' (expected axis, keepdims, ddof)")
   err(function() ty.zeros({2}, {dtyp = "int32"}) end, "[zeros] unknown option 'dtyp'")
   err(function() ty.eye(2, {kk = 1}) end, "[eye] unknown option 'kk' (expected k, dtype, device)")
   err(function() ty.array({1}, {dtype = "int32", shape = {1}}) end,
       "[array] unknown option 'shape'")
   err(function() x:argmax({axis = 1, keepdim = true, foo = 1}) end,
       "[argmax] unknown option 'foo'")
   err(function() x:cumsum({axis = 1, revers = true}) end, "[cumsum] unknown option 'revers'")
   err(function() x:sort({descend = true}) end, "[sort] unknown option 'descend'")
   err(function() x:topk(1, {larg = false}) end, "[topk] unknown option 'larg'")
   err(function() x:softmax({axes = 1}) end, "[softmax] unknown option 'axes'")
   err(function() x:flip({axes = 1}) end, "[flip] unknown option 'axes' (expected axis)")
   err(function() x:pad(1, {valu = 3}) end, "[pad] unknown option 'valu'")
   err(function() x:exp({foo = 1}) end, "[exp] unknown option 'foo' (expected no options)")
   err(function() x:gelu({approx = "tanh"}) end, "[gelu] unknown option 'approx'")
   err(function() ty.one_hot({1}, 2, {device = "cpu"}) end, "[one_hot] unknown option 'device'")
   err(function() ty.set_printoptions{precison = 3} end, "[set_printoptions] unknown option")
   err(function() x:sum({keepdim = true, keepdims = true}) end,
       "[sum] options 'keepdims' and 'keepdim' are the same")
   err(function() x:sum(1, {axis = 2}) end, "[sum] axis given both")
end

function T.keepdim_and_dim_are_aliases()
   local x = ty.ones{2, 3}
   h.assert_shape(x:sum(2, {keepdim = true}), {2, 1})
   h.assert_shape(x:sum({dim = 2, keepdim = true}), {2, 1})
   h.assert_shape(ty.mean(x, {dim = 1}), {3})
   h.assert_shape(x:argmax({dim = 2, keepdim = true}), {2, 1})
   h.assert_shape(x:std({dim = 2, keepdim = true, ddof = 1}), {2, 1})
   eq(ty.array{{3, 1}, {2, 4}}:sort({dim = 1, descending = true}), {{3, 4}, {2, 1}})
   eq(ty.array{{1, 2}, {3, 4}}:cumsum({dim = 1}), {{1, 2}, {4, 6}})
end

function T.axis_option_wherever_an_axis_is_positional()
   local x = ty.array{{1, 2, 3}, {4, 5, 6}}
   eq(x:flip({axis = 2}), {{3, 2, 1}, {6, 5, 4}})
   eq(x:flip({dim = 1}), {{4, 5, 6}, {1, 2, 3}})
   eq(x:flip({axis = {1, 2}}), {{6, 5, 4}, {3, 2, 1}})
   h.assert_shape(ty.ones{1, 3, 1}:squeeze({axis = 3}), {1, 3})
   h.assert_shape(ty.ones{1, 3, 1}:squeeze({dim = 1}), {3, 1})
   h.assert_shape(ty.ones{3}:expand_dims({axis = 1}), {1, 3})
   h.assert_shape(ty.ones{3}:unsqueeze({dim = -1}), {3, 1})
   h.assert_shape(ty.concatenate({x, x}, {axis = 2}), {2, 6})
   h.assert_shape(ty.cat({x, x}, {dim = 2}), {2, 6})
   h.assert_shape(ty.stack({x, x}, {axis = 3}), {2, 3, 2})
   local parts = x:split(3, {axis = 2})
   eq(#parts, 3)
   eq(parts[2], {{2}, {5}})
   eq(ty.take(x, {3, 1}, {axis = 2}), {{3, 1}, {6, 4}})
   eq(ty.take_along_axis(x, ty.array({{2}, {1}}, "int32"), {axis = 2}), {{2}, {4}})
   eq(x:repeat_interleave(2, {axis = 1}):sum(1), {10, 14, 18})
   eq(x:softmax({dim = 1}):sum(1), {1, 1, 1})
   local v, i = ty.array{{1, 5, 3}}:topk(1, {dim = 2})
   eq(v, {{5}})
   eq(i, {{2}})
end

function T.argument_errors_name_the_function_and_the_argument()
   local x = ty.ones{2}
   err(function() x:astype() end, "[astype] argument 2 (dtype) must be a dtype name")
   err(function() ty.matmul(nil, x) end,
       "[matmul] argument 1 must be an array, a number or a table, got nil")
   err(function() x:matmul() end,
       "[matmul] argument 2 must be an array, a number or a table, got no value")
   err(function() x:sum(1, {keepdims = 1}) end,
       "[sum] option 'keepdims' must be a boolean, got number")
   err(function() ty.add(x, "x") end, "[add] argument 2 must be an array")
   err(function() x:repeat_interleave(-1) end, "[repeat_interleave] repeats must be >= 0, got -1")
   err(function() x:repeat_interleave("a") end,
       "[repeat_interleave] argument 2 (repeats) must be an integer")
   err(function() x:expand_dims(9) end, "[expand_dims] axis 9 is out of range")
   err(function() x:expand_dims() end, "[expand_dims] argument 2 (axis) is required")
   err(function() x:split(0) end, "[split] number of sections must be between 1 and")
   err(function() x:topk("a") end, "[topk] argument 2 (k) must be an integer")
   err(function() ty.linspace(0, "b") end, "[linspace] argument 2 (stop) must be a number")
   err(function() ty.one_hot({1}, 1.5) end,
       "[one_hot] argument 2 (num_classes) must be an integer, got 1.5")
end

function T.take_rejects_non_integer_indices()
   local x = ty.array{10, 20, 30}
   err(function() ty.take(x, {1.5}) end, "[take] indices must be integers, got 1.5")
   err(function() ty.take(x, {{1}, {2.25}}) end, "[take] indices must be integers, got 2.25")
   err(function() x:take_along_axis({0.5}, 1) end, "[take_along_axis] indices must be integers")
   eq(ty.take(x, {3.0, 1}), {30, 10})
   eq(ty.take(x, {-1}), {30})
end

function T.arange_picks_int64_past_int32()
   h.assert_dtype(ty.arange(1, 3), "int32")
   local big = ty.arange(1 << 40, (1 << 40) + 2)
   h.assert_dtype(big, "int64")
   eq(big, {1 << 40, (1 << 40) + 1, (1 << 40) + 2})
   h.assert_dtype(ty.arange(2147483646, 2147483648), "int64")
   h.assert_dtype(ty.arange(-(1 << 33), -(1 << 33) + 1), "int64")
   h.assert_dtype(ty.arange(1, 3, {dtype = "int32"}), "int32")
end

return T
