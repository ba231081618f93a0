-- test_metrics.lua -- ty.metrics: hand-computed cases, and scikit-learn's
-- definitions computed with NumPy (tests/gen_linalg_fixtures.py ->
-- tests/fixtures/linalg_metrics_expected.lua); functional and streaming forms.
local ty = require "tycho"
local h = require "helpers"
local F = dofile("tests/fixtures/linalg_metrics_expected.lua")
local m = ty.metrics

local T = {}

-- 5 samples, 3 classes; predicted classes 2,1,3,2,1; targets 2,1,3,3,3
local logits = ty.array{{0.1, 0.7, 0.2}, {0.8, 0.1, 0.1}, {0.2, 0.2, 0.6}, {0.3, 0.4, 0.3},
                        {0.5, 0.1, 0.4}}
local target = ty.array({2, 1, 3, 3, 3}, "int32")

function T.hand_accuracy()
   h.assert_close(m.accuracy(logits, target), 0.6)
   h.assert_close(m.accuracy(ty.array({2, 1, 3, 2, 1}, "int32"), target), 0.6)
   -- top-2: sample 4 (target 3: 0.3 ties 0.3, one higher) and 5 (0.4, one higher) count
   h.assert_close(m.accuracy(logits, target, {top_k = 2}), 1.0)
   h.assert_close(m.accuracy(logits, target, {top_k = 10}), 1.0)
   -- binary scores against 0/1 targets, threshold 0.5
   h.assert_close(m.accuracy(ty.array{0.9, 0.2, 0.6, 0.4}, ty.array{1, 0, 0, 1}), 0.5)
   h.assert_close(m.accuracy(ty.array{0.9, -0.2, 0.6, -0.4}, ty.array{1, 0, 1, 0},
                             {threshold = 0}), 1.0)
end

function T.hand_prf()
   -- per class: tp = 1,1,1; predicted = 2,2,1; actual = 1,1,3
   h.assert_close(m.precision(logits, target, {average = "none"}), {0.5, 0.5, 1.0})
   h.assert_close(m.recall(logits, target, {average = "none"}), {1.0, 1.0, 1 / 3})
   h.assert_close(m.f1(logits, target, {average = "none"}), {2 / 3, 2 / 3, 0.5})
   h.assert_close(m.precision(logits, target), 2 / 3)
   h.assert_close(m.recall(logits, target), 7 / 9)
   h.assert_close(m.f1(logits, target), (2 / 3 + 2 / 3 + 0.5) / 3)
   h.assert_close(m.f1(logits, target, {average = "micro"}), 0.6)
   h.assert_close(m.recall(logits, target, {average = "weighted"}), 0.6)
   h.assert_close(m.f1(logits, target, {average = "weighted"}), (2 / 3 + 2 / 3 + 1.5) / 5)
   -- labels with num_classes: a class absent from both is left out of 'macro'
   h.assert_close(m.precision(ty.array({1, 2}, "int32"), ty.array({1, 1}, "int32"),
                              {num_classes = 4}), 0.5)
   -- binary: tp 1, fp 1, fn 1
   h.assert_close(m.precision(ty.array{0.9, 0.2, 0.6, 0.4}, ty.array{1, 0, 0, 1}), 0.5)
   h.assert_close(m.f1(ty.array{0.9, 0.2, 0.6, 0.4}, ty.array{1, 0, 0, 1}), 0.5)
end

function T.hand_confusion()
   h.assert_eq(m.confusion_matrix(logits, target), {{1, 0, 0}, {0, 1, 0}, {1, 1, 1}})
   h.assert_close(m.confusion_matrix(logits, target, {normalize = "true"}),
                  {{1, 0, 0}, {0, 1, 0}, {1 / 3, 1 / 3, 1 / 3}})
   local cm = m.ConfusionMatrix{class_names = {"cat", "dog", "bird"}}
   cm:update(logits, target)
   cm:update(logits, target)
   h.assert_eq(cm:compute(), {{2, 0, 0}, {0, 2, 0}, {2, 2, 2}})
   local s = tostring(cm)
   assert(s:find("true\\pred", 1, true) and s:find("bird", 1, true), s)
   assert(s:find("bird          2          2          2", 1, true), s)
