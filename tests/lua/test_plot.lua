-- test_plot.lua -- ty.plot: figures through libplot (PNG read back through
-- zlib, SVG and PostScript text), histograms, image grids, confusion
-- matrices, training curves, error messages, and terminal plots in braille.
local ty = require "tycho"
local h = require "helpers"

local eq, err = h.assert_eq, h.assert_error

local T = {}

local sh, read_bytes = h.sh, h.read_bytes
local DIR, tmp = h.tmpdir("plot")

-- width, height from the PNG's IHDR chunk
local function ihdr(path)
   local s = read_bytes(path)
   assert(s:sub(1, 8) == "\137PNG\r\n\26\n", path .. " is not a PNG")
   assert(s:sub(13, 16) == "IHDR", "IHDR is the first chunk")
   return string.unpack(">I4I4", s, 17)
end

-- number of pixels that differ between two decoded images of the same size
local function diff_pixels(a, b)
   assert(a.width == b.width and a.height == b.height)
   local n = 0
   for i = 1, #a.pixels, 3 do
      if a.pixels:sub(i, i + 2) ~= b.pixels:sub(i, i + 2) then n = n + 1 end
   end
   return n
end

-- pixels close to an RGB colour
local function count_color(img, r, g, b, tol)
   tol = tol or 40
   local n = 0
   local px = img.pixels
   for i = 1, #px, 3 do
      local pr, pg, pb = px:byte(i, i + 2)
      if math.abs(pr - r) <= tol and math.abs(pg - g) <= tol and math.abs(pb - b) <= tol then
         n = n + 1
      end
   end
   return n
end

