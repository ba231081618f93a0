-- test_array.lua -- the array userdata: construction, fields, operators with
-- weak scalars, indexing, assignment, printing and lifetime.
local ty = require "tycho"
local h = require "helpers"

local eq, close, err = h.assert_eq, h.assert_close, h.assert_error
local shape, dtype = h.assert_shape, h.assert_dtype

local function i32(t) return ty.array(t, "int32") end

-- Runs fn with print options opts, restoring the previous ones.
local function with_printoptions(opts, fn)
   local saved = ty.get_printoptions()
   ty.set_printoptions(opts)
   local ok, e = pcall(fn)
   ty.set_printoptions(saved)
   if not ok then error(e, 0) end
end

local function str_eq(got, expected)
   if got ~= expected then
      error("got:\n" .. got .. "\nexpected:\n" .. expected, 2)
   end
end

local T = {}

---------------------------------------------------------------- construction

function T.array_from_nested_numbers_is_float32()
   local x = ty.array{{1, 2, 3}, {4, 5, 6}}
   dtype(x, "float32")
   shape(x, {2, 3})
   eq(x, {{1, 2, 3}, {4, 5, 6}})
end

function T.array_dtype_as_string_or_options()
   dtype(ty.array({1, 2}, "int32"), "int32")
   dtype(ty.array({1, 2}, {dtype = "int64"}), "int64")
   dtype(ty.array({1, 2}, {dtype = "uint8", device = "cpu"}), "uint8")
   dtype(ty.array({1.5}, {dtype = "float64", device = "cpu"}), "float64")
   eq(ty.array({1.9, -2.9}, "int32"), {1, -2})
end

function T.array_of_booleans_is_bool()
   local b = ty.array{{true, false}, {false, true}}
   dtype(b, "bool")
   eq(b, {{true, false}, {false, true}})
end

function T.array_from_number_is_0d()
   local x = ty.array(2.5)
   shape(x, {})
   eq(x.ndim, 0)
   eq(x:item(), 2.5)
   dtype(ty.array(3), "float32")
   dtype(ty.array(3, "int32"), "int32")
   dtype(ty.array(true), "bool")
end

function T.array_of_array_copies_and_casts()
   local x = i32{1, 2, 3}
   local y = ty.array(x)
   dtype(y, "int32")
   eq(y, {1, 2, 3})
   local f = ty.array(x, "float32")
   dtype(f, "float32")
   eq(f, {1, 2, 3})
   y[1] = 10
   eq(x, {1, 2, 3})
end

function T.array_empty_tables()
   shape(ty.array{}, {0})
   shape(ty.array{{}, {}}, {2, 0})
end

function T.array_large_int64_values_are_exact()
   local big = 1 << 40
   eq(ty.array({big + 1}, "int64"):item(), big + 1)
   eq((ty.array({1}, "int64") + big):tolist(), {big + 1})
end

function T.array_ragged_table_is_an_error()
   err(function() return ty.array{{1, 2}, {3}} end,
      "[array] ragged nested table at [2]: expected 2 elements, got 1")
   err(function() return ty.array{{1, 2}, 3} end, "[array] ragged nested table at [2]")
   err(function() return ty.array{1, {2}} end, "[array] ragged nested table at [2]")
   err(function() return ty.array{{{1}, {2}}, {{3}, {4, 5}}} end,
      "[array] ragged nested table at [2][2]: expected 1 elements, got 2")
end

function T.array_bad_values_are_errors()
   err(function() return ty.array{1, "a"} end, "[array] expected a number at [2], got string")
   err(function() return ty.array{true, 1} end, "[array] expected a boolean at [2]")
   err(function() return ty.array("x") end, "[array] cannot convert a string")
   err(function() return ty.array({1}, "float33") end, "unknown dtype 'float33'")
end

function T.asarray_returns_the_same_array_when_possible()
   local x = i32{1, 2}
   assert(ty.asarray(x) == x)
   assert(ty.asarray(x, "int32") == x)
   local f = ty.asarray(x, "float32")
   assert(f ~= x)
   dtype(f, "float32")
   dtype(ty.asarray{1, 2}, "float32")
end