end

function T.hand_ranking()
   -- positives 0.35, 0.8; negatives 0.1, 0.4: 3 of 4 pairs ordered
   h.assert_close(m.auroc(ty.array{0.1, 0.4, 0.35, 0.8}, ty.array{0, 0, 1, 1}), 0.75)
   -- thresholds 0.8 (P 1, R .5), 0.4 (P .5), 0.35 (P 2/3, R 1)
   h.assert_close(m.average_precision(ty.array{0.1, 0.4, 0.35, 0.8}, ty.array{0, 0, 1, 1}),
                  0.5 + 0.5 * 2 / 3)
   -- ties count half
   h.assert_close(m.auroc(ty.array{0.5, 0.5}, ty.array{0, 1}), 0.5)
   h.assert_error(function() m.auroc(ty.array{0.5, 0.5}, ty.array{1, 1}) end, "only one class")
end

function T.hand_regression()
   h.assert_close(m.mse(ty.array{1, 2, 3}, ty.array{1, 2, 4}), 1 / 3)
   h.assert_close(m.mae(ty.array{1, 2, 3}, ty.array{1, 2, 5}), 2 / 3)
   -- scikit-learn's r2_score example
   h.assert_close(m.r2(ty.array{2.5, 0.0, 2, 8}, ty.array{3, -0.5, 2, 7}), 0.9486081370449679)
   h.assert_close(m.perplexity(1.0), math.exp(1))
   -- uniform logits over 4 classes: perplexity 4
   h.assert_close(m.perplexity(ty.zeros{3, 4}, ty.array({1, 2, 4}, "int32")), 4)
end

function T.fixture_multiclass()
   local M = F.multi
   local s, t = ty.array(M.scores), ty.array(M.target, "int32")
   h.assert_close(m.accuracy(s, t), M.accuracy)
   h.assert_close(m.accuracy(s, t, {top_k = 2}), M.top2)
   h.assert_eq(m.confusion_matrix(s, t), M.cm)
   for _, kind in ipairs{"precision", "recall", "f1"} do
      for _, avg in ipairs{"macro", "micro", "weighted", "none"} do
         h.assert_close(m[kind](s, t, {average = avg}), M[kind .. "_" .. avg], 1e-5,
                        kind .. " " .. avg)
      end
   end
   h.assert_close(m.auroc(s, t), M.auroc_macro, 1e-9)
   h.assert_close(m.auroc(s, t, {average = "weighted"}), M.auroc_weighted, 1e-9)
   h.assert_close(m.auroc(s, t, {average = "none"}), M.auroc_none, 1e-9)
   h.assert_close(m.average_precision(s, t), M.ap_macro, 1e-9)
end

function T.fixture_binary()
   local B = F.binary
   local s, t = ty.array(B.scores), ty.array(B.target, "int32")
   h.assert_close(m.accuracy(s, t), B.accuracy)
   h.assert_close(m.precision(s, t), B.precision)
   h.assert_close(m.recall(s, t), B.recall)
   h.assert_close(m.f1(s, t), B.f1)
   h.assert_eq(m.confusion_matrix(s, t), B.cm)
   h.assert_close(m.auroc(s, t), B.auroc, 1e-9)
   h.assert_close(m.average_precision(s, t), B.ap, 1e-9)
end

function T.fixture_regression_perplexity()
   local R = F.regression
   local p, t = ty.array(R.pred), ty.array(R.target)
   h.assert_close(m.mse(p, t), R.mse)
   h.assert_close(m.mae(p, t), R.mae)
   h.assert_close(m.r2(p, t), R.r2)
   h.assert_close(m.r2(p[{{}, 1}], t[{{}, 1}]), R.r2_1d)
   local P = F.perplexity
   h.assert_close(m.perplexity(ty.array(P.logits), ty.array(P.labels, "int32")), P.ppl, 1e-5)
   h.assert_close(m.perplexity(ty.array(P.logits), ty.array(P.labels, "int32"),
                               {ignore_index = 3}), P.ppl_ignore, 1e-5)
