-- test_io.lua -- ty.save / ty.load / ty.io: .npy, .npz and .safetensors
-- round-trips for every dtype, interop with NumPy both ways (Debian's
-- /usr/bin/python3 with numpy; skipped with a note when it is missing),
-- every malformed-file error, and atomic writes (a writer killed mid-save
-- leaves the previous file intact).
local ty = require "tycho"
local h = require "helpers"

local close, eq, err = h.assert_close, h.assert_eq, h.assert_error

local T = {}

local sh, read_bytes, write_bytes = h.sh, h.read_bytes, h.write_bytes
local DIR, tmp = h.tmpdir("io")

local HAVE_NUMPY = select(2, sh("/usr/bin/python3 -c 'import numpy'")) == 0
local function python(script)
   local path = tmp("script.py")
   write_bytes(path, script)
   local out, code = sh("cd " .. DIR .. " && /usr/bin/python3 " .. path)
   assert(code == 0, "python failed:\n" .. out)
   return out
end
local function skip_note(what)
   io.stderr:write("  note: test_io: " .. what .. " skipped (/usr/bin/python3 lacks numpy; "
      .. "apt-get install python3-numpy)\n")
end

local DTYPES = {"float32", "float64", "float16", "int32", "int64", "uint8", "bool"}

-- Sample values (2,3) of dtype dt.
local function sample(dt)
   if dt == "bool" then return ty.array({{true, false, true}, {false, false, true}}) end
   local vals = {{0, 1, 2}, {3, 250, 5}}
   if dt ~= "uint8" then vals = {{-1.5, 0, 2.25}, {3, 1e3, -7}} end
   if dt:match("^int") then vals = {{-1, 0, 2}, {3, 100000, -7}} end
   return ty.array(vals, {dtype = dt})
end

-- ---------------------------------------------------------------- round-trips

function T.npy_round_trip_every_dtype_and_shape()
   for _, dt in ipairs(DTYPES) do
      local x = sample(dt)
      ty.save(tmp("r.npy"), x)
      local y = ty.load(tmp("r.npy"))
      h.assert_dtype(y, dt)
      eq(y, x:tolist())
   end
   for _, x in ipairs{ty.array(3.5), ty.zeros{0, 3}, ty.arange(1, 24):reshape{2, 3, 4},
                      ty.ones{1, 1, 1, 1, 1, 1, 1, 2}} do
      ty.io.save_npy(tmp("s.npy"), x)
      local y = ty.io.load_npy(tmp("s.npy"))
      h.assert_shape(y, x.shape)
      if x.size > 0 then eq(y, x:tolist()) end
   end
   -- a non-contiguous view is written in row-major order
   local t = ty.arange(1, 6):reshape{2, 3}:transpose()
   ty.save(tmp("t.npy"), t)
   eq(ty.load(tmp("t.npy")), t:tolist())
   -- the header is padded to 64 bytes and ends with a newline
   local s = read_bytes(tmp("t.npy"))
   assert(s:sub(1, 8) == "\x93NUMPY\1\0")
   local hlen = string.unpack("<I2", s, 9)
   assert((10 + hlen) % 64 == 0 and s:sub(10 + hlen, 10 + hlen) == "\n")
end