function T.is_array()
   assert(ty.is_array(ty.array{1}))
   assert(not ty.is_array(1))
   assert(not ty.is_array({}))
   assert(not ty.is_array(nil))
end

---------------------------------------------------------------- fields

function T.fields_shape_dtype_ndim_size_device()
   local x = ty.array{{1, 2, 3}, {4, 5, 6}}
   eq(x.shape, {2, 3})
   eq(x.dtype, "float32")
   eq(x.ndim, 2)
   eq(x.size, 6)
   eq(x.device, ty.default_device())
   eq(#x, 2)
   eq(x.itemsize, 4)
   eq(x.nbytes, 24)
   eq(x.unknown_field, nil)
end

function T.shape_is_a_fresh_table()
   local x = ty.array{1, 2}
   local s = x.shape
   s[1] = 99
   eq(x.shape, {2})
end

function T.transpose_field()
   local x = ty.array{{1, 2, 3}, {4, 5, 6}}
   shape(x.T, {3, 2})
   eq(x.T, {{1, 4}, {2, 5}, {3, 6}})
end

function T.len_of_0d_is_an_error()
   err(function() return #ty.array(1) end, "[len] length of a 0-d array")
end

function T.methods_are_listed_in_metatable()
   local methods = getmetatable(ty.array{1}).__methods
   for _, name in ipairs{"item", "tolist", "eval", "copy", "astype"} do
      assert(type(methods[name]) == "function", name)
   end
end

function T.fields_cannot_be_assigned()
   local x = ty.array{1}
   err(function() x.shape = {2} end, "[index] cannot set field 'shape'")
end

---------------------------------------------------------------- values

function T.item_types_follow_dtype()
   eq(math.type(i32{7}:item()), "integer")
   eq(i32{7}:item(), 7)
   eq(math.type(ty.array{7}:item()), "float")
   eq(ty.array{true}:item(), true)
   err(function() return ty.array{1, 2}:item() end,
      "[item] expected an array of one element, got shape (2,)")
end

function T.tolist_types_follow_dtype()
   local t = i32{{1, 2}, {3, 4}}:tolist()
   eq(math.type(t[2][1]), "integer")
   eq(t, {{1, 2}, {3, 4}})
   eq(ty.array{true, false}:tolist(), {true, false})
   eq(ty.array(1.5):tolist(), 1.5)
end

function T.eval_returns_self()
   local x = ty.array{1, 2} + 1
   assert(x:eval() == x)
end

function T.copy_is_independent()
   local x = i32{1, 2, 3}
   local y = x:copy()
   y[2] = 0
   eq(x, {1, 2, 3})
   eq(y, {1, 0, 3})
end

---------------------------------------------------------------- operators

function T.operators_with_arrays()
   local a = ty.array{1, 2, 3}
   local b = ty.array{4, 5, 6}
   eq(a + b, {5, 7, 9})
   eq(b - a, {3, 3, 3})
   eq(a * b, {4, 10, 18})
   eq(b / a, {4, 2.5, 2})
   eq(-a, {-1, -2, -3})
   eq(a ^ 2, {1, 4, 9})
end

function T.operators_with_numbers_on_either_side()
   local a = i32{1, 2, 3}
   eq(a + 1, {2, 3, 4})
   eq(1 + a, {2, 3, 4})
   eq(10 - a, {9, 8, 7})
   eq(a - 10, {-9, -8, -7})
   eq(2 * a, {2, 4, 6})
   eq(2 ^ a, {2, 4, 8})
   eq(a // 2, {0, 1, 1})
   eq(7 // a, {7, 3, 2})
   eq(a % 2, {1, 0, 1})
   eq(-7 % i32{3}, {2})
   eq(i32{-7} // 2, {-4})
end

function T.broadcasting_operators()
   local x = ty.array{{1, 2, 3}, {4, 5, 6}}
   eq(x + ty.array{10, 20, 30}, {{11, 22, 33}, {14, 25, 36}})
   err(function() return x + ty.array{1, 2} end, "(2,3)")
end

function T.weak_scalars_keep_float_dtypes()
   dtype(ty.array({1}, "float16") + 1.5, "float16")
   dtype(2 * ty.array({1}, "bfloat16"), "bfloat16")
   dtype(ty.array{1} + 1, "float32")
   dtype(ty.array({1}, {dtype = "float64", device = "cpu"}) * 2, "float64")
end

function T.weak_scalars_with_integer_arrays()
   dtype(i32{1} + 1, "int32")
   dtype(ty.array({1}, "int64") + 1, "int64")
   dtype(ty.array({1}, "uint8") + 1, "uint8")
   dtype(i32{1} + 1.5, "float32")
   eq(i32{1} + 1.5, {2.5})
   dtype(1.0 * i32{1}, "float32")
end

function T.weak_scalars_with_bool_arrays()
   dtype(ty.array{true, false} + 1, "int32")
   eq(ty.array{true, false} + 1, {2, 1})
   dtype(ty.array{true} * 0.5, "float32")
end

function T.division_of_integers_is_float32()
   dtype(i32{1, 2} / 2, "float32")
   eq(i32{1, 2} / 2, {0.5, 1})
   dtype(i32{7} // 2, "int32")
end

function T.operators_on_non_numbers_are_errors()
   local x = ty.array{1}
   err(function() return x + "a" end, "[add] cannot combine an array with a string")
   err(function() return x .. x end, "[concat]")
end

function T.equality_is_identity()
   local x = ty.array{1}
   local y = ty.array{1}
   assert(x == x)
   assert(x ~= y)
end

---------------------------------------------------------------- indexing

local function m23() return i32{{1, 2, 3}, {4, 5, 6}} end

function T.index_integer_selects_a_row()
   local x = m23()
   eq(x[1], {1, 2, 3})
   eq(x[2], {4, 5, 6})
   eq(x[-1], {4, 5, 6})
   eq(x[-2], {1, 2, 3})
   shape(x[1], {3})
   eq(x[{1}], {1, 2, 3})
end

function T.index_element_is_0d()
   local x = m23()
   local e = x[{2, 3}]
   shape(e, {})
   eq(e:item(), 6)
   eq(x[{-1, -1}]:item(), 6)
   eq(x[1][2]:item(), 2)
   eq(x[{1.0, 2.0}]:item(), 2)
end

function T.index_inclusive_ranges()
   local x = m23()
   eq(x[{{1, 2}, {2, 3}}], {{2, 3}, {5, 6}})
   eq(x[{{}, 2}], {2, 5})
   eq(x[{{}, {2}}], {{2, 3}, {5, 6}})
   eq(x[{{2, 2}}], {{4, 5, 6}})
   eq(x[{{}, {-2, -1}}], {{2, 3}, {5, 6}})
   shape(x[{{}, {3, 2}}], {2, 0})
end

function T.index_ranges_clamp_like_string_sub()
   local x = m23()
   eq(x[{{}, {2, 10}}], {{2, 3}, {5, 6}})
   shape(x[{{5, 6}}], {0, 3})
end

function T.index_steps_and_reversal()
   local v = i32{1, 2, 3, 4, 5}
   eq(v[{{1, -1, 2}}], {1, 3, 5})
   eq(v[{{2, 5, 2}}], {2, 4})
   eq(v[{{4, 1, -1}}], {4, 3, 2, 1})
   eq(v[{{-1, 1, -1}}], {5, 4, 3, 2, 1})
   eq(v[{{nil, nil, -2}}], {5, 3, 1})
   eq(m23()[{{}, {3, 1, -1}}], {{3, 2, 1}, {6, 5, 4}})
end

function T.index_missing_trailing_means_all()
   local x = ty.arange(24):reshape{2, 3, 4}
   shape(x[{2}], {3, 4})
   shape(x[{2, {1, 2}}], {2, 4})
   eq(x[{2, 3}], {21, 22, 23, 24})
end

function T.index_out_of_range_is_an_error()
   local x = i32{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}
   err(function() return x[{1, 5}] end,
      "[index] index 5 is out of range for axis 2 of size 3")
   err(function() return x[4] end, "[index] index 4 is out of range for axis 1 of size 3")
   err(function() return x[0] end, "[index] index 0 is out of range for axis 1 of size 3")
   err(function() return x[-4] end, "[index] index -4 is out of range for axis 1 of size 3")
end

function T.index_errors()
   local x = m23()
   err(function() return x[{1, 1, 1}] end,
      "[index] too many indices (3) for an array of shape (2,3)")
   err(function() return x[1.5] end, "[index] index 1.5 for axis 1 is not an integer")
   err(function() return x[{{1, 2, 0}}] end, "[index] range step for axis 1 cannot be 0")
   err(function() return x[{{1, 2, 3, 4}}] end, "has more than 3 entries")
   err(function() return x[{true}] end, "[index] invalid index of type boolean for axis 1")
   err(function() return ty.array(1)[1] end, "[index] cannot index a 0-d array")
end

function T.index_boolean_mask()
   local x = m23()
   local m = ty.array{{true, false, true}, {false, false, true}}
   eq(x[m], {1, 3, 6})
   shape(x[ty.array{{false, false, false}, {false, false, false}}], {0})
   eq(x[ty.array{false, true}], {{4, 5, 6}})
   err(function() return x[ty.array{true, false, true}] end,
      "[index] boolean mask of shape (3,) does not match an array of shape (2,3)")
end

function T.index_integer_arrays_are_1_based()
   local x = m23()
   eq(x[i32{2, 1, 2}], {{4, 5, 6}, {1, 2, 3}, {4, 5, 6}})
   eq(x[{{}, i32{3, 1}}], {{3, 1}, {6, 4}})
   eq(x[{2, i32{3, 1}}], {6, 4})
   eq(x[{{}, ty.array{true, false, true}}], {{1, 3}, {4, 6}})
   err(function() return x[ty.array{1.0}] end,
      "[index] index arrays must have an integer or bool dtype, got float32")
end

---------------------------------------------------------------- assignment

function T.assign_row_keeps_derived_arrays()
   local x = m23()
   local row = x[1]
   local before = x
   local doubled = x * 2
   x[1] = 0
   eq(x, {{0, 0, 0}, {4, 5, 6}})
   eq(row, {1, 2, 3})
   eq(doubled, {{2, 4, 6}, {8, 10, 12}})
   assert(before == x)   -- the same Lua value (box), now holding new data
end

function T.assign_element_and_ranges()
   local x = m23()
   x[{2, 3}] = 9
   eq(x, {{1, 2, 3}, {4, 5, 9}})
   x[{{}, 2}] = {7, 8}
   eq(x, {{1, 7, 3}, {4, 8, 9}})
   x[{{}, {1, 3, 2}}] = 0
   eq(x, {{0, 7, 0}, {0, 8, 0}})
   x[2] = i32{1, 2, 3}
   eq(x, {{0, 7, 0}, {1, 2, 3}})
   x[{{}, {3, 1, -1}}] = {{1, 2, 3}, {4, 5, 6}}
   eq(x, {{3, 2, 1}, {6, 5, 4}})
end

function T.assign_keeps_dtype()
   local x = m23()
   x[1] = 1.7
   dtype(x, "int32")
   eq(x[1], {1, 1, 1})
   local f = ty.array{1, 2}
   f[1] = 0.25
   eq(f, {0.25, 2})
end

function T.assign_shape_mismatch_is_an_error()
   local x = m23()
   err(function() x[1] = {1, 2} end,
      "[index] cannot assign a value of shape (2,) to a selection of shape (3,)")
   err(function() x[1] = nil end, "[index] cannot assign nil")
   eq(x, {{1, 2, 3}, {4, 5, 6}})
end

function T.assign_boolean_mask()
   local x = m23()
   local old = x
   local y = x + 0
   local m = ty.array{{true, false, true}, {false, false, true}}
   x[m] = -1
   eq(x, {{-1, 2, -1}, {4, 5, -1}})
   x[m] = i32{10, 20, 30}
   eq(x, {{10, 2, 20}, {4, 5, 30}})
   eq(y, {{1, 2, 3}, {4, 5, 6}})
   assert(old == x)
end

function T.assign_integer_array_index()
   local x = m23()
   x[{{}, i32{3, 1}}] = i32{{30, 10}, {60, 40}}
   eq(x, {{10, 2, 30}, {40, 5, 60}})
   x[i32{2}] = 0
   eq(x, {{10, 2, 30}, {0, 0, 0}})
   local b = ty.array{true, true, true}
   b[i32{2}] = false
   eq(b, {true, false, true})
end

---------------------------------------------------------------- printing

function T.tostring_int_matrix()
   str_eq(tostring(m23()),
      "array([[1, 2, 3],\n" ..
      "       [4, 5, 6]], shape=(2,3), dtype=int32)")
end

function T.tostring_floats()
   str_eq(tostring(ty.array{1, 2.5, -3.25}),
      "array([ 1.  ,  2.5 , -3.25], shape=(3,), dtype=float32)")
   str_eq(tostring(ty.array{{1, 2}, {3, 4}}),
      "array([[1., 2.],\n       [3., 4.]], shape=(2,2), dtype=float32)")
   str_eq(tostring(ty.array{1 / 3, 2 / 3}),
      "array([0.3333, 0.6667], shape=(2,), dtype=float32)")
   str_eq(tostring(ty.array{0.1, 0.2, 0.3}),
      "array([0.1, 0.2, 0.3], shape=(3,), dtype=float32)")
end

function T.tostring_scientific()
   str_eq(tostring(ty.array{1e-5, 1.5}),
      "array([1.0e-05, 1.5e+00], shape=(2,), dtype=float32)")
   str_eq(tostring(ty.array{1e10, 1, -5}),
      "array([ 1.e+10,  1.e+00, -5.e+00], shape=(3,), dtype=float32)")
end

function T.tostring_nan_inf()
   str_eq(tostring(ty.array{0 / 0, 1 / 0, -1 / 0, 1}),
      "array([ nan,  inf, -inf,   1.], shape=(4,), dtype=float32)")
end

function T.tostring_bools()
   str_eq(tostring(ty.array{true, false}),
      "array([ true, false], shape=(2,), dtype=bool)")
   str_eq(tostring(ty.array(true)), "array(true, dtype=bool)")
end

function T.tostring_0d()
   str_eq(tostring(i32{5}[1]), "array(5, dtype=int32)")
   str_eq(tostring(ty.array(1.5)), "array(1.5, dtype=float32)")
   str_eq(tostring(ty.array(2)), "array(2., dtype=float32)")
end

function T.tostring_empty()
   str_eq(tostring(ty.array{}), "array([], shape=(0,), dtype=float32)")
   str_eq(tostring(ty.array{{}, {}}), "array([], shape=(2,0), dtype=float32)")
end

function T.tostring_summarised_1d()
   str_eq(tostring(ty.arange(2000)),
      "array([   1,    2,    3, ..., 1998, 1999, 2000], shape=(2000,), dtype=int32)")
end

function T.tostring_summarised_2d()
   local x = ty.arange(3000):reshape{30, 100}
   str_eq(tostring(x),
      "array([[   1,    2,    3, ...,   98,   99,  100],\n" ..
      "       [ 101,  102,  103, ...,  198,  199,  200],\n" ..
      "       [ 201,  202,  203, ...,  298,  299,  300],\n" ..
      "       ...,\n" ..
      "       [2701, 2702, 2703, ..., 2798, 2799, 2800],\n" ..
      "       [2801, 2802, 2803, ..., 2898, 2899, 2900],\n" ..
      "       [2901, 2902, 2903, ..., 2998, 2999, 3000]], shape=(30,100), dtype=int32)")
end

function T.tostring_3d_has_blank_lines()
   str_eq(tostring(ty.arange(8):reshape{2, 2, 2}),
      "array([[[1, 2],\n" ..
      "        [3, 4]],\n" ..
      "\n" ..
      "       [[5, 6],\n" ..
      "        [7, 8]]], shape=(2,2,2), dtype=int32)")
end

function T.tostring_wraps_long_rows()
   str_eq(tostring(ty.arange(30)),
      "array([ 1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17, 18,\n" ..
      "       19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30],\n" ..
      "      shape=(30,), dtype=int32)")
end

function T.printoptions_roundtrip_and_effect()
   local o = ty.get_printoptions()
   eq(o.precision, 4)
   eq(o.threshold, 1000)
   eq(o.edgeitems, 3)
   eq(o.linewidth, 80)
   with_printoptions({precision = 2, threshold = 5, edgeitems = 1}, function()
      str_eq(tostring(ty.array{1 / 3, 2 / 3}),
         "array([0.33, 0.67], shape=(2,), dtype=float32)")
      str_eq(tostring(ty.arange(10)), "array([ 1, ..., 10], shape=(10,), dtype=int32)")
   end)
   eq(ty.get_printoptions().precision, 4)
   err(function() ty.set_printoptions{precison = 3} end, "unknown option 'precison'")
   err(function() ty.set_printoptions{edgeitems = 0} end, "edgeitems must be an integer")
end

---------------------------------------------------------------- lifetime

function T.use_after_close_is_an_error()
   local y
   do
      local x <close> = ty.array{1, 2}
      y = x
   end
   err(function() return y + 1 end, "attempt to use a released array")
   err(function() return y.shape end, "attempt to use a released array")
   err(function() return y[1] end, "attempt to use a released array")
   err(function() return y:item() end, "attempt to use a released array")
   eq(tostring(y), "array(<released>)")
end

function T.use_after_gc_is_an_error()
   local x = ty.array{1, 2}
   getmetatable(x).__gc(x)
   err(function() return x * 2 end, "attempt to use a released array")
   err(function() return #x end, "attempt to use a released array")
   getmetatable(x).__gc(x)   -- releasing twice is harmless
end

function T.release_method()
   local x = ty.array{1}
   local y = x + 1
   x:release()
   err(function() return x + 1 end, "attempt to use a released array")
   eq(y, {2})
end

function T.integer_scalars_out_of_range_widen()
   local big = 1 << 40
   local r = i32{1} + big
   dtype(r, "int64")
   eq(r, {big + 1})
   dtype(big + i32{1}, "int64")
   dtype(i32{1} + 5, "int32")                  -- a scalar that fits stays weak
   dtype(i32{1} * -(1 << 31), "int32")
   dtype(i32{1} * (1 << 31), "int64")
   local u = ty.array({250}, "uint8")
   dtype(u + 3, "uint8")
   dtype(u + 300, "int32")
   eq(u + 300, {550})
   dtype(u + (-1), "int32")
   eq(u + (-1), {249})
   local b = ty.array{true, false}
   dtype(b + 1, "int32")
   dtype(b + big, "int64")
   dtype(ty.array({1}, "int64") + big, "int64")
   dtype(ty.add(i32{1}, big), "int64")
   dtype(ty.maximum(i32{1}, big), "int64")
end

function T.frombuffer_checks_the_byte_count()
   err(function() ty.frombuffer("abcde", "float32") end,
       "[frombuffer] 5 bytes are not a multiple of the float32 item size (4)")
   local x = ty.frombuffer("abcde", "float32", {1})    -- a shape reads a prefix
   h.assert_shape(x, {1})
   h.assert_shape(ty.frombuffer("abcdefgh", "uint8", {-1}), {8})
   h.assert_shape(ty.frombuffer("abcdefgh", "uint8", {2, -1}), {2, 4})
   h.assert_shape(ty.frombuffer("abcdefgh", "int32", {-1}, {offset = 4}), {1})
   err(function() ty.frombuffer("abcdefgh", "uint8", {3, -1}) end,
       "[frombuffer] cannot infer the -1 entry")
   err(function() ty.frombuffer("abcd", "uint8", {-2}) end, "[frombuffer] shape entries")
   err(function() ty.frombuffer("abcd", "uint8", nil, {ofset = 1}) end,
       "[frombuffer] unknown option 'ofset'")
   eq(ty.frombuffer("abcd", "uint8", nil, {offset = 2}), {99, 100})
   eq(ty.frombuffer("abcd", {offset = 3}), {100})
end

function T.empty_arrays_to_lists()
   h.assert_eq(ty.zeros{2, 0}:tolist(), {{}, {}})
   h.assert_eq(#ty.zeros({2, 0, 3}, {dtype = "float64"}):tolist()[1], 0)
   h.assert_eq(ty.zeros{0}:tolist(), {})
end

function T.zero_index_hints_at_one_based_indices()
   h.assert_error(function() ty.take(ty.arange(5), ty.array({0, 2}, "int32")):eval() end,
                  "index 0 is out of range for axis 1 of size 5; indices count from 1")
   h.assert_error(function()
      ty.losses.cross_entropy(ty.zeros{2, 3}, ty.array({0, 1}, "int32")):eval()
   end, "indices count from 1")
end

return T
