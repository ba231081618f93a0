-- test_data.lua -- IDX and CSV readers, ty.data datasets, DataLoader,
-- transforms, Fashion-MNIST and text.
local ty = require "tycho"
local h = require "helpers"

local close, eq, err = h.assert_close, h.assert_eq, h.assert_error
local shape, dtype = h.assert_shape, h.assert_dtype

local T = {}

-- ------------------------------------------------------------------ helpers

local tmpfiles = {}
local function tmp(contents, suffix)
   local name = os.tmpname() .. (suffix or "")
   tmpfiles[#tmpfiles + 1] = name
   local f = assert(io.open(name, "wb"))
   f:write(contents)
   f:close()
   return name
end

local function gzip(path)
   assert(os.execute("gzip -c '" .. path .. "' > '" .. path .. ".gz'"))
   tmpfiles[#tmpfiles + 1] = path .. ".gz"
   return path .. ".gz"
end

local function cleanup()
   for _, f in ipairs(tmpfiles) do os.remove(f) end
   tmpfiles = {}
end

-- An IDX file: type code, dims, values packed with fmt (big-endian).
local function idx_bytes(code, dims, fmt, values)
   local parts = {string.pack(">I2BB", 0, code, #dims)}
   for _, d in ipairs(dims) do parts[#parts + 1] = string.pack(">I4", d) end
   for _, v in ipairs(values) do parts[#parts + 1] = string.pack(">" .. fmt, v) end
   return table.concat(parts)
end

-- ------------------------------------------------------------------ IDX

function T.idx_every_type_round_trips_plain_and_gzip()
   local cases = {
      {0x08, "B", {0, 1, 255, 7, 128, 3}, "uint8"},
      {0x09, "b", {-128, -1, 0, 1, 127, 5}, "int32"},
      {0x0B, "h", {-32768, -2, 0, 300, 32767, 9}, "int32"},
      {0x0C, "i4", {-2147483648, -5, 0, 70000, 2147483647, 1}, "int32"},
      {0x0D, "f", {-1.5, 0, 0.25, 3.0e10, 1, 2}, "float32"},
      {0x0E, "d", {-1.5e300, 0, 1 / 3, 2, math.pi, 1e-300}, "float64"},
   }
   for _, c in ipairs(cases) do
      local path = tmp(idx_bytes(c[1], {2, 3}, c[2], c[3]))
      for _, p in ipairs{path, gzip(path)} do
         local x = ty.io.read_idx(p)
         shape(x, {2, 3})
         dtype(x, c[4])
         local flat = x:reshape(6):tolist()
         for k = 1, 6 do
            local want = c[3][k]
            if c[4] == "float32" then want = string.unpack("f", string.pack("f", want)) end
            assert(flat[k] == want, string.format("%s[%d]: got %s, expected %s", c[4], k,
                                                  tostring(flat[k]), tostring(want)))
         end
      end
   end
   -- ty.data.idx reads the same; 1-d and 3-d shapes
   local p1 = tmp(idx_bytes(0x08, {4}, "B", {9, 8, 7, 6}))
   eq(ty.data.idx(p1), {9, 8, 7, 6})
   local p3 = tmp(idx_bytes(0x08, {2, 1, 2}, "B", {1, 2, 3, 4}))
   shape(ty.data.idx(gzip(p3)), {2, 1, 2})
   -- an empty dimension
   shape(ty.io.read_idx(tmp(idx_bytes(0x0D, {0, 5}, "f", {}))), {0, 5})
   cleanup()
end

function T.idx_malformed_files_raise_clear_errors()
   local good = idx_bytes(0x08, {2, 2}, "B", {1, 2, 3, 4})
   local function bad(bytes, fragment)
      local p = tmp(bytes)
      local e = err(function() ty.io.read_idx(p) end, fragment)
      assert(e:find(p, 1, true), "the error names the file: " .. e)
   end
   bad("", "truncated header")
   bad("\0\0", "truncated header")
   bad("\1\0\8\2" .. good:sub(5), "bad magic")
   bad("\0\0\7\2" .. good:sub(5), "unknown IDX type code 0x07")
   bad("\0\0\8\9" .. string.rep("\0\0\0\1", 9), "9 dimensions")
   bad(good:sub(1, 8), "truncated header")
   bad(good:sub(1, -2), "truncated data: 3 of 4 bytes")
   bad(good .. "x", "trailing garbage")
   -- a dims product overflowing int64, and one merely too large
   bad(idx_bytes(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, "B", {}), "overflow")
   bad(idx_bytes(0x0E, {0x40000000, 0x100}, "B", {}), "too large")
   -- a truncated gzip stream
   local g = gzip(tmp(idx_bytes(0x0C, {100}, "i4", (function()
      local t = {}
      for k = 1, 100 do t[k] = k * 7919 end
      return t
   end)())))
   local f = assert(io.open(g, "rb"))
   local bytes = f:read("a")
   f:close()
   local cut = tmp(bytes:sub(1, #bytes // 2), ".gz")
   local e = err(function() ty.io.read_idx(cut) end, cut)
   assert(e:find("read error") or e:find("truncated"), e)
   err(function() ty.io.read_idx("/nonexistent/file.idx") end,
       "/nonexistent/file.idx: cannot open")
   err(function() ty.io.read_idx(p) end, "bad argument #1")
   cleanup()
end

-- ------------------------------------------------------------------ CSV

function T.csv_header_quotes_missing_values()
   local p = tmp('a,"b, quoted",c\n1,2,3\n4,,NA\n"5", 6e1 ,NaN\r\n\n-7,"8",+inf\n')
   local x, names = ty.io.read_csv(p)
   dtype(x, "float32")
   shape(x, {4, 3})
   close(x, {{1, 2, 3}, {4, 0 / 0, 0 / 0}, {5, 60, 0 / 0}, {-7, 8, math.huge}})
   eq(names, {"a", "b, quoted", "c"})
   -- header detection: none here; explicit false; tab delimiter; gzip
   local q = tmp("1;2\n3;4\n")
   local y, n2 = ty.io.read_csv(q, {delimiter = ";"})
   eq(y, {{1, 2}, {3, 4}})
   assert(n2 == nil)
   eq(ty.io.read_csv(tmp("1\t2\n"), {delimiter = "\\t", header = false}), {{1, 2}})
   eq(ty.io.read_csv(gzip(q), {delimiter = ";"}), {{1, 2}, {3, 4}})
   -- quotes inside quotes, a quoted newline in the header
   local _, n3 = ty.io.read_csv(tmp('"say ""hi""","two\nlines"\n1,2\n'), {header = true})
   eq(n3, {'say "hi"', "two\nlines"})
   -- header only
   shape(ty.io.read_csv(tmp("a,b\n"), {header = true}), {0, 2})
   cleanup()
end

function T.csv_errors_name_file_line_and_column()
   local p = tmp("a,b\n1,2\n3,x7\n")
   local e = err(function() ty.io.read_csv(p) end, "'x7' is not a number")
   assert(e:find(p .. ":3, column 2", 1, true), e)
   err(function() ty.io.read_csv(tmp("1,2\n3\n")) end, ":2: 1 column, expected 2")
   err(function() ty.io.read_csv(tmp("1,2\n3,4,5\n")) end, "expected 2")
   err(function() ty.io.read_csv(tmp('1,"2\n')) end, "unterminated quoted field")
   err(function() ty.io.read_csv(tmp("1,2\n"), {delimiter = ",,"}) end, "one character")
   err(function() ty.io.read_csv(tmp("1,2\n"), {header = "yes"}) end, "'auto'")
   err(function() ty.io.read_csv(tmp("1\n"), {sep = ","}) end, "unknown option 'sep'")
   err(function() ty.io.read_csv("/nonexistent.csv") end, "/nonexistent.csv: cannot open")
   cleanup()
end

-- ------------------------------------------------------------------ datasets

function T.datasets_tensor_subset_concat_split()
   local x = ty.arange(12):reshape(6, 2)
   local y = ty.arange(6) * 10
   local ds = ty.data.TensorDataset(x, y)
   assert(#ds == 6 and ty.data.is_dataset(ds))
   local a, b = ds:get(2)
   eq(a, {3, 4})
   eq(b, 20)
   eq(ds[-1][2], 60)
   err(function() return ds[7] end, "index 7 is out of range (1..6)")
   err(function() ty.data.TensorDataset(x, ty.arange(5)) end, "argument 2 has 5 rows")

   local sub = ty.data.Subset(ds, {5, 1})
   assert(#sub == 2)
   eq(sub[1][1], {9, 10})
   eq(select(2, sub:get(2)), 10)
   err(function() ty.data.Subset(ds, {0}) end, "out of range")

   local list = ty.data.Dataset{{1, "a"}, {2, "b"}, {3, "c"}}
   local n, s = list:get(3)
   assert(n == 3 and s == "c" and #list == 3)
   local fn = ty.data.Dataset{get = function(i) return i * i end, len = 4}
   assert(#fn == 4 and fn[3] == 9)
   local cat = ty.data.ConcatDataset{list, fn, sub}
   assert(#cat == 9)
   assert(cat[3][1] == 3 and cat[4] == 1 and cat[7] == 16)
   eq(cat[9][1], {1, 2})

   local parts = ty.data.random_split(ds, {4, 2}, {seed = 3})
   assert(#parts[1] == 4 and #parts[2] == 2)
   local seen = {}
   for _, part in ipairs(parts) do
      for _, i in ipairs(part.indices) do
         assert(not seen[i]); seen[i] = true
      end
   end
   local again = ty.data.random_split(ds, {4, 2}, {seed = 3})
   eq(again[1].indices, parts[1].indices)
   local fr = ty.data.random_split(ty.data.TensorDataset(ty.zeros{10}), {0.5, 0.3, 0.2},
                                   {seed = 1})
   assert(#fr[1] == 5 and #fr[2] == 3 and #fr[3] == 2)
   err(function() ty.data.random_split(ds, {4, 4}) end, "lengths sum to 8")
end

-- ------------------------------------------------------------------ DataLoader

local function labels_of(loader)
   local out = {}
   for _, yb in loader:iter() do
      for _, v in ipairs(yb:tolist()) do out[#out + 1] = v end
   end
   return out
end

function T.loader_order_batching_drop_last()
   local ds = ty.data.TensorDataset(ty.arange(10):reshape(10, 1), ty.arange(10))
   local loader = ty.data.DataLoader{ds, batch_size = 4}
   assert(#loader == 3)
   local sizes = {}
   for xb, yb in loader:iter() do
      sizes[#sizes + 1] = yb.shape[1]
      eq(xb:reshape(-1), yb)
   end
   eq(sizes, {4, 4, 2})
   eq(labels_of(loader), {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
   local dl = ty.data.DataLoader{dataset = ds, batch_size = 4, drop_last = true}
   assert(#dl == 2)
   eq(labels_of(dl), {1, 2, 3, 4, 5, 6, 7, 8})
   err(function() ty.data.DataLoader{ds, batch_size = 0} end, "batch_size")
   err(function() ty.data.DataLoader{ds, batchsize = 2} end, "unknown option 'batchsize'")
end

function T.loader_shuffle_is_seeded_and_reshuffles_each_epoch()
   local ds = ty.data.TensorDataset(ty.arange(50))
   local function epochs(seed)
      local loader = ty.data.DataLoader{ds, batch_size = 8, shuffle = true, seed = seed}
      local out = {}
      for e = 1, 3 do
         local order = {}
         for xb in loader:iter() do
            for _, v in ipairs(xb:tolist()) do order[#order + 1] = v end
         end
         out[e] = order
      end
      assert(loader.epoch == 3)
      return out
   end
   local a, b, c = epochs(7), epochs(7), epochs(8)
   for e = 1, 3 do
      eq(a[e], b[e])                                   -- same seed, same epochs
      local sorted = {table.unpack(a[e])}
      table.sort(sorted)
      for k = 1, 50 do assert(sorted[k] == k) end      -- a permutation
   end
   assert(table.concat(a[1], ",") ~= table.concat(a[2], ","), "epoch 2 reshuffles")
   assert(table.concat(a[1], ",") ~= table.concat(c[1], ","), "another seed differs")
end

function T.loader_generic_path_collate_and_transform()
   -- a table dataset goes sample by sample through the default collate
   local samples = {}
   for i = 1, 5 do samples[i] = {ty.full({2}, i), i, {w = i * 0.5}} end
   local loader = ty.data.DataLoader{samples, batch_size = 2, shuffle = true, seed = 1}
   local seen = 0
   for xb, yb, extra in loader:iter() do
      shape(xb, {yb.shape[1], 2})
      dtype(yb, "int32")
      eq(xb[{{}, 1}], yb:astype("float32"))
      close(extra.w, yb:astype("float32") * 0.5)
      seen = seen + yb.shape[1]
   end
   assert(seen == 5)
   -- a custom collate, and a transform getting a per-batch key
   local keys = {}
   local custom = ty.data.DataLoader{
      ty.data.TensorDataset(ty.arange(6)), batch_size = 3,
      collate = function(list)
         local s = 0
         for _, smp in ipairs(list) do s = s + smp[1]:item() end
         return ty.array(s)
      end,
      transform = function(v, key)
         keys[#keys + 1] = tostring(key)
         return v * 2
      end,
   }
   local sums = {}
   for v in custom:iter() do sums[#sums + 1] = v:item() end
   eq(sums, {12, 30})
   assert(#keys == 2 and keys[1] ~= keys[2])
   -- prefetch yields the same batches
   local ds = ty.data.TensorDataset(ty.arange(9))
   local p = ty.data.DataLoader{ds, batch_size = 2, shuffle = true, seed = 4, prefetch = true}
   local q = ty.data.DataLoader{ds, batch_size = 2, shuffle = true, seed = 4}
   local pb = {}
   for xb in p:iter() do
      pb[#pb + 1] = xb:tolist()
   end
   local k = 0
   for xb in q:iter() do
      k = k + 1; eq(xb, pb[k])
   end
   assert(k == #pb and k == 5)
end

-- ------------------------------------------------------------------ transforms

function T.transforms_are_correct_on_small_images()
   local im = ty.arange(0, 11):reshape(1, 1, 3, 4):astype("float32")   -- 0..11
   eq(ty.data.random_flip(im, {p = 1}), {{{{3, 2, 1, 0}, {7, 6, 5, 4}, {11, 10, 9, 8}}}})
   eq(ty.data.random_flip(im, {p = 1, vertical = true}),
      {{{{8, 9, 10, 11}, {4, 5, 6, 7}, {0, 1, 2, 3}}}})
   eq(ty.data.random_flip(im, {p = 0}), im)
   -- a crop of the full size without padding is the identity
   eq(ty.data.random_crop(im, {3, 4}, {seed = 1}), im)
   -- every crop of a padded image is a window of the padded image
   local padded = ty.pad(im, {{0, 0}, {0, 0}, {1, 1}, {1, 1}}, -1)
   for seed = 1, 10 do
      local c = ty.data.random_crop(im, 2, {padding = 1, fill = -1, seed = seed})
      shape(c, {1, 1, 2, 2})
      local found = false
      for i = 1, 4 do
         for j = 1, 5 do
            local w = padded[{{}, {}, {i, i + 1}, {j, j + 1}}]
            if ty.all(ty.eq(w, c)):item() then found = true end
         end
      end
      assert(found, "crop is a window of the padded image")
   end
   -- normalize per channel
   local two = ty.ones{2, 2, 1, 1} * ty.array({1, 3}):reshape(1, 2, 1, 1)
   close(ty.data.normalize(two, {1, 1}, {1, 2}), {{{{0}}, {{1}}}, {{{0}}, {{1}}}})
   -- rotation by exactly 0 (degrees 0) is the identity; 180 about the centre
   -- of a square image with nearest sampling flips both axes
   local sq = ty.arange(0, 8):reshape(1, 1, 3, 3):astype("float32")
   close(ty.data.random_rotation(sq, 0, {seed = 1}), sq)
   local r = ty.data.random_affine(sq, {degrees = 0, translate = 0, seed = 2})
   close(r, sq)
   -- translation by a whole pixel, nearest: content moves and fill enters
   local shifted = ty.data.random_affine(ty.ones{1, 1, 5, 5}, {translate = {0.2, 0},
                                         interpolation = "nearest", fill = 0, seed = 5})
   local s = shifted:sum():item()
   assert(s >= 20 and s <= 25, "a shift of at most one column: " .. s)
   err(function() ty.data.random_crop(im, 5) end, "does not fit")
   err(function() ty.data.random_flip(ty.ones{3}) end, "expected images")
   err(function() ty.data.normalize(two, {1}, 1) end, "one per channel")
end

function T.transforms_are_deterministic_per_key_and_vary_per_sample()
   local batch = ty.random.uniform({16, 1, 8, 8}, {key = ty.random.key(0)})
   for _, f in ipairs{
      function(k) return ty.data.random_crop(batch, 6, {padding = 2, key = k}) end,
      function(k) return ty.data.random_flip(batch, {key = k}) end,
      function(k) return ty.data.random_rotation(batch, 30, {key = k}) end,
      function(k) return ty.data.random_affine(batch, {degrees = 10, translate = 0.1, key = k})
      end,
   } do
      local a, b = f(ty.random.key(1)), f(ty.random.key(1))
      eq(a, b)
      local c = f(ty.random.key(2))
      assert(not ty.all(ty.eq(a, c)):item(), "another key differs")
   end
   -- rotation: samples differ in angle (per sample draws)
   local same = ty.broadcast_to(batch[{{1}}], {16, 1, 8, 8})
   local rot = ty.data.random_rotation(same, 45, {seed = 3})
   assert(not ty.all(ty.eq(rot[1], rot[2])):item())
end

-- ------------------------------------------------------------------ Fashion-MNIST

local fm_dir = "/usr/share/datasets/fashion-mnist/"
local function have_fashion()
   local f = io.open(fm_dir .. "t10k-labels-idx1-ubyte.gz", "rb")
   if f then f:close() end
   if not f then print("  (skipped: dataset-fashion-mnist is not installed)") end
   return f ~= nil
end

function T.fashion_mnist_shapes_and_label_counts()
   err(function() ty.data.fashion_mnist{dir = "/nonexistent"} end,
       "install Debian's dataset-fashion-mnist (make deps)")
   if not have_fashion() then return end
   local train = ty.data.fashion_mnist{split = "train"}
   shape(train.images, {60000, 1, 28, 28})
   dtype(train.images, "uint8")
   shape(train.labels, {60000})
   dtype(train.labels, "int32")
   local counts = ty.one_hot(train.labels, 10):sum(1)
   eq(counts, {6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000})
   assert(#train == 60000)
   local test = ty.data.fashion_mnist{split = "test", normalize = true}
   shape(test.images, {10000, 1, 28, 28})
   dtype(test.images, "float32")
   assert(test.images:min():item() >= 0 and test.images:max():item() <= 1)
   assert(test.labels:min():item() == 1 and test.labels:max():item() == 10)
   local loader = ty.data.DataLoader{test, batch_size = 256, shuffle = true, seed = 0}
   assert(#loader == 40)
   local xb, yb = loader:iter()()
   shape(xb, {256, 1, 28, 28})
   shape(yb, {256})
   err(function() ty.data.fashion_mnist{split = "val"} end, "'train' or 'test'")
end

-- ------------------------------------------------------------------ text

function T.char_tokenizer_round_trip()
   local text = "hello, wörld\n"
   local tok = ty.data.CharTokenizer(text)
   assert(tok.vocab_size == 11, tok.vocab_size)
   local ids = tok:encode(text)
   dtype(ids, "int32")
   shape(ids, {13})
   assert(ids:min():item() >= 1 and ids:max():item() <= tok.vocab_size)
   assert(tok:decode(ids) == text)
   assert(tok:decode(ids:tolist()) == text)
   assert(tok:decode{} == "")
   err(function() tok:encode("xyz") end, "not in the vocabulary")
   err(function() tok:decode{0} end, "out of range")
end

function T.sliding_window_pairs_and_batches()
   local tokens = ty.arange(11, 20)                            -- 10 tokens
   local sw = ty.data.SlidingWindow(tokens, 4)
   assert(#sw == 6)
   local x, y = sw:get(2)
   eq(x, {12, 13, 14, 15})
   eq(y, {13, 14, 15, 16})
   local strided = ty.data.SlidingWindow(tokens, 4, {stride = 3})
   assert(#strided == 2)
   eq(select(2, strided:get(2)), {15, 16, 17, 18})
   local loader = ty.data.DataLoader{sw, batch_size = 4, shuffle = true, seed = 1}
   for xb, yb in loader:iter() do
      eq(xb[{{}, {2, 4}}], yb[{{}, {1, 3}}])
      eq(yb - xb, ty.ones(xb.shape, "int32"))
   end
   assert(#ty.data.SlidingWindow(ty.arange(3), 3) == 0)
end

-- ------------------------------------------------------------------ docs

function T.every_data_and_io_function_is_documented()
   local missing = {}
   for _, part in ipairs{"data", "io"} do
      for name, fn in pairs(ty[part]) do
         if type(fn) == "function" and not ty.__doc[fn] then
            missing[#missing + 1] = part .. "." .. name
         end
      end
      assert(type(ty[part].__doc) == "string")
   end
   table.sort(missing)
   assert(#missing == 0, "undocumented: " .. table.concat(missing, ", "))
end

return T