end

-- streaming: batches of the fixture give the whole-set values
function T.streaming()
   local M = F.multi
   local s, t = ty.array(M.scores), ty.array(M.target, "int32")
   local parts = {{1, 10}, {11, 17}, {18, 24}}
   local want = {accuracy = M.accuracy, precision = M.precision_macro,
                 recall = M.recall_macro, f1 = M.f1_macro, auroc = M.auroc_macro,
                 top5_accuracy = 1.0, average_precision = M.ap_macro}
   for name, v in pairs(want) do
      local mt = m.get(name)
      h.assert_eq(mt.name, name)
      for _, r in ipairs(parts) do mt:update(s[{r}], t[{r}]) end
      h.assert_close(mt:compute(), v, 1e-5, name)
      mt:reset()
      mt:update(s[{{1, 10}}], t[{{1, 10}}])
      mt:reset()
      for _, r in ipairs(parts) do mt:update(s[{r}], t[{r}]) end
      h.assert_close(mt:compute(), v, 1e-5, name .. " after reset")
   end
   local R = F.regression
   local p, y = ty.array(R.pred), ty.array(R.target)
   for _, name in ipairs{"mse", "mae", "r2"} do
      local mt = m.get(name)
      mt:update(p[{{1, 4}}], y[{{1, 4}}])
      mt:update(p[{{5, 10}}], y[{{5, 10}}])
      h.assert_close(mt:compute(), R[name], 1e-5, name)
   end
   local P = F.perplexity
   local pp = m.get("perplexity")
   local lg, lb = ty.array(P.logits), ty.array(P.labels, "int32")
   pp:update(lg[1], lb[1])
   pp:update(lg[2], lb[2])
   h.assert_close(pp:compute(), P.ppl, 1e-5)
   -- binary streaming F1
   local B = F.binary
   local f1 = m.F1()
   local bs, bt = ty.array(B.scores), ty.array(B.target, "int32")
   f1:update(bs[{{1, 15}}], bt[{{1, 15}}])
   f1:update(bs[{{16, 30}}], bt[{{16, 30}}])
   h.assert_close(f1:compute(), B.f1, 1e-5)
end

