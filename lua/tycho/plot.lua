-- tycho.plot -- ty.plot: figures through libplot (viz/plot.c) to .png, .svg
-- and .ps/.eps files, and quick plots in the terminal with braille characters
-- (viz/term.c).
local ty = require "tycho"

local V = ty._viz
local M = ty.plot or {}
ty.plot = M
M.__doc = "ty.plot"

local docs = {}

local function check_opts(fname, opts, allowed, level)
   if opts == nil then return {} end
   if type(opts) ~= "table" then
      error(string.format("[%s] options must be a table, got %s", fname, type(opts)), level + 1)
   end
   local set = {}
   for w in allowed:gmatch("%S+") do set[w] = true end
   for k in pairs(opts) do
      if not set[k] then
         error(string.format("[%s] unknown option '%s' (expected %s)", fname, tostring(k),
                             allowed:gsub(" ", ", ")), level + 1)
      end
   end
   local function bad(k, want)
      local v = opts[k]
      error(string.format("[%s] option '%s' must be %s, got %s", fname, k, want,
                          type(v) == "string" and "'" .. v .. "'" or
                          (type(v) == "table" and "a table" or tostring(v))), level + 2)
   end
   for _, k in ipairs{"width", "height", "ncol"} do
      local v = opts[k]
      if v ~= nil and (math.type(v) ~= "integer" or v < 1) then bad(k, "a positive integer") end
   end
   for _, k in ipairs{"path", "title", "xlabel", "ylabel", "label"} do
      if opts[k] ~= nil and type(opts[k]) ~= "string" then bad(k, "a string") end
   end
   for _, k in ipairs{"vmin", "vmax"} do
      local v = opts[k]
      if v ~= nil and (type(v) ~= "number" or v ~= v) then bad(k, "a number") end
   end
   if opts.vmin and opts.vmax and opts.vmin >= opts.vmax then bad("vmax", "greater than vmin") end
   if opts.marker ~= nil and (math.type(opts.marker) ~= "integer" or opts.marker < 0) then
      bad("marker", "a libplot marker number (an integer >= 0)")
   end
   for _, k in ipairs{"labels", "captions", "class_names", "row_labels", "col_labels"} do
      local v = opts[k]
      if v ~= nil and type(v) ~= "table" and not (k == "labels" and ty.is_array(v)) then
         bad(k, k == "labels" and "a list or an array" or "a list of strings")
      end
   end
   return opts
end

-- A flat Lua list of numbers from an array (any shape) or a list.
local function numbers(fname, v, what, level)
   if ty.is_array(v) then
      if v.size == 0 then return {} end
      -- (float64 exists on the CPU backend only)
      if v.device ~= "cpu" then v = v:to("cpu") end
      local t = v:reshape{-1}:astype("float64"):tolist()
      return t
   elseif type(v) == "table" then
      for i = 1, #v do
         if type(v[i]) ~= "number" then
            error(string.format("[%s] %s[%d] must be a number, got %s", fname, what, i,
                                type(v[i])), level + 1)
         end
      end
      return v
   end
   error(string.format("[%s] %s must be an array or a list of numbers, got %s", fname, what,
                       type(v)), level + 1)
end

local function is_series(t)
   return type(t) == "table" and not ty.is_array(t) and t.y ~= nil
end

local function is_series_list(t)
   return type(t) == "table" and not ty.is_array(t) and is_series(t[1])
end

