-- tycho.data -- ty.data: map-style datasets, the DataLoader, Fashion-MNIST and
-- text helpers. The hot image transforms (normalize, random_crop, random_flip,
-- random_affine, random_rotation) and the file readers are C (lua/data.c);
-- this module adds the rest onto the same ty.data table.
--
-- A dataset is an object with #ds and ds:get(i) -> the values of sample i
-- (multiple values); ds[i] gives the sample as one value (itself when it has
-- one value, else a table {v1, v2, ...}). Datasets of arrays sharing a first
-- axis (TensorDataset, and Subsets and SlidingWindows) also gather a whole
-- batch of indices at once (one take per array), which the DataLoader uses.
local ty = require "tycho"

local M = ty.data or {}
ty.data = M

local function document(fn, doc)
   ty.__doc[fn] = doc
end

local function def(name, fn, doc)
   M[name] = fn
   document(fn, doc)
end

local pack, unpack = table.pack, table.unpack

-- ------------------------------------------------------------------ keys

-- A key from opts.seed / opts.key, or one drawn from the global key (so
-- results follow ty.random.seed).
local function key_from(opts, fname)
   if opts and opts.key ~= nil then return opts.key end
   if opts and opts.seed ~= nil then
      if math.type(opts.seed) ~= "integer" then
         error(string.format("[%s] option 'seed' must be an integer, got %s", fname,
                             tostring(opts.seed)), 3)
      end
      return ty.random.key(opts.seed)
   end
   return ty.random.key(ty.random.randint(0, 2147483646, {1}):item())
end