function T.png_has_the_requested_size_in_its_ihdr()
   local path = ty.plot.line({1, 3, 2, 5}, {path = tmp("size.png"), width = 500, height = 300,
                                            title = "size"})
   eq(path, tmp("size.png"))
   local w, hh = ihdr(path)
   eq(w, 500)
   eq(hh, 300)
   local img = ty.plot.read_png(path)
   eq(img.width, 500)
   eq(img.height, 300)
   eq(#img.pixels, 500 * 300 * 3)
end

function T.a_curve_changes_pixels_of_an_empty_plot()
   local opts = {width = 400, height = 300, title = "t", xlabel = "x", ylabel = "y"}
   ty.plot.figure{path = tmp("empty.png"), width = 400, height = 300,
                  panels = {{title = "t", xlabel = "x", ylabel = "y",
                             series = {{label = "a", x = {1, 2, 3}, y = {1, 2, 3}, style = "scatter",
                                        marker = 1, marker_size = 0.001}}}}}
   opts.path = tmp("curve.png")
   ty.plot.line({1, 2, 3}, {1, 3, 2}, opts)
   local a, b = ty.plot.read_png(tmp("empty.png")), ty.plot.read_png(tmp("curve.png"))
   assert(diff_pixels(a, b) > 200, "the curve changed " .. diff_pixels(a, b) .. " pixels")
   -- the first series is drawn in the palette's blue (31,119,180)
   assert(count_color(b, 31, 119, 180) > 150, "blue curve pixels")
   -- an empty figure (no series at all) renders too, with axes only
   ty.plot.figure{path = tmp("none.png"), width = 400, height = 300,
                  panels = {{title = "t", series = {}}}}
   eq(count_color(ty.plot.read_png(tmp("none.png")), 31, 119, 180, 10), 0)
end

function T.series_get_distinct_colors_and_a_legend()
   ty.plot.line({{label = "train", y = {3, 2, 1.5, 1.2}}, {label = "val", y = {3.2, 2.4, 2, 1.9}}},
                {path = tmp("two.png"), width = 400, height = 300})
   local img = ty.plot.read_png(tmp("two.png"))
   assert(count_color(img, 31, 119, 180) > 100, "first series blue")
   assert(count_color(img, 255, 127, 14) > 100, "second series orange")
   -- the columns of an (n, 3) array are three series
   ty.plot.line(ty.arange(1, 10), ty.stack({ty.arange(1, 10), ty.arange(1, 10) * 2,
                                            ty.arange(1, 10) * 3}, 2),
                {path = tmp("cols.png"), labels = {"a", "b", "c"}, width = 400, height = 300})
   local c = ty.plot.read_png(tmp("cols.png"))
   assert(count_color(c, 44, 160, 44) > 100, "third series green")
end

function T.nan_and_inf_are_skipped_and_empty_series_work()
   local y = {1, 2, 0 / 0, 4, math.huge, 6, -math.huge, 8}
   ty.plot.line(y, {path = tmp("nan.png"), width = 300, height = 200})
   local img = ty.plot.read_png(tmp("nan.png"))
   assert(count_color(img, 31, 119, 180) > 50)
   ty.plot.line({{label = "empty", y = {}}, {label = "all nan", y = {0 / 0, 0 / 0}}},
                {path = tmp("empty_series.png"), width = 300, height = 200})
   eq(ty.plot.read_png(tmp("empty_series.png")).width, 300)
   -- arrays work as data, NaN included
   ty.plot.scatter(ty.array{1, 2, 3}, ty.array{1, 0 / 0, 3}, {path = tmp("arr.svg")})
end

function T.svg_and_postscript_outputs()
   ty.plot.line({1, 4, 9}, {path = tmp("p.svg"), title = "squares", label = "n^2"})
   local s = read_bytes(tmp("p.svg"))
   assert(s:find("<svg", 1, true) and s:find("</svg>", 1, true), "an SVG document")
   assert(s:find("squares", 1, true), "the title is in the SVG")
   assert(s:find("<path", 1, true) or s:find("<polyline", 1, true), "the curve is a path")
   assert(#s > 1000)
   ty.plot.line({1, 4, 9}, {path = tmp("p.ps")})
   ty.plot.line({1, 4, 9}, {path = tmp("p.eps")})
   assert(read_bytes(tmp("p.ps")):sub(1, 4) == "%!PS")
   assert(read_bytes(tmp("p.eps")):sub(1, 4) == "%!PS")
end

function T.pdf_and_unknown_formats_are_clear_errors()
   err(function() ty.plot.line({1, 2}, {path = tmp("x.pdf")}) end,
       "[plot] PDF output is not supported by libplot")
   err(function() ty.plot.line({1, 2}, {path = tmp("x.jpg")}) end, "unknown file type")
   err(function() ty.plot.images(ty.zeros{2, 4, 4}, {path = tmp("x.pdf")}) end, "PDF")
   assert(not io.open(tmp("x.pdf"), "rb"), "no file is left behind")
   err(function() ty.plot.line({1, 2}, {path = tmp("x.png"), colour = 1}) end,
       "unknown option 'colour'")
   err(function() ty.plot.line({1, 2}, {1, 2, 3}, {path = tmp("x.png")}) end,
       "x has 2 values, y has 3")
   err(function() ty.plot.line({1, 2}, {path = "/nonexistent/dir/x.png"}) end, "[plot]")
end

function T.files_are_replaced_atomically()
   local path = tmp("atomic.png")
   ty.plot.line({1, 2, 3}, {path = path, width = 200, height = 150})
   ty.plot.line({3, 2, 1}, {path = path, width = 220, height = 150})
   eq(select(1, ihdr(path)), 220)
   local left = sh("ls -a " .. DIR .. " | grep -c atomic")
   eq(tonumber(left), 1, "no temporary files left")
end

function T.histogram_counts_edges_and_bars()
   local counts, edges = ty.plot.histogram({0, 0.1, 0.5, 0.9, 1, 1, 0 / 0},
                                           {bins = 2, path = tmp("hist.png"), width = 300, height = 200})
   eq(counts, {2, 4})
   eq(edges, {0, 0.5, 1})
   local img = ty.plot.read_png(tmp("hist.png"))
   assert(count_color(img, 31, 119, 180, 30) > 1000, "filled bars")
   local c2 = ty.plot.histogram(ty.arange(1, 100), {bins = 4, range = {0.5, 100.5}})
   eq(c2, {25, 25, 25, 25})
   err(function() ty.plot.histogram({1}, {bins = 0}) end, "bins")
end

function T.image_grid_with_class_names()
   local x = ty.zeros{6, 28, 28}
   x = x + ty.arange(1, 28):reshape{1, 1, 28} / 28          -- a horizontal gradient
   local path = ty.plot.images(x, {labels = {1, 2, 3, 4, 5, 6}, ncol = 3, title = "batch",
                                   class_names = {"T-shirt", "Trouser", "Pullover", "Dress",
                                                  "Coat", "Sandal"}, path = tmp("imgs.png")})
   local img = ty.plot.read_png(path)
   local w, hh = ihdr(path)
   eq(img.width, w)
   assert(w > 300 and hh > 200)
   assert(count_color(img, 0, 0, 0, 20) > 2000, "dark pixels of the images")
   assert(count_color(img, 128, 128, 128, 20) > 2000, "mid-gray pixels")
   -- RGB (N,3,H,W) and NHWC
   ty.plot.images(ty.random.uniform{4, 3, 8, 8}, {path = tmp("rgb.png")})
   ty.plot.images(ty.random.uniform{4, 8, 8, 3}, {path = tmp("nhwc.png")})
   err(function() ty.plot.images(ty.zeros{2, 2, 4, 4}, {path = tmp("bad.png")}) end,
       "1 (gray) or 3 (RGB) channels")
   err(function() ty.plot.images(ty.zeros{2, 4, 4}) end, "option 'path'")
end

function T.confusion_matrix_heatmap()
   local cm = ty.array{{50, 2, 1}, {3, 40, 7}, {0, 5, 45}}
   local path = ty.plot.confusion_matrix(cm, {class_names = {"cat", "dog", "bird"},
                                              path = tmp("cm.png")})
   local img = ty.plot.read_png(path)
   assert(count_color(img, 8, 48, 107, 25) > 2000, "dark blue diagonal cells")
   assert(count_color(img, 247, 251, 255, 6) > 2000, "near-white cells")
   ty.plot.confusion_matrix({{1, 0}, {0, 1}}, {path = tmp("cm.svg"), normalize = true})
   local s = read_bytes(tmp("cm.svg"))
   assert(s:find("predicted", 1, true) and s:find("true", 1, true))
   err(function() ty.plot.confusion_matrix(ty.zeros{3}, {path = tmp("c.png")}) end, "(C,C)")
end

function T.curves_panels_like_history_plot()
   local path = ty.plot.curves{path = tmp("curves.svg"), title = "training",
      panels = {
         {title = "loss", xlabel = "epoch", ylabel = "loss",
          series = {{label = "train", x = {1, 2, 3}, y = {1.0, 0.6, 0.4}},
                    {label = "val", x = {1, 2, 3}, y = {1.1, 0.7, 0.55}}}},
         {title = "accuracy", xlabel = "epoch",
          series = {{label = "train", x = {1, 2, 3}, y = {0.6, 0.8, 0.85}}}}}}
   local s = read_bytes(path)
   for _, word in ipairs{"training", "loss", "accuracy", "epoch", "train", "val"} do
      assert(s:find(word, 1, true), word .. " is drawn")
   end
   ty.plot.curves{path = tmp("curves.png"), panels = {{title = "loss", series = {
      {label = "train", x = {1, 2}, y = {1, 0.5}}}}}}
   local w = ihdr(tmp("curves.png"))
   eq(w, 640)
   err(function() ty.plot.curves{path = tmp("c.png"), panels = {{series = {{y = {1}, x = {1, 2}}}}}} end,
       "x has 2 values, y has 1")
end

local function utf8_lines(s)
   local lines = {}
   for line in (s .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
   return lines
end

function T.term_plot_has_the_size_and_braille()
   local y = {}
   for i = 1, 100 do y[i] = math.sin(i / 10) end
   local s = ty.plot.term(y, {width = 60, height = 15, title = "sine"})
   local lines = utf8_lines(s)
   eq(#lines, 15)
   for i, l in ipairs(lines) do eq(utf8.len(l), 60, "line " .. i .. " width") end
   assert(lines[1]:find("sine", 1, true), "title line")
   local braille = 0
   for _, c in utf8.codes(s) do
      if c >= 0x2801 and c <= 0x28FF then braille = braille + 1 end
   end
   assert(braille > 40, "braille cells: " .. braille)
   assert(s:find("└", 1, true) and s:find("┤", 1, true), "axes")
   assert(s:find("1.0", 1, true) or s:find("0.5", 1, true), "y tick labels")
   -- series with labels get a legend line; {x=, y=} form
   local s2 = ty.plot.term({{label = "a", y = {1, 2, 3}}, {label = "b", x = {1, 2, 3}, y = {3, 2, 1}}},
                           {width = 40, height = 10})
   local l2 = utf8_lines(s2)
   eq(#l2, 10)
   assert(l2[10]:find("a", 1, true) and l2[10]:find("b", 1, true), "legend")
   local s3 = ty.plot.term({x = ty.arange(1, 5), y = ty.arange(1, 5) ^ 2}, {width = 30, height = 8})
   eq(#utf8_lines(s3), 8)
   -- colour codes only when asked
   assert(not s:find("\27[", 1, true))
   assert(ty.plot.term(y, {width = 40, height = 8, color = true}):find("\27[", 1, true))
   -- empty data and a single point still draw the axes
   eq(#utf8_lines(ty.plot.term({}, {width = 30, height = 6})), 6)
   eq(#utf8_lines(ty.plot.term({5}, {width = 30, height = 6})), 6)
   -- line() without a path draws in the terminal
   assert(ty.plot.line({1, 2, 3}):find("┤", 1, true))
   err(function() ty.plot.term(y, {width = 5, height = 2}) end, "too small")
   err(function() ty.plot.term("x") end, "[plot.term]")
end

function T.term_width_defaults_to_the_terminal()
   local cols, rows = ty.terminal_size()
   assert(math.type(cols) == "integer" and math.type(rows) == "integer")
   local out = sh("COLUMNS=57 LINES=30 ./tycho -e 'print(ty.terminal_size())' | cat")
   assert(out:find("57%s+30"), "COLUMNS/LINES fallback when stdout is a pipe: " .. out)
   out = sh("COLUMNS= LINES= ./tycho -e 'print(ty.terminal_size())' | cat")
   assert(out:find("80%s+24"), "80x24 fallback: " .. out)
   out = sh("COLUMNS=50 ./tycho -e 'local s = ty.plot.term({1,2,3}, {height=6}) " ..
            "print(utf8.len(s:match(\"[^\\n]+\")))' | cat")
   assert(out:find("50"), "default width: " .. out)
end

function T.nice_ticks()
   h.assert_close(ty.plot.nice_ticks(0, 1, 6), {0, 0.2, 0.4, 0.6, 0.8, 1.0}, 1e-12)
   eq(ty.plot.nice_ticks(1, 10, 5), {2, 4, 6, 8, 10})
   local t = ty.plot.nice_ticks(-0.37, 0.52, 5)
   h.assert_close(t, {-0.2, 0, 0.2, 0.4}, 1e-12)
end

-- QA regressions: empty/zero-size inputs used to crash the process (a
-- zero-size (N,0,W) batch or a (0,0) matrix reached the core copy), bad
-- histogram ranges and option types gave raw Lua errors.
function T.qa_empty_inputs_are_clean_errors()
   err(function() ty.plot.images(ty.zeros{2, 0, 28}, {path = tmp("e.png")}) end,
       "[plot.images] no pixels to draw: the batch has shape (2,0,28)")
   err(function() ty.plot.images(ty.zeros{0, 28, 28}, {path = tmp("e.png")}) end,
       "[plot.images] no pixels to draw")
   err(function() ty.plot.confusion_matrix(ty.zeros{0, 0}, {path = tmp("e.png")}) end,
       "[plot.confusion_matrix] expected a non-empty (C,C) matrix, got (0,0)")
   err(function() ty.plot.confusion_matrix(ty.ones{3, 4}, {path = tmp("e.png")}) end,
       "got (3,4)")
   err(function() ty.plot.confusion_matrix({{1, 2}, {3}}, {path = tmp("e.png")}) end,
       "[plot.confusion_matrix] argument 1: [array] ragged")
   err(function() ty.plot.confusion_matrix(ty.ones{3, 3}, {path = tmp("e.png"),
                                                          class_names = {"a"}}) end,
       "class_names must be a list of 3 names")
   err(function() ty.plot.heatmap("x", {path = tmp("e.png")}) end,
       "[plot.heatmap] argument 1 must be a 2-d array")
   err(function() ty.plot.figure{path = tmp("e.png"), panels = {{kind = "images",
                                 images = ty.zeros{0, 1, 2, 2}}}} end, "[plot.images]")
   err(function() ty.plot.figure{path = tmp("e.png"), panels = {{kind = "heatmap",
                                 values = ty.zeros{0, 3}}}} end, "[plot.heatmap]")
   -- an empty line plot still draws (empty axes)
   eq(ty.plot.line(ty.zeros{0, 3}, {path = tmp("z.png")}), tmp("z.png"))
   -- a 3-d batch is N grayscale images, even N = 3
   eq(ty.plot.images(ty.random.uniform{3, 8, 8}, {path = tmp("three.png")}), tmp("three.png"))
end

function T.qa_line_without_path_honours_width_and_height()
   local s = ty.plot.line({1, 3, 2}, {width = 30, height = 8})
   eq(select(2, s:gsub("\n", "")) + (s:sub(-1) == "\n" and 0 or 1), 8)
   eq(utf8.len(s:match("[^\n]+")), 30)
end

-- spans past the double range used to give NaN ticks (64 of them) and NaN
-- dot positions in the terminal plot
function T.qa_spans_past_the_double_range()
   eq(ty.plot.nice_ticks(-1e308, 1e308, 5), {-1e308, 0, 1e308})
   local s = ty.plot.term({-1.7e308, 1.7e308}, {width = 40, height = 8})
   assert(not s:find("nan"), s)
   assert(s:find("1.7e+308", 1, true) and s:find("-1.7e+308", 1, true), s)
   -- the line climbs from the bottom-left to the top-right corner
   local rows = {}
   for l in s:gmatch("[^\n]+") do rows[#rows + 1] = l end
   assert(rows[1]:find("\u{2809}$"), s)
   assert(rows[6]:find("\u{2524}\u{28C0}"), s)
   ty.plot.line({-1.7e308, 1.7e308}, {1, 2}, {path = tmp("huge.svg")})
   assert(not read_bytes(tmp("huge.svg")):find("nan"), "no NaN coordinates in the SVG")
   local c, e = ty.plot.histogram({-1.7e308, 1.7e308}, {bins = 1})
   eq(c, {2})
   eq(e, {-1.7e308, 1.7e308})
end

-- plots of Vulkan arrays used to fail: the values went through float64,
-- which only the CPU backend has
function T.qa_vulkan_arrays_plot()
   local VK = h.vulkan_device()
   if not VK then return end
   local v = ty.array{1, 3, 2}:to(VK)
   eq(ty.plot.term(v, {width = 30, height = 8}), ty.plot.term({1, 3, 2}, {width = 30, height = 8}))
   local c = ty.plot.histogram(v, {bins = 2})
   eq(c, {1, 2})
   eq(ty.plot.line(v, v, {path = tmp("vk.png")}), tmp("vk.png"))
   eq(ty.plot.confusion_matrix(ty.ones{3, 3}:to(VK), {path = tmp("vkcm.png"), normalize = true}),
      tmp("vkcm.png"))
end

-- a PNG with bit depth 0 used to kill the process (division by zero)
function T.qa_read_png_rejects_bad_bit_depths()
   local function adler32(d)
      local a, b = 1, 0
      for i = 1, #d do
         a = (a + d:byte(i)) % 65521
         b = (b + a) % 65521
      end
      return b * 65536 + a
   end
   local function chunk(t, d) return string.pack(">I4", #d) .. t .. d .. "\0\0\0\0" end
   local function png(depth, raw)
      -- zlib stream with one stored block
      local z = "\x78\x01\x01" .. string.pack("<I2I2", #raw, (~#raw) & 0xffff) .. raw ..
                string.pack(">I4", adler32(raw))
      return "\137PNG\r\n\26\n" .. chunk("IHDR", string.pack(">I4I4BBBBB", 4, 2, depth, 0, 0, 0, 0)) ..
             chunk("IDAT", z) .. chunk("IEND", "")
   end
   for _, depth in ipairs{0, 3} do
      local f = assert(io.open(tmp("d.png"), "wb"))
      f:write(png(depth, ("\0"):rep(depth == 0 and 2 or 6)))
      f:close()
      err(function() ty.plot.read_png(tmp("d.png")) end, "unsupported PNG (color type 0, bit depth " .. depth)
   end
   local f = assert(io.open(tmp("d.png"), "wb"))
   f:write(png(8, ("\0\1\2\3\4"):rep(2)))
   f:close()
   local img = ty.plot.read_png(tmp("d.png"))
   eq({img.width, img.height, #img.pixels}, {4, 2, 24})
end

function T.qa_bad_options_are_clean_errors()
   local v = ty.randn{10}
   err(function() ty.plot.histogram(v, {range = 5}) end,
       "[plot.histogram] option 'range' must be {lo, hi} with finite lo < hi, got 5")
   err(function() ty.plot.histogram(v, {range = {1, 0}}) end, "got {1, 0}")
   err(function() ty.plot.histogram(v, {range = {-1 / 0, 1 / 0}}) end, "finite lo < hi")
   err(function() ty.plot.histogram(v, {bins = 100000000}) end, "1..1000000")
   local c, e = ty.plot.histogram(ty.array{1, 2}, {bins = 2, range = {0, 4}})
   eq(c, {1, 1})
   eq(e, {0, 2, 4})
   err(function() ty.plot.line(v, {path = tmp("w.png"), width = "big"}) end,
       "[plot.line] option 'width' must be a positive integer, got 'big'")
   err(function() ty.plot.line(v, {path = tmp("w.png"), height = -5}) end, "'height'")
   err(function() ty.plot.images(ty.zeros{2, 4, 4}, {path = tmp("w.png"), ncol = 0}) end,
       "[plot.images] option 'ncol' must be a positive integer, got 0")
   err(function() ty.plot.images(ty.randn{2, 4, 4}, {path = tmp("v.png"), vmin = 1, vmax = 0}) end,
       "[plot.images] option 'vmax' must be greater than vmin")
   err(function() ty.plot.images(ty.randn{2, 4, 4}, {path = tmp("v.png"), vmin = "a"}) end,
       "option 'vmin' must be a number, got 'a'")
   err(function() ty.plot.images(ty.randn{2, 4, 4}, {path = tmp("v.png"), labels = {1, 2},
                                                     class_names = 5}) end,
       "[plot.images] option 'class_names' must be a list of strings, got 5")
   err(function() ty.plot.line(ty.ones{3, 2}, {path = tmp("v.png"), labels = 5}) end,
       "[plot.line] option 'labels' must be a list or an array, got 5")
   err(function() ty.plot.line({1, 2}, {path = tmp("v.png"), title = {}}) end,
       "[plot.line] option 'title' must be a string, got a table")
   err(function() ty.plot.scatter({1, 2}, {1, 2}, {path = tmp("v.png"), marker = "o"}) end,
       "[plot.scatter] option 'marker' must be a libplot marker number")
   err(function() ty.plot.line({1, 2}, {path = 5}) end, "[plot.line] option 'path' must be a string")
   -- a single panel or series not wrapped in a list used to draw an empty figure
   err(function() ty.plot.figure{path = tmp("p.png"), panels = {title = "x", series = {{y = {1, 2}}}}} end,
       "[plot.figure] panels must be a non-empty list of panels")
   err(function() ty.plot.figure{path = tmp("p.png"), panels = 5} end, "got number")
   err(function() ty.plot.curves{path = tmp("p.png")} end, "[plot.curves] panels must be")
   err(function() ty.plot.figure{path = tmp("p.png"), panels = {{series = {y = {1, 2}}}}} end,
       "[plot.figure] panel 1: series must be a list of {label=, x=, y=}")
   err(function() ty.plot.images(ty.zeros{100000, 2, 2}, {path = tmp("many.png")}) end,
       "[plot.images] 100000 images in 317 columns need a 20300x20238 figure")
   -- ncol past the number of images is clamped
   eq(ty.plot.images(ty.zeros{3, 2, 2}, {path = tmp("few.png"), ncol = 1000}), tmp("few.png"))
   err(function() ty.plot.read_png(nil) end, "[plot.read_png] argument 1 (path) must be a string")
   err(function() ty.plot.nice_ticks(0 / 0, 1) end, "[plot.nice_ticks] lo and hi must be finite")
   err(function() ty.plot.nice_ticks(0, 1, 1e9) end, "[plot.nice_ticks] n must be")
end

function T.every_function_is_documented()
   for _, name in ipairs{"line", "scatter", "histogram", "images", "confusion_matrix",
                         "heatmap", "figure", "curves", "term", "read_png", "nice_ticks"} do
      assert(ty.__doc[ty.plot[name]], "ty.plot." .. name .. " has a doc")
      assert(ty.__doc[ty.plot[name]]:find("ty.plot." .. name, 1, true))
   end
   assert(ty.__doc[ty.terminal_size])
end

return T