function T.streaming_lazy()
   -- updates build lazy accumulators (no evaluation); state() exposes them
   local acc = m.get("accuracy")
   for _ = 1, 3 do acc:update(logits, target) end
   local st = acc:state()
   h.assert_eq(#st, 1)
   if ty.node then h.assert_eq(ty.node(st[1]) ~= nil, true) end
   h.assert_close(acc:compute(), 0.6)
   -- many updates (past the periodic flush) stay correct
   for _ = 1, 40 do acc:update(logits, target) end
   h.assert_close(acc:compute(), 0.6)
end

function T.errors()
   h.assert_error(function() m.get("nope") end, "[metrics.get] unknown metric 'nope'")
   h.assert_error(function() m.accuracy(ty.ones{2, 3, 4}, ty.ones{2}) end, "[metrics.accuracy]")
   h.assert_error(function() m.f1(logits, target, {average = "bad"}) end, "average must be")
   h.assert_error(function() m.accuracy(logits, ty.array{1, 2}) end,
                  "[metrics.accuracy] expected target (5,), got (2,)")
   h.assert_error(function() m.mse(ty.ones{3}, ty.ones{4}) end,
                  "[metrics.mse] pred (3,) and target (4,) differ in shape")
   h.assert_error(function() m.accuracy(logits, target, {k = 1}) end, "unknown option 'k'")
end

function T.docs()
   for _, name in ipairs{"accuracy", "precision", "recall", "f1", "confusion_matrix", "auroc",
                         "average_precision", "mse", "mae", "r2", "perplexity", "get"} do
      assert(ty.__doc[m[name]], "no doc for ty.metrics." .. name)
   end
   for _, name in ipairs{"norm", "inv", "solve", "det", "slogdet", "qr", "cholesky", "svd",
                         "eigh", "pinv", "lstsq"} do
      assert(ty.__doc[ty.linalg[name]], "no doc for ty.linalg." .. name)
   end
   assert(ty.__doc[ty.einsum])
   for _, t in ipairs{ty.metrics, ty.linalg} do
      for name, fn in pairs(t) do
         if type(fn) == "function" then assert(ty.__doc[fn], "no doc for " .. name) end
      end
   end
   assert(ty.__doc[ty.linalg.inv]:find("^ty.linalg.inv%(a%)"))
end

-- QA regressions: labels out of range are named errors (before: 0-based
-- targets gave a silently wrong confusion matrix / accuracy; other cases a
-- cryptic "[scatter_add] index 0 is out of range" at evaluation).
function T.qa_label_ranges()
   -- eager checks need host-readable labels: CPU arrays (also under TYCHO_DEVICE=vulkan)
   local cpu = {device = "cpu"}
   local function I(v) return ty.array(v, {dtype = "int32", device = "cpu"}) end
   local logits = ty.array(logits:tolist(), cpu)
   local target = I(target:tolist())
   local t0 = I{1, 0, 2, 2, 2}           -- 0-based
   h.assert_error(function() m.confusion_matrix(logits, t0):tolist() end,
                  "[metrics.confusion_matrix] target labels (pred (5,3) has 3 classes) must be " ..
                  "in 1..3, got values in 0..2 (0-based labels?")
   h.assert_error(function() m.accuracy(logits, t0):item() end, "[metrics.accuracy] target labels")
   h.assert_error(function() m.f1(logits, I{2, 1, 4, 3, 3}):item() end,
                  "must be in 1..3, got values in 1..4")
   h.assert_error(function()
      m.confusion_matrix(I{0, 1, 2}, I{1, 2, 3},
                         {num_classes = 3}):tolist()
   end, "[metrics.confusion_matrix] pred labels must be in 1..3, got values in 0..2")
   local s = m.F1()
   h.assert_error(function() s:update(logits, t0) end, "[metrics.f1] target labels")
   h.assert_error(function() m.f1(ty.array({0.9, 0.1}, cpu), I{1, 2}):item() end,
                  "[metrics.f1] binary targets must be in 0..1, got values in 1..2")
   h.assert_error(function() m.perplexity(ty.zeros({2, 4}, cpu), I{0, 4}):item() end,
                  "[metrics.perplexity] labels (logits (2,4)) must be in 1..4")
   h.assert_close(m.perplexity(ty.zeros({2, 4}, cpu), I{-1, 4}, {ignore_index = -1}), 4)
   -- lazy labels cannot be checked early, but never count in a wrong cell
   h.assert_error(function() m.confusion_matrix(logits, t0 + 0):tolist() end, "out of range")
   -- (N,1) targets are accepted (Keras' sparse labels)
   h.assert_close(m.accuracy(logits, target:reshape{5, 1}), 0.6)
   h.assert_error(function() m.f1(I{}, I{}) end,
                  "[metrics.f1] cannot infer the number of classes from empty labels (0,)")
end

-- Ranking metrics: NaN scores made auroc loop forever; targets 1/2 were
-- reported as "only one class".
function T.qa_rank_inputs()
   h.assert_error(function() m.auroc(ty.array{0.1, 0 / 0, 0.3, 0.4}, ty.array{0, 1, 0, 1}) end,
                  "[metrics.auroc] pred holds NaN (score 2)")
   h.assert_error(function() m.auroc(ty.array{0.1, 0.2, 0.3}, ty.array{1, 2, 1}) end,
                  "[metrics.auroc] binary targets must be 0 or 1, got 2")
   h.assert_error(function() m.average_precision(logits, ty.array({0, 1, 2, 2, 2}, "int32")) end,
                  "[metrics.average_precision] target labels must be in 1..3")
   -- (N,1) scores and targets (Keras' layout) are accepted
   h.assert_close(m.auroc(ty.array{{0.1}, {0.9}, {0.4}}, ty.array{{0}, {1}, {1}}), 1.0)
end

-- Regression metrics no longer reshape (2,3) against (3,2); top_k must be an
-- integer.
function T.qa_shapes_and_options()
   h.assert_error(function() m.mse(ty.zeros{2, 3}, ty.zeros{3, 2}) end,
                  "[metrics.mse] pred (2,3) and target (3,2) differ in shape")
   h.assert_close(m.mse(ty.array{{1}, {2}, {3}}, ty.array{1, 2, 5}), 4 / 3)
   h.assert_error(function() m.accuracy(logits, target, {top_k = 1.5}) end,
                  "[metrics.accuracy] top_k must be an integer >= 1, got 1.5")
   h.assert_error(function() m.Accuracy{top_k = 0} end,
                  "[metrics.Accuracy] top_k must be an integer >= 1, got 0")
   h.assert_error(function() m.confusion_matrix(logits, target, {num_classes = "3"}) end,
                  "[metrics.confusion_matrix] num_classes must be an integer >= 1, got '3'")
   h.assert_error(function() m.f1(target, target, {num_classes = 2.5}) end,
                  "[metrics.f1] num_classes must be an integer >= 1, got 2.5")
   h.assert_error(function() m.accuracy(ty.zeros{2, 3, 4}, ty.array({1, 2}, "int32")) end,
                  "[metrics.accuracy] expected pred (N,C) scores, (N,) labels or (N,) binary " ..
                  "scores, got (2,3,4)")
end

-- Streaming metrics on integer labels without num_classes: a later batch with
-- a larger class grows the running confusion matrix (before: an error, "pred
-- labels must be in 1..3" / "[scatter_add] index ... out of range").
function T.qa_streaming_classes_grow()
   local function I(v) return ty.array(v, "int32") end
   local p1, t1 = I{1, 2, 3, 1}, I{1, 2, 2, 3}
   local p2, t2 = I{4, 2, 1, 4}, I{4, 4, 1, 2}
   local pall, tall = I{1, 2, 3, 1, 4, 2, 1, 4}, I{1, 2, 2, 3, 4, 4, 1, 2}
   for _, kind in ipairs{"precision", "recall", "f1"} do
      local cls = ({precision = m.Precision, recall = m.Recall, f1 = m.F1})[kind]
      for _, avg in ipairs{"macro", "micro", "weighted"} do
         local s = cls{average = avg}
         s:update(p1, t1)
         s:update(p2, t2)
         h.assert_close(s:compute(), m[kind](pall, tall, {average = avg}), 1e-6, kind .. " " .. avg)
      end
   end
   local c = m.ConfusionMatrix()
   c:update(p1, t1)
   c:update(p2, t2)
   h.assert_eq(c:compute():tolist(), m.confusion_matrix(pall, tall):tolist())
   -- scores with another number of classes than earlier batches stay an error
   local s = m.Precision()
   s:update(ty.zeros{2, 4}, I{1, 2})
   h.assert_error(function() s:update(ty.zeros{2, 5}, I{1, 2}) end,
                  "[metrics.precision] pred (2,5) has 5 classes, earlier batches 4")
end

-- float16 inputs are accumulated in float32 (before: perplexity of 20000
-- float16 rows of zeros was inf, not 100; mse of 300s was inf).
function T.qa_half_precision_inputs()
   local lg = ty.zeros({20000, 100}, {dtype = "float16"})
   local lb = ty.ones({20000}, {dtype = "int32"})
   h.assert_close(m.perplexity(lg, lb), 100, 1e-4)
   local s = m.Perplexity()
   s:update(lg, lb)
   h.assert_close(s:compute(), 100, 1e-4)
   local x = ty.full({1000}, 300, {dtype = "float16"})
   h.assert_close(m.mse(x, ty.zeros({1000}, {dtype = "float16"})), 90000, 1e-5)
end

return T