-- Normalises the data arguments of line/scatter/term into a series list.
local function series_from(fname, a, b, opts, style, level)
   local list
   if is_series_list(a) then
      list = {}
      for i, s in ipairs(a) do
         list[i] = {label = s.label, y = numbers(fname, s.y, "y", level + 1),
                    x = s.x and numbers(fname, s.x, "x", level + 1), style = s.style or style,
                    marker = s.marker, color = s.color}
      end
   elseif is_series(a) then
      list = {{label = a.label or opts.label, y = numbers(fname, a.y, "y", level + 1),
               x = a.x and numbers(fname, a.x, "x", level + 1), style = a.style or style}}
   else
      local x, y = nil, a
      if b ~= nil then x, y = numbers(fname, a, "x", level + 1), b end
      if ty.is_array(y) and y.ndim == 2 then
         -- an (n, k) array: k series, one per column
         list = {}
         local cols = y.T
         for j = 1, y.shape[2] do
            list[j] = {label = (opts.labels and opts.labels[j]) or (opts.label and opts.label .. " " .. j),
                       x = x, y = numbers(fname, cols[j], "y", level + 1), style = style}
         end
      else
         list = {{label = opts.label, x = x, y = numbers(fname, y, "y", level + 1), style = style}}
      end
   end
   for i, s in ipairs(list) do
      if s.x and #s.x ~= #s.y then
         error(string.format("[%s] series %d: x has %d values, y has %d", fname, i, #s.x, #s.y),
               level + 1)
      end
      if opts.marker and s.marker == nil then s.marker = opts.marker end
   end
   return list
end

local function need_path(fname, opts, level)
   if type(opts.path) ~= "string" then
      error(string.format("[%s] option 'path' (a .png, .svg, .ps or .eps file) is required",
                          fname), level + 1)
   end
   return opts.path
end

local SRC = debug.getinfo(1, "S").source

-- Calls a viz function; its errors are raised at the first caller outside
-- this file (the user's line).
local function call(fn, ...)
   local r = table.pack(pcall(fn, ...))
   if not r[1] then
      local lvl = 2
      while true do
         local info = debug.getinfo(lvl, "S")
         if not info then lvl = 0 break end
         if info.source ~= SRC and info.what ~= "C" then break end
         lvl = lvl + 1
      end
      error(r[2], lvl)
   end
   return table.unpack(r, 2, r.n)
end

local function figure(spec, path)
   local r = call(V.figure, spec, path)
   return r
end

-- ---------------------------------------------------------------- line, scatter

local xy_opts = "path title xlabel ylabel label labels width height style marker legend"

local function xy_plot(fname, style, a, b, opts, level)
   if opts == nil and type(b) == "table" and not ty.is_array(b) and type(b[1]) ~= "number" then
      opts, b = b, nil
   end
   opts = check_opts(fname, opts, xy_opts, level + 1)
   local series = series_from(fname, a, b, opts, opts.style or style, level + 1)
   if opts.path == nil then
      return M.term(series, {title = opts.title, width = opts.width, height = opts.height})
   end
   local labelled = false
   for _, s in ipairs(series) do if s.label then labelled = true end end
   return figure({title = nil, width = opts.width, height = opts.height,
                  panels = {{title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel,
                             series = series, legend = opts.legend ~= false and labelled}}},
                 opts.path)
end

function M.line(a, b, opts)
   return xy_plot("plot.line", "line", a, b, opts, 2)
end
docs[M.line] = [[
ty.plot.line(y | x, y | series, {path=, title=, xlabel=, ylabel=, label=, labels=,
             style='line', marker=, width=, height=, legend=true}) -> path | string
  A line plot written to `path` (.png, .svg, .ps or .eps; .pdf is an error:
  libplot has no PDF). y (and x) are arrays or lists of numbers; x defaults
  to 1..n. Several series: a list {{label=, x=, y=, style=}, ...}, or y an
  (n, k) array: one series per column (named by labels={...}). NaN and
  inf values are skipped (they break the line). Without path, returns the
  terminal plot (ty.plot.term; width and height then count characters).
  style: 'line', 'scatter', 'line_markers'.]]

function M.scatter(a, b, opts)
   return xy_plot("plot.scatter", "scatter", a, b, opts, 2)
end
docs[M.scatter] = [[
ty.plot.scatter(x, y | series, {path=, title=, xlabel=, ylabel=, label=, marker=,
                width=, height=}) -> path | string
  A scatter plot (markers only), as ty.plot.line otherwise. marker: a libplot
  marker number (16 filled circle, 4 circle, 2 plus, 5 cross, 6 square, ...).]]

-- ---------------------------------------------------------------- histogram

function M.histogram(values, opts)
   opts = check_opts("plot.histogram", opts,
                     "path bins range title xlabel ylabel label density width height", 2)
   local v = numbers("plot.histogram", values, "values", 2)
   local bins = opts.bins or 10
   if math.type(bins) ~= "integer" or bins < 1 or bins > 1000000 then
      error("[plot.histogram] option 'bins' must be an integer in 1..1000000, got " ..
            tostring(bins), 2)
   end
   local lo, hi
   if opts.range ~= nil then
      local r = opts.range
      if type(r) ~= "table" or ty.is_array(r) or type(r[1]) ~= "number" or
         type(r[2]) ~= "number" or not (r[1] > -math.huge and r[2] < math.huge and r[1] < r[2]) then
         error("[plot.histogram] option 'range' must be {lo, hi} with finite lo < hi, got " ..
               (type(r) == "table" and not ty.is_array(r) and
                string.format("{%s, %s}", tostring(r[1]), tostring(r[2])) or tostring(r)), 2)
      end
      lo, hi = r[1], r[2]
   else
      lo, hi = math.huge, -math.huge
      for _, x in ipairs(v) do
         if x == x and x > -math.huge and x < math.huge then
            if x < lo then lo = x end
            if x > hi then hi = x end
         end
      end
      if lo > hi then lo, hi = 0, 1 end
   end
   if lo == hi then lo, hi = lo - 0.5, hi + 0.5 end
   local counts, centers, edges = {}, {}, {}
   -- half widths keep spans past the double range (hi - lo = inf) finite
   local hw = hi * 0.5 / bins - lo * 0.5 / bins
   local w = (hi - lo) / bins
   for i = 1, bins do
      counts[i] = 0
      centers[i] = (lo * 0.5 + (i - 0.5) * hw) * 2
   end
   for i = 0, bins do edges[i + 1] = (lo * 0.5 + i * hw) * 2 end
   edges[bins + 1] = hi
   local n = 0
   for _, x in ipairs(v) do
      if x == x and x >= lo and x <= hi then
         local k = math.floor((x * 0.5 - lo * 0.5) / hw) + 1
         if k > bins then k = bins elseif k < 1 then k = 1 end
         k = math.tointeger(k) or 1
         counts[k] = counts[k] + 1
         n = n + 1
      end
   end
   local heights = counts
   if opts.density and n > 0 then
      heights = {}
      for i = 1, bins do heights[i] = counts[i] / (n * w) end
   end
   if opts.path then
      figure({width = opts.width, height = opts.height,
              panels = {{title = opts.title, xlabel = opts.xlabel,
                         ylabel = opts.ylabel or (opts.density and "density" or "count"),
                         legend = opts.label ~= nil,
                         series = {{label = opts.label, x = centers, y = heights,
                                    style = "bars", bar_width = w}}}}}, opts.path)
   end
   return counts, edges
end
docs[M.histogram] = [[
ty.plot.histogram(values, {bins=10, range={lo, hi}, density=false, path=, title=,
                  xlabel=, ylabel='count', label=, width=, height=}) -> counts, edges
  Counts of values (an array or a list; NaN skipped) in `bins` equal bins over
  range (default: the data's min..max), drawn as bars when path is given.
  Returns the counts and the bins+1 edges as Lua lists.]]

-- ---------------------------------------------------------------- images

function M.images(batch, opts)
   opts = check_opts("plot.images", opts,
                     "path labels class_names ncol title captions vmin vmax width height", 2)
   need_path("plot.images", opts, 2)
   if not ty.is_array(batch) then
      error("[plot.images] argument 1 must be an array of images (N,H,W), (N,C,H,W) or " ..
            "(N,H,W,C), got " .. type(batch), 2)
   end
   local s = batch.shape
   local x = batch
   if #s == 2 then
      x = batch:reshape{1, 1, s[1], s[2]}
   elseif #s == 3 then
      -- (N,H,W): N grayscale images (a single RGB image is (1,3,H,W))
      x = batch:reshape{s[1], 1, s[2], s[3]}
   elseif #s == 4 then
      if s[2] ~= 1 and s[2] ~= 3 and (s[4] == 1 or s[4] == 3) then
         x = ty.transpose(batch, {1, 4, 2, 3})
      end
   else
      error(string.format("[plot.images] expected (N,H,W), (N,C,H,W) or (N,H,W,C) images, got (%s)",
                          table.concat(s, ",")), 2)
   end
   local c = x.shape[2]
   if x.size == 0 then
      error(string.format("[plot.images] no pixels to draw: the batch has shape (%s)",
                          table.concat(s, ",")), 2)
   end
   if c ~= 1 and c ~= 3 then
      error(string.format("[plot.images] images need 1 (gray) or 3 (RGB) channels, got shape (%s)",
                          table.concat(batch.shape, ",")), 2)
   end
   local n = x.shape[1]
   local captions = opts.captions
   if not captions and opts.labels ~= nil then
      local labels = opts.labels
      if ty.is_array(labels) then labels = labels:reshape{-1}:tolist() end
      captions = {}
      for i = 1, n do
         local l = labels[i]
         if l == nil then
            captions[i] = ""
         elseif opts.class_names and opts.class_names[l] then
            captions[i] = tostring(opts.class_names[l])
         else
            captions[i] = tostring(math.type(l) == "float" and l == math.floor(l) and
                                   math.tointeger(l) or l)
         end
      end
   end
   local ncol = math.min(opts.ncol or math.ceil(math.sqrt(n)), n)
   local nrow = math.ceil(n / ncol)
   local cell = math.max(64, math.min(160, math.floor(1200 / ncol)))
   local width = opts.width or ncol * cell + 12
   local height = opts.height or nrow * (cell + (captions and 18 or 0)) + (opts.title and 40 or 14)
   if width > 16384 or height > 16384 then
      error(string.format("[plot.images] %d images in %d columns need a %dx%d figure (at most " ..
                          "16384 pixels a side): draw fewer, e.g. batch[{{1, 64}}], or set ncol",
                          n, ncol, width, height), 2)
   end
   return figure({width = width, height = height,
                  panels = {{kind = "images", title = opts.title, images = x:astype("float32"),
                             ncol = ncol, captions = captions, vmin = opts.vmin,
                             vmax = opts.vmax}}}, opts.path)
end
docs[M.images] = [[
ty.plot.images(batch, {path=, labels=, class_names=, ncol=, title=, captions=, vmin=, vmax=,
               width=, height=}) -> path
  A grid of images: batch is (N,H,W) or (N,1,H,W) grayscale, (N,3,H,W) or
  (N,H,W,3) RGB. Captions come from `captions`, or from labels (1-based class
  numbers, an array or a list) through class_names, e.g. a batch of
  Fashion-MNIST: ty.plot.images(x[{{1,32}}], {labels=y, class_names=ty.data.
  fashion_mnist{}.classes, path="batch.png"}). A 3-d batch is always N
  grayscale images; give a single RGB image as (1,3,H,W). Values are shown from vmin
  (black) to vmax (white), by default the batch's min..max.]]

-- ---------------------------------------------------------------- heatmaps

function M.confusion_matrix(cm, opts)
   opts = check_opts("plot.confusion_matrix", opts,
                     "path class_names title xlabel ylabel normalize annotate width height", 2)
   need_path("plot.confusion_matrix", opts, 2)
   if not ty.is_array(cm) then
      if type(cm) ~= "table" then
         error("[plot.confusion_matrix] argument 1 must be a (C,C) array or a nested list, got " ..
               type(cm), 2)
      end
      local ok, a = pcall(ty.array, cm, {dtype = "float64", device = "cpu"})
      if not ok then error("[plot.confusion_matrix] argument 1: " .. tostring(a), 2) end
      cm = a
   end
   if cm.ndim ~= 2 or cm.shape[1] ~= cm.shape[2] or cm.size == 0 then
      error(string.format("[plot.confusion_matrix] expected a non-empty (C,C) matrix, got (%s)",
                          table.concat(cm.shape, ",")), 2)
   end
   local cn = opts.class_names
   if cn ~= nil and (type(cn) ~= "table" or ty.is_array(cn) or #cn ~= cm.shape[1]) then
      error(string.format("[plot.confusion_matrix] class_names must be a list of %d names, got %s",
                          cm.shape[1], type(cn) == "table" and not ty.is_array(cn) and
                          ("a list of " .. #cn) or type(cn)), 2)
   end
   local m = (cm.device ~= "cpu" and cm:to("cpu") or cm):astype("float64")
   if opts.normalize then
      m = m / ty.maximum(m:sum(2, true), 1)
   end
   local names = opts.class_names
   local r, c = cm.shape[1], cm.shape[2]
   local side = math.max(420, math.min(900, 70 * math.max(r, c) + 160))
   return figure({width = opts.width or side, height = opts.height or side,
                  panels = {{kind = "heatmap", title = opts.title or "confusion matrix",
                             values = m, row_labels = names, col_labels = names,
                             xlabel = opts.xlabel or "predicted",
                             ylabel = opts.ylabel or "true",
                             annotate = opts.annotate ~= false}}}, opts.path)
end
docs[M.confusion_matrix] = [[
ty.plot.confusion_matrix(cm, {path=, class_names=, title=, normalize=false, annotate=true,
                         xlabel='predicted', ylabel='true', width=, height=}) -> path
  A heatmap of a (C,C) confusion matrix (rows: true class, columns: predicted,
  as ty.metrics produces), with the count in each cell and the class names
  on the axes; normalize=true divides each row by its sum.]]

function M.heatmap(values, opts)
   opts = check_opts("plot.heatmap", opts,
                     "path row_labels col_labels title xlabel ylabel annotate width height", 2)
   need_path("plot.heatmap", opts, 2)
   if not ty.is_array(values) then
      if type(values) ~= "table" then
         error("[plot.heatmap] argument 1 must be a 2-d array or a nested list, got " ..
               type(values), 2)
      end
      local ok, a = pcall(ty.array, values, {dtype = "float64", device = "cpu"})
      if not ok then error("[plot.heatmap] argument 1: " .. tostring(a), 2) end
      values = a
   end
   if values.ndim ~= 2 or values.size == 0 then
      error(string.format("[plot.heatmap] expected a non-empty 2-d array, got (%s)",
                          table.concat(values.shape, ",")), 2)
   end
   return figure({width = opts.width, height = opts.height,
                  panels = {{kind = "heatmap", title = opts.title, values = values,
                             row_labels = opts.row_labels, col_labels = opts.col_labels,
                             xlabel = opts.xlabel, ylabel = opts.ylabel,
                             annotate = opts.annotate ~= false}}}, opts.path)
end
docs[M.heatmap] = [[
ty.plot.heatmap(values, {path=, row_labels=, col_labels=, title=, xlabel=, ylabel=,
                annotate=true, width=, height=}) -> path
  A 2-d array drawn as coloured cells (white to dark blue), values written
  in the cells.]]

-- ---------------------------------------------------------------- figures

-- spec.panels: a non-empty list of panel tables.
local function panels_of(fname, spec, level)
   local ps = spec.panels
   if type(ps) ~= "table" or ty.is_array(ps) or ps[1] == nil then
      error(string.format("[%s] panels must be a non-empty list of panels {{title=, series=" ..
                          "{...}}, ...}, got %s", fname,
                          type(ps) ~= "table" and type(ps) or (next(ps) == nil and "an empty table"
                          or "a single table (wrap it: panels={{...}})")), level + 1)
   end
   return ps
end

local function panel_from(fname, i, p, level)
   if type(p) ~= "table" then
      error(string.format("[%s] panel %d must be a table, got %s", fname, i, type(p)), level + 1)
   end
   local kind = p.kind or "xy"
   if kind == "xy" then
      if p.series ~= nil and (type(p.series) ~= "table" or ty.is_array(p.series) or
                              p.series.y ~= nil or (next(p.series) ~= nil and p.series[1] == nil)) then
         error(string.format("[%s] panel %d: series must be a list of {label=, x=, y=} " ..
                             "(e.g. series={{y=...}}), got %s", fname, i,
                             type(p.series) == "table" and "a single table" or type(p.series)),
               level + 1)
      end
      local series = {}
      for k, s in ipairs(p.series or {}) do
         if type(s) ~= "table" or s.y == nil then
            error(string.format("[%s] panel %d, series %d: expected {label=, x=, y=}", fname, i, k),
                  level + 1)
         end
         local y = numbers(fname, s.y, "y", level + 1)
         local x = s.x and numbers(fname, s.x, "x", level + 1)
         if x and #x ~= #y then
            error(string.format("[%s] panel %d, series %d ('%s'): x has %d values, y has %d",
                                fname, i, k, tostring(s.label), #x, #y), level + 1)
         end
         series[k] = {label = s.label, x = x, y = y, style = s.style, marker = s.marker,
                      color = s.color, bar_width = s.bar_width}
      end
      return {kind = "xy", title = p.title, xlabel = p.xlabel, ylabel = p.ylabel,
              series = series, legend = p.legend ~= false}
   end
   return p
end

function M.figure(spec)
   check_opts("plot.figure", spec, "path title panels ncol width height", 2)
   local path = need_path("plot.figure", spec, 2)
   local panels = {}
   for i, p in ipairs(panels_of("plot.figure", spec, 2)) do panels[i] = panel_from("plot.figure", i, p, 2) end
   return figure({title = spec.title, ncol = spec.ncol, width = spec.width,
                  height = spec.height, panels = panels}, path)
end
docs[M.figure] = [[
ty.plot.figure{path=, title=, ncol=, width=, height=, panels={...}} -> path
  A figure of several panels laid out in a grid (ncol per row, default up to
  3). A panel is {title=, xlabel=, ylabel=, legend=true, series={{label=,
  x=, y=, style='line'|'scatter'|'line_markers'|'bars', marker=, color=}}},
  or {kind='images', images=(N,C,H,W), captions=, ncol=} or {kind='heatmap',
  values=(R,C), row_labels=, col_labels=, annotate=}.]]

function M.curves(spec)
   check_opts("plot.curves", spec, "path title panels ncol width height", 2)
   local path = need_path("plot.curves", spec, 2)
   local panels = {}
   for i, p in ipairs(panels_of("plot.curves", spec, 2)) do
      panels[i] = panel_from("plot.curves", i, p, 2)
      for _, s in ipairs(panels[i].series) do
         if s.style == nil then s.style = #s.y <= 30 and "line_markers" or "line" end
      end
   end
   return figure({title = spec.title, ncol = spec.ncol, width = spec.width,
                  height = spec.height, panels = panels}, path)
end
docs[M.curves] = [[
ty.plot.curves{path=, title=, ncol=, width=, height=, panels={{title="loss",
               xlabel="epoch", ylabel=, series={{label="train", x={...}, y={...}},
               {label="val", x=..., y=...}}}, ...}} -> path
  Training curves: one panel per quantity (loss, each metric), train and
  validation series in distinct colours with a legend (what
  History:plot draws). Short series get markers. .png, .svg, .ps, .eps.]]

-- ---------------------------------------------------------------- terminal

function M.term(data, opts)
   opts = check_opts("plot.term", opts, "width height title color", 2)
   local series
   if ty.is_array(data) or (type(data) == "table" and not getmetatable(data) and
                            (type(data[1]) == "number" or next(data) == nil)) then
      series = {{y = numbers("plot.term", data, "y", 2)}}
   elseif is_series(data) or is_series_list(data) then
      series = series_from("plot.term", data, nil, {}, "line", 2)
   else
      error("[plot.term] expected an array, a list of numbers, {x=, y=} or a list of series, got " ..
            type(data), 2)
   end
   local cols, rows = ty.terminal_size()
   local width = opts.width or math.min(cols, 100)
   local height = opts.height or math.max(8, math.min(20, rows - 4))
   local r = call(V.term, series, width, height, opts.title, opts.color or false)
   return r
end
docs[M.term] = [[
ty.plot.term(y | {x=, y=} | {{label=, x=, y=}, ...}, {width=, height=, title=, color=false})
             -> string
  A plot drawn with Unicode braille characters (2x4 dots per character) with
  a y axis, an x axis, tick labels, the title above and a legend of labelled
  series below: width x height characters in all (width defaults to the
  terminal's, ty.terminal_size()). color=true colours the series with ANSI
  codes. The REPL prints the string.]]

function M.read_png(path)
   if type(path) ~= "string" then
      error("[plot.read_png] argument 1 (path) must be a string, got " .. type(path), 2)
   end
   local w, h, rgb = call(V.png_read, path)
   return {width = w, height = h, pixels = rgb}
end
docs[M.read_png] = [[
ty.plot.read_png(path) -> {width=, height=, pixels=}
  Reads a PNG file (what libplot and graphviz write): its size and its pixels
  as a string of width*height*3 RGB bytes (alpha composited over white).]]

function M.nice_ticks(lo, hi, n)
   if type(lo) ~= "number" or type(hi) ~= "number" or lo ~= lo or hi ~= hi or
      lo == math.huge or lo == -math.huge or hi == math.huge or hi == -math.huge then
      error(string.format("[plot.nice_ticks] lo and hi must be finite numbers, got %s and %s",
                          tostring(lo), tostring(hi)), 2)
   end
   if n ~= nil and (math.type(n) ~= "integer" or n < 1 or n > 1000) then
      error("[plot.nice_ticks] n must be an integer in 1..1000, got " .. tostring(n), 2)
   end
   return V.nice_ticks(lo, hi, n)
end
docs[M.nice_ticks] = [[
ty.plot.nice_ticks(lo, hi, n=6) -> list
  About n "nice" tick values (1, 2 or 5 times a power of ten apart) in [lo, hi].]]

for fn, doc in pairs(docs) do ty.__doc[fn] = doc end
return M