function T.npz_round_trip_stored_and_compressed()
   local arrays = {}
   for _, dt in ipairs(DTYPES) do arrays[dt] = sample(dt) end
   arrays.big = ty.zeros{1000}
   for _, compress in ipairs{false, true} do
      ty.save(tmp("r.npz"), arrays, {compress = compress})
      local got = ty.load(tmp("r.npz"))
      for name, x in pairs(arrays) do
         h.assert_dtype(got[name], x.dtype)
         eq(got[name], x:tolist())
      end
   end
   local plain = #read_bytes(tmp("r.npz"))
   ty.io.save_npz(tmp("r2.npz"), arrays)
   assert(#read_bytes(tmp("r2.npz")) > plain, "compress=true makes a smaller file")
   eq(ty.io.load_npz(tmp("r2.npz")).big, ty.zeros{1000}:tolist())
   -- an empty archive
   ty.save(tmp("e.npz"), {})
   assert(next(ty.load(tmp("e.npz"))) == nil)
end

function T.safetensors_round_trip_with_metadata()
   local arrays = {}
   for _, dt in ipairs(DTYPES) do arrays[dt] = sample(dt) end
   arrays.bfloat16 = ty.array({1, -2.5, 3e4}):astype("bfloat16")
   arrays.scalar = ty.array(7)
   arrays.empty = ty.zeros{0, 4}
   local meta = {format = "pt", note = 'quotes " and \\ and\nnewline', ["ü"] = "ünï"}
   ty.save(tmp("r.safetensors"), arrays, {metadata = meta})
   local got, m = ty.load(tmp("r.safetensors"))
   for name, x in pairs(arrays) do
      h.assert_dtype(got[name], x.dtype)
      h.assert_shape(got[name], x.shape)
      if x.size > 0 then eq(got[name], x:tolist()) end
   end
   for k, v in pairs(meta) do assert(m[k] == v, k) end
   -- the header is 8-byte aligned JSON, tensors sorted by name, data packed
   local s = read_bytes(tmp("r.safetensors"))
   local n = string.unpack("<I8", s)
   assert(n % 8 == 0)
   local header = s:sub(9, 8 + n)
   assert(header:find('"bfloat16":') < header:find('"bool":'))
   assert(header:find('"int32":') < header:find('"int64":'))
   local got2, m2 = ty.io.load_safetensors(tmp("r.safetensors"))
   eq(got2.int64, arrays.int64:tolist())
   assert(m2.format == "pt")
   -- no metadata: an empty table
   ty.io.save_safetensors(tmp("n.safetensors"), {a = ty.ones{2}})
   local _, m3 = ty.load(tmp("n.safetensors"))
   assert(type(m3) == "table" and next(m3) == nil)
end

function T.load_to_a_vulkan_device()
   local vk = h.vulkan_device()
   if not vk then return end
   local x = ty.arange(1, 6, {dtype = "float32"}):reshape{2, 3}
   ty.save(tmp("v.npy"), x)
   ty.save(tmp("v.safetensors"), {x = x})
   ty.save(tmp("v.npz"), {x = x})
   local a = ty.load(tmp("v.npy"), {device = vk})
   assert(tostring(a.device):find("vulkan"), tostring(a.device))
   eq(a, x:tolist())
   eq(ty.load(tmp("v.safetensors"), {device = vk}).x, x:tolist())
   eq(ty.load(tmp("v.npz"), {device = vk}).x, x:tolist())
end

-- ---------------------------------------------------------------- NumPy interop

local PY_SAFETENSORS = [==[
import json, struct
def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    codes = {'float32': 'F32', 'float64': 'F64', 'float16': 'F16', 'int32': 'I32',
             'int64': 'I64', 'uint8': 'U8', 'bool': 'BOOL'}
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        b = a.astype(a.dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': codes[str(a.dtype)], 'shape': list(a.shape),
                        'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header['__metadata__'] = metadata
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
def load_safetensors(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    header = json.loads(b[8:8 + n])
    codes = {'F32': '<f4', 'F64': '<f8', 'F16': '<f2', 'I32': '<i4', 'I64': '<i8',
             'U8': 'u1', 'BOOL': '?', 'BF16': '<u2'}
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        s, e = t['data_offsets']
        out[name] = np.frombuffer(b[8 + n + s:8 + n + e], codes[t['dtype']]).reshape(t['shape'])
    return out, header.get('__metadata__', {})
]==]

function T.numpy_files_load_in_tycho()
   if not HAVE_NUMPY then return skip_note("numpy -> tycho interop") end
   python("import numpy as np\n" .. PY_SAFETENSORS .. [==[
base = np.array([[-1.5, 0, 2.25], [3, 100, -7]])
arrs = {}
for dt in ['float32', 'float64', 'float16', 'int32', 'int64', 'uint8', 'bool']:
    a = base.astype(dt) if dt not in ('uint8', 'bool') else (np.abs(base).astype(dt))
    arrs[dt] = a
    np.save('np_%s.npy' % dt, a)
np.save('np_fortran.npy', np.asfortranarray(np.arange(24, dtype='<f8').reshape(2, 3, 4)))
np.save('np_scalar.npy', np.float32(2.5))
np.save('np_empty.npy', np.zeros((0, 3), np.int64))
np.savez('np_plain.npz', **arrs)
np.savez_compressed('np_comp.npz', **arrs)
np.savez('np_positional.npz', np.arange(3), np.ones(2))
save_safetensors('np.safetensors', arrs, {'framework': 'numpy', 'x': 'y'})
np.save('np_big_endian.npy', np.arange(3, dtype='>f4'))
np.save('np_u4.npy', np.arange(3, dtype='<u4'))
np.save('np_structured.npy', np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')]))
]==])
   local base = {{-1.5, 0, 2.25}, {3, 100, -7}}
   local function expect(dt)
      if dt == "bool" then return {{true, false, true}, {true, true, true}} end
      if dt == "uint8" then return {{1, 0, 2}, {3, 100, 7}} end
      if dt:match("^int") then return {{-1, 0, 2}, {3, 100, -7}} end
      return base
   end
   local plain, comp = ty.load(tmp("np_plain.npz")), ty.load(tmp("np_comp.npz"))
   local st, meta = ty.load(tmp("np.safetensors"))
   for _, dt in ipairs(DTYPES) do
      for _, x in ipairs{ty.load(tmp("np_" .. dt .. ".npy")), plain[dt], comp[dt], st[dt]} do
         h.assert_dtype(x, dt)
         eq(x, expect(dt))
      end
   end
   assert(meta.framework == "numpy" and meta.x == "y")
   local f = ty.load(tmp("np_fortran.npy"))
   eq(f, ty.arange(0, 23, {dtype = "float64"}):reshape{2, 3, 4}:tolist())
   eq(ty.load(tmp("np_scalar.npy")), 2.5)
   h.assert_shape(ty.load(tmp("np_empty.npy")), {0, 3})
   local pos = ty.load(tmp("np_positional.npz"))
   eq(pos.arr_0, {0, 1, 2})
   eq(pos.arr_1, {1, 1})
   err(function() ty.load(tmp("np_big_endian.npy")) end, "big-endian dtype '>f4'")
   err(function() ty.load(tmp("np_u4.npy")) end, "unsupported dtype '<u4'")
   err(function() ty.load(tmp("np_structured.npy")) end, "structured dtypes")
end

function T.tycho_files_load_in_numpy()
   if not HAVE_NUMPY then return skip_note("tycho -> numpy interop") end
   local arrays = {}
   for _, dt in ipairs(DTYPES) do
      arrays[dt] = sample(dt)
      ty.save(tmp("ty_" .. dt .. ".npy"), arrays[dt])
   end
   ty.save(tmp("ty_scalar.npy"), ty.array(4.5))
   ty.save(tmp("ty_3d.npy"), ty.arange(1, 24):reshape{2, 3, 4})
   ty.save(tmp("ty_plain.npz"), arrays)
   ty.save(tmp("ty_comp.npz"), arrays, {compress = true})
   local st = {}
   for k, v in pairs(arrays) do st[k] = v end
   st.bfloat16 = ty.array({1, -2.5, 3e4}):astype("bfloat16")
   ty.save(tmp("ty.safetensors"), st, {metadata = {framework = "tycho"}})
   local out = python("import numpy as np\n" .. PY_SAFETENSORS .. [==[
def sample(dt):
    if dt == 'bool':
        return np.array([[True, False, True], [False, False, True]])
    if dt == 'uint8':
        return np.array([[0, 1, 2], [3, 250, 5]], np.uint8)
    if dt.startswith('int'):
        return np.array([[-1, 0, 2], [3, 100000, -7]], dt)
    return np.array([[-1.5, 0, 2.25], [3, 1e3, -7]], dt)
plain, comp = np.load('ty_plain.npz'), np.load('ty_comp.npz')
st, meta = load_safetensors('ty.safetensors')
for dt in ['float32', 'float64', 'float16', 'int32', 'int64', 'uint8', 'bool']:
    want = sample(dt)
    for got in [np.load('ty_%s.npy' % dt), plain[dt], comp[dt], st[dt]]:
        assert got.dtype == want.dtype, (dt, got.dtype)
        assert got.shape == want.shape and (got == want).all(), (dt, got)
assert np.load('ty_scalar.npy').shape == () and np.load('ty_scalar.npy') == 4.5
assert (np.load('ty_3d.npy') == np.arange(1, 25).reshape(2, 3, 4)).all()
bf = st['bfloat16'].astype('<u4') << 16
assert (bf.view('<f4') == np.array([1, -2.5, 29952], np.float32)).all(), bf.view('<f4')
assert meta == {'framework': 'tycho'}
print('numpy ok')
]==])
   assert(out:find("numpy ok"), out)
end

-- ---------------------------------------------------------------- malformed files

local function npy_bytes(dict, data, version)
   local hdr = dict .. "\n"
   if version == 2 then
      return "\x93NUMPY\2\0" .. string.pack("<I4", #hdr) .. hdr .. (data or "")
   end
   return "\x93NUMPY\1\0" .. string.pack("<I2", #hdr) .. hdr .. (data or "")
end

local function npy_err(bytes, fragment)
   local path = tmp("bad.npy")
   write_bytes(path, bytes)
   local e = err(function() ty.load(path) end, fragment)
   assert(e:find(path, 1, true), "the message names the file: " .. e)
end

function T.malformed_npy_files_give_clear_errors()
   local path = tmp("good.npy")
   local ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
   write_bytes(path, npy_bytes(ok, string.pack("<ff", 1, 2)))
   eq(ty.load(path), {1, 2})
   npy_err("NOTNUMPY\1\0\0\0", "bad magic")
   npy_err("\x93NU", "bad magic")
   npy_err("\x93NUMPY\1\0" .. string.pack("<I2", 500) .. "{'descr'", "truncated header")
   npy_err("\x93NUMPY\2\0" .. string.pack("<I4", 0xFFFFFFF0) .. "{}", "header length")
   npy_err("\x93NUMPY\9\0\0\0", "unsupported .npy format version 9")
   npy_err(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), "
      .. "'x': __import__('os').system('echo hi')}", ""), "unexpected key 'x'")
   npy_err(npy_bytes("{'descr': '<f4', 'fortran_order': 1, 'shape': (2,)}", ""),
      "'fortran_order' must be True or False")
   npy_err(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", ""),
      "non-negative integers")
   npy_err(npy_bytes("{'descr': '<f4', 'fortran_order': False}", ""), "missing 'shape'")
   npy_err(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", ""),
      "trailing characters")
   npy_err(npy_bytes("['descr', '<f4']", ""), "expected a dict")
   npy_err(npy_bytes("{'descr': '<u4', 'fortran_order': False, 'shape': (2,)}", ""),
      "unsupported dtype '<u4'")
   npy_err(npy_bytes("{'descr': '>f8', 'fortran_order': False, 'shape': (2,)}", ""),
      "big-endian dtype '>f8'")
   npy_err(npy_bytes("{'descr': '<f4', 'fortran_order': False, "
      .. "'shape': (4294967296, 4294967296, 16)}", ""), "overflows")
   npy_err(npy_bytes("{'descr': '<f4', 'fortran_order': False, "
      .. "'shape': (99999999999999999999,)}", ""), "non-negative integers")
   npy_err(npy_bytes("{'descr': '<f4', 'fortran_order': False, "
      .. "'shape': (1,1,1,1,1,1,1,1,1)}", ""), "more than 8 dimensions")
   npy_err(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (10,)}",
      string.rep("\0", 8)), "truncated data: 40 bytes expected, 8 present")
   npy_err(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (10,)}",
      string.rep("\0", 8), 2), "truncated data")
   err(function() ty.load(tmp("does_not_exist.npy")) end, "cannot open")
