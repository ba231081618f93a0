-- tycho.checkpoint -- ty.save_checkpoint and ty.load_checkpoint: a model, an
-- optimizer, the epoch, the RNG key and extra values in one .safetensors file
-- (attached to ty by tycho.init).
--
-- Layout: every array of a tree becomes a tensor named "<part>/<dotted path>"
-- (part: model, optimizer or extra; path: the keys from the root, integers
-- 1-based, e.g. "model/layers.1.weight"). Everything else goes to the
-- metadata entry "tycho.checkpoint", a JSON object:
--    {"format": "tycho.checkpoint", "version": 1, "epoch": 3,
--     "rng": "0123456789abcdef", "rng_global": true,
--     "model": <tree>, "optimizer": <tree>, "extra": <tree>}
-- where a <tree> is JSON for a Lua value:
--    string, boolean           as themselves (strings must be UTF-8)
--    integer                   digits only:         3
--    float                     always with . or e:  3.0, 1e+300
--    non-finite float          {"$float": "inf" | "-inf" | "nan"}
--    array                     {"$tensor": "model/layers.1.weight"}
--    Key (ty.random)           {"$key": "<16 hex digits>"}
--    table 1..n (n >= 1)       a JSON list
--    table whose keys are all strings not starting with "$"
--                              a JSON object
--    any other table           {"$pairs": [[key, value], ...]} (keys: integers, strings)
-- The file is only parsed (strict JSON, no code): nothing in it is executed.
local ty = require "tycho"

local M = {}

local VERSION = 1
local FORMAT = "tycho.checkpoint"
local META_KEY = "tycho.checkpoint"
local MAX_DEPTH = 200      -- JSON nesting
local MAX_TREE_DEPTH = 60  -- tables in a tree (each may take 3 JSON levels)

local is_array = ty.is_array
local fmt = string.format

------------------------------------------------------------------------ JSON

local json = {}
M.json = json

local ESCAPES = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                 ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}

local function encode_string(s, where)
   if not utf8.len(s) then
      error(fmt("%s: the string is not valid UTF-8 (JSON holds text)", where), 0)
   end
   return '"' .. s:gsub('[%c"\\]', function(c)
      return ESCAPES[c] or fmt("\\u%04x", c:byte())
   end) .. '"'
end

local function encode_number(x, where)
   if math.type(x) == "integer" then return fmt("%d", x) end
   if x ~= x or x == math.huge or x == -math.huge then
      error(fmt("%s: %s has no JSON form", where, tostring(x)), 0)
   end
   local s = fmt("%.17g", x)
   if not s:find("[%.eE]") then s = s .. ".0" end
   return s
end

