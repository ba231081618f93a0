-- tycho.train -- ty.train: the training loop (fit, evaluate, predict), its
-- callbacks, the History of a run, and the progress bar (also ty.progress for
-- users' own loops).
--
-- One training step is one graph: nn.value_and_grad builds the forward and
-- backward, the optimizer builds the update lazily, and a single ty.eval runs
-- it together with the running loss and the metric accumulators. Nothing is
-- read back from the device per step except at display time (at most ~10
-- times a second), and per-step losses are gathered once per epoch.
local ty = require "tycho"
local json = require("tycho.checkpoint").json

local M = ty.train or {}
ty.train = M
M.__doc = "ty.train -- fit/evaluate/predict, callbacks, History, progress bars"

local fmt = string.format
local pack, unpack = table.pack, table.unpack

local function doc(fn, text) ty.__doc[fn] = text end

local function def(name, fn, text)
   M[name] = fn
   doc(fn, text)
end

-- ------------------------------------------------------------------ helpers

local function now() return ty.time() end

-- Terminal columns: ty.terminal_size() (cols, rows or a table), $COLUMNS, 80.
local function term_cols()
   if ty.terminal_size then
      local ok, a = pcall(ty.terminal_size)
      if ok then
         if type(a) == "table" then a = a.cols or a.columns or a[1] end
         if type(a) == "number" and a >= 20 then return math.floor(a) end
      end
   end
   local c = tonumber(os.getenv("COLUMNS") or "")
   if c and c >= 20 then return math.floor(c) end
   return 80
end

-- Erasing the rest of a line: ANSI "\27[K", except on a dumb terminal
-- (Emacs shell mode, TERM=dumb), where the line is blanked with spaces.
local function dumb_term() return os.getenv("TERM") == "dumb" end
local function redraw(stream, text, nl)
   if dumb_term() then
      stream:write("\r", string.rep(" ", term_cols() - 1), "\r", text, nl or "")
   else
      stream:write("\r", text, "\27[K", nl or "")
   end
end

local function is_tty(stream)
   if stream ~= io.stdout and stream ~= io.stderr then return false end
   local ok, r = pcall(ty.isatty, stream == io.stderr and "stderr" or "stdout")
   return ok and r == true
end

local function hms(s)
   if s ~= s or s == math.huge or s < 0 then return "??:??" end
   s = math.floor(s + 0.5)
   local h, m = s // 3600, (s // 60) % 60
   if h > 0 then return fmt("%d:%02d:%02d", h, m, s % 60) end
   return fmt("%02d:%02d", m, s % 60)
end

local function ulen(s) return utf8.len(s) or #s end

-- Cuts s to at most n columns.
local function ucut(s, n)
   if ulen(s) <= n then return s end
   if n <= 0 then return "" end
   return s:sub(1, (utf8.offset(s, n + 1) or (#s + 1)) - 1)
end

local function num_str(v)
   if type(v) ~= "number" then return tostring(v) end
   if v ~= v then return "nan" end
   if v == math.floor(v) and math.abs(v) < 1e15 and math.type(v) == "integer" then
      return tostring(v)
   end
   local a = math.abs(v)
   if a ~= 0 and (a < 1e-3 or a >= 1e5) then return fmt("%.3e", v) end
   return fmt("%.4f", v)
end

-- Short display names of the usual metrics.
local SHORT = {accuracy = "acc", top5_accuracy = "top5", val_accuracy = "val_acc",
               val_top5_accuracy = "val_top5"}
local function short(k) return SHORT[k] or k end

-- Display order of log keys: loss, then metrics by name; train before val_.
local function key_rank(k)
   local val = k:sub(1, 4) == "val_"
   local base = val and k:sub(5) or k
   return (val and 2 or 0) + (base == "loss" and 0 or 1), base
end
local function key_before(a, b)
   local ra, ba = key_rank(a)
   local rb, bb = key_rank(b)
   if ra ~= rb then return ra < rb end
   return ba < bb
end

-- ------------------------------------------------------------------ progress bar

local Bar = {}
Bar.__index = Bar

-- Bar.new{total=, desc=, stream=io.stdout, tty=, interval=0.1}
local function new_bar(o)
   local self = setmetatable({
      total = o.total, desc = o.desc or "", stream = o.stream or io.stdout,
      n = 0, start = now(), last = -1, interval = o.interval or 0.1,
      postfix = o.postfix, closed = false,
   }, Bar)
   if o.tty == nil then self.tty = is_tty(self.stream) else self.tty = o.tty end
   return self
end

-- The line of the bar at its current count, fitted to width columns. What
-- gives way when the terminal is narrow, in order: the bar shrinks (to 10
-- cells), the trailing postfix items go (keeping the first, the loss), the
-- bar goes, the rate goes, then the line is cut.
function Bar:line(width)
   local el = now() - self.start
   local rate = el > 0 and self.n / el or 0
   local rate_s = rate >= 1 and fmt("%.1f it/s", rate)
      or (rate > 0 and fmt("%.2f s/it", 1 / rate) or "? it/s")
   local post = self.postfix and self.postfix() or ""
   -- postfix items: "name value" pairs separated by single spaces
   local items = {}
   for name, value in post:gmatch("(%S+) (%S+)") do items[#items + 1] = name .. " " .. value end
   if #items == 0 and post ~= "" then items[1] = post end
   local function post_of(k)
      if k == 0 then return "" end
      return " " .. table.concat(items, " ", 1, k)
   end
   local head = self.desc ~= "" and (self.desc .. " ") or ""
   if self.total and self.total > 0 then
      local remain = rate > 0 and (self.total - self.n) / rate or math.huge
      local count = fmt("%d/%d", self.n, self.total)
      local times = fmt("[%s<%s, %s]", hms(el), hms(remain), rate_s)
      local fixed = ulen(head) + ulen(count) + ulen(times) + 2
      local function bar_of(barw)
         local filled = math.floor(barw * math.min(self.n, self.total) / self.total)
         return string.rep("█", filled) .. string.rep("░", barw - filled) .. " "
      end
      for k = #items, 0, -1 do
         local barw = math.min(30, width - fixed - ulen(post_of(k)))
         if barw >= 10 then
            return head .. bar_of(barw) .. count .. " " .. times .. post_of(k)
         end
         if k == 1 or #items == 0 then
            -- no room for a bar next to the loss: the counts and the loss alone
            for j = math.max(#items, 1), 0, -1 do
               local s = head .. count .. " " .. times .. post_of(math.min(j, #items))
               if ulen(s) <= width then return s end
            end
            break
         end
      end
      local s = head .. count .. " " .. fmt("[%s<%s]", hms(el), hms(remain))
      if ulen(s) <= width then return s end
      return ucut(head .. count, width)
   end
   for k = #items, 0, -1 do
      local s = fmt("%s%d [%s, %s]%s", head, self.n, hms(el), rate_s, post_of(k))
      if ulen(s) <= width then return s end
   end
   return ucut(fmt("%s%d [%s]", head, self.n, hms(el)), width)
end

function Bar:render(force)
   if not self.tty then return end
   local t = now()
   if not force and t - self.last < self.interval then return end
   self.last = t
   local width = term_cols() - 1
   redraw(self.stream, self:line(width))
   self.stream:flush()
end

function Bar:update(k)
   self.n = self.n + (k or 1)
   if self.tty then
      local t = now()
      if t - self.last >= self.interval or (self.total and self.n >= self.total) then
         self:render(true)
      end
   end
end

-- Ends the bar: replaces it with final (a line) on a terminal, or prints
-- final as a plain line elsewhere (nothing when final is nil and not a tty).
function Bar:close(final)
   if self.closed then return end
   self.closed = true
   if self.tty then
      if final then
         redraw(self.stream, final, "\n")
      else
         self:render(true)
         self.stream:write("\n")
      end
   elseif final then
      self.stream:write(final, "\n")
   end
   self.stream:flush()
end

M.Bar = new_bar
doc(new_bar, [[ty.train.Bar{total=, desc=, stream=io.stdout, tty=, interval=0.1, postfix=} -> bar
  The progress bar behind fit and ty.progress: bar:update([k]) advances it,
  bar:close([final_line]) ends it. On a terminal it redraws in place (\r) at
  most every `interval` seconds, fitted to the terminal width; elsewhere it
  draws nothing and close prints final_line as a plain line. postfix() -> the
  text shown after the counts (called only when drawing).]])

local IPAIRS_ITER = ipairs({})

-- ty.progress(iterable | n, {desc=, total=, stream=}) -> iterator
local function progress(it, opts, ...)
   local nextf
   local total
   if type(it) == "function" and select("#", ...) > 0 then
      -- the triple of a generic for: ty.progress(ipairs(t)), ty.progress(pairs(t))
      local f, state, ctrl = it, opts, ...
      local o = select(2, ...)
      if f == IPAIRS_ITER and type(state) == "table" then total = #state
      elseif f == next and type(state) == "table" then
         total = 0
         for _ in pairs(state) do total = total + 1 end
      end
      nextf = function()
         local r = pack(f(state, ctrl))
         ctrl = r[1]
         return unpack(r, 1, r.n)
      end
      it, opts = nextf, o
   end
   opts = opts or {}
   if type(opts) ~= "table" then error("[progress] argument 2 must be an options table", 2) end
   total = opts.total or total
   if nextf then
      -- set above
   elseif type(it) == "number" then
      if math.type(it) ~= "integer" and it ~= math.floor(it) then
         error("[progress] expected an integer count, got " .. tostring(it), 2)
      end
      total = total or math.floor(it)
      local i = 0
      nextf = function()
         i = i + 1
         if i > total then return nil end
         return i
      end
   elseif type(it) == "table" and type(it.iter) == "function" then
      -- a DataLoader (or anything with :iter() and #)
      total = total or #it
      nextf = it:iter()
   elseif type(it) == "table" then
      total = total or #it
      local i = 0
      nextf = function()
         i = i + 1
         if i > #it then return nil end
         return i, it[i]
      end
   elseif type(it) == "function" then
      nextf = it
   else
      error("[progress] expected a count, a table, a loader or an iterator function, got " ..
            type(it), 2)
   end
   local bar = new_bar{total = total, desc = opts.desc, stream = opts.stream}
   local started = false
   local function finish()
      if not bar.closed then
         local el = now() - bar.start
         local rate = el > 0 and bar.n / el or 0
         local final = fmt("%s%d%s [%s, %.1f it/s]", opts.desc and (opts.desc .. " ") or "",
                           bar.n, total and ("/" .. total) or "", hms(el), rate)
         bar:close(final)
      end
   end
   -- the 4th value of a generic for is closed when the loop ends in any way:
   -- a break or an error inside the loop ends the bar's line too
   local closer = setmetatable({}, {__close = finish})
   return function()
      if started then bar:update(1) else started = true; bar:render(true) end
      local r = pack(nextf())
      if r[1] == nil then
         finish()
         return nil
      end
      return unpack(r, 1, r.n)
   end, nil, nil, closer
end
ty.progress = progress
doc(progress, [[ty.progress(n | list | loader | iterator, [{desc=, total=, stream=io.stdout}]) -> iterator
  Wraps a loop with a progress bar: `for i in ty.progress(100) do ... end`,
  `for i, v in ty.progress(list)`, `for x, y in ty.progress(loader)` (a
  DataLoader: one epoch), `for i, v in ty.progress(ipairs(t))` (or pairs:
  a generic-for triple, without options), or any iterator function (total=
  for its length).
  On a terminal the bar redraws in place (at most 10 times a second) with
  count, elapsed<remaining and it/s; otherwise one line is printed at the end
  (also when the loop ends early by a break or an error).]])

-- ------------------------------------------------------------------ History

local History = {}
History.__index = History
History.__name = "History"

local function new_history()
   return setmetatable({epoch = {}, step = {}, epochs = {}, steps = {}}, History)
end

local function series(t, key)
   local s = t[key]
   if not s then s = {}; t[key] = s end
   return s
end

-- Records the logs of epoch e (a table key -> number).
function History:record_epoch(e, logs)
   local i = #self.epochs + 1
   self.epochs[i] = e
   for k, v in pairs(logs) do
      if type(v) == "number" then series(self.epoch, k)[i] = v end
   end
end

-- The values of key, one per epoch (nil where an epoch lacks it -> NaN).
function History:get(key)
   local s = self.epoch[key]
   if not s then return nil end
   local out = {}
   for i = 1, #self.epochs do out[i] = s[i] or (0 / 0) end
   return out
end

-- Keys of the per-epoch series, train first then val_, sorted.
function History:keys()
   local ks = {}
   for k in pairs(self.epoch) do ks[#ks + 1] = k end
   table.sort(ks, key_before)
   return ks
end

function History:__len() return #self.epochs end

function History:__tostring()
   local n = #self.epochs
   local parts = {}
   for _, k in ipairs(self:keys()) do
      local v = self.epoch[k][n]
      if v and k ~= "time" and k ~= "lr" then parts[#parts + 1] = short(k) .. " " .. num_str(v) end
   end
   local extra = ""
   local ns = #self.steps
   if ns > 0 and (self.interrupted or n == 0) then
      extra = fmt(", %d step%s", ns, ns == 1 and "" or "s")
   end
   if self.interrupted then extra = extra .. ", interrupted" end
   return fmt("History(%d epoch%s%s%s%s)", n, n == 1 and "" or "s", extra,
              #parts > 0 and ": " or "", table.concat(parts, ", "))
end

-- The panels of a plot: loss, then each metric, each with train and val.
function History:curves()
   local panels, seen = {}, {}
   for _, k in ipairs(self:keys()) do
      local base = k:sub(1, 4) == "val_" and k:sub(5) or k
      if base ~= "lr" and base ~= "time" and not seen[base] then
         seen[base] = true
         local p = {title = base, ylabel = base, xlabel = "epoch", series = {}}
         if self.epoch[base] then
            p.series[#p.series + 1] = {label = "train", x = self.epochs, y = self:get(base)}
         end
         if self.epoch["val_" .. base] then
            p.series[#p.series + 1] = {label = "val", x = self.epochs,
                                       y = self:get("val_" .. base)}
         end
         panels[#panels + 1] = p
      end
   end
   return panels
end

function History:plot(path, opts)
   if type(path) ~= "string" then
      error("[History:plot] argument 1 (path) must be a string, got " .. type(path), 2)
   end
   if not (ty.plot and ty.plot.curves) then
      error("[History:plot] ty.plot.curves is not available", 2)
   end
   if #self.epochs == 0 then error("[History:plot] the history has no epochs yet", 2) end
   local o = {path = path, panels = self:curves()}
   for k, v in pairs(opts or {}) do o[k] = v end
   return ty.plot.curves(o)
end

-- JSON numbers cannot be NaN or infinite: those are written as strings.
local function encode_list(list)
   local out = {}
   for i, v in ipairs(list) do
      if v ~= v then out[i] = "NaN"
      elseif v == math.huge then out[i] = "Infinity"
      elseif v == -math.huge then out[i] = "-Infinity"
      else out[i] = v end
   end
   return out
end

local function decode_list(list, path, key)
   if type(list) ~= "table" then
      error(fmt("[History.load] %s: %s is not a list", path, key), 3)
   end
   local out = {}
   for i, v in ipairs(list) do
      if v == "NaN" then out[i] = 0 / 0
      elseif v == "Infinity" then out[i] = math.huge
      elseif v == "-Infinity" then out[i] = -math.huge
      elseif type(v) == "number" then out[i] = v
      else error(fmt("[History.load] %s: %s[%d] is not a number", path, key, i), 3) end
   end
   return out
end

function History:to_table()
   local t = {format = "tycho.history", version = 1, epochs = self.epochs, epoch = {},
              steps = self.steps, step = {}}
   for k, s in pairs(self.epoch) do t.epoch[k] = encode_list(self:get(k)) end
   for k, s in pairs(self.step) do t.step[k] = encode_list(s) end
   return t
end

function History:save(path)
   if type(path) ~= "string" then
      error("[History:save] argument 1 (path) must be a string, got " .. type(path), 2)
   end
   local t = self:to_table()
   -- an empty Lua table encodes as [] (a list): use a marker key instead
   if next(t.epoch) == nil then t.epoch = nil end
   if next(t.step) == nil then t.step = nil end
   if #t.epochs == 0 then t.epochs = nil end
   if #t.steps == 0 then t.steps = nil end
   ty.io.write_atomic(path, json.encode(t, "History") .. "\n")
end

local function history_from_table(t, path)
   if type(t) ~= "table" or t.format ~= "tycho.history" then
      error(fmt("[History.load] %s: not a tycho history (no format \"tycho.history\")", path), 3)
   end
   local h = new_history()
   h.epochs = decode_list(t.epochs or {}, path, "epochs")
   h.steps = decode_list(t.steps or {}, path, "steps")
   for k, v in pairs(t.epoch or {}) do h.epoch[k] = decode_list(v, path, "epoch." .. k) end
   for k, v in pairs(t.step or {}) do h.step[k] = decode_list(v, path, "step." .. k) end
   return h
end

-- A history from per-epoch records {{epoch=, key=value, ...}, ...} (the
-- lines of a JSONLogger or the rows of a CSVLogger file).
local function history_from_records(recs, path)
   local h = new_history()
   for i, r in ipairs(recs) do
      local logs = {}
      for k, v in pairs(r) do
         if k ~= "epoch" then
            if v == "nan" or v == "NaN" or v == "-nan" then v = 0 / 0
            elseif v == "inf" or v == "Infinity" then v = math.huge
            elseif v == "-inf" or v == "-Infinity" then v = -math.huge end
            if type(v) == "number" then logs[k] = v end
         end
      end
      h:record_epoch(tonumber(r.epoch) or i, logs)
   end
   if #h.epochs == 0 then
      error(fmt("[History.load] %s: no epoch records in the file", path), 3)
   end
   return h
end

local function parse_csv(text, path)
   local lines = {}
   for l in text:gmatch("[^\r\n]+") do lines[#lines + 1] = l end
   local head = {}
   for name in ((lines[1] or "") .. ","):gmatch("([^,]*),") do head[#head + 1] = name end
   if head[1] ~= "epoch" then
      error(fmt("[History.load] %s: not a CSVLogger file (its header does not start with " ..
                "'epoch')", path), 3)
   end
   local recs = {}
   for i = 2, #lines do
      local r, c = {}, 0
      for cell in (lines[i] .. ","):gmatch("([^,]*),") do
         c = c + 1
         if head[c] and cell ~= "" then
            local n = tonumber(cell)
            r[head[c]] = n and (head[c] == "epoch" and n or n + 0.0) or cell
         end
      end
      recs[#recs + 1] = r
   end
   return recs
end

function History.load(path)
   if type(path) ~= "string" then
      error("[History.load] argument 1 (path) must be a string, got " .. type(path), 2)
   end
   local f, err = io.open(path, "rb")
   if not f then error("[History.load] cannot open " .. tostring(err), 2) end
   local text = f:read("a")
   f:close()
   if path:match("%.safetensors$") or (text:sub(9, 10) == '{"' and
                                       not text:match("^%s*[{%[]")) then
      -- a ModelCheckpoint file: the history is in its extra part
      local ok, ck = pcall(ty.load_checkpoint, path, {restore_rng = false})
      if not ok then
         error(fmt("[History.load] %s: neither a history (JSON) nor a checkpoint: %s", path,
                   tostring(ck)), 2)
      end
      local t = type(ck.extra) == "table" and ck.extra.history
      if type(t) ~= "table" then
         error(fmt("[History.load] %s: this checkpoint holds no history (only fit's " ..
                   "ModelCheckpoint writes one)", path), 2)
      end
      t.format = t.format or "tycho.history"
      return history_from_table(t, path)
   end
   if path:match("%.csv$") then return history_from_records(parse_csv(text, path), path) end
   local ok, t = pcall(json.decode, text)
   if not ok then
      -- JSON lines (a JSONLogger file): one object per epoch
      local recs, bad = {}, nil
      for line in text:gmatch("[^\n]+") do
         if line:match("%S") then
            local lok, r = pcall(json.decode, line)
            if not lok or type(r) ~= "table" then bad = true break end
            recs[#recs + 1] = r
         end
      end
      if bad or #recs == 0 then
         error(fmt("[History.load] %s: not valid JSON: %s", path, tostring(t)), 2)
      end
      return history_from_records(recs, path)
   end
   if type(t) == "table" and t.format == nil and t.epoch ~= nil and type(t.epoch) == "number" then
      return history_from_records({t}, path)        -- a JSONLogger file of one epoch
   end
   return history_from_table(t, path)
end

History.new = new_history
M.History = History
ty.__doc[History] = [[ty.train.History -- what fit returns: the per-epoch logs and per-step losses
  h.epoch[key] (key: loss, accuracy, val_loss, val_accuracy, lr, time, ...) lists
  one value per epoch, h.epochs the epoch numbers, h.step.loss and h.steps every
  step; #h is the number of epochs; h.interrupted after a Ctrl-C.
  h:get(key), h:keys(), h:plot("curves.png"), h:save("h.json"),
  ty.train.History.load(path), h:curves(), h:to_table().]]
doc(History.new, [[ty.train.History.new() -> history
  An empty History (fit returns one). history.epoch[key] is the list of per-epoch
  values (key: loss, val_loss, accuracy, val_accuracy, lr, ...), history.epochs the
  epoch numbers, history.step.loss the loss of every step and history.steps their
  global step numbers.]])
doc(History.record_epoch, "history:record_epoch(epoch, logs)\n  Appends one epoch's logs (key -> number).")
doc(History.get, "history:get(key) -> {numbers}\n  The per-epoch values of key (NaN where missing).")
doc(History.keys, "history:keys() -> {keys}\n  The per-epoch keys: loss first, metrics, then val_ ones.")
doc(History.plot, [[history:plot(path, [opts])
  Draws loss and each metric in separate panels, train vs validation, through
  ty.plot.curves; the format follows the extension (.png, .svg, .ps).]])
doc(History.curves, "history:curves() -> panels\n  The data of history:plot: {{title=, series={{label=, x=, y=}, ...}}, ...}.")
doc(History.save, "history:save(path)\n  Writes the history as JSON (atomically); ty.train.History.load reads it back.")
doc(History.load, "ty.train.History.load(path) -> history\n  Reads a history written by " ..
    "history:save; also the history inside a\n  ModelCheckpoint file (.safetensors), a " ..
    "JSONLogger file (JSON lines) or a\n  CSVLogger file (.csv).")
doc(History.to_table, "history:to_table() -> table\n  The JSON form of the history (NaN as the string \"NaN\").")

-- ------------------------------------------------------------------ callbacks

local HOOKS = {"on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
               "on_batch_begin", "on_batch_end"}

local function callback_class(name)
   local cls = {__name = name}
   cls.__index = cls
   -- EarlyStopping{monitor='val_loss', patience=3, ...}: its settings and state
   cls.__tostring = function(self)
      local parts = {}
      for k, v in pairs(self) do
         local t = type(v)
         if type(k) == "string" and k:sub(1, 1) ~= "_" and
            (t == "number" or t == "string" or t == "boolean") then
            parts[#parts + 1] = k .. "=" .. (t == "string" and fmt("%q", v) or num_str(v))
         end
      end
      table.sort(parts)
      return name .. "{" .. table.concat(parts, ", ") .. "}"
   end
   return cls
end

local function check_opts(fname, opts, allowed)
   if opts == nil then return {} end
   if type(opts) ~= "table" then error(fmt("[%s] expected an options table", fname), 3) end
   for k in pairs(opts) do
      if not allowed[k] then
         local names = {}
         for n in pairs(allowed) do names[#names + 1] = n end
         table.sort(names)
         error(fmt("[%s] unknown option '%s' (expected %s)", fname, tostring(k),
                   table.concat(names, ", ")), 3)
      end
   end
   return opts
end

-- Checks that opts[key] (when given) is a number satisfying ok(v).
local function check_number(fname, opts, key, what, ok)
   local v = opts[key]
   if v == nil then return end
   if type(v) ~= "number" or (ok and not ok(v)) then
      error(fmt("[%s] %s must be %s, got %s", fname, key, what,
                type(v) == "string" and fmt("%q", v) or tostring(v)), 3)
   end
end
local function nonneg(v) return v >= 0 end
local function nonneg_int(v) return v >= 0 and v == math.floor(v) end

local function set(list)
   local s = {}
   for _, k in ipairs(list) do s[k] = true end
   return s
end

local MAX_KEYS = {accuracy = true, acc = true, f1 = true, precision = true, recall = true,
                  auroc = true, r2 = true, top5_accuracy = true}
local function resolve_mode(fname, mode, monitor)
   mode = mode or "auto"
   if mode == "auto" then
      local base = monitor:gsub("^val_", "")
      return MAX_KEYS[base] and "max" or "min"
   end
   if mode ~= "min" and mode ~= "max" then
      error(fmt("[%s] mode must be 'min', 'max' or 'auto', got %s", fname, tostring(mode)), 3)
   end
   return mode
end

local function improved(mode, v, best, delta)
   if v ~= v then return false end
   if best == nil then return true end
   if mode == "min" then return v < best - delta end
   return v > best + delta
end

local function monitored(fname, logs, monitor)
   local v = logs[monitor]
   if v == nil then
      local ks = {}
      for k in pairs(logs) do ks[#ks + 1] = k end
      table.sort(ks)
      local hint = ""
      if monitor:sub(1, 4) == "val_" and logs["val_loss"] == nil then
         hint = fmt("; fit has no val_data: pass val_data= or monitor='%s'", monitor:sub(5))
      end
      error(fmt("[%s] monitored value '%s' is not in the logs (have: %s)%s", fname, monitor,
                table.concat(ks, ", "), hint), 0)
   end
   return v
end

local callbacks = {}
M.callbacks = callbacks
callbacks.__doc = "ty.train.callbacks -- EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, " ..
   "CSVLogger, JSONLogger, PlotCurves, TerminateOnNaN (also as ty.train.<Name>)"

-- EarlyStopping
local EarlyStopping = callback_class("EarlyStopping")
function EarlyStopping:on_train_begin(tr)
   self.wait, self.best, self.best_epoch, self.stopped_epoch = 0, nil, nil, nil
   self.best_params, self.best_buffers = nil, nil
end
function EarlyStopping:on_epoch_end(epoch, logs, tr)
   local v = monitored("EarlyStopping", logs, self.monitor)
   if improved(self.mode, v, self.best, self.min_delta) then
      self.best, self.best_epoch, self.wait = v, epoch, 0
      if self.restore_best then
         self.best_params = tr.model:parameters()
         self.best_buffers = tr.model:buffers()
      end
   else
      self.wait = self.wait + 1
      if self.wait >= self.patience then
         self.stopped_epoch = epoch
         tr.stop_training = true
         tr:message(fmt("early stopping at epoch %d: %s did not improve for %d epoch%s " ..
                        "(best %s at epoch %d)", epoch, self.monitor, self.wait,
                        self.wait == 1 and "" or "s", num_str(self.best), self.best_epoch))
      end
   end
end
function EarlyStopping:on_train_end(tr)
   if self.restore_best and self.best_params and self.best_epoch ~= tr.last_epoch then
      tr.model:update(self.best_params)
      if self.best_buffers then tr.model:update_buffers(self.best_buffers) end
      tr:message(fmt("restored the weights of epoch %d (%s %s)", self.best_epoch,
                     self.monitor, num_str(self.best)))
   end
end
callbacks.EarlyStopping = function(opts)
   opts = check_opts("EarlyStopping", opts, set{"monitor", "patience", "min_delta", "mode",
                                                 "restore_best"})
   check_number("EarlyStopping", opts, "patience", "a non-negative integer", nonneg_int)
   check_number("EarlyStopping", opts, "min_delta", "a number")
   if opts.monitor ~= nil and type(opts.monitor) ~= "string" then
      error("[EarlyStopping] monitor must be a log name such as 'val_loss', got " ..
            type(opts.monitor), 2)
   end
   local self = setmetatable({}, EarlyStopping)
   self.monitor = opts.monitor or "val_loss"
   self.patience = opts.patience or 3
   self.min_delta = math.abs(opts.min_delta or 0)
   self.mode = resolve_mode("EarlyStopping", opts.mode, self.monitor)
   self.restore_best = opts.restore_best ~= false
   return self
end
doc(callbacks.EarlyStopping, [[ty.train.callbacks.EarlyStopping{monitor='val_loss', patience=3, min_delta=0,
                                mode='auto', restore_best=true} -> callback
  Stops fit when `monitor` has not improved by more than min_delta for
  `patience` epochs (mode 'min' or 'max'; 'auto' is max for accuracy-like
  names). With restore_best the model gets back the weights of its best epoch
  when training ends. cb.stopped_epoch, cb.best, cb.best_epoch tell what happened.]])

-- ModelCheckpoint
local ModelCheckpoint = callback_class("ModelCheckpoint")
local function expand_path(path, epoch)
   return (path:gsub("{epoch}", tostring(epoch)))
end
local function last_path(path)
   local stem, ext = path:match("^(.*)(%.[%w]+)$")
   if not stem then return path .. ".last" end
   return stem .. ".last" .. ext
end
function ModelCheckpoint:on_train_begin(tr)
   if self.best == nil and tr.resumed_extra and tr.resumed_extra.checkpoint_best ~= nil then
      self.best = tr.resumed_extra.checkpoint_best
   end
end
function ModelCheckpoint:on_epoch_end(epoch, logs, tr)
   local write = true
   if self.save_best_only then
      local v = monitored("ModelCheckpoint", logs, self.monitor)
      write = improved(self.mode, v, self.best, 0)
      if write then self.best = v end
   end
   if write then
      local p = expand_path(self.path, epoch)
      tr:save_checkpoint(p, epoch, {checkpoint_best = self.best})
      self.last_saved = p
      if self.verbose then tr:message("saved checkpoint " .. p) end
   end
   if self.save_last then
      tr:save_checkpoint(self.save_last, epoch, {checkpoint_best = self.best})
   end
end
callbacks.ModelCheckpoint = function(opts)
   opts = check_opts("ModelCheckpoint", opts, set{"path", "monitor", "save_best_only",
                                                   "save_last", "mode", "verbose"})
   if type(opts.path) ~= "string" then
      error("[ModelCheckpoint] option path (a file name) is required", 2)
   end
   local self = setmetatable({}, ModelCheckpoint)
   self.path = opts.path
   self.monitor = opts.monitor or "val_loss"
   self.save_best_only = not not opts.save_best_only
   self.mode = resolve_mode("ModelCheckpoint", opts.mode, self.monitor)
   self.verbose = not not opts.verbose
   if opts.save_last == true then self.save_last = last_path(opts.path)
   elseif type(opts.save_last) == "string" then self.save_last = opts.save_last
   elseif opts.save_last ~= nil and opts.save_last ~= false then
      error("[ModelCheckpoint] save_last must be true or a path", 2)
   end
   return self
end
doc(callbacks.ModelCheckpoint, [[ty.train.callbacks.ModelCheckpoint{path=, monitor='val_loss', save_best_only=false,
                                  save_last=false, mode='auto', verbose=false} -> callback
  Saves a checkpoint (ty.save_checkpoint: atomic; model, optimizer state, epoch,
  the global RNG key and the history) at each epoch end, or only when `monitor`
  improves with save_best_only. "{epoch}" in path is replaced by the epoch.
  save_last=true (or a path) also writes the latest epoch to "<path>.last.<ext>".
  ty.train.fit{..., resume=path} continues a run from such a file.]])

-- ReduceLROnPlateau
local ReduceLR = callback_class("ReduceLROnPlateau")
function ReduceLR:on_train_begin()
   self.wait, self.best, self.cooldown_left = 0, nil, 0
end
function ReduceLR:on_epoch_end(epoch, logs, tr)
   local v = monitored("ReduceLROnPlateau", logs, self.monitor)
   if self.cooldown_left > 0 then self.cooldown_left = self.cooldown_left - 1 end
   if improved(self.mode, v, self.best, self.min_delta) then
      self.best, self.wait = v, 0
   elseif self.cooldown_left == 0 then
      self.wait = self.wait + 1
      if self.wait >= self.patience then
         local opt = tr.optimizer
         local old = opt.lr
         local new = math.max(old * self.factor, self.min_lr)
         if new < old then
            opt:set_lr(new)
            tr:message(fmt("epoch %d: %s did not improve for %d epoch%s; learning rate %s -> %s",
                           epoch, self.monitor, self.wait, self.wait == 1 and "" or "s",
                           num_str(old), num_str(new)))
         end
         self.wait, self.cooldown_left = 0, self.cooldown
      end
   end
end
callbacks.ReduceLROnPlateau = function(opts)
   opts = check_opts("ReduceLROnPlateau", opts, set{"monitor", "factor", "patience",
                                                     "min_delta", "min_lr", "cooldown", "mode"})
   check_number("ReduceLROnPlateau", opts, "factor", "a number in (0, 1)")
   check_number("ReduceLROnPlateau", opts, "patience", "a non-negative integer", nonneg_int)
   check_number("ReduceLROnPlateau", opts, "cooldown", "a non-negative integer", nonneg_int)
   check_number("ReduceLROnPlateau", opts, "min_lr", "a non-negative number", nonneg)
   check_number("ReduceLROnPlateau", opts, "min_delta", "a number")
   if opts.monitor ~= nil and type(opts.monitor) ~= "string" then
      error("[ReduceLROnPlateau] monitor must be a log name such as 'val_loss', got " ..
            type(opts.monitor), 2)
   end
   local self = setmetatable({}, ReduceLR)
   self.monitor = opts.monitor or "val_loss"
   self.factor = opts.factor or 0.1
   if not (self.factor > 0 and self.factor < 1) then
      error("[ReduceLROnPlateau] factor must be in (0, 1), got " .. tostring(self.factor), 2)
   end
   self.patience = opts.patience or 2
   self.min_delta = math.abs(opts.min_delta or 1e-4)
   self.min_lr = opts.min_lr or 0
   self.cooldown = opts.cooldown or 0
   self.mode = resolve_mode("ReduceLROnPlateau", opts.mode, self.monitor)
   return self
end
doc(callbacks.ReduceLROnPlateau, [[ty.train.callbacks.ReduceLROnPlateau{monitor='val_loss', factor=0.1, patience=2,
                                    min_delta=1e-4, min_lr=0, cooldown=0, mode='auto'} -> callback
  Multiplies the optimizer's learning rate by factor (opt:set_lr) when `monitor`
  has not improved for `patience` epochs, then waits `cooldown` epochs.]])

-- CSVLogger
local CSVLogger = callback_class("CSVLogger")
function CSVLogger:on_train_begin(tr)
   self.keys = nil
end
function CSVLogger:on_epoch_end(epoch, logs, tr)
   if not self.keys then
      self.keys = {}
      for k, v in pairs(logs) do
         if type(v) == "number" then self.keys[#self.keys + 1] = k end
      end
      table.sort(self.keys)
      local exists = false
      if self.append then
         local f = io.open(self.path, "rb")
         if f then exists = f:read(1) ~= nil; f:close() end
      end
      local f = assert(io.open(self.path, (self.append and exists) and "ab" or "wb"))
      if not (self.append and exists) then
         f:write("epoch," .. table.concat(self.keys, ",") .. "\n")
      end
      f:close()
   end
   local row = {tostring(epoch)}
   for _, k in ipairs(self.keys) do
      local v = logs[k]
      row[#row + 1] = type(v) == "number" and fmt("%.9g", v) or ""
   end
   local f = assert(io.open(self.path, "ab"))
   f:write(table.concat(row, ","), "\n")
   f:close()
end
callbacks.CSVLogger = function(opts)
   if type(opts) == "string" then opts = {path = opts} end
   opts = check_opts("CSVLogger", opts, set{"path", "append"})
   if type(opts.path) ~= "string" then error("[CSVLogger] option path is required", 2) end
   return setmetatable({path = opts.path, append = not not opts.append}, CSVLogger)
end
doc(callbacks.CSVLogger, [[ty.train.callbacks.CSVLogger{path=, append=false} -> callback
  Writes one CSV row per epoch: epoch, then the logs (loss, metrics, val_*, lr)
  in sorted column order, with a header line.]])

-- JSONLogger
local JSONLogger = callback_class("JSONLogger")
function JSONLogger:on_train_begin()
   if not self.append then
      local f = assert(io.open(self.path, "wb"))
      f:close()
   end
end
function JSONLogger:on_epoch_end(epoch, logs)
   local t = {epoch = epoch}
   for k, v in pairs(logs) do
      if type(v) == "number" then t[k] = (v ~= v or v == math.huge or v == -math.huge)
         and tostring(v) or v end
   end
   local f = assert(io.open(self.path, "ab"))
   f:write(json.encode(t, "JSONLogger"), "\n")
   f:close()
end
callbacks.JSONLogger = function(opts)
   if type(opts) == "string" then opts = {path = opts} end
   opts = check_opts("JSONLogger", opts, set{"path", "append"})
   if type(opts.path) ~= "string" then error("[JSONLogger] option path is required", 2) end
   return setmetatable({path = opts.path, append = not not opts.append}, JSONLogger)
end
doc(callbacks.JSONLogger, [[ty.train.callbacks.JSONLogger{path=, append=false} -> callback
  Writes one JSON object per line and per epoch: {"epoch":1,"loss":...,...}.]])

-- PlotCurves
local PlotCurves = callback_class("PlotCurves")
function PlotCurves:on_epoch_end(epoch, logs, tr)
   tr.history:plot(self.path, self.opts)
end
callbacks.PlotCurves = function(opts)
   if type(opts) == "string" then opts = {path = opts} end
   if type(opts) ~= "table" or type(opts.path) ~= "string" then
      error("[PlotCurves] option path (an image file name) is required", 2)
   end
   local ext = (opts.path:match("%.([%w]+)$") or ""):lower()
   if ext ~= "png" and ext ~= "svg" and ext ~= "ps" and ext ~= "eps" then
      -- said now, not after the first epoch
      error(fmt("[PlotCurves] %s: the plot is written as .png, .svg, .ps or .eps%s",
                opts.path, ext == "pdf" and " (libplot has no PDF: convert a .ps with ps2pdf)"
                or ""), 2)
   end
   local extra = {}
   for k, v in pairs(opts) do if k ~= "path" then extra[k] = v end end
   return setmetatable({path = opts.path, opts = next(extra) and extra or nil}, PlotCurves)
end
doc(callbacks.PlotCurves, [[ty.train.callbacks.PlotCurves{path=, ...} -> callback
  Rewrites the plot of the history (history:plot(path)) at each epoch end; other
  options are passed to ty.plot.curves.]])

-- TerminateOnNaN
local TerminateOnNaN = callback_class("TerminateOnNaN")
function TerminateOnNaN:on_batch_end(step, logs, tr)
   local l = logs.loss
   if ty.is_array(l) then l = l:item() end
   if type(l) == "number" and (l ~= l or l == math.huge or l == -math.huge) then
      tr.stop_training = true
      self.stopped_step = step
      tr:message(fmt("step %d: loss is %s, terminating training", step, tostring(l)))
   end
end
callbacks.TerminateOnNaN = function()
   return setmetatable({}, TerminateOnNaN)
end
doc(callbacks.TerminateOnNaN, [[ty.train.callbacks.TerminateOnNaN() -> callback
  Stops fit at the first step whose loss is NaN or infinite (reads the loss of
  every step).]])

for k, v in pairs(callbacks) do if k ~= "__doc" then M[k] = v end end
-- help(cb) on a callback object shows its constructor's doc
for cls, ctor in pairs{[EarlyStopping] = callbacks.EarlyStopping,
                       [ModelCheckpoint] = callbacks.ModelCheckpoint,
                       [ReduceLR] = callbacks.ReduceLROnPlateau, [CSVLogger] = callbacks.CSVLogger,
                       [JSONLogger] = callbacks.JSONLogger, [PlotCurves] = callbacks.PlotCurves,
                       [TerminateOnNaN] = callbacks.TerminateOnNaN} do
   ty.__doc[cls] = ty.__doc[ctor]
end

-- Calls hook `name` of every callback. Objects with a metatable get
-- cb:name(...); plain tables of functions get fn(...); a bare function is an
-- on_epoch_end hook.
local function fire(cbs, name, ...)
   for _, cb in ipairs(cbs) do
      if type(cb) == "function" then
         if name == "on_epoch_end" then cb(...) end
      else
         local f = cb[name]
         if f then
            if getmetatable(cb) then f(cb, ...) else f(...) end
         end
      end
   end
end

-- ------------------------------------------------------------------ fit

local function resolve_loss(fname, loss)
   if type(loss) == "function" then return loss end
   if type(loss) == "table" and getmetatable(loss) and getmetatable(loss).__call then
      return function(p, t) return loss(p, t) end
   end
   if type(loss) == "string" then
      local f = ty.losses and ty.losses[loss]
      if type(f) ~= "function" then
         error(fmt("[%s] unknown loss '%s' (a name in ty.losses, or a function)", fname, loss), 3)
      end
      return f
   end
   error(fmt("[%s] option loss is required: a name ('cross_entropy', 'mse', ...) or a " ..
             "function(pred, target)", fname), 3)
end

-- Keras's names for the usual metrics
local METRIC_ALIASES = {acc = "accuracy", sparse_categorical_accuracy = "accuracy",
                        categorical_accuracy = "accuracy", top5 = "top5_accuracy",
                        top_5_accuracy = "top5_accuracy"}

local function resolve_metrics(fname, list)
   local out = {}
   for i, m in ipairs(list or {}) do
      if type(m) == "string" then m = METRIC_ALIASES[m] or m end
      if type(m) == "string" then
         if not (ty.metrics and ty.metrics.get) then
            error(fmt("[%s] ty.metrics.get is not available for metric '%s'", fname, m), 3)
         end
         out[i] = ty.metrics.get(m)
      elseif type(m) == "table" and type(m.update) == "function"
         and type(m.compute) == "function" then
         out[i] = m
      else
         error(fmt("[%s] metrics[%d] must be a name or a metric object with update/compute, " ..
                   "got %s", fname, i, type(m)), 3)
      end
      out[i]._key = out[i]._key or out[i].name or (type(m) == "string" and m) or ("metric" .. i)
   end
   return out
end

local function is_loader(d)
   return type(d) == "table" and type(d.iter) == "function"
end

-- data: a DataLoader, or {x, y} arrays (batch_size= from opts).
local function resolve_data(fname, d, what, batch_size, shuffle, seed)
   if d == nil then return nil end
   if is_loader(d) then return d end
   if type(d) == "table" and ty.is_array(d[1]) then
      local ds = ty.data.TensorDataset(unpack(d, 1, #d))
      return ty.data.DataLoader{ds, batch_size = batch_size or 32, shuffle = shuffle,
                                seed = seed}
   end
   if ty.data.is_dataset and ty.data.is_dataset(d) then
      return ty.data.DataLoader{d, batch_size = batch_size or 32, shuffle = shuffle, seed = seed}
   end
   error(fmt("[%s] %s must be a DataLoader, a dataset or a table {x, y} of arrays, got %s",
             fname, what, type(d)), 3)
end

-- Class-label errors, explained: an index error from a classification loss
-- means labels outside 1..C, usually 0-based labels.
local CLASS_LOSSES = {cross_entropy = true, nll = true, focal = true}
local function explain(fname, err, loss)
   if type(err) ~= "string" then return err end
   local idx, size = err:match("index (%-?%d+) is out of range for axis %d+ of size (%d+)")
   if not idx then return err end
   local classy = err:find("cross_entropy", 1, true) or err:find("nll", 1, true)
      or (type(loss) == "string" and CLASS_LOSSES[loss])
   if not classy then return err end
   local i = tonumber(idx)
   local hint
   if i == 0 then
      hint = fmt("[%s] class labels are 1-based in tycho (1..%s, like Lua indices) but a " ..
                 "label is 0: labels that start at 0 need y + 1", fname, size)
   else
      hint = fmt("[%s] a class label is %d, outside 1..%s: labels are class indices 1..C " ..
                 "and the model must output C = %s scores per row", fname, i, size, size)
   end
   local head, tb = err:match("^(.-)(\nstack traceback:.*)$")
   head = (head or err):gsub("^lua/tycho/train%.lua:%d+: ", "")
   return hint .. "\n  (" .. head .. ")" .. (tb or "")
end

-- The batches of a loader as (inputs, y): a batch (x, y) gives {x}, y; a
-- batch of more values (x1, x2, ..., y) gives {x1, x2, ...}, y (a model of
-- several inputs); a batch (x) alone gives {x}, nil.
local function batches(loader)
   local it = loader:iter()
   return function()
      local b = pack(it())
      if b[1] == nil then return nil end
      if b.n <= 1 then return {b[1]}, nil end
      return {unpack(b, 1, b.n - 1)}, b[b.n]
   end
end

local function is_interrupt(err)
   return type(err) == "string" and err:find("interrupted", 1, true) ~= nil
end

local function batch_size_of(x)
   if ty.is_array(x) then return x.shape[1] or 1 end
   if type(x) == "table" then
      for _, v in pairs(x) do
         local n = batch_size_of(v)
         if n then return n end
      end
   end
   return 1
end

-- The trainer: state shared with callbacks (tr.model, tr.optimizer,
-- tr.history, tr.epoch, tr.step, tr.stop_training, tr:message(s)).
local Trainer = {}
Trainer.__index = Trainer

function Trainer:message(s)
   if self.verbose > 0 then
      local out = self.stream or io.stdout
      if self.bar and not self.bar.closed and self.bar.tty then
         redraw(out, "")
      end
      out:write(s, "\n")
      out:flush()
   end
   self.messages[#self.messages + 1] = s
end

local function opt_state_tree(opt)
   if type(opt.state_dict) == "function" then return opt:state_dict() end
   return opt:state()
end

function Trainer:save_checkpoint(path, epoch, extra)
   local e = {history = self.history:to_table(), global_step = self.global_step}
   -- the shuffling key of the training loader, so that a resumed run sees the
   -- same batches even when fit made the loader itself
   local key = type(self.data) == "table" and rawget(self.data, "_key")
   if key and type(key) == "userdata" then
      local ok, str = pcall(ty.random.key_to_string, key)
      if ok then e.loader_key = str end
   end
   for k, v in pairs(extra or {}) do e[k] = v end
   if next(e.history.epoch) == nil then e.history.epoch = nil end
   if next(e.history.step) == nil then e.history.step = nil end
   if #e.history.steps == 0 then e.history.steps = nil end
   if #e.history.epochs == 0 then e.history.epochs = nil end
   ty.save_checkpoint(path, {model = self.model, optimizer = opt_state_tree(self.optimizer),
                             epoch = epoch, rng = true, extra = e})
end

doc(Trainer.message, "tr:message(text)\n  Prints a line from a callback without breaking the " ..
    "progress bar (kept in history.messages).")
doc(Trainer.save_checkpoint, "tr:save_checkpoint(path, epoch, [extra])\n  What " ..
    "ModelCheckpoint writes: model, optimizer state, epoch, RNG key, history (resumable).")

-- Moves the losses of the steps run so far (evaluated scalars) into
-- history.step.loss with one gather.
function Trainer:flush_steps()
   local pending = self._steps
   if not pending or #pending[1] == 0 then return end
   self._steps = nil
   local ok, vals = pcall(function() return ty.stack(pending[1]):tolist() end)
   if not ok then return end
   local hs = series(self.history.step, "loss")
   for i, v in ipairs(vals) do
      hs[#hs + 1] = v
      self.history.steps[#self.history.steps + 1] = pending[2][i]
   end
end
doc(Trainer.flush_steps, "tr:flush_steps()\n  Moves the losses of the steps run so far into " ..
    "history.step.loss (fit does it at each epoch end).")

local function restore_optimizer(opt, tree, path)
   if type(opt.load_state_dict) ~= "function" then
      error("[fit] cannot resume " .. path .. ": the optimizer has no load_state_dict", 0)
   end
   opt:load_state_dict(tree)
end

local function restore_model(model, tree, path)
   if type(model.load_state_dict) ~= "function" then
      error("[fit] cannot resume " .. path .. ": the model has no load_state_dict", 0)
   end
   model:load_state_dict(tree)
end

local FIT_OPTS = set{"model", "loss", "optimizer", "data", "val_data", "epochs", "metrics",
                     "callbacks", "grad_accum", "clip_norm", "log_every", "verbose",
                     "batch_size", "resume", "initial_epoch", "seed", "stream"}

-- Keeps a running sum (lazy, evaluated with each step) of a scalar.
local function add(acc, v) if acc == nil then return v else return acc + v end end

-- The lazy accumulators of the metrics (m:state()), evaluated with each step.
local function metric_states(ms)
   local out = {}
   for i, m in ipairs(ms) do
      if type(m.state) == "function" then out[i] = m:state() else out[i] = m end
   end
   return out
end

-- A metric's value as a number: a number, or an array of one element; nil
-- for anything else (a (C,C) array, a list of per-class values).
local function metric_number(v)
   if type(v) == "number" then return v end
   if ty.is_array(v) and v.size == 1 then return v:item() end
   return nil
end

local function value_desc(v)
   if ty.is_array(v) then
      return "a (" .. table.concat(v.shape, ",") .. (#v.shape == 1 and ",)" or ")") .. " array"
   elseif type(v) == "table" then
      return fmt("a list of %d values", #v)
   end
   return "a " .. type(v)
end

-- fit logs one number per metric and epoch (progress bar, History, CSV,
-- callbacks): a metric giving an array is refused, with where to get it.
local function non_scalar_error(fname, m, what)
   local hint = (m.opts and m.opts.average == "none") and " (average='macro' gives one)" or ""
   return fmt("[%s] metric '%s' gives %s, not a number: fit logs one number per metric " ..
              "and epoch%s; for the array use ty.train.evaluate{model=, data=, " ..
              "metrics={...}}, which returns it as is, or the metric object directly " ..
              "(m:update(pred, y) per batch, then m:compute())", fname, m._key, what, hint)
end

local function check_scalar_metrics(fname, ms)
   for _, m in ipairs(ms) do
      local shape = type(m.value_shape) == "function" and m:value_shape() or nil
      if shape then error(non_scalar_error(fname, m, "a " .. shape .. " array"), 3) end
   end
end

-- The metrics' values into out[prefix .. key]. strict (fit): a value that is
-- not a number is an error; else (evaluate) it is kept as is.
local function logs_of_metrics(ms, prefix, out, strict)
   for _, m in ipairs(ms) do
      local ok, v = pcall(m.compute, m)
      if ok then
         local n = metric_number(v)
         if n == nil and strict then error(non_scalar_error("fit", m, value_desc(v)), 0) end
         if n ~= nil then v = n end
         out[prefix .. m._key] = v
      end
   end
end

-- Evaluates a model on a loader: returns logs {loss=, <metric>=...}.
local function run_eval(model, loader, loss_fn, ms, bar_desc, verbose, stream, strict)
   for _, m in ipairs(ms) do m:reset() end
   local was = model.training
   model:eval()
   local lsum, seen = nil, 0
   local bar
   if verbose > 0 and bar_desc then
      bar = new_bar{total = #loader, desc = bar_desc, stream = stream}
      if not bar.tty then bar = nil end
   end
   for xs, y in batches(loader) do
      local pred = model(unpack(xs))
      local n = batch_size_of(xs[1])
      if loss_fn and y ~= nil then
         local l = loss_fn(pred, y)
         lsum = add(lsum, l * n)
      end
      seen = seen + n
      if y ~= nil then for _, m in ipairs(ms) do m:update(pred, y) end end
      ty.eval(lsum, metric_states(ms))
      if bar then bar:update(1) end
   end
   if bar then
      bar.closed = true
      redraw(stream, "")
      stream:flush()
   end
   if was then model:train() end
   local logs = {}
   if lsum then logs.loss = lsum:item() / math.max(seen, 1) end
   logs_of_metrics(ms, "", logs, strict)
   return logs
end

local function check_model(fname, model)
   if type(model) ~= "table" or type(model.parameters) ~= "function" then
      error(fmt("[%s] option model must be an nn.Module, got %s", fname, type(model)), 3)
   end
end

-- Settles a Ctrl-C: the Lua hook and the core's flag may each still be
-- armed; each pcall absorbs one of them.
local function settle()
   for _ = 1, 4 do
      local ok = pcall(function()
         debug.sethook()
         ty.eval(ty.zeros{1} + 1)
      end)
      if ok then return end
   end
end

function M.fit(opts)
   if type(opts) ~= "table" then error("[fit] expected an options table", 2) end
   for k in pairs(opts) do
      if not FIT_OPTS[k] then
         error(fmt("[fit] unknown option '%s' (expected model, loss, optimizer, data, " ..
                   "val_data, epochs, metrics, callbacks, grad_accum, clip_norm, log_every, " ..
                   "verbose, batch_size, resume, seed)", tostring(k)), 2)
      end
   end
   local model = opts.model
   check_model("fit", model)
   local opt = opts.optimizer
   if type(opt) ~= "table" or type(opt.update) ~= "function" then
      error("[fit] option optimizer must be an optimizer (ty.optim.Adam{...}), got " ..
            type(opt), 2)
   end
   if opt.step == nil and getmetatable(opt) and getmetatable(opt).__call then
      error("[fit] option optimizer is an optimizer class: make one with its options, " ..
            "e.g. ty.optim.Adam{lr=1e-3}", 2)
   end
   local loss_fn = resolve_loss("fit", opts.loss)
   local data = resolve_data("fit", opts.data, "data", opts.batch_size, true, opts.seed)
   if not data then error("[fit] option data is required", 2) end
   local val = resolve_data("fit", opts.val_data, "val_data", opts.batch_size, false)
   local epochs = opts.epochs or 1
   if math.type(epochs) ~= "integer" or epochs < 0 then
      error(fmt("[fit] epochs must be a non-negative integer, got %s%s", tostring(epochs),
                type(epochs) == "number" and "" or (" (a " .. type(epochs) .. ")")), 2)
   end
   local accum = opts.grad_accum or 1
   if math.type(accum) ~= "integer" or accum < 1 then
      error("[fit] grad_accum must be a positive integer, got " .. tostring(accum), 2)
   end
   local clip = opts.clip_norm
   if clip ~= nil and (type(clip) ~= "number" or clip <= 0) then
      error("[fit] clip_norm must be a positive number, got " .. tostring(clip), 2)
   end
   local verbose = opts.verbose
   if verbose == nil or verbose == true then verbose = 1 elseif verbose == false then verbose = 0 end
   local stream = opts.stream or io.stdout
   local cbs = opts.callbacks or {}
   if type(cbs) == "function" or (type(cbs) == "table" and cbs[1] == nil and next(cbs) ~= nil) then
      -- one callback rather than a list of them
      local is_cb = type(cbs) == "function" or getmetatable(cbs) ~= nil
      for _, h in ipairs(HOOKS) do if cbs[h] then is_cb = true end end
      if not is_cb then
         error("[fit] callbacks must be a list of callbacks {cb1, cb2, ...}, got a table " ..
               "without hooks (" .. table.concat(HOOKS, ", ") .. ")", 2)
      end
      cbs = {cbs}
   elseif type(cbs) ~= "table" then
      error("[fit] callbacks must be a list of callbacks, got " .. type(cbs), 2)
   end
   for i, c in ipairs(cbs) do
      if type(c) ~= "function" and type(c) ~= "table" then
         error(fmt("[fit] callbacks[%d] must be a callback (ty.train.callbacks.*), a table of " ..
                   "hook functions or a function, got %s", i, type(c)), 2)
      end
   end
   local metric_list = opts.metrics
   if type(metric_list) == "string" or (type(metric_list) == "table" and
                                        type(metric_list.update) == "function") then
      metric_list = {metric_list}
   elseif metric_list ~= nil and type(metric_list) ~= "table" then
      error("[fit] metrics must be a list of names or metric objects, got " ..
            type(metric_list), 2)
   end
   local train_ms = resolve_metrics("fit", metric_list)
   check_scalar_metrics("fit", train_ms)
   local val_ms = {}
   for i, m in ipairs(metric_list or {}) do
      if type(m) == "string" then
         val_ms[i] = ty.metrics.get(METRIC_ALIASES[m] or m)
         val_ms[i]._key = train_ms[i]._key
      else
         val_ms[i] = train_ms[i]
      end
   end

   local tr = setmetatable({model = model, optimizer = opt, history = new_history(),
                            stop_training = false, verbose = verbose, messages = {},
                            epochs = epochs, global_step = 0, data = data, val_data = val,
                            stream = stream},
                           Trainer)
   local start_epoch = (opts.initial_epoch or 0) + 1
   if opts.resume then
      local path = opts.resume
      if type(path) ~= "string" then
         error("[fit] resume must be the path of a ModelCheckpoint file, got " .. type(path), 2)
      end
      local rok, ck = pcall(ty.load_checkpoint, path)   -- restores the global RNG key
      if not rok then error("[fit] cannot resume: " .. tostring(ck), 2) end
      local rerr
      rok, rerr = pcall(function()
         restore_model(model, ck.model, path)
         if ck.optimizer then restore_optimizer(opt, ck.optimizer, path) end
      end)
      if not rok then
         error(fmt("[fit] cannot resume from %s: %s", path,
                   (tostring(rerr):gsub("^lua/tycho/[%w_]+%.lua:%d+: ", ""))), 2)
      end
      local extra = ck.extra or {}
      if extra.history then
         local ok, h = pcall(history_from_table, extra.history, path)
         if ok then tr.history = h end
      end
      tr.global_step = extra.global_step or 0
      tr.resumed_extra = extra
      if type(extra.loader_key) == "string" and rawget(data, "_key") ~= nil then
         local ok, key = pcall(ty.random.key_from_string, extra.loader_key)
         if ok then data._key = key end
      end
      start_epoch = (ck.epoch or 0) + 1
      if type(data.epoch) == "number" then data.epoch = ck.epoch or 0 end
      if verbose > 0 then
         tr:message(fmt("resuming from %s after epoch %d", path, ck.epoch or 0))
      end
   end

   local vg = ty.nn.value_and_grad(model, function(xs, y)
      local pred = model(unpack(xs))
      return loss_fn(pred, y), pred
   end)

   local steps_per_epoch = #data
   model:train()
   fire(cbs, "on_train_begin", tr)

   -- one epoch; returns logs (raises on interruption)
   local function run_epoch(e)
      tr.epoch = e
      for _, m in ipairs(train_ms) do m:reset() end
      fire(cbs, "on_epoch_begin", e, tr)
      local t0 = now()
      local lsum, seen = nil, 0
      local step_losses, step_ids = {}, {}
      tr._steps = {step_losses, step_ids}
      local bar
      if verbose == 1 then
         bar = new_bar{total = steps_per_epoch, stream = stream,
                       desc = fmt("epoch %d/%d", e, epochs)}
         if bar.tty then
            tr.bar = bar
            bar.postfix = function()
               -- the running values: read at most at the bar's redraw rate
               local parts = {}
               if seen == 0 then return "" end
               if lsum then
                  parts[1] = "loss " .. num_str(lsum:item() / seen)
               end
               for _, m in ipairs(train_ms) do
                  local ok, v = pcall(m.compute, m)
                  v = ok and metric_number(v) or nil
                  if v ~= nil then
                     parts[#parts + 1] = short(m._key) .. " " .. num_str(v)
                  end
               end
               return table.concat(parts, " ")
            end
            bar:render(true)
         else
            bar = nil
         end
      end
      local acc_grads, acc_n = nil, 0
      local s = 0
      for xs, y in batches(data) do
         s = s + 1
         tr.step = s
         fire(cbs, "on_batch_begin", s, tr)
         local n = batch_size_of(xs[1])
         if y == nil and type(opts.loss) == "string" then
            error(fmt("[fit] the batches of data have no targets: loss '%s' needs " ..
                      "data={x, y} (or a loader of (x, y) batches)", opts.loss), 0)
         end
         local l, pred, grads = vg(xs, y)
         for _, m in ipairs(train_ms) do m:update(pred, y) end
         lsum = add(lsum, l * n)
         seen = seen + n
         local boundary = true
         if accum > 1 then
            acc_grads = acc_grads and ty.tree.map(function(a, b) return a + b end, acc_grads,
                                                  grads) or grads
            acc_n = acc_n + 1
            boundary = acc_n == accum or s == steps_per_epoch
            if boundary then
               local k = acc_n
               grads = ty.tree.map(function(g) return g / k end, acc_grads)
               acc_grads, acc_n = nil, 0
            end
         end
         -- the step is recorded as soon as the update is built: a Ctrl-C that
         -- lands from here on completes it (fit evaluates what the model and
         -- the optimizer hold), so history.step matches opt.step
         if boundary then
            if clip then grads = ty.optim.clip_grad_norm(grads, clip) end
            opt:update(model, grads)
            tr.global_step = tr.global_step + 1
            step_losses[#step_losses + 1] = l
            step_ids[#step_ids + 1] = tr.global_step
            ty.eval(l, lsum, model:parameters(), model:buffers(), opt:state(), metric_states(train_ms))
         else
            step_losses[#step_losses + 1] = l
            step_ids[#step_ids + 1] = tr.global_step
            ty.eval(l, lsum, acc_grads, model:buffers(), metric_states(train_ms))
         end
         if bar then bar:update(1) end
         if opts.log_every and verbose > 0 and not (bar and bar.tty)
            and s % opts.log_every == 0 then
            stream:write(fmt("epoch %d/%d step %d/%d loss %s\n", e, epochs, s, steps_per_epoch,
                             num_str(lsum:item() / seen)))
            stream:flush()
         end
         fire(cbs, "on_batch_end", s, {loss = l, size = n}, tr)
         if tr.stop_training then break end
      end
      -- per-step losses: one gather per epoch
      tr:flush_steps()
      local logs = {}
      if lsum then logs.loss = lsum:item() / math.max(seen, 1) end
      logs_of_metrics(train_ms, "", logs, true)
      local train_time = now() - t0
      if val then
         local vlogs = run_eval(model, val, loss_fn, val_ms, bar and "  validating" or nil,
                                verbose, stream, true)
         for k, v in pairs(vlogs) do logs["val_" .. k] = v end
      end
      if type(opt.lr) == "number" then logs.lr = opt.lr end
      local dt = now() - t0
      logs.time = dt
      -- the epoch line
      if verbose > 0 then
         local parts = {fmt("epoch %d/%d", e, epochs)}
         local keys = {}
         for k in pairs(logs) do
            if k ~= "time" and k ~= "lr" then keys[#keys + 1] = k end
         end
         table.sort(keys, key_before)
         for _, k in ipairs(keys) do parts[#parts + 1] = short(k) .. " " .. num_str(logs[k]) end
         parts[#parts + 1] = fmt("(%.1f s, %.1f it/s)", dt, s / math.max(train_time, 1e-9))
         local line = table.concat(parts, "  ")
         if bar then bar:close(line) else stream:write(line, "\n"); stream:flush() end
      end
      tr.bar = nil
      tr.history:record_epoch(e, logs)
      tr.last_epoch = e
      tr.logs = logs
      fire(cbs, "on_epoch_end", e, logs, tr)
      return logs
   end

   local function loop()
      for e = start_epoch, epochs do
         run_epoch(e)
         if tr.stop_training then break end
      end
   end

   -- Two pcall levels: the Ctrl-C hook may fire right after the inner one
   -- returns (it fires at the next Lua instruction).
   local inner_ok, inner_err = true, nil
   local ok, err = pcall(function()
      inner_ok, inner_err = xpcall(loop, function(e)
         if is_interrupt(e) or type(e) ~= "string" then return e end
         if e:find("^%[fit%]") then return e end   -- fit's own: says all
         -- a position inside fit tells the user nothing (the layer's own
         -- message names it; the traceback below keeps the frames)
         e = e:gsub("^lua/tycho/train%.lua:%d+: ", "")
         local tb = debug.traceback(e, 2)
         -- an error of the lazy step (shapes, indices) surfaces in ty.eval: the
         -- frames inside fit say nothing more; one from the user's forward or
         -- loss keeps its frames (where in the model it happened)
         if tb:find("\nstack traceback:\n%s*%[C%]: in function 'tycho%.eval'") then
            return e
         end
         return tb
      end)
   end)
   local failure
   if not ok then failure = err elseif not inner_ok then failure = inner_err end
   if failure ~= nil then
      if tr.bar and tr.bar.tty and not tr.bar.closed then
         tr.bar.closed = true
         stream:write("\n")
         stream:flush()
      end
      tr.bar = nil
      if not is_interrupt(failure) then error(explain("fit", failure, opts.loss), 0) end
      settle()
      -- complete the step that was running: what the model and the optimizer
      -- hold (lazy or not) is evaluated now
      pcall(ty.eval, model:parameters(), model:buffers(), opt:state())
      tr:flush_steps()
      tr.history.interrupted = true
      tr:message(fmt("interrupted: training stopped in epoch %s at step %s; returning " ..
                     "the history so far (%d complete epoch%s)", tostring(tr.epoch),
                     tostring(tr.step), #tr.history.epochs,
                     #tr.history.epochs == 1 and "" or "s"))
   end
   fire(cbs, "on_train_end", tr)
   tr.history.messages = tr.messages
   return tr.history
end

doc(M.fit, [[ty.train.fit{model=, loss=, optimizer=, data=, val_data=, epochs=1, metrics={},
             callbacks={}, grad_accum=1, clip_norm=, log_every=, verbose=1,
             batch_size=32, resume=, seed=, initial_epoch=0} -> history
  Trains model (an nn.Module) on data (a DataLoader, a dataset, or {x, y} arrays
  batched by batch_size and shuffled) for `epochs` epochs. A batch of more
  than two values (x1, x2, ..., y; data={x1, x2, y}) feeds a model of several
  inputs: model(x1, x2, ...). loss: a ty.losses
  name ('cross_entropy', 'mse', ...) or a function(pred, target) -> scalar.
  optimizer: a ty.optim optimizer (learning-rate schedules live in its lr).
  Each step is one graph evaluated once: forward, backward (nn.value_and_grad),
  optional clipping (clip_norm, ty.optim.clip_grad_norm), the update, the
  running loss and the metric accumulators. grad_accum=k averages the gradients
  of k batches per update. metrics: names for ty.metrics.get ('accuracy', ...;
  Keras's 'acc' works too) or metric objects (one name alone is fine), each
  giving one number (a confusion_matrix or average='none' is refused: use
  ty.train.evaluate for those); validated on val_data each epoch as val_<name>, with
  val_loss. The model is in train mode during fit and in eval mode for the
  validation. callbacks: ty.train.callbacks.* objects, tables of functions on
  on_train_begin(tr), on_train_end(tr), on_epoch_begin(epoch, tr),
  on_epoch_end(epoch, logs, tr), on_batch_begin(step, tr), on_batch_end(step,
  {loss=, size=}, tr), or bare functions (on_epoch_end); tr.model, tr.optimizer,
  tr.history, tr.epoch, tr.step are there and tr.stop_training = true stops.
  On a terminal a progress bar (verbose=1) redraws in place, then one line per
  epoch stays; elsewhere only the epoch lines are printed (log_every=N adds a
  line every N steps); verbose=0 prints nothing. resume=path continues from a
  ModelCheckpoint file (weights, optimizer state, epoch, RNG key, history).
  Ctrl-C stops after the current step and returns the history so far
  (history.interrupted = true).]])

-- ------------------------------------------------------------------ evaluate, predict

local EVAL_OPTS = set{"model", "data", "loss", "metrics", "batch_size", "verbose"}

function M.evaluate(opts)
   if type(opts) ~= "table" then error("[evaluate] expected an options table", 2) end
   check_opts("evaluate", opts, EVAL_OPTS)
   check_model("evaluate", opts.model)
   local data = resolve_data("evaluate", opts.data, "data", opts.batch_size, false)
   if not data then error("[evaluate] option data is required", 2) end
   local loss_fn = opts.loss ~= nil and resolve_loss("evaluate", opts.loss) or nil
   local ml = opts.metrics
   if type(ml) == "string" or (type(ml) == "table" and type(ml.update) == "function") then
      ml = {ml}
   end
   local ms = resolve_metrics("evaluate", ml)
   local verbose = opts.verbose
   if verbose == nil or verbose == true then verbose = 1 elseif verbose == false then verbose = 0 end
   local ok, res = pcall(run_eval, opts.model, data, loss_fn, ms, "evaluating", verbose,
                         io.stdout)
   if not ok then error(explain("evaluate", res, opts.loss), 0) end
   return res
end
doc(M.evaluate, [[ty.train.evaluate{model=, data=, loss=, metrics={}, batch_size=32} -> logs
  Runs model (in eval mode) over data and returns {loss=, accuracy=, ...}: the
  mean loss (when loss is given) and each metric over the whole data (a number,
  or what the metric gives: the (C,C) array of 'confusion_matrix', the list of
  per-class values of average='none').]])

function M.predict(opts)
   if type(opts) ~= "table" then error("[predict] expected an options table", 2) end
   check_opts("predict", opts, set{"model", "data", "batch_size"})
   check_model("predict", opts.model)
   local data = opts.data
   if ty.is_array(data) then data = {data} end
   data = resolve_data("predict", data, "data", opts.batch_size, false)
   if not data then error("[predict] option data is required", 2) end
   local model = opts.model
   local was = model.training
   model:eval()
   local outs = {}
   for x in data:iter() do
      outs[#outs + 1] = ty.eval(model(x))
   end
   if was then model:train() end
   if #outs == 0 then return nil end
   if #outs == 1 then return outs[1] end
   return ty.eval(ty.cat(outs, 1))
end
doc(M.predict, [[ty.train.predict{model=, data=, batch_size=32} -> array
  The model's outputs (eval mode) over data (a loader, a dataset, {x} or an
  array x batched by batch_size), concatenated along the first axis.]])

return M
