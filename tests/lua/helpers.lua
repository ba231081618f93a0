-- helpers.lua -- assertions for the Lua tests (require "helpers").
local ty = require "tycho"

local h = {}

-- Plain Lua values of v: arrays become nested tables (or a number for 0-d).
local function plain(v)
   if ty.is_array(v) then return v:tolist() end
   return v
end
h.plain = plain

local function shape_of(v)
   if ty.is_array(v) then return v.shape end
   local shape, t = {}, v
   while type(t) == "table" do
      shape[#shape + 1] = #t
      t = t[1]
   end
   return shape
end

local function fmt_shape(s)
   return "(" .. table.concat(s, ",") .. ")"
end

local function show(v)
   if type(v) ~= "table" then return tostring(v) end
   local parts = {}
   for i = 1, math.min(#v, 8) do parts[i] = show(v[i]) end
   if #v > 8 then parts[#parts + 1] = "..." end
   return "{" .. table.concat(parts, ", ") .. "}"
end

-- Walks a and b together; calls cmp(x, y, path) on leaves; returns a failure
-- message or nil.
local function walk(a, b, cmp, path)
   if type(a) == "table" or type(b) == "table" then
      if type(a) ~= "table" or type(b) ~= "table" then
         return string.format("at %s: got %s, expected %s", path, show(a), show(b))
      end
      if #a ~= #b then
         return string.format("at %s: length %d, expected %d", path, #a, #b)
      end
      for i = 1, #a do
         local m = walk(a[i], b[i], cmp, path == "" and tostring(i) or path .. "," .. i)
         if m then return m end
      end
      return nil
   end
   return cmp(a, b, "[" .. path .. "]")
end

local function check_shapes(got, expected, level)
   if ty.is_array(got) and (ty.is_array(expected) or type(expected) == "table") then
      local sg, se = shape_of(got), shape_of(expected)
      if fmt_shape(sg) ~= fmt_shape(se) and #se > 0 then
         error(string.format("shape %s, expected %s", fmt_shape(sg), fmt_shape(se)), level)
      end
   end
end

-- Values of got and expected (arrays, nested tables, numbers, booleans) agree
-- within tol (absolute + relative, default 1e-5); NaN equals NaN.
function h.assert_close(got, expected, tol, what)
   tol = tol or 1e-5
   check_shapes(got, expected, 3)
   local g, e = plain(got), plain(expected)
   local m = walk(g, e, function(x, y, path)
      if type(x) == "boolean" or type(y) == "boolean" then
         if x ~= y then return string.format("at %s: got %s, expected %s", path, x, y) end
         return nil
      end
      if type(x) ~= "number" or type(y) ~= "number" then
         return string.format("at %s: got %s, expected %s", path, tostring(x), tostring(y))
      end
      if x ~= x and y ~= y then return nil end
      if x == y then return nil end
      if math.abs(x - y) > tol * (1 + math.abs(y)) then
         return string.format("at %s: got %.9g, expected %.9g (tol %g)", path, x, y, tol)
      end
      return nil
   end, "")
   if m then
      error((what and what .. ": " or "") .. m .. "\n  got      " .. show(g) ..
         "\n  expected " .. show(e), 2)
   end
end

-- Exact equality of values (deep for tables and arrays; arrays also by shape).
function h.assert_eq(got, expected, what)
   check_shapes(got, expected, 3)
   local g, e = plain(got), plain(expected)
   local m = walk(g, e, function(x, y, path)
      if x ~= y then
         return string.format("at %s: got %s, expected %s", path, tostring(x), tostring(y))
      end
   end, "")
   if m then error((what and what .. ": " or "") .. m, 2) end
end

-- fn wrapped to run with the CPU as the default device (float64 checks such
-- as ty.gradcheck need CPU arrays; under TYCHO_DEVICE=vulkan the default is
-- the GPU). The previous default device is restored, also on errors.
function h.on_cpu(fn)
   return function(...)
      local ty = require "tycho"
      local prev = ty.default_device()
      ty.set_device("cpu")
      local res = table.pack(pcall(fn, ...))
      ty.set_device(prev)
      if not res[1] then error(res[2], 0) end
      return table.unpack(res, 2, res.n)
   end
end

-- ty.gradcheck(f, args) passes, VJP and JVP (opts are passed on, jvp forced);
-- on failure the error names what, the worst element and both derivatives.
function h.gradcheck(f, args, what, opts)
   local ty = require "tycho"
   opts = opts or {}
   opts.jvp = true
   local ok, r = ty.gradcheck(f, args, opts)
   what = what or "gradcheck"
   if not ok then
      local w = r and r.worst
      if w then
         error(string.format("%s: gradcheck failed: max_abs_err %.3g max_rel_err %.3g at arg %s "
                             .. "index {%s} (%s: analytic %.9g, numeric %.9g)", what,
                             r.max_abs_err, r.max_rel_err or 0, tostring(w.arg),
                             table.concat(w.index, ","), w.mode, w.analytic, w.numeric), 2)
      end
      error(string.format("%s: gradcheck failed: max_abs_err %s", what,
                          tostring(r and r.max_abs_err)), 2)
   end
   return r
end

-- fn() raises an error whose message contains fragment (plain text).
function h.assert_error(fn, fragment)
   local ok, err = pcall(fn)
   if ok then error("expected an error containing '" .. fragment .. "', got none", 2) end
   err = tostring(err)
   if not err:find(fragment, 1, true) then
      error("expected an error containing '" .. fragment .. "', got: " .. err, 2)
   end
   return err
end

function h.assert_shape(x, shape)
   if fmt_shape(x.shape) ~= fmt_shape(shape) then
      error(string.format("shape %s, expected %s", fmt_shape(x.shape), fmt_shape(shape)), 2)
   end
end

function h.assert_dtype(x, dtype)
   if x.dtype ~= dtype then
      error(string.format("dtype %s, expected %s", x.dtype, dtype), 2)
   end
end

-- The name of the first usable Vulkan device ("vulkan:0"), or nil when ty.devices()
-- lists none (tests comparing the CPU and Vulkan then skip).
function h.vulkan_device()
   for _, d in ipairs(ty.devices()) do
      if d.type ~= "cpu" and d.usable ~= false then
         return d.name or ("vulkan:" .. (d.index or 0))
      end
   end
   return nil
end

------------------------------------------------------------------ files and processes

-- A fresh temporary file name (nothing is created), ending with suffix.
function h.tmpname(suffix)
   local p = os.tmpname()
   os.remove(p)
   return p .. (suffix or "")
end

-- Runs a shell command with stderr joined to stdout; returns the output and the
-- exit status (0 on success).
function h.sh(cmd)
   local p = io.popen(cmd .. " 2>&1")
   local out = p:read("a")
   local ok, _, code = p:close()
   return out, ok and 0 or code
end

-- Runs a shell command (stderr untouched); returns its stdout and exit status.
function h.run(cmd)
   local p = io.popen(cmd .. "; echo \"::rc=$?\"")
   local out = p:read("a")
   p:close()
   local rc = tonumber(out:match("::rc=(%d+)%s*$"))
   return (out:gsub("::rc=%d+%s*$", "")), rc
end

-- A fresh temporary directory /tmp/tycho_<tag>_XXXXXX; returns its path and a
-- function name -> path inside it.
function h.tmpdir(tag)
   local dir = h.sh("mktemp -d /tmp/tycho_" .. tag .. "_XXXXXX"):gsub("%s+$", "")
   return dir, function(name) return dir .. "/" .. name end
end

-- The bytes of a file (an error when it cannot be read).
function h.read_bytes(path)
   local f = assert(io.open(path, "rb"))
   local s = f:read("a")
   f:close()
   return s
end

-- The bytes of a file, or nil when it does not exist.
function h.try_read(path)
   local f = io.open(path, "rb")
   if not f then return nil end
   local s = f:read("a")
   f:close()
   return s
end

function h.write_bytes(path, s)
   local f = assert(io.open(path, "wb"))
   f:write(s)
   f:close()
end

-- A temporary .lua file holding body (a script to run with ./tycho); its path.
function h.script_file(body)
   local p = h.tmpname(".lua")
   h.write_bytes(p, body)
   return p
end

return h