end

function T.malformed_npz_files_give_clear_errors()
   ty.save(tmp("ok.npz"), {a = ty.arange(1, 100)})
   local good = read_bytes(tmp("ok.npz"))
   eq(ty.load(tmp("ok.npz")).a, ty.arange(1, 100):tolist())
   -- a flipped byte inside the stored member: its CRC no longer matches
   local i = 200
   local bad = good:sub(1, i - 1) .. string.char((good:byte(i) + 1) % 256) .. good:sub(i + 1)
   write_bytes(tmp("bad.npz"), bad)
   err(function() ty.load(tmp("bad.npz")) end, "CRC-32 mismatch")
   write_bytes(tmp("bad.npz"), good:sub(1, #good - 10))
   err(function() ty.load(tmp("bad.npz")) end, "no end of central directory")
   write_bytes(tmp("bad.npz"), "PK")
   err(function() ty.load(tmp("bad.npz")) end, "not a zip archive")
   -- the central directory pointing past the end of the file
   local eocd = #good - 21
   bad = good:sub(1, eocd + 15) .. string.pack("<I4", #good + 100) .. good:sub(eocd + 20)
   write_bytes(tmp("bad.npz"), bad)
   err(function() ty.load(tmp("bad.npz")) end, "central directory past the end")
   -- zip64 markers are refused
   bad = good:sub(1, eocd + 9) .. "\xff\xff" .. good:sub(eocd + 12)
   write_bytes(tmp("bad.npz"), bad)
   err(function() ty.load(tmp("bad.npz")) end, "zip64")
   -- a compressed member with corrupt deflate data
   ty.save(tmp("c.npz"), {a = ty.arange(1, 1000)}, {compress = true})
   local c = read_bytes(tmp("c.npz"))
   bad = c:sub(1, 80) .. string.rep("\xff", 40) .. c:sub(121)
   write_bytes(tmp("bad.npz"), bad)
   local e = err(function() ty.load(tmp("bad.npz")) end, "member 'a.npy'")
   assert(e:find("corrupt deflate") or e:find("CRC"), e)
   -- a member that is not a valid .npy
   local zipped = tmp("notnpy.npz")
   if HAVE_NUMPY then
      python("import zipfile\nzipfile.ZipFile('notnpy.npz', 'w').writestr('x.npy', b'hello')\n")
      err(function() ty.load(zipped) end, "(member 'x.npy'): bad magic")
   end
end

local function st_bytes(header, data)
   local pad = (8 - #header % 8) % 8
   header = header .. string.rep(" ", pad)
   return string.pack("<I8", #header) .. header .. (data or "")
end

local function st_err(bytes, fragment)
   local path = tmp("bad.safetensors")
   write_bytes(path, bytes)
   local e = err(function() ty.load(path) end, fragment)
   assert(e:find(path, 1, true), "the message names the file: " .. e)
end

function T.malformed_safetensors_files_give_clear_errors()
   local data8 = string.pack("<ff", 1, 2)
   local path = tmp("good.safetensors")
   write_bytes(path, st_bytes('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', data8))
   eq(ty.load(path).a, {1, 2})
   st_err("\1\0\0", "truncated header")
   st_err(string.pack("<I8", 1 << 40) .. "{}", "header length 1099511627776 is over the limit")
   st_err(string.pack("<I8", 1000) .. "{}", "truncated header (1000 bytes declared")
   st_err(st_bytes("not json"), "not a JSON object")
   st_err(st_bytes('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]'),
      "invalid JSON")
   st_err(st_bytes('{"a":1.5}'), "only integers")
   st_err(st_bytes('{"a":{},"a":{}}'), "duplicate key")
   st_err(st_bytes(string.rep("[", 100) .. string.rep("]", 100)), "not a JSON object")
   st_err(st_bytes("{\"a\":" .. string.rep("[", 100) .. string.rep("]", 100) .. "}"),
      "nested too deeply")
   st_err(st_bytes('{"a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}}', "1234"),
      "tensor 'a': unsupported dtype 'I16'")
   st_err(st_bytes('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data8),
      "go past the end of the data")
   st_err(st_bytes('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
      .. '"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data8), "overlap")
   st_err(st_bytes('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', data8),
      "span 8 bytes, but dtype and shape need 12")
   st_err(st_bytes('{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],'
      .. '"data_offsets":[0,8]}}', data8), "overflows")
   st_err(st_bytes('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}', data8),
      "non-negative integers")
   st_err(st_bytes('{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', data8),
      "begin after they end")
   st_err(st_bytes('{"a":{"dtype":"F32","shape":[2]}}', data8), "exactly dtype, shape")
   st_err(st_bytes('{"__metadata__":{"k":1}}'), "__metadata__ value of 'k' is not a string")
   st_err(st_bytes('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', "1234"),
      "go past the end of the data (4 bytes; truncated file?)")
end

-- ---------------------------------------------------------------- API errors

function T.save_and_load_argument_errors()
   err(function() ty.save(tmp("x.pt"), ty.ones{2}) end,
      "[save] unknown file type '.pt' (expected .npy, .npz or .safetensors)")
   err(function() ty.load(tmp("x.pt")) end, "[load] unknown file type '.pt'")
   err(function() ty.save(tmp("noext"), ty.ones{2}) end, "has no file extension")
   err(function() ty.save(tmp("x.npy"), ty.ones{2}:astype("bfloat16")) end,
      "bfloat16 is not a NumPy dtype; save it as .safetensors")
   err(function() ty.save(tmp("x.npy"), {a = ty.ones{2}}) end, "a .npy file holds one array")
   err(function() ty.save(tmp("x.npz"), ty.ones{2}) end, "must be a table of name = array")
   err(function() ty.save(tmp("x.npz"), {a = 3}) end, "the value of 'a' must be an array")
   err(function() ty.save(tmp("x.npz"), {ty.ones{2}}) end, "names must be strings")
   err(function() ty.save(tmp("x.npz"), {a = ty.ones{2}}, {metadata = {}}) end,
      "only stored in .safetensors")
   err(function() ty.save(tmp("x.npy"), ty.ones{2}, {compress = true}) end,
      "applies to .npz files only")
   err(function() ty.save(tmp("x.npz"), {a = ty.ones{2}}, {level = 9}) end,
      "unknown option 'level'")
   err(function() ty.save(tmp("x.safetensors"), {a = ty.ones{2}}, {metadata = {k = 1}}) end,
      "must map strings to strings")
   err(function() ty.save(tmp("x.safetensors"), {__metadata__ = ty.ones{2}}) end,
      "'__metadata__' is reserved")
   err(function() ty.load(tmp("x.npy"), {dev = "cpu"}) end, "unknown option 'dev'")
   err(function() ty.save(DIR .. "/no/such/dir/x.npy", ty.ones{2}) end,
      "cannot create a temporary file")
   for _, name in ipairs{"save", "load"} do assert(ty.__doc[ty[name]], name) end
   for name, fn in pairs(ty.io) do
      if type(fn) == "function" then assert(ty.__doc[fn], "undocumented: ty.io." .. name) end
   end
end

-- ---------------------------------------------------------------- atomic writes

function T.write_atomic_replaces_whole_files()
   local path = tmp("w.txt")
   ty.io.write_atomic(path, "first")
   assert(read_bytes(path) == "first")
   ty.io.write_atomic(path, "second\0with a nul")
   assert(read_bytes(path) == "second\0with a nul")
   ty.io.write_atomic(path, "")
   assert(read_bytes(path) == "")
   err(function() ty.io.write_atomic(DIR .. "/missing/w.txt", "x") end,
      "cannot create a temporary file in " .. DIR .. "/missing")
   -- a failed save leaves the previous file as it was
   ty.save(tmp("keep.npy"), ty.ones{3})
   pcall(ty.save, tmp("keep.npy"), ty.ones{3}:astype("bfloat16"))
   eq(ty.load(tmp("keep.npy")), {1, 1, 1})
   local left = sh("ls " .. DIR .. " | grep -c tmp || true")
   assert(left:match("^0"), "no temporary file is left behind: " .. left)
end

function T.a_writer_killed_mid_save_leaves_the_previous_file()
   local path = tmp("killed.npy")
   ty.save(path, ty.arange(1, 1000, {dtype = "int32"}))
   local tycho = "./tycho"
   if not io.open(tycho, "rb") then return end   -- the REPL binary is needed
   -- 8 MB in 64 KiB chunks, 30 ms apart: about 4 s to write; killed early.
   local script = string.format(
      "local ty = require 'tycho'; ty.save(%q, ty.zeros({2000000}, {dtype = 'int32'}))", path)
   local out = sh(string.format([[
TYCHO_DEVICE=cpu TYCHO_TEST_SLOW_WRITE=30 %s -e %q >/dev/null 2>&1 &
pid=$!
i=0
while [ $i -lt 200 ] && ! ls %s.tmp* >/dev/null 2>&1; do sleep 0.05; i=$((i+1)); done
sleep 0.3
kill -9 $pid
wait $pid 2>/dev/null
ls -l %s.tmp* 2>/dev/null | wc -l]], tycho, script, path, path))
   assert(out:match("1%s*$"), "the writer was killed while its temporary file existed: " .. out)
   -- the previous file is intact and loads; the partial temporary file is a
   -- separate file (smaller than the full write), never the target
   eq(ty.load(path), ty.arange(1, 1000, {dtype = "int32"}):tolist())
   local tmpname = sh("ls " .. path .. ".tmp*"):gsub("%s+$", "")
   local partial = #read_bytes(tmpname)
   assert(partial < 8000000 + 128, "killed before the end: " .. partial)
   os.remove(tmpname)
   -- and a complete save after that works
   ty.save(path, ty.ones{2})
   eq(ty.load(path), {1, 1})
end

function T.zz_cleanup()
   sh("rm -rf " .. DIR)
end

return T