-- A function b -> key b of n keys derived from key (split in chunks, so any
-- n works).
local function key_stream(key, n)
   local chunk = 4096
   local tops = ty.random.split(key, math.max(1, math.min(1 << 20, (n + chunk - 1) // chunk)))
   local cached, keys
   return function(b)
      local c = (b - 1) // chunk % #tops + 1
      if c ~= cached then keys, cached = ty.random.split(tops[c], chunk), c end
      return keys[(b - 1) % chunk + 1]
   end
end

-- ------------------------------------------------------------------ Dataset

local Dataset = {}      -- methods shared by every dataset
local dataset_mt = {}

dataset_mt.__len = function(self) return self._n end
dataset_mt.__index = function(self, k)
   if type(k) == "number" then
      local v = pack(self:get(k))
      if v.n == 1 then return v[1] end
      return {unpack(v, 1, v.n)}
   end
   return Dataset[k]
end
dataset_mt.__tostring = function(self)
   return string.format("%s(%d samples)", self._kind or "Dataset", self._n)
end

local function check_index(self, i)
   if math.type(i) ~= "integer" then
      if math.type(i) == "float" and i == math.floor(i) then
         i = math.tointeger(i)
      else
         error(string.format("[%s] index must be an integer, got %s", self._kind,
                             tostring(i)), 3)
      end
   end
   if i < 0 then i = self._n + 1 + i end
   if i < 1 or i > self._n then
      error(string.format("[%s] index %d is out of range (1..%d)", self._kind, i, self._n), 3)
   end
   return i
end

-- ds:get(i) -> the values of sample i (negative i counts from the end).
function Dataset:get(i)
   return self:_get(check_index(self, i))
end

function Dataset:len() return self._n end

local function new_dataset(kind, n, get, fields)
   local ds = fields or {}
   ds._kind, ds._n, ds._get = kind, n, get
   return setmetatable(ds, dataset_mt)
end

local function is_dataset(v)
   return getmetatable(v) == dataset_mt
end
M.is_dataset = is_dataset
document(is_dataset, "ty.data.is_dataset(v) -> boolean\n  True when v is a ty.data dataset.")

local TensorDataset

local function is_plain_list(v)
   return type(v) == "table" and getmetatable(v) == nil and v[1] ~= nil
end

def("Dataset", function(source)
   if ty.is_array(source) then return TensorDataset(source) end
   if is_dataset(source) then return source end
   if type(source) ~= "table" then
      error("[Dataset] expected an array, a table of samples or {get=, len=}, got "
            .. type(source), 2)
   end
   if type(source.get) == "function" then
      local n = source.len
      if type(n) == "function" then n = n() end
      if math.type(n) ~= "integer" or n < 0 then
         error("[Dataset] {get=, len=}: len must be a non-negative integer", 2)
      end
      local get = source.get
      return new_dataset("Dataset", n, function(_, i) return get(i) end)
   end
   local samples = source
   return new_dataset("Dataset", #samples, function(_, i)
      local s = samples[i]
      if is_plain_list(s) then return unpack(s) end
      return s
   end)
end, [[ty.data.Dataset(source) -> dataset
  A map-style dataset: #ds samples, ds:get(i) -> the sample's values, ds[i] -> the
  sample as one value (a table {x, y, ...} when it has several). source is a
  table of samples (a sample that is a list {x, y} gives x, y), an array (its
  rows), or {get=function(i) ... end, len=n} for samples computed on demand.]])

TensorDataset = function(...)
   local tensors = pack(...)
   if tensors.n == 0 then error("[TensorDataset] expected at least one array", 2) end
   local n
   for k = 1, tensors.n do
      local t = tensors[k]
      if not ty.is_array(t) then
         error(string.format("[TensorDataset] argument %d must be an array, got %s", k,
                             type(t)), 2)
      end
      if #t.shape == 0 then
         error(string.format("[TensorDataset] argument %d is 0-d (needs a first axis)", k), 2)
      end
      if n and t.shape[1] ~= n then
         error(string.format("[TensorDataset] argument %d has %d rows, argument 1 has %d",
                             k, t.shape[1], n), 2)
      end
      n = t.shape[1]
   end
   local list = {unpack(tensors, 1, tensors.n)}
   return new_dataset("TensorDataset", n, function(_, i)
      local out = {}
      for k = 1, #list do out[k] = list[k][i] end
      return unpack(out, 1, #list)
   end, {
      tensors = list,
      _batch = function(_, idx)
         local out = {n = #list}
         for k = 1, #list do out[k] = list[k]:take(idx, 1) end
         return out
      end,
   })
end
def("TensorDataset", TensorDataset, [[ty.data.TensorDataset(a, b, ...) -> dataset
  Samples are the rows a[i], b[i], ... of arrays sharing their first dimension.
  The DataLoader gathers a batch with one take per array (no per-sample work).
  ds.tensors is the list of arrays.]])

-- An int32 index array from a table or array of 1-based indices.
local function index_array(indices)
   if ty.is_array(indices) then return indices:astype("int32") end
   if #indices == 0 then return ty.zeros({0}, "int32") end
   return ty.array(indices, "int32")
end

local function index_list(indices, fname)
   if ty.is_array(indices) then return indices:tolist() end
   if type(indices) ~= "table" then
      error(string.format("[%s] indices must be a table or an array, got %s", fname,
                          type(indices)), 3)
   end
   return indices
end

local function Subset(ds, indices)
   if not is_dataset(ds) then error("[Subset] argument 1 must be a dataset", 2) end
   local list = index_list(indices, "Subset")
   local n = #ds
   for k = 1, #list do
      local i = list[k]
      if math.type(i) ~= "integer" or i < 1 or i > n then
         error(string.format("[Subset] index %s (at %d) is out of range (1..%d)",
                             tostring(i), k, n), 2)
      end
   end
   local sub = new_dataset("Subset", #list, function(_, i) return ds:_get(list[i]) end,
                           {dataset = ds, indices = list})
   if ds._batch then
      local arr
      sub._batch = function(_, idx)
         arr = arr or index_array(list)
         return ds:_batch(arr:take(idx, 1))
      end
   end
   return sub
end
def("Subset", Subset, [[ty.data.Subset(ds, indices) -> dataset
  The samples of ds at indices (a table or array of 1-based indices), in that
  order. sub.dataset and sub.indices hold them.]])

def("random_split", function(ds, lengths, opts)
   if not is_dataset(ds) then error("[random_split] argument 1 must be a dataset", 2) end
   if type(lengths) ~= "table" or #lengths == 0 then
      error("[random_split] argument 2 must be a table of lengths or fractions", 2)
   end
   local n = #ds
   local counts, total = {}, 0
   local fractions = true
   for k, v in ipairs(lengths) do
      if type(v) ~= "number" or v < 0 then
         error(string.format("[random_split] length %d must be a non-negative number", k), 2)
      end
      if math.type(v) == "integer" and v > 1 then fractions = false end
      total = total + v
   end
   if fractions and math.abs(total - 1) < 1e-6 and n ~= 1 then
      local sum = 0
      for k, f in ipairs(lengths) do
         counts[k] = math.floor(n * f)
         sum = sum + counts[k]
      end
      for k = 1, n - sum do                      -- the remainder, round-robin
         local j = (k - 1) % #counts + 1
         counts[j] = counts[j] + 1
      end
   else
      for k, v in ipairs(lengths) do
         if math.type(v) ~= "integer" then
            error("[random_split] lengths must be integers, or fractions summing to 1", 2)
         end
         counts[k] = v
      end
      if total ~= n then
         error(string.format("[random_split] lengths sum to %s, the dataset has %d samples",
                             tostring(total), n), 2)
      end
   end
   local perm = n > 0 and ty.random.permutation(n, {key = key_from(opts, "random_split")})
      :tolist() or {}
   local parts, at = {}, 0
   for k, c in ipairs(counts) do
      parts[k] = Subset(ds, table.move(perm, at + 1, at + c, 1, {}))
      at = at + c
   end
   return parts
end, [[ty.data.random_split(ds, lengths, [{seed=, key=}]) -> {Subset, ...}
  Splits ds into non-overlapping random subsets: lengths are counts summing to
  #ds, or fractions summing to 1 (the remainder goes round-robin). The same
  seed gives the same split.]])

def("ConcatDataset", function(list, ...)
   if is_dataset(list) then list = {list, ...} end
   if type(list) ~= "table" then
      error("[ConcatDataset] expected a table of datasets", 2)
   end
   local ends, n = {}, 0
   for k, ds in ipairs(list) do
      if not is_dataset(ds) then
         error(string.format("[ConcatDataset] element %d is not a dataset", k), 2)
      end
      n = n + #ds
      ends[k] = n
   end
   local parts = {unpack(list)}
   return new_dataset("ConcatDataset", n, function(_, i)
      local lo, hi = 1, #ends                    -- first part whose end >= i
      while lo < hi do
         local mid = (lo + hi) // 2
         if ends[mid] >= i then hi = mid else lo = mid + 1 end
      end
      return parts[lo]:_get(i - (ends[lo - 1] or 0))
   end, {datasets = parts})
end, [[ty.data.ConcatDataset{ds1, ds2, ...} -> dataset
  The samples of ds1, then those of ds2, ...]])

-- ------------------------------------------------------------------ DataLoader

-- Default collate: field by field, arrays are stacked on a new first axis,
-- numbers become a 1-d array (int32 when all integers, else float32),
-- booleans a bool array, keyed tables are collated key by key.
local function collate_values(values)
   local first = values[1]
   if ty.is_array(first) then return ty.stack(values, 1) end
   local t = type(first)
   if t == "number" then
      local ints = true
      for _, v in ipairs(values) do
         if math.type(v) ~= "integer" then ints = false break end
      end
      return ty.array(values, ints and "int32" or "float32")
   elseif t == "boolean" then
      return ty.array(values, "bool")
   elseif t == "table" and getmetatable(first) == nil then
      local out = {}
      for key in pairs(first) do
         local field = {}
         for k, v in ipairs(values) do field[k] = v[key] end
         out[key] = collate_values(field)
      end
      return out
   end
   return values
end

local function default_collate(samples)
   local out = {n = samples[1].n}
   for j = 1, out.n do
      local field = {}
      for k, s in ipairs(samples) do field[k] = s[j] end
      out[j] = collate_values(field)
   end
   return out
end
M.default_collate = function(samples)
   local out = default_collate(samples)
   return unpack(out, 1, out.n)
end
document(M.default_collate, [[ty.data.default_collate(samples) -> batch values
  The DataLoader's default collate: samples is a list of samples, each a table
  of the sample's values; field by field, arrays are stacked on a new first
  axis, numbers become an array (int32 if all integers, else float32), keyed
  tables are collated key by key.]])

local Loader = {}
local loader_mt = {__index = Loader}
loader_mt.__len = function(self) return self:num_batches() end

function Loader:num_batches()
   local n, b = #self.dataset, self.batch_size
   if self.drop_last then return n // b end
   return (n + b - 1) // b
end

-- The index order of epoch e: an int32 array (or nil: 1..n in order).
local function epoch_order(self, keys)
   local n = #self.dataset
   if not self.shuffle or n == 0 then return nil end
   return ty.random.permutation(n, {key = keys[1]}):eval()
end

-- Builds batch b (a packed table of values).
local function make_batch(self, b, order, transform_key)
   local n, bs = #self.dataset, self.batch_size
   local lo, hi = (b - 1) * bs + 1, math.min(b * bs, n)
   local ds = self.dataset
   local vals
   if ds._batch and not self.collate then
      local idx
      if order then idx = order[{{lo, hi}}] else idx = ty.arange(lo, hi) end
      vals = ds:_batch(idx)
   else
      local samples = {}
      for k = lo, hi do
         local i = order and order[k] or k
         samples[#samples + 1] = pack(ds:_get(i))
      end
      if self.collate then
         vals = pack(self.collate(samples))
      else
         vals = default_collate(samples)
      end
   end
   if self.transform then
      local args = {unpack(vals, 1, vals.n)}
      args[vals.n + 1] = transform_key(b)
      vals = pack(self.transform(unpack(args, 1, vals.n + 1)))
   end
   return vals
end

-- loader:iter() -> iterator over the batches of a new epoch.
function Loader:iter()
   self.epoch = self.epoch + 1
   local e = self.epoch
   local ekey = ty.random.split(self._key, e)[e]
   local keys = ty.random.split(ekey, 2)
   local order = epoch_order(self, keys)
   if order and not (self.dataset._batch and not self.collate) then
      order = order:tolist()
   end
   local nb = self:num_batches()
   local transform_key = self.transform and key_stream(keys[2], nb)
   local b, ahead = 0, nil
   return function()
      b = b + 1
      if b > nb then return nil end
      local cur = ahead or make_batch(self, b, order, transform_key)
      ahead = nil
      if self.prefetch then
         if b == 1 then ty.eval(cur) end
         if b < nb then
            ahead = make_batch(self, b + 1, order, transform_key)
            ty.eval(ahead)
         end
      end
      return unpack(cur, 1, cur.n)
   end
end

function Loader:__tostring()
   return string.format("DataLoader(%d samples, batch_size=%d, %d batches%s)",
                        #self.dataset, self.batch_size, self:num_batches(),
                        self.shuffle and ", shuffled" or "")
end
loader_mt.__tostring = Loader.__tostring

local loader_options = {
   dataset = true, batch_size = true, shuffle = true, seed = true, key = true,
   drop_last = true, collate = true, transform = true, prefetch = true,
}

def("DataLoader", function(opts)
   if type(opts) ~= "table" then error("[DataLoader] expected an options table", 2) end
   for k in pairs(opts) do
      if k ~= 1 and not loader_options[k] then
         error("[DataLoader] unknown option '" .. tostring(k) .. "' (expected dataset, "
               .. "batch_size, shuffle, seed, key, drop_last, collate, transform, prefetch)", 2)
      end
   end
   local ds = opts.dataset or opts[1]
   if ty.is_array(ds) or (type(ds) == "table" and not is_dataset(ds)) then
      ds = M.Dataset(ds)
   end
   if not is_dataset(ds) then error("[DataLoader] a dataset is required", 2) end
   local bs = opts.batch_size or 1
   if math.type(bs) ~= "integer" or bs < 1 then
      error("[DataLoader] batch_size must be a positive integer, got " .. tostring(bs), 2)
   end
   for _, f in ipairs{"collate", "transform"} do
      if opts[f] ~= nil and type(opts[f]) ~= "function" then
         error("[DataLoader] option '" .. f .. "' must be a function", 2)
      end
   end
   local self = setmetatable({
      dataset = ds, batch_size = bs, shuffle = not not opts.shuffle,
      drop_last = not not opts.drop_last, collate = opts.collate,
      transform = opts.transform, prefetch = not not opts.prefetch, epoch = 0,
   }, loader_mt)
   self._key = key_from(opts, "DataLoader")
   return self
end, [[ty.data.DataLoader{dataset, batch_size=1, shuffle=false, seed=, drop_last=false,
                     collate=, transform=, prefetch=false} -> loader
  Batches of a dataset: `for x, y in loader:iter() do ... end` runs one epoch;
  #loader is the number of batches (the last one is smaller unless drop_last).
  With shuffle, each epoch (loader.epoch counts them) draws a new order from the
  loader's key (seed=, key=, or drawn from the global key when made), so a seed
  gives the same sequence of epochs every run.
  Datasets of arrays (TensorDataset, Subset of one, SlidingWindow) are gathered
  with one take per array; other datasets are read sample by sample and joined
  by collate(samples) -> batch values (default: ty.data.default_collate).
  transform(x, y, ..., key) is called on each batch and returns the new batch
  values; key is a ty.random key for that batch (deterministic per seed, epoch
  and batch), to pass to the random transforms (ty.data.random_crop{key=}, ...).
  prefetch=true builds and evaluates the next batch before yielding the current
  one (every yielded batch is already evaluated). tycho evaluates on the calling
  thread, so this moves the gather/transform work ahead of the training step;
  it does not run in the background.]])

-- ------------------------------------------------------------------ files

def("idx", function(path, opts)
   return ty.io.read_idx(path, opts)
end, [[ty.data.idx(path, [{device=}]) -> array
  Reads an IDX file (plain or gzip) with its values unchanged (ty.io.read_idx).]])

local fashion_dir = "/usr/share/datasets/fashion-mnist/"
local fashion_classes = {
   "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
   "Bag", "Ankle boot",
}

def("fashion_mnist", function(opts)
   opts = opts or {}
   if type(opts) ~= "table" then error("[fashion_mnist] expected an options table", 2) end
   for k in pairs(opts) do
      if k ~= "split" and k ~= "normalize" and k ~= "dir" and k ~= "device" then
         error("[fashion_mnist] unknown option '" .. tostring(k)
               .. "' (expected split, normalize, dir, device)", 2)
      end
   end
   local split = opts.split or "train"
   if split ~= "train" and split ~= "test" then
      error("[fashion_mnist] split must be 'train' or 'test', got " .. tostring(split), 2)
   end
   local dir = opts.dir or fashion_dir
   if dir:sub(-1) ~= "/" then dir = dir .. "/" end
   local prefix = split == "train" and "train" or "t10k"
   local function path(kind)
      local p = dir .. prefix .. "-" .. kind .. ".gz"
      local f = io.open(p, "rb")
      if not f then
         error("[fashion_mnist] " .. p .. " not found: install Debian's "
               .. "dataset-fashion-mnist (make deps)", 3)
      end
      f:close()
      return p
   end
   local dev = opts.device and {device = opts.device} or nil
   local images = ty.io.read_idx(path("images-idx3-ubyte"), dev)
   local labels = ty.io.read_idx(path("labels-idx1-ubyte"), dev)
   local n = images.shape[1]
   if #images.shape ~= 3 or #labels.shape ~= 1 or labels.shape[1] ~= n then
      error("[fashion_mnist] unexpected shapes in " .. dir, 2)
   end
   images = images:reshape(n, 1, images.shape[2], images.shape[3])
   if opts.normalize then images = images:astype("float32") / 255 end
   labels = labels:astype("int32") + 1
   ty.eval(images, labels)
   local ds = TensorDataset(images, labels)
   ds.images, ds.labels, ds.classes, ds.split = images, labels, fashion_classes, split
   ds._kind = "fashion_mnist"
   return ds
end, [[ty.data.fashion_mnist{split='train'|'test', normalize=false, dir=, device=} -> ds
  Fashion-MNIST from Debian's dataset-fashion-mnist (/usr/share/datasets/
  fashion-mnist/). ds.images is (N,1,28,28) uint8, or float32 in [0,1] with
  normalize=true; ds.labels is int32 in 1..10 (ds.classes names them). ds is
  itself a TensorDataset(images, labels): #ds, ds[i], DataLoader{ds, ...}.]])

-- ------------------------------------------------------------------ text

local Tokenizer = {}
local tokenizer_mt = {__index = Tokenizer}

-- The characters of text: UTF-8 characters when it is valid UTF-8, else bytes.
local function chars_of(text, utf)
   local out = {}
   if utf then
      for _, c in utf8.codes(text) do out[#out + 1] = utf8.char(c) end
   else
      for k = 1, #text do out[k] = text:sub(k, k) end
   end
   return out
end

def("CharTokenizer", function(text)
   if type(text) ~= "string" then
      error("[CharTokenizer] expected the text (a string), got " .. type(text), 2)
   end
   local utf = utf8.len(text) ~= nil
   local seen, chars = {}, {}
   for _, c in ipairs(chars_of(text, utf)) do
      if not seen[c] then seen[c] = true; chars[#chars + 1] = c end
   end
   table.sort(chars, function(a, b)
      if utf then return utf8.codepoint(a) < utf8.codepoint(b) end
      return a < b
   end)
   local stoi = {}
   for i, c in ipairs(chars) do stoi[c] = i end
   return setmetatable({chars = chars, stoi = stoi, vocab_size = #chars, utf8 = utf},
                       tokenizer_mt)
end, [[ty.data.CharTokenizer(text) -> tok
  A character-level tokenizer whose vocabulary is the sorted distinct characters
  of text (UTF-8 characters, or bytes when text is not valid UTF-8).
  tok:encode(str) -> int32 array of 1-based ids; tok:decode(ids) -> string (ids an
  array or a table); tok.vocab_size; tok.chars[id] is the character of id.]])

function Tokenizer:encode(s)
   if type(s) ~= "string" then
      error("[CharTokenizer:encode] expected a string, got " .. type(s), 2)
   end
   local ids, stoi = {}, self.stoi
   local list = chars_of(s, self.utf8 and utf8.len(s) ~= nil)
   for k, c in ipairs(list) do
      local id = stoi[c]
      if not id then
         error(string.format("[CharTokenizer:encode] character %q (at %d) is not in the "
                             .. "vocabulary", c, k), 2)
      end
      ids[k] = id
   end
   if #ids == 0 then return ty.zeros({0}, "int32") end
   return ty.array(ids, "int32")
end

function Tokenizer:decode(ids)
   if ty.is_array(ids) then
      if #ids.shape ~= 1 then
         error("[CharTokenizer:decode] expected a 1-d array of ids", 2)
      end
      ids = ids:tolist()
   end
   if type(ids) ~= "table" then
      error("[CharTokenizer:decode] expected an array or a table of ids", 2)
   end
   local out = {}
   for k, id in ipairs(ids) do
      local c = self.chars[id]
      if not c then
         error(string.format("[CharTokenizer:decode] id %s (at %d) is out of range (1..%d)",
                             tostring(id), k, #self.chars), 2)
      end
      out[k] = c
   end
   return table.concat(out)
end

def("SlidingWindow", function(tokens, block_size, opts)
   if type(tokens) == "table" and not ty.is_array(tokens) then
      tokens = ty.array(tokens, "int32")
   end
   if not ty.is_array(tokens) or #tokens.shape ~= 1 then
      error("[SlidingWindow] tokens must be a 1-d array (or a table) of ids", 2)
   end
   if math.type(block_size) ~= "integer" or block_size < 1 then
      error("[SlidingWindow] block_size must be a positive integer", 2)
   end
   local stride = opts and opts.stride or 1
   if math.type(stride) ~= "integer" or stride < 1 then
      error("[SlidingWindow] option 'stride' must be a positive integer", 2)
   end
   local len = tokens.shape[1]
   local n = len > block_size and (len - block_size - 1) // stride + 1 or 0
   local offsets = ty.arange(0, block_size - 1):reshape(1, block_size)
   return new_dataset("SlidingWindow", n, function(_, i)
      local s = (i - 1) * stride + 1
      return tokens[{{s, s + block_size - 1}}], tokens[{{s + 1, s + block_size}}]
   end, {
      tokens = tokens, block_size = block_size, stride = stride,
      _batch = function(_, idx)
         local starts = ((idx - 1) * stride + 1):reshape(-1, 1) + offsets
         return {n = 2, tokens:take(starts, 1), tokens:take(starts + 1, 1)}
      end,
   })
end, [[ty.data.SlidingWindow(tokens, block_size, [{stride=1}]) -> dataset
  Language-modelling pairs over a 1-d array of token ids: sample i is
  x = tokens[s .. s+block_size-1], y = tokens[s+1 .. s+block_size] with
  s = (i-1)*stride + 1 (y is x shifted by one).]])

M.__doc = M.__doc or "ty.data -- datasets, loaders, image transforms, Fashion-MNIST and text."
return M