-- JSON text of v: strings, numbers (integers stay integers), booleans, and
-- tables (a sequence 1..n as a list, else an object with string keys).
local function encode_value(v, out, where, depth, visiting)
   local t = type(v)
   if t == "string" then
      out[#out + 1] = encode_string(v, where)
   elseif t == "number" then
      out[#out + 1] = encode_number(v, where)
   elseif t == "boolean" then
      out[#out + 1] = tostring(v)
   elseif t == "table" then
      if depth > MAX_DEPTH then error(fmt("%s: nested deeper than %d", where, MAX_DEPTH), 0) end
      if visiting[v] then error(fmt("%s: the table contains a cycle", where), 0) end
      visiting[v] = true
      local n, count = #v, 0
      for _ in pairs(v) do count = count + 1 end
      if n > 0 and n == count then
         out[#out + 1] = "["
         for i = 1, n do
            if i > 1 then out[#out + 1] = "," end
            encode_value(v[i], out, where .. "[" .. i .. "]", depth + 1, visiting)
         end
         out[#out + 1] = "]"
      else
         local keys = {}
         for k in pairs(v) do
            if type(k) ~= "string" then
               error(fmt("%s: key %s (%s): JSON objects have string keys", where,
                         tostring(k), type(k)), 0)
            end
            keys[#keys + 1] = k
         end
         table.sort(keys)
         out[#out + 1] = "{"
         for i, k in ipairs(keys) do
            if i > 1 then out[#out + 1] = "," end
            out[#out + 1] = encode_string(k, where)
            out[#out + 1] = ":"
            encode_value(v[k], out, where .. "." .. k, depth + 1, visiting)
         end
         out[#out + 1] = "}"
      end
      visiting[v] = nil
   else
      error(fmt("%s: a %s has no JSON form", where, t), 0)
   end
end

-- json.encode(v) -> string
function json.encode(v, where)
   local out = {}
   encode_value(v, out, where or "json", 0, {})
   return table.concat(out)
end

-- Decoding: a recursive descent over s; errors name the byte offset.
local function decode_error(s, pos, what)
   error(fmt("invalid JSON at byte %d: %s", pos, what), 0)
end

local function skip_ws(s, pos)
   return s:find("[^ \t\r\n]", pos) or #s + 1
end

local decode_value

local function decode_string(s, pos)
   -- pos: the opening quote
   local parts, i = {}, pos + 1
   while true do
      local j = s:find('["\\%c]', i)
      if not j then decode_error(s, pos, "unterminated string") end
      parts[#parts + 1] = s:sub(i, j - 1)
      local c = s:sub(j, j)
      if c == '"' then
         local str = table.concat(parts)
         if not utf8.len(str) then decode_error(s, pos, "string is not valid UTF-8") end
         return str, j + 1
      elseif c == "\\" then
         local e = s:sub(j + 1, j + 1)
         local simple = ({['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f',
                          n = '\n', r = '\r', t = '\t'})[e]
         if simple then
            parts[#parts + 1] = simple
            i = j + 2
         elseif e == "u" then
            local hex = s:match("^%x%x%x%x", j + 2)
            if not hex then decode_error(s, j, "bad \\u escape") end
            local cp = tonumber(hex, 16)
            i = j + 6
            if cp >= 0xD800 and cp <= 0xDBFF then
               local lo = s:match("^\\u(%x%x%x%x)", i)
               lo = lo and tonumber(lo, 16)
               if not lo or lo < 0xDC00 or lo > 0xDFFF then
                  decode_error(s, j, "unpaired surrogate")
               end
               cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
               i = i + 6
            elseif cp >= 0xDC00 and cp <= 0xDFFF then
               decode_error(s, j, "unpaired surrogate")
            end
            parts[#parts + 1] = utf8.char(cp)
         else
            decode_error(s, j, "bad escape")
         end
      else
         decode_error(s, j, "control character in a string")
      end
   end
end

local function decode_number(s, pos)
   -- the strict grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?
   local int, frac, exp = s:match("^(-?%d+)(%.?%d*)([eE]?[-+]?%d*)", pos)
   local ok = int and not int:match("^-?0%d")
      and (frac == "" or frac:match("^%.%d+$"))
      and (exp == "" or exp:match("^[eE][-+]?%d+$"))
   if not ok then decode_error(s, pos, "bad number") end
   local num = int .. frac .. exp
   local v
   if frac == "" and exp == "" then
      v = math.tointeger(tonumber(num)) or tonumber(num) + 0.0
   else
      v = tonumber(num) + 0.0
   end
   return v, pos + #num
end

function decode_value(s, pos, depth)
   if depth > MAX_DEPTH then decode_error(s, pos, "nested deeper than " .. MAX_DEPTH) end
   pos = skip_ws(s, pos)
   local c = s:sub(pos, pos)
   if c == "{" then
      local obj = {}
      pos = skip_ws(s, pos + 1)
      if s:sub(pos, pos) == "}" then return obj, pos + 1 end
      while true do
         if s:sub(pos, pos) ~= '"' then decode_error(s, pos, "expected a string key") end
         local k
         k, pos = decode_string(s, pos)
         if obj[k] ~= nil then decode_error(s, pos, "duplicate key \"" .. k .. "\"") end
         pos = skip_ws(s, pos)
         if s:sub(pos, pos) ~= ":" then decode_error(s, pos, "expected ':'") end
         obj[k], pos = decode_value(s, pos + 1, depth + 1)
         pos = skip_ws(s, pos)
         c = s:sub(pos, pos)
         if c == "}" then return obj, pos + 1 end
         if c ~= "," then decode_error(s, pos, "expected ',' or '}'") end
         pos = skip_ws(s, pos + 1)
      end
   elseif c == "[" then
      local list = {}
      pos = skip_ws(s, pos + 1)
      if s:sub(pos, pos) == "]" then return list, pos + 1 end
      while true do
         local v
         v, pos = decode_value(s, pos, depth + 1)
         if v == json.null then decode_error(s, pos, "null inside a list") end
         list[#list + 1] = v
         pos = skip_ws(s, pos)
         c = s:sub(pos, pos)
         if c == "]" then return list, pos + 1 end
         if c ~= "," then decode_error(s, pos, "expected ',' or ']'") end
         pos = pos + 1
      end
   elseif c == '"' then
      return decode_string(s, pos)
   elseif c == "-" or c:match("%d") then
      return decode_number(s, pos)
   elseif s:sub(pos, pos + 3) == "true" then
      return true, pos + 4
   elseif s:sub(pos, pos + 4) == "false" then
      return false, pos + 5
   elseif s:sub(pos, pos + 3) == "null" then
      return json.null, pos + 4
   end
   decode_error(s, pos, c == "" and "unexpected end" or "unexpected '" .. c .. "'")
end

-- A sentinel for null (which Lua tables cannot hold as a value).
json.null = setmetatable({}, {__tostring = function() return "null" end})

-- json.decode(s) -> value: strict (one value, nothing after it but spaces).
function json.decode(s)
   if type(s) ~= "string" then error("[json] expected a string, got " .. type(s), 2) end
   local v, pos = decode_value(s, 1, 0)
   pos = skip_ws(s, pos)
   if pos <= #s then decode_error(s, pos, "text after the value") end
   return v
end

------------------------------------------------------------------------ trees

local function is_key(v)
   return type(v) == "userdata" and not is_array(v)
      and (pcall(ty.random.key_to_string, v))
end

local function has_method(obj, name)
   if type(obj) ~= "table" or is_array(obj) then return false end
   local ok, m = pcall(function() return obj[name] end)
   return ok and (type(m) == "function" or (getmetatable(m) or {}).__call ~= nil)
end

-- True when t's keys are exactly 1..#t (and #t >= 1).
local function is_sequence(t)
   local n, count = #t, 0
   for _ in pairs(t) do count = count + 1 end
   return n > 0 and n == count
end

local function plain_object(t)
   for k in pairs(t) do
      if type(k) ~= "string" or k:sub(1, 1) == "$" then return false end
   end
   return true
end

-- The JSON-ready form of a Lua value (see the header): arrays are appended to
-- `tensors` under "<name>" and replaced by {"$tensor": name}.
local function tree_to_json(v, name, sep, tensors, where, depth, visiting)
   local t = type(v)
   if is_array(v) then
      if tensors[name] ~= nil then
         error(fmt("%s: two arrays get the tensor name \"%s\" (keys with dots?)", where,
                   name), 0)
      end
      tensors[name] = v
      return {["$tensor"] = name}
   elseif t == "number" then
      if v ~= v then return {["$float"] = "nan"} end
      if v == math.huge then return {["$float"] = "inf"} end
      if v == -math.huge then return {["$float"] = "-inf"} end
      return v
   elseif t == "string" then
      if not utf8.len(v) then
         error(fmt("%s: the string is not valid UTF-8 (JSON holds text)", where), 0)
      end
      return v
   elseif t == "boolean" then
      return v
   elseif is_key(v) then
      return {["$key"] = ty.random.key_to_string(v)}
   elseif t ~= "table" then
      error(fmt("%s: a %s cannot be saved in a checkpoint (arrays, numbers, strings, " ..
                "booleans, keys and tables can)", where, t), 0)
   end
   if depth > MAX_TREE_DEPTH then
      error(fmt("%s: nested deeper than %d tables", where, MAX_TREE_DEPTH), 0)
   end
   if visiting[v] then error(fmt("%s: the table contains a cycle", where), 0) end
   visiting[v] = true
   local function child(k, x)
      local kn = name .. sep .. tostring(k)
      local kw = where .. (type(k) == "string" and k:match("^[%a_][%w_]*$") and "." .. k
                           or "[" .. fmt("%q", k) .. "]")
      return tree_to_json(x, kn, ".", tensors, kw, depth + 1, visiting)
   end
   local r
   if is_sequence(v) then
      r = {}
      for i = 1, #v do r[i] = child(i, v[i]) end
   elseif plain_object(v) then
      r = {}
      for k, x in pairs(v) do r[k] = child(k, x) end
      if next(r) == nil then r = {["$pairs"] = {}} end   -- {} keeps its object form
   else
      local keys = {}
      for k in pairs(v) do
         if math.type(k) ~= "integer" and type(k) ~= "string" then
            error(fmt("%s: key %s (%s): keys are integers or strings", where, tostring(k),
                      type(k)), 0)
         end
         keys[#keys + 1] = k
      end
      table.sort(keys, function(a, b)
         if type(a) == type(b) then return a < b end
         return type(a) == "number"
      end)
      local pairs_list = {}
      for i, k in ipairs(keys) do pairs_list[i] = {k, child(k, v[k])} end
      r = {["$pairs"] = pairs_list}
   end
   visiting[v] = nil
   return r
end

-- The Lua value of JSON-ready form j, arrays taken from `tensors`.
local function tree_from_json(j, tensors, path, file)
   local t = type(j)
   if t ~= "table" then
      if j == json.null then error(fmt("%s: %s: null is not a value", file, path), 0) end
      return j
   end
   local tag = next(j)
   if type(tag) == "string" and tag:sub(1, 1) == "$" then
      if next(j, tag) ~= nil then
         error(fmt("%s: %s: a tagged value (%s) has other keys", file, path, tag), 0)
      end
      local x = j[tag]
      if tag == "$tensor" then
         if type(x) ~= "string" then error(fmt("%s: %s: bad $tensor", file, path), 0) end
         local a = tensors[x]
         if a == nil then
            error(fmt("%s: the checkpoint names tensor \"%s\" which the file lacks", file, x), 0)
         end
         return a
      elseif tag == "$float" then
         local f = ({nan = 0 / 0, inf = math.huge, ["-inf"] = -math.huge})[x]
         if not f then error(fmt("%s: %s: bad $float %s", file, path, tostring(x)), 0) end
         return f
      elseif tag == "$key" then
         local ok, k = pcall(ty.random.key_from_string, x)
         if not ok then error(fmt("%s: %s: bad $key", file, path), 0) end
         return k
      elseif tag == "$pairs" then
         if type(x) ~= "table" then error(fmt("%s: %s: bad $pairs", file, path), 0) end
         local r = {}
         for i, kv in ipairs(x) do
            local k = type(kv) == "table" and kv[1]
            if (math.type(k) ~= "integer" and type(k) ~= "string") or kv[2] == nil
               or #kv ~= 2 or r[k] ~= nil then
               error(fmt("%s: %s: bad $pairs entry %d", file, path, i), 0)
            end
            r[k] = tree_from_json(kv[2], tensors, path .. "." .. tostring(k), file)
         end
         return r
      end
      error(fmt("%s: %s: unknown tag %s", file, path, tag), 0)
   end
   local r = {}
   for k, x in pairs(j) do r[k] = tree_from_json(x, tensors, path .. "." .. tostring(k), file) end
   return r
end

------------------------------------------------------------------------ API

-- The tree of a model/optimizer argument: obj:state_dict() or obj itself.
local function state_of(obj)
   if has_method(obj, "state_dict") then return obj:state_dict() end
   return obj
end

local SAVE_FIELDS = {model = true, optimizer = true, epoch = true, rng = true, extra = true}

-- ty.save_checkpoint(path, {model=, optimizer=, epoch=, rng=, extra=})
function M.save_checkpoint(path, parts)
   if type(path) ~= "string" then
      error("[save_checkpoint] argument 1 (path) must be a string, got " .. type(path), 2)
   end
   if type(parts) ~= "table" or is_array(parts) then
      error("[save_checkpoint] argument 2 must be a table {model=, optimizer=, epoch=, " ..
            "rng=, extra=}, got " .. type(parts), 2)
   end
   for k in pairs(parts) do
      if not SAVE_FIELDS[k] then
         error(fmt("[save_checkpoint] unknown field '%s' (expected model, optimizer, " ..
                   "epoch, rng, extra)", tostring(k)), 2)
      end
   end
   local meta = {format = FORMAT, version = VERSION}
   local tensors = {}
   local ok, err = pcall(function()
      for _, part in ipairs{"model", "optimizer", "extra"} do
         if parts[part] ~= nil then
            local state = part == "extra" and parts.extra or state_of(parts[part])
            meta[part] = tree_to_json(state, part, "/", tensors, part, 0, {})
         end
      end
   end)
   if not ok then error("[save_checkpoint] " .. tostring(err), 2) end
   if parts.epoch ~= nil then
      if type(parts.epoch) ~= "number" then
         error("[save_checkpoint] epoch must be a number, got " .. type(parts.epoch), 2)
      end
      meta.epoch = tree_to_json(parts.epoch, "", "", {}, "epoch", 0, {})
   end
   local rng = parts.rng
   if rng == true then
      meta.rng = ty.random.key_to_string(ty.random.get_state())
      meta.rng_global = true
   elseif is_key(rng) then
      meta.rng = ty.random.key_to_string(rng)
   elseif rng ~= nil and rng ~= false then
      error("[save_checkpoint] rng must be true (the global key) or a Key, got " ..
            type(rng), 2)
   end
   local text = json.encode(meta, "checkpoint")
   ty.save(path, tensors, {metadata = {[META_KEY] = text}})
end

local LOAD_OPTS = {model = true, optimizer = true, restore_rng = true}

-- Restores tree into target: target:load_state_dict(tree), or a plain table
-- whose contents become the tree's.
local function restore_into(target, tree, what)
   if has_method(target, "load_state_dict") then
      target:load_state_dict(tree)
   elseif type(target) == "table" and not is_array(target) then
      if type(tree) ~= "table" then
         error(fmt("[load_checkpoint] the checkpoint's %s is a %s, not a table", what,
                   type(tree)), 3)
      end
      for k in pairs(target) do target[k] = nil end
      for k, v in pairs(tree) do target[k] = v end
   else
      error(fmt("[load_checkpoint] option %s must be a table or an object with " ..
                "load_state_dict, got %s", what, type(target)), 3)
   end
end

-- ty.load_checkpoint(path, [{model=, optimizer=, restore_rng=true}]) -> table
function M.load_checkpoint(path, opts)
   if type(path) ~= "string" then
      error("[load_checkpoint] argument 1 (path) must be a string, got " .. type(path), 2)
   end
   if opts ~= nil and (type(opts) ~= "table" or is_array(opts)) then
      error("[load_checkpoint] argument 2 must be an options table, got " .. type(opts), 2)
   end
   opts = opts or {}
   for k in pairs(opts) do
      if not LOAD_OPTS[k] then
         error(fmt("[load_checkpoint] unknown option '%s' (expected model, optimizer, " ..
                   "restore_rng)", tostring(k)), 2)
      end
   end
   local ok, tensors, metadata = pcall(ty.load, path)
   if not ok then error("[load_checkpoint] " .. tostring(tensors), 2) end
   local text = type(metadata) == "table" and metadata[META_KEY]
   if type(text) ~= "string" then
      error(fmt("[load_checkpoint] %s: not a tycho checkpoint (no '%s' metadata entry)",
                path, META_KEY), 2)
   end
   local ok2, meta = pcall(json.decode, text)
   if not ok2 then
      error(fmt("[load_checkpoint] %s: the '%s' metadata is not valid: %s", path, META_KEY,
                tostring(meta)), 2)
   end
   if type(meta) ~= "table" or meta.format ~= FORMAT then
      error(fmt("[load_checkpoint] %s: not a tycho checkpoint (format field is %s)", path,
                type(meta) == "table" and tostring(meta.format) or "missing"), 2)
   end
   if meta.version ~= VERSION then
      error(fmt("[load_checkpoint] %s: checkpoint format version %s is not supported " ..
                "(this tycho reads version %d)", path, tostring(meta.version), VERSION), 2)
   end
   local result = {version = meta.version}
   local ok3, err = pcall(function()
      for _, part in ipairs{"model", "optimizer", "extra"} do
         if meta[part] ~= nil then
            result[part] = tree_from_json(meta[part], tensors, part, path)
         end
      end
      if meta.epoch ~= nil then
         result.epoch = tree_from_json(meta.epoch, {}, "epoch", path)
         if type(result.epoch) ~= "number" then error(path .. ": epoch is not a number", 0) end
      end
      if meta.rng ~= nil then
         local kok, k = pcall(ty.random.key_from_string, meta.rng)
         if not kok then error(path .. ": bad rng key", 0) end
         result.rng = k
      end
   end)
   if not ok3 then error("[load_checkpoint] " .. tostring(err), 2) end
   if opts.model ~= nil then restore_into(opts.model, result.model, "model") end
   if opts.optimizer ~= nil then
      restore_into(opts.optimizer, result.optimizer, "optimizer")
   end
   if meta.rng_global == true and opts.restore_rng ~= false then
      ty.random.set_state(result.rng)
   end
   return result
end

M.docs = {
   save_checkpoint = "ty.save_checkpoint(path, {model=, optimizer=, epoch=, rng=, extra=})\n" ..
      "  Saves training state to one .safetensors file, atomically. model and optimizer:\n" ..
      "  a tree of arrays (nested tables) or an object with :state_dict(); arrays become\n" ..
      "  tensors \"model/layers.1.weight\", ... and numbers, strings and booleans go to a\n" ..
      "  JSON metadata entry \"tycho.checkpoint\". epoch: a number. rng: true saves the\n" ..
      "  global key (ty.random.get_state) to restore on load, or a Key to keep. extra: any\n" ..
      "  table of strings, numbers (integers stay integers), booleans, tables, arrays.",
   load_checkpoint = "ty.load_checkpoint(path, [{model=, optimizer=, restore_rng=true}])" ..
      " -> table\n" ..
      "  {model=, optimizer=, epoch=, rng=, extra=, version=} as saved. Given model= (or\n" ..
      "  optimizer=), restores into it: obj:load_state_dict(tree), or a plain table gets\n" ..
      "  the tree's contents. A checkpoint saved with rng=true sets the global key back\n" ..
      "  (unless restore_rng=false). Only JSON is parsed: nothing in a file is executed.",
}

return M
