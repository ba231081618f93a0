-- test_random.lua -- ty.random: keys, determinism, bounds and moments.
local ty = require "tycho"
local h = require "helpers"

local close, eq, err = h.assert_close, h.assert_eq, h.assert_error
local R = ty.random
local N = 100000

local T = {}

local function same(a, b) return ty.all(ty.eq(a, b)):item() end

function T.same_key_gives_same_values()
   local k = R.key(42)
   assert(same(R.uniform({100}, {key = k}), R.uniform({100}, {key = k})))
   assert(same(R.normal({100}, {key = k}), R.normal({100}, {key = k})))
   assert(same(R.randint(1, 6, {100}, {key = k}), R.randint(1, 6, {100}, {key = k})))
   assert(same(R.permutation(50, {key = k}), R.permutation(50, {key = k})))
end

function T.different_keys_give_different_values()
   local a = R.uniform({100}, {key = R.key(1)})
   local b = R.uniform({100}, {key = R.key(2)})
   assert(not same(a, b))
end

function T.keys_print_and_compare()
   local k = R.key(3)
   assert(tostring(k):match("^Key%(0x%x+, 0x%x+%)$"), tostring(k))
   assert(k == R.key(3))
   assert(k ~= R.key(4))
end

function T.split_gives_distinct_keys()
   local keys = R.split(R.key(0))
   assert(#keys == 2)
   assert(keys[1] ~= keys[2])
   local four = R.split(R.key(0), 4)
   assert(#four == 4)
   assert(not same(R.uniform({8}, {key = four[3]}), R.uniform({8}, {key = four[4]})))
   err(function() R.split(R.key(0), 0) end,
       "[split] number of keys must be between 1 and 1048576, got 0")
   err(function() R.split(5) end, "[split] expected a key")
end

function T.seed_makes_global_draws_reproducible()
   R.seed(7)
   local a, b = ty.rand{10}, ty.rand{10}
   R.seed(7)
   local c = ty.rand{10}
   assert(same(a, c))
   assert(not same(a, b))
end

function T.uniform_range_dtype_and_mean()
   local u = R.uniform({N}, {key = R.key(5)})
   h.assert_dtype(u, "float32")
   assert(u:min():item() >= 0 and u:max():item() < 1)
   close(u:mean(), 0.5, 0.01)
   local v = R.uniform({N}, {low = -2, high = 4, key = R.key(6)})
   assert(v:min():item() >= -2 and v:max():item() < 4)
   close(v:mean(), 1, 0.02)
   h.assert_shape(ty.rand(2, 3), {2, 3})
   h.assert_shape(ty.rand{4}, {4})
   h.assert_dtype(R.uniform({2}, {dtype = "float64"}), "float64")
   err(function() R.uniform({2}, {low = 2, high = 1}) end, "[uniform] low 2 is greater")
   err(function() R.uniform({2}, {dtype = "int32"}) end, "[uniform] dtype must be a float")
end

function T.normal_mean_and_std()
   local z = R.normal({N}, {key = R.key(8)})
   close(z:mean(), 0, 0.01)
   close(z:std(), 1, 0.01)
   local w = ty.randn({N}, {mean = 2, std = 3, key = R.key(9)})
   close(w:mean(), 2, 0.02)
   close(w:std(), 3, 0.01)
end

function T.randint_includes_both_bounds()
   local r = R.randint(-2, 3, {10000}, {key = R.key(10)})
   h.assert_dtype(r, "int32")
   eq(r:min(), -2)
   eq(r:max(), 3)
   local counts = ty.one_hot(r + 3, 6):sum(1)
   assert(ty.all(counts:gt(1400)):item(), "every value drawn about 1/6 of the time")
   eq(R.randint(5, 5, {3}), {5, 5, 5})
   h.assert_dtype(R.randint(0, 1, {2}, {dtype = "int64"}), "int64")
   err(function() R.randint(3, 1, {2}) end, "[randint] low 3 is greater than high 1")
end

function T.permutation_is_a_shuffle_of_one_to_n()
   local p = R.permutation(20, {key = R.key(11)})
   eq(ty.sort(p), ty.arange(20))
   assert(not same(p, ty.arange(20)))
   local x = ty.arange(12):reshape{4, 3}
   local s = R.permutation(x, {key = R.key(12)})
   h.assert_shape(s, {4, 3})
   eq(ty.sort(s[{{}, 1}]), {1, 4, 7, 10})
   eq(s[{{}, 2}] - s[{{}, 1}], {1, 1, 1, 1})
   h.assert_shape(R.permutation(0), {0})
end

function T.bernoulli_frequency()
   local b = R.bernoulli(0.3, {N}, {key = R.key(13)})
   h.assert_dtype(b, "bool")
   close(b:astype("float32"):mean(), 0.3, 0.01)
   err(function() R.bernoulli(1.5, {2}) end, "[bernoulli] probability 1.5 is not in [0, 1]")
end

function T.truncated_normal_stays_in_bounds()
   local t = R.truncated_normal(-1, 2, {N}, {key = R.key(14)})
   assert(t:min():item() >= -1 and t:max():item() <= 2)
   err(function() R.truncated_normal(2, 1, {2}) end, "[truncated_normal]")
end

function T.bad_arguments_are_errors()
   err(function() ty.rand{2, -1} end, "[rand] shape entries must be non-negative")
   err(function() R.uniform{2, -1} end, "[uniform] shape entries must be non-negative")
   err(function() ty.rand({2}, {key = 3}) end, "[rand] expected a key")
   err(function() R.key("x") end, "[key] seed must be an integer")
end

function T.draw_options_are_checked()
   err(function() R.uniform({3}, {lo = 5}) end,
       "[uniform] unknown option 'lo' (expected low, high, key, dtype, device)")
   err(function() R.normal({3}, {sigma = 2}) end, "[normal] unknown option 'sigma'")
   err(function() ty.randn({3}, {seed = 2}) end, "[randn] unknown option 'seed'")
   err(function() R.randint(1, 6, {3}, {low = 1}) end, "[randint] unknown option 'low'")
   err(function() R.permutation(5, {dtype = "int64"}) end, "[permutation] unknown option 'dtype'")
   err(function() R.bits({2}, {dtype = "int32"}) end, "[bits] draws are int64, dtype 'int32'")
   err(function() R.bits({2}, "int32") end, "[bits] draws are int64")
   err(function() R.bernoulli(0.5, {2}, {dtype = "float32"}) end, "[bernoulli] draws are bool")
   h.assert_dtype(R.bits({2}, {dtype = "int64"}), "int64")
   local u = R.uniform({100}, {low = 5, high = 6, key = R.key(3)})
   assert(u:min():item() >= 5 and u:max():item() < 6)
   err(function() R.uniform({3}, {low = "a"}) end, "[uniform] option 'low' must be a number")
   err(function() R.split(R.key(0), 1e9) end,
       "[split] number of keys must be between 1 and 1048576, got 1000000000")
end

return T
