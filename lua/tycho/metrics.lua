-- tycho.metrics -- ty.metrics: classification and regression metrics, as
-- functions (returning 0-d arrays, lazy where possible) and as streaming
-- objects (m:update(pred, target), m:compute() -> number, m:reset(), m.name;
-- m:value_shape() is nil for those whose compute() is a number, else the
-- shape it gives, e.g. '(C,C)' for ConfusionMatrix) whose accumulators are lazy arrays (no device sync per batch; see
-- Metric:state()).
--
-- Conventions
--   * Multi-class: pred is scores (N,C) (logits or probabilities: argmax is
--     the predicted class) or class labels (N,) of an integer dtype; target
--     is labels (N,), 1..C (Lua's 1-based convention).
--   * Binary: pred is a score (N,) of a float dtype (probabilities, thresholded
--     at {threshold=0.5}; pass threshold=0 for logits), target is 0/1 (or
--     bool); the positive class is 1.
local ty = require "tycho"

local M = ty.metrics or {}
ty.metrics = M
M.__doc = "ty.metrics: accuracy, precision, recall, f1, confusion_matrix, auroc,\n" ..
   "average_precision, mse, mae, r2, perplexity (functions), their streaming\n" ..
   "classes (Accuracy, Precision, ..., ConfusionMatrix) and ty.metrics.get(name)."

local docs = {}
local function doc(fn, text)
   docs[fn] = text
   if ty.__doc then ty.__doc[fn] = text end
end

local FLOAT = {float16 = true, bfloat16 = true, float32 = true, float64 = true}

local function shape_str(x)
   local s = table.concat(x.shape, ",")
   return "(" .. s .. (#x.shape == 1 and ",)" or ")")
end

local function as_array(fname, x, what)
   if ty.is_array(x) then return x end
   if type(x) == "table" or type(x) == "number" then return ty.array(x) end
   error(string.format("[%s] %s must be an array, got %s", fname, what, type(x)), 3)
end

local function check_opts(fname, opts, allowed)
   if opts == nil then return {} end
   if type(opts) ~= "table" then
      error(string.format("[%s] options must be a table, got %s", fname, type(opts)), 3)
   end
   for k in pairs(opts) do
      if not allowed[k] then
         local names = {}
         for n in pairs(allowed) do names[#names + 1] = n end
         table.sort(names)
         error(string.format("[%s] unknown option '%s' (expected %s)", fname, tostring(k),
                             table.concat(names, ", ")), 3)
      end
   end
   return opts
end

local function set(list)
   local t = {}
   for _, k in ipairs(list) do t[k] = true end
   return t
end

-- Whether x can be read on the host without evaluating a graph or waiting
-- for a device: a CPU array that is evaluated or a view of evaluated arrays
-- (a data batch). Label ranges are checked eagerly only then; otherwise a
-- label out of range makes the evaluation fail (never a silent count).
local VIEW_OPS = {reshape = true, transpose = true, broadcast_to = true, slice = true,
                  squeeze = true, expand_dims = true, astype = true}
local function host_readable(x, depth)
   if x.device ~= "cpu" then return false end
   local node = ty.node(x)
   if node == nil then return true end
   if (depth or 0) > 8 or not VIEW_OPS[node.op] then return false end
   for _, a in ipairs(node.inputs or {}) do
      if not host_readable(a, (depth or 0) + 1) then return false end
   end
   return true
end

-- Errors when labels x (integers) fall outside lo..hi (hi nil: unbounded);
-- `except` is a value allowed besides (ignore_index).
local function check_range(fname, x, lo, hi, what, except, force)
   if x.size == 0 or not (force or host_readable(x)) then return end
   local v = x
   if except ~= nil then v = ty.where(ty.eq(x, except), lo, x) end
   local mn, mx = ty.min(v):item(), ty.max(v):item()
   if mn < lo or (hi and mx > hi) then
      local hint = ""
      if lo == 1 and mn == 0 then hint = " (0-based labels? tycho's classes are 1..C: add 1)" end
      error(string.format("[%s] %s must be in %d..%s, got values in %s..%s%s", fname, what, lo,
                          hi and tostring(math.floor(hi)) or "", tostring(mn), tostring(mx),
                          hint), 0)
   end
end

-- target as an int32 label array of N entries ((N,1) is accepted, as Keras).
local function labels_of(fname, target, n)
   target = as_array(fname, target, "target")
   if #target.shape == 2 and target.shape[2] == 1 then target = target:reshape{target.shape[1]} end
   if #target.shape ~= 1 or (n and target.shape[1] ~= n) then
      error(string.format("[%s] expected target (%s), got %s", fname,
                          n and (n .. ",") or "N,", shape_str(target)), 3)
   end
   if target.dtype ~= "int32" then target = target:astype("int32") end
   return target
end

-- Predicted labels (N,) and the number of classes (nil when unknown) for the
-- multi-class metrics.
local function predicted_labels(fname, pred, target, num_classes)
   if num_classes ~= nil and (type(num_classes) ~= "number" or
                              math.tointeger(num_classes) == nil or num_classes < 1) then
      error(string.format("[%s] num_classes must be an integer >= 1, got %s", fname,
                          type(num_classes) == "string" and ("'" .. num_classes .. "'") or
                          tostring(num_classes)), 0)
   end
   num_classes = num_classes and math.tointeger(num_classes)
   pred = as_array(fname, pred, "pred")
   if #pred.shape == 2 then
      local n, c = pred.shape[1], pred.shape[2]
      if num_classes and num_classes ~= c then
         error(string.format("[%s] pred %s has %d classes, num_classes is %d", fname,
                             shape_str(pred), c, num_classes), 3)
      end
      local t = labels_of(fname, target, n)
      check_range(fname, t, 1, c, string.format("target labels (pred %s has %d classes)",
                                                shape_str(pred), c))
      return ty.argmax(pred, 2), t, c
   elseif #pred.shape == 1 then
      local p = pred:astype("int32")
      local t = labels_of(fname, target, pred.shape[1])
      check_range(fname, p, 1, num_classes, "pred labels")
      check_range(fname, t, 1, num_classes, "target labels")
      return p, t, num_classes
   end
   error(string.format("[%s] expected pred (N,C) scores or (N,) labels, got %s", fname,
                       shape_str(pred)), 3)
end

-- Binary: pred (N,) float scores -> 0/1 int32 predictions, target 0/1 int32.
local function binary_labels(fname, pred, target, threshold)
   pred = as_array(fname, pred, "pred")
   if #pred.shape == 2 and pred.shape[2] == 1 then pred = pred:reshape{pred.shape[1]} end
   if #pred.shape ~= 1 then
      error(string.format("[%s] binary metrics expect pred (N,), got %s", fname,
                          shape_str(pred)), 3)
   end
   local p
   if FLOAT[pred.dtype] then p = ty.ge(pred, threshold or 0.5):astype("int32")
   else
      p = pred:astype("int32")
      check_range(fname, p, 0, 1, "binary pred labels")
   end
   local t = labels_of(fname, target, pred.shape[1])
   check_range(fname, t, 0, 1, "binary targets")
   return p, t
end

-- Infers the number of classes by evaluating the labels (a sync).
local function infer_classes(fname, p, t)
   if p.size == 0 then
      error(string.format("[%s] cannot infer the number of classes from empty labels %s; " ..
                          "pass num_classes=", fname, shape_str(p)), 0)
   end
   check_range(fname, p, 1, nil, "pred labels", nil, true)
   check_range(fname, t, 1, nil, "target labels", nil, true)
   local a = math.max(ty.max(p):item(), ty.max(t):item())
   return math.max(math.floor(a), 1)
end

-- Lazy (C,C) confusion matrix (rows: true class, columns: predicted) of
-- labels p and t (1..C). Labels outside 1..C are an error at evaluation.
local function confusion_counts(p, t, c, dtype)
   local valid = ty.logical_and(ty.logical_and(ty.ge(p, 1), ty.le(p, c)),
                                ty.logical_and(ty.ge(t, 1), ty.le(t, c)))
   -- out-of-range labels index past the end: the evaluation fails (not a
   -- silent count in a neighbouring cell)
   local idx = ty.where(valid, (t - 1) * c + p, c * c + 1)
   local ones = ty.ones({idx.shape[1]}, {dtype = dtype or "float32", device = idx.device})
   local z = ty.zeros({c * c}, {dtype = dtype or "float32", device = idx.device})
   return ty.scatter_add(z, 1, idx, ones):reshape{c, c}
end

local function diag(cm)
   local c = cm.shape[1]
   return (cm * ty.eye(c, {dtype = cm.dtype, device = cm.device})):sum(2)
end

-- a / b with 0 where b == 0.
local function safe_div(a, b)
   local nz = ty.gt(b, 0)
   return ty.where(nz, a / ty.where(nz, b, 1), 0)
end

-- Precision, recall or F1 from a confusion matrix; average 'macro' (over
-- the classes seen in target or pred), 'micro', 'weighted', 'none' (per
-- class) or 'binary' (class `pos`).
local function prf_from_cm(kind, cm, average, pos)
   local tp = diag(cm)
   local predicted = cm:sum(1)       -- column sums
   local actual = cm:sum(2)          -- row sums
   if average == "micro" then
      local stp = tp:sum()
      if kind == "precision" then return safe_div(stp, predicted:sum()) end
      if kind == "recall" then return safe_div(stp, actual:sum()) end
      return safe_div(2 * stp, predicted:sum() + actual:sum())
   end
   local per
   if kind == "precision" then per = safe_div(tp, predicted)
   elseif kind == "recall" then per = safe_div(tp, actual)
   else per = safe_div(2 * tp, predicted + actual) end
   if average == "none" then return per end
   if average == "binary" then return per[pos] end
   if average == "weighted" then return safe_div((per * actual):sum(), actual:sum()) end
   -- macro: classes present in target or pred
   local present = ty.gt(predicted + actual, 0):astype(per.dtype)
   return safe_div((per * present):sum(), present:sum())
end

local AVERAGES = {macro = true, micro = true, weighted = true, binary = true, none = true}

-- {cm=, average=, pos=} for the precision/recall/f1 family.
local function prf_setup(fname, pred, target, opts)
   opts = check_opts(fname, opts, set{"average", "num_classes", "threshold"})
   local pa = as_array(fname, pred, "pred")
   local average = opts.average
   local binary = average == "binary" or
      (average == nil and #pa.shape == 1 and FLOAT[pa.dtype])
   if average ~= nil and not AVERAGES[average] then
      error(string.format("[%s] average must be 'macro', 'micro', 'weighted', 'binary' or " ..
                          "'none', got '%s'", fname, tostring(average)), 3)
   end
   if binary then
      local p, t = binary_labels(fname, pa, target, opts.threshold)
      return confusion_counts(p + 1, t + 1, 2), "binary", 2
   end
   local p, t, c = predicted_labels(fname, pa, target, opts.num_classes)
   c = c or infer_classes(fname, p, t)
   return confusion_counts(p, t, c), average or "macro", nil
end

-- ------------------------------------------------------------ functions

function M.accuracy(pred, target, opts)
   local fname = "metrics.accuracy"
   opts = check_opts(fname, opts, set{"top_k", "threshold"})
   pred = as_array(fname, pred, "pred")
   local k = opts.top_k or 1
   if #pred.shape == 2 and not (pred.shape[2] == 1) then
      local t = labels_of(fname, target, pred.shape[1])
      if math.type(k) ~= "integer" or k < 1 then
         error(string.format("[%s] top_k must be an integer >= 1, got %s", fname, tostring(k)), 2)
      end
      check_range(fname, t, 1, pred.shape[2], string.format("target labels (pred %s has %d " ..
                                                            "classes)", shape_str(pred),
                                                            pred.shape[2]))
      k = math.min(k, pred.shape[2])   -- k >= C: every prediction is correct
      if k == 1 then
         return ty.eq(ty.argmax(pred, 2), t):astype("float32"):mean()
      end
      local ts = ty.take_along_axis(pred, t:reshape{-1, 1}, 2)
      local above = ty.gt(pred, ts):astype("int32"):sum(2)
      return ty.lt(above, k):astype("float32"):mean()
   end
   local p, t
   if #pred.shape > 2 then
      error(string.format("[%s] expected pred (N,C) scores, (N,) labels or (N,) binary " ..
                          "scores, got %s", fname, shape_str(pred)), 2)
   end
   if FLOAT[pred.dtype] then p, t = binary_labels(fname, pred, target, opts.threshold)
   else
      p = pred:reshape{-1}:astype("int32")
      t = labels_of(fname, target, p.shape[1])
   end
   return ty.eq(p, t):astype("float32"):mean()
end
doc(M.accuracy, "ty.metrics.accuracy(pred, target, [{top_k=1, threshold=0.5}]) -> 0-d array\n" ..
   "  Fraction correct. pred (N,C) scores: top-k accuracy (target among the k\n" ..
   "  highest scores); (N,) integer labels; (N,) float binary scores against\n" ..
   "  0/1 targets (thresholded). Lazy.")

local function prf(kind)
   local fname = "metrics." .. kind
   return function(pred, target, opts)
      local cm, average, pos = prf_setup(fname, pred, target, opts)
      return prf_from_cm(kind, cm, average, pos)
   end
end
M.precision = prf("precision")
M.recall = prf("recall")
M.f1 = prf("f1")
for _, kind in ipairs{"precision", "recall", "f1"} do
   doc(M[kind], "ty.metrics." .. kind .. "(pred, target, [{average='macro', num_classes=, " ..
      "threshold=0.5}]) -> array\n" ..
      "  " .. (kind == "f1" and "F1 score (2 tp / (2 tp + fp + fn))" or
               kind == "precision" and "Precision (tp / (tp + fp))" or
               "Recall (tp / (tp + fn))") .. ", as scikit-learn (0 where undefined).\n" ..
      "  average: 'macro' (mean over the classes present in target or pred),\n" ..
      "  'micro', 'weighted' (by support), 'none' (per class, (C,)), or 'binary'\n" ..
      "  (the default for (N,) float scores with 0/1 targets: positive class 1).\n" ..
      "  pred (N,C) scores or (N,) labels 1..C; num_classes is needed (else\n" ..
      "  inferred, a sync) for (N,) labels. Lazy.")
end

function M.confusion_matrix(pred, target, opts)
   local fname = "metrics.confusion_matrix"
   opts = check_opts(fname, opts, set{"num_classes", "threshold", "normalize"})
   local pa = as_array(fname, pred, "pred")
   local cm
   if #pa.shape == 1 and FLOAT[pa.dtype] then
      local p, t = binary_labels(fname, pa, target, opts.threshold)
      cm = confusion_counts(p + 1, t + 1, 2, "int32")
   else
      local p, t, c = predicted_labels(fname, pa, target, opts.num_classes)
      c = c or infer_classes(fname, p, t)
      cm = confusion_counts(p, t, c, "int32")
   end
   local norm = opts.normalize
   if norm == nil or norm == "none" then return cm end
   local f = cm:astype("float32")
   if norm == "true" then return safe_div(f, f:sum(2, true)) end
   if norm == "pred" then return safe_div(f, f:sum(1, true)) end
   if norm == "all" then return safe_div(f, f:sum()) end
   error(string.format("[%s] normalize must be 'true', 'pred', 'all' or 'none', got '%s'",
                       fname, tostring(norm)), 2)
end
doc(M.confusion_matrix, "ty.metrics.confusion_matrix(pred, target, [{num_classes=, " ..
   "threshold=0.5, normalize=}]) -> (C,C) int32 array\n" ..
   "  Counts: rows are the true class, columns the predicted one (scikit-learn's\n" ..
   "  layout); binary scores give a 2x2 matrix for classes 0, 1. normalize:\n" ..
   "  'true' (rows), 'pred' (columns), 'all' (float32). Lazy.")

-- ------------------------------------------------------------ ranking metrics
-- (computed on the host: they sort every score)

local function host_list(x)
   local v = ty.to(x, "cpu"):astype("float64"):tolist()
   if type(v) ~= "table" then v = {v} end
   return v
end

-- Binary AUROC and AP of Lua lists of scores and 0/1 targets; nil when a
-- class is missing.
local function binary_rank_metrics(s, t)
   local n = #s
   local order = {}
   for i = 1, n do order[i] = i end
   table.sort(order, function(a, b) return s[a] > s[b] end)
   local npos = 0
   for i = 1, n do if t[i] ~= 0 then npos = npos + 1 end end
   local nneg = n - npos
   -- walk distinct thresholds, descending
   local tp, fp, prev_tpr, prev_fpr, auc, ap, prev_recall = 0, 0, 0, 0, 0, 0, 0
   local i = 1
   while i <= n do
      local j = i
      local v = s[order[i]]
      while j <= n and s[order[j]] == v do
         if t[order[j]] ~= 0 then tp = tp + 1 else fp = fp + 1 end
         j = j + 1
      end
      if npos > 0 and nneg > 0 then
         local tpr, fpr = tp / npos, fp / nneg
         auc = auc + (fpr - prev_fpr) * (tpr + prev_tpr) / 2
         prev_tpr, prev_fpr = tpr, fpr
      end
      if npos > 0 then
         local recall, precision = tp / npos, tp / (tp + fp)
         ap = ap + (recall - prev_recall) * precision
         prev_recall = recall
      end
      i = j
   end
   return (npos > 0 and nneg > 0) and auc or nil, npos > 0 and ap or nil
end

-- Scores must not hold NaN (they cannot be ranked).
local function check_scores(fname, list)
   for i, v in ipairs(list) do
      if v ~= v then
         error(string.format("[%s] pred holds NaN (score %d): scores cannot be ranked", fname,
                             i), 0)
      end
   end
end

local function rank_metric(fname, which, pred, target, opts)
   opts = check_opts(fname, opts, set{"average"})
   pred = as_array(fname, pred, "pred")
   target = as_array(fname, target, "target")
   if #pred.shape == 2 and pred.shape[2] == 1 then pred = pred:reshape{pred.shape[1]} end
   if #target.shape == 2 and target.shape[2] == 1 then target = target:reshape{target.shape[1]} end
   local average = opts.average or "macro"
   if average ~= "macro" and average ~= "none" and average ~= "weighted" then
      error(string.format("[%s] average must be 'macro', 'weighted' or 'none', got '%s'",
                          fname, tostring(average)), 3)
   end
   if #pred.shape == 1 then
      if #target.shape ~= 1 or target.shape[1] ~= pred.shape[1] then
         error(string.format("[%s] expected target (%d,), got %s", fname, pred.shape[1],
                             shape_str(target)), 3)
      end
      local sl, tl = host_list(pred), host_list(target)
      check_scores(fname, sl)
      for i, v in ipairs(tl) do
         if v ~= 0 and v ~= 1 then
            error(string.format("[%s] binary targets must be 0 or 1, got %s at %d%s", fname,
                                tostring(v), i, v == 2 and " (labels 1..2? pass (N,2) " ..
                                "scores for classes, or subtract 1)" or ""), 0)
         end
      end
      local auc, ap = binary_rank_metrics(sl, tl)
      local v = ap
      if which == "auroc" then v = auc end
      if v == nil then
         error(string.format("[%s] undefined: target has only one class", fname), 3)
      end
      return v
   elseif #pred.shape == 2 then
      local n, c = pred.shape[1], pred.shape[2]
      local t = host_list(labels_of(fname, target, n))
      for i, v in ipairs(t) do
         if v < 1 or v > c then
            error(string.format("[%s] target labels must be in 1..%d (pred %s), got %s at %d%s",
                                fname, c, shape_str(pred), tostring(v), i,
                                v == 0 and " (0-based labels? add 1)" or ""), 0)
         end
      end
      local cols = host_list(pred:transpose())
      for k = 1, c do check_scores(fname, cols[k]) end
      local vals, sum, wsum, cnt = {}, 0, 0, 0
      for k = 1, c do
         local tk, support = {}, 0
         for i = 1, n do
            tk[i] = t[i] == k and 1 or 0
            support = support + tk[i]
         end
         local auc, ap = binary_rank_metrics(cols[k], tk)
         local v = ap
         if which == "auroc" then v = auc end
         vals[k] = v or 0 / 0
         if v then
            sum, cnt, wsum = sum + v, cnt + 1, wsum + v * support
         end
      end
      if average == "none" then return ty.array(vals, "float64") end
      if cnt == 0 then error(string.format("[%s] undefined: no class has both positive " ..
                                           "and negative examples", fname), 3) end
      if average == "weighted" then return wsum / n end
      return sum / cnt
   end
   error(string.format("[%s] expected pred (N,) scores or (N,C) scores, got %s", fname,
                       shape_str(pred)), 3)
end

-- ty.metrics.auroc and ty.metrics.average_precision (which: "auroc" or "ap")
local function rank_fn(name, which)
   local fname = "metrics." .. name
   M[name] = function(pred, target, opts) return rank_metric(fname, which, pred, target, opts) end
   return M[name]
end

doc(rank_fn("auroc", "auroc"), "ty.metrics.auroc(pred, target, [{average='macro'}]) -> number\n" ..
   "  Area under the ROC curve (ties averaged, as scikit-learn's roc_auc_score).\n" ..
   "  Binary: pred (N,) scores, target 0/1. Multi-class: pred (N,C) scores,\n" ..
   "  target labels 1..C, one-vs-rest averaged over the classes with positive and\n" ..
   "  negative examples ('macro', 'weighted' by support, or 'none': a (C,)\n" ..
   "  array, NaN where undefined). Evaluates its inputs (sorts on the host).")

doc(rank_fn("average_precision", "ap"),
    "ty.metrics.average_precision(pred, target, [{average='macro'}]) " ..
   "-> number\n" ..
   "  Area under the precision-recall curve as scikit-learn's\n" ..
   "  average_precision_score (sum of (R_k - R_{k-1}) P_k over thresholds).\n" ..
   "  Binary or one-vs-rest like ty.metrics.auroc. Evaluates its inputs.")

-- ------------------------------------------------------------ regression

local function reg_pair(fname, pred, target)
   pred = as_array(fname, pred, "pred")
   target = as_array(fname, target, "target")
   local function squeezed(x)
      local r = {}
      for _, d in ipairs(x.shape) do if d ~= 1 then r[#r + 1] = d end end
      return table.concat(r, ",")
   end
   if table.concat(pred.shape, ",") ~= table.concat(target.shape, ",") then
      -- (N,1) against (N,) is the same data; (2,3) against (3,2) is not
      if squeezed(pred) == squeezed(target) then
         target = target:reshape(pred.shape)
      else
         error(string.format("[%s] pred %s and target %s differ in shape", fname,
                             shape_str(pred), shape_str(target)), 3)
      end
   end
   -- accumulated in float32 at least (float16 sums overflow at 65504)
   if pred.dtype ~= "float64" then pred = pred:astype("float32") end
   if target.dtype ~= pred.dtype then target = target:astype(pred.dtype) end
   return pred, target
end

function M.mse(pred, target)
   local p, t = reg_pair("metrics.mse", pred, target)
   return ty.square(p - t):mean()
end
doc(M.mse, "ty.metrics.mse(pred, target) -> 0-d array\n  Mean squared error. Lazy.")

function M.mae(pred, target)
   local p, t = reg_pair("metrics.mae", pred, target)
   return ty.abs(p - t):mean()
end
doc(M.mae, "ty.metrics.mae(pred, target) -> 0-d array\n  Mean absolute error. Lazy.")

-- R^2 from sums over the first axis: per output column, averaged.
local function r2_from(sum_y, sum_y2, sse, n)
   local sst = sum_y2 - ty.square(sum_y) / n
   local r = ty.where(ty.gt(sst, 0), 1 - sse / ty.where(ty.gt(sst, 0), sst, 1),
                      ty.where(ty.gt(sse, 0), 0, 1))
   return r:mean()
end

function M.r2(pred, target)
   local p, t = reg_pair("metrics.r2", pred, target)
   if #p.shape == 0 then p, t = p:reshape{1}, t:reshape{1} end
   local n = p.shape[1]
   return r2_from(t:sum(1), ty.square(t):sum(1), ty.square(t - p):sum(1), n)
end
doc(M.r2, "ty.metrics.r2(pred, target) -> 0-d array\n" ..
   "  Coefficient of determination 1 - SS_res/SS_tot over the first axis; for\n" ..
   "  (N,D) the mean over the D outputs (scikit-learn's 'uniform_average';\n" ..
   "  a constant target gives 1 when predicted exactly, else 0). Lazy.")

-- Sum of -log p(label) and the count of non-ignored rows.
local function nll_sum(fname, logits, labels, ignore_index)
   logits = as_array(fname, logits, "logits")
   labels = as_array(fname, labels, "labels")
   local c = logits.shape[#logits.shape]
   local x = logits:reshape{-1, c}
   if x.dtype ~= "float64" then x = x:astype("float32") end   -- float16 sums overflow
   local l = labels:reshape{-1}:astype("int32")
   if l.shape[1] ~= x.shape[1] then
      error(string.format("[%s] logits %s and labels %s do not match", fname,
                          shape_str(logits), shape_str(labels)), 3)
   end
   check_range(fname, l, 1, c, string.format("labels (logits %s)", shape_str(logits)),
               ignore_index)
   local lsm = ty.log_softmax(x, -1)
   if ignore_index then
      local keep = ty.ne(l, ignore_index)
      local safe = ty.where(keep, l, 1)
      local nll = -ty.take_along_axis(lsm, safe:reshape{-1, 1}, 2):reshape{-1}
      return ty.where(keep, nll, 0):sum(), keep:astype("float32"):sum()
   end
   local nll = -ty.take_along_axis(lsm, l:reshape{-1, 1}, 2):reshape{-1}
   return nll:sum(), l.shape[1]
end

function M.perplexity(logits, labels, opts)
   local fname = "metrics.perplexity"
   if labels == nil then
      -- perplexity(mean_nll)
      if type(logits) == "number" then return math.exp(logits) end
      return ty.exp(as_array(fname, logits, "nll"))
   end
   opts = check_opts(fname, opts, set{"ignore_index"})
   local s, n = nll_sum(fname, logits, labels, opts.ignore_index)
   return ty.exp(s / n)
end
doc(M.perplexity, "ty.metrics.perplexity(logits, labels, [{ignore_index=}]) -> 0-d array\n" ..
   "ty.metrics.perplexity(mean_nll) -> number or array\n" ..
   "  exp of the mean negative log-likelihood: from logits (...,C) and labels\n" ..
   "  (...) 1..C (rows labelled ignore_index skipped), or from a mean NLL. Lazy.")

-- ------------------------------------------------------------ streaming

-- How many updates a lazy accumulator may chain before it is evaluated (it
-- holds every batch's inputs until then).
local FLUSH_EVERY = 32

local Metric = {}
Metric.__index = Metric
M.Metric = Metric

local function class(name, parent)
   local cls = setmetatable({}, {__index = parent or Metric, __call = function(c, ...)
      local self = setmetatable({}, c)
      self.name = name
      self:_init(...)
      self:reset()
      return self
   end})
   cls.__index = cls
   cls.__name = name
   cls.__tostring = function(self)
      return string.format("%s(%s)", name, self.count and self.count > 0 and
                           string.format("%.6g", self:compute()) or "no data")
   end
   return cls
end

function Metric:_init() end

-- nil when compute() gives a number; else the shape of what it gives ('(C,)',
-- '(C,C)'; C is num_classes when known). ty.train.fit refuses the latter.
function Metric:value_shape() return nil end

-- '(C,)' (C = num_classes when known) for average='none', else nil.
local function per_class_shape(self)
   if (self.opts and self.opts.average) ~= "none" then return nil end
   return "(" .. tostring(self.num_classes or "C") .. ",)"
end

-- Adds x to accumulator field k (lazy; evaluated every FLUSH_EVERY updates).
function Metric:_acc(k, x)
   if self[k] == nil then self[k] = x else self[k] = self[k] + x end
end

function Metric:_after_update()
   self.count = (self.count or 0) + 1
   self._pending = (self._pending or 0) + 1
   if self._pending >= FLUSH_EVERY then
      local st = self:state()
      if #st > 0 then ty.eval(table.unpack(st)) end
      self._pending = 0
   end
end

-- The lazy accumulator arrays (for ty.eval together with a training step).
function Metric:state()
   local out = {}
   for _, k in ipairs(self._fields or {}) do
      if ty.is_array(self[k]) then out[#out + 1] = self[k] end
   end
   return out
end

function Metric:reset()
   for _, k in ipairs(self._fields or {}) do self[k] = nil end
   self.count = 0
   self._pending = 0
end

local function num(x)
   if ty.is_array(x) then return x:item() end
   return x
end

-- accuracy (top_k)
M.Accuracy = class("accuracy")
function M.Accuracy:_init(opts)
   self.opts = check_opts("metrics.Accuracy", opts, set{"top_k", "threshold"})
   local k = self.opts.top_k
   if k ~= nil and (type(k) ~= "number" or math.tointeger(k) == nil or k < 1) then
      error(string.format("[metrics.Accuracy] top_k must be an integer >= 1, got %s",
                          tostring(k)), 3)
   end
   if self.opts.threshold ~= nil and type(self.opts.threshold) ~= "number" then
      error(string.format("[metrics.Accuracy] threshold must be a number, got %s",
                          type(self.opts.threshold)), 3)
   end
   if self.opts.top_k and self.opts.top_k ~= 1 then
      self.name = "top" .. self.opts.top_k .. "_accuracy"
   end
   self._fields = {"correct", "total"}
end
function M.Accuracy:update(pred, target)
   local a = M.accuracy(pred, target, self.opts)
   local p = as_array("metrics.Accuracy", pred, "pred")
   local n = p.shape[1] or 1
   self:_acc("correct", a * n)
   self.total = (self.total or 0) + n
   self:_after_update()
end
function M.Accuracy:compute()
   if not self.total or self.total == 0 then return 0 end
   return num(self.correct) / self.total
end

-- precision / recall / f1 from a streaming confusion matrix
local function cm_update(self, fname, pred, target)
   local opts = self.opts
   local pa = as_array(fname, pred, "pred")
   local binary = opts.average == "binary" or
      (opts.average == nil and #pa.shape == 1 and FLOAT[pa.dtype])
   local cm
   if binary then
      local p, t = binary_labels(fname, pa, target, opts.threshold)
      cm = confusion_counts(p + 1, t + 1, 2)
      self.binary = true
      self.num_classes = 2
   else
      local p, t, c = predicted_labels(fname, pa, target, opts.num_classes)
      if c == nil then
         -- labels without num_classes: the largest label so far (a sync); the
         -- running matrix grows when a later batch holds a larger class
         c = math.max(infer_classes(fname, p, t), self.num_classes or 0)
         if self.num_classes and c > self.num_classes and self.cm then
            local d = c - self.num_classes
            self.cm = ty.pad(self.cm, {{0, d}, {0, d}})
         end
      elseif self.num_classes and c ~= self.num_classes then
         error(string.format("[%s] pred %s has %d classes, earlier batches %d", fname,
                             shape_str(pa), c, self.num_classes), 3)
      end
      self.num_classes = c
      cm = confusion_counts(p, t, c)
   end
   self:_acc("cm", cm)
   self:_after_update()
end

local function prf_class(kind)
   local cls = class(kind)
   local fname = "metrics." .. kind
   function cls:_init(opts)
      self.opts = check_opts(fname, opts, set{"average", "num_classes", "threshold"})
      if self.opts.average and not AVERAGES[self.opts.average] then
         error(string.format("[%s] unknown average '%s'", fname, self.opts.average), 3)
      end
      self.num_classes = self.opts.num_classes
      self._fields = {"cm"}
   end
   function cls:update(pred, target) cm_update(self, fname, pred, target) end
   cls.value_shape = per_class_shape
   function cls:compute()
      if not self.cm then return 0 end
      local avg = self.binary and (self.opts.average or "binary") or self.opts.average or "macro"
      local r = prf_from_cm(kind, self.cm, avg, 2)
      if avg == "none" then return r:tolist() end
      return r:item()
   end
   return cls
end
M.Precision = prf_class("precision")
M.Recall = prf_class("recall")
M.F1 = prf_class("f1")

-- confusion matrix, printed as a table
M.ConfusionMatrix = class("confusion_matrix")
function M.ConfusionMatrix:_init(opts)
   self.opts = check_opts("metrics.ConfusionMatrix", opts,
                          set{"num_classes", "threshold", "class_names", "average"})
   self.num_classes = self.opts.num_classes
   self.class_names = self.opts.class_names
   self._fields = {"cm"}
end
function M.ConfusionMatrix:value_shape()
   local c = tostring(self.num_classes or "C")
   return "(" .. c .. "," .. c .. ")"
end
function M.ConfusionMatrix:update(pred, target)
   cm_update(self, "metrics.ConfusionMatrix", pred, target)
end
function M.ConfusionMatrix:compute()
   if not self.cm then return ty.zeros({self.num_classes or 0, self.num_classes or 0},
                                       "int32") end
   return self.cm:astype("int32")
end
M.ConfusionMatrix.__tostring = function(self)
   local cm = self:compute()
   local c = cm.shape[1]
   local rows = c > 0 and cm:tolist() or {}
   local names = {}
   for k = 1, c do
      names[k] = tostring(self.class_names and self.class_names[k] or
                          (self.binary and tostring(k - 1) or tostring(k)))
   end
   local w = #"true\\pred"
   for k = 1, c do
      w = math.max(w, #names[k])
      for j = 1, c do w = math.max(w, #tostring(math.floor(rows[k][j]))) end
   end
   local function cell(s) return string.rep(" ", w - #s) .. s end
   local lines = {string.format("ConfusionMatrix (%d classes; rows: true, columns: predicted)",
                                c)}
   local head = {cell("true\\pred")}
   for k = 1, c do head[#head + 1] = cell(names[k]) end
   lines[#lines + 1] = table.concat(head, "  ")
   for k = 1, c do
      local r = {cell(names[k])}
      for j = 1, c do r[#r + 1] = cell(tostring(math.floor(rows[k][j]))) end
      lines[#lines + 1] = table.concat(r, "  ")
   end
   return table.concat(lines, "\n")
end

-- ranking metrics keep every score (lazy list; concatenated at compute)
local function rank_class(name, fn)
   local cls = class(name)
   function cls:_init(opts)
      self.opts = check_opts("metrics." .. name, opts, set{"average"})
      self._fields = {}
   end
   cls.value_shape = per_class_shape
   function cls:reset()
      self.preds, self.targets = {}, {}
      self.count, self._pending = 0, 0
   end
   -- the stored batches (evaluated every 32 updates, so that they do not
   -- hold on to the graphs that made them)
   function cls:state()
      local st = {}
      for i = 1, #self.preds do st[#st + 1] = self.preds[i]; st[#st + 1] = self.targets[i] end
      return st
   end
   function cls:update(pred, target)
      pred = as_array("metrics." .. name, pred, "pred")
      target = as_array("metrics." .. name, target, "target")
      self.preds[#self.preds + 1] = ty.stop_gradient(pred)
      self.targets[#self.targets + 1] = target
      self:_after_update()
   end
   function cls:compute()
      if #self.preds == 0 then return 0 end
      local p = #self.preds == 1 and self.preds[1] or ty.concatenate(self.preds, 1)
      local t = #self.targets == 1 and self.targets[1] or ty.concatenate(self.targets, 1)
      local r = fn(p, t, self.opts)
      if ty.is_array(r) then return r:tolist() end
      return r
   end
   return cls
end
M.AUROC = rank_class("auroc", M.auroc)
M.AveragePrecision = rank_class("average_precision", M.average_precision)

-- regression
local function reg_class(name, fn)
   local cls = class(name)
   function cls:_init() self._fields = {"sum"} end
   function cls:update(pred, target)
      local p, t = reg_pair("metrics." .. name, pred, target)
      self:_acc("sum", fn(p - t):astype("float32"):sum())
      self.n = (self.n or 0) + p.size
      self:_after_update()
   end
   function cls:reset()
      Metric.reset(self)
      self.n = 0
   end
   function cls:compute()
      if not self.n or self.n == 0 then return 0 end
      return num(self.sum) / self.n
   end
   return cls
end
M.MSE = reg_class("mse", ty.square)
M.MAE = reg_class("mae", ty.abs)

M.R2 = class("r2")
function M.R2:_init() self._fields = {"sy", "sy2", "sse"} end
function M.R2:update(pred, target)
   local p, t = reg_pair("metrics.r2", pred, target)
   if #p.shape == 0 then p, t = p:reshape{1}, t:reshape{1} end
   p, t = p:astype("float32"), t:astype("float32")
   self:_acc("sy", t:sum(1))
   self:_acc("sy2", ty.square(t):sum(1))
   self:_acc("sse", ty.square(t - p):sum(1))
   self.n = (self.n or 0) + p.shape[1]
   self:_after_update()
end
function M.R2:reset()
   Metric.reset(self)
   self.n = 0
end
function M.R2:compute()
   if not self.n or self.n == 0 then return 0 end
   return r2_from(self.sy, self.sy2, self.sse, self.n):item()
end

M.Perplexity = class("perplexity")
function M.Perplexity:_init(opts)
   self.opts = check_opts("metrics.Perplexity", opts, set{"ignore_index"})
   self._fields = {"nll"}
end
function M.Perplexity:update(logits, labels)
   local s, n = nll_sum("metrics.Perplexity", logits, labels, self.opts.ignore_index)
   self:_acc("nll", s:astype("float32"))
   if ty.is_array(n) then self:_acc("ntok", n) else self.n = (self.n or 0) + n end
   self:_after_update()
end
function M.Perplexity:state()
   local st = Metric.state(self)
   if ty.is_array(self.ntok) then st[#st + 1] = self.ntok end
   return st
end
function M.Perplexity:reset()
   Metric.reset(self)
   self.n, self.ntok = 0, nil
end
function M.Perplexity:compute()
   local n = (self.n or 0) + (self.ntok and self.ntok:item() or 0)
   if n == 0 then return 0 end
   return math.exp(num(self.nll) / n)
end

local STREAM_DOC = "  Streaming: m:update(pred, target) accumulates lazily (counts as arrays,\n" ..
   "  evaluated every 32 updates or with m:state() in ty.eval), m:compute() ->\n" ..
   "  number, m:reset(), m.name."
doc(M.Accuracy, "ty.metrics.Accuracy([{top_k=1, threshold=0.5}]) -> metric\n" ..
   "  Streaming ty.metrics.accuracy (name 'accuracy' or 'topK_accuracy').\n" .. STREAM_DOC)
doc(M.Precision, "ty.metrics.Precision([{average='macro', num_classes=, threshold=}]) -> " ..
   "metric\n  Streaming ty.metrics.precision (a running confusion matrix).\n" .. STREAM_DOC)
doc(M.Recall, "ty.metrics.Recall([{average='macro', num_classes=, threshold=}]) -> metric\n" ..
   "  Streaming ty.metrics.recall.\n" .. STREAM_DOC)
doc(M.F1, "ty.metrics.F1([{average='macro', num_classes=, threshold=}]) -> metric\n" ..
   "  Streaming ty.metrics.f1.\n" .. STREAM_DOC)
doc(M.ConfusionMatrix, "ty.metrics.ConfusionMatrix([{num_classes=, class_names={...}, " ..
   "threshold=}]) -> metric\n" ..
   "  Streaming confusion matrix; compute() -> (C,C) int32 array; tostring(m)\n" ..
   "  prints a table with the class names (rows: true, columns: predicted).\n" ..
   STREAM_DOC)
doc(M.AUROC, "ty.metrics.AUROC([{average='macro'}]) -> metric\n" ..
   "  Streaming ty.metrics.auroc: keeps every batch's scores (lazy) and sorts\n" ..
   "  them at compute().\n" .. STREAM_DOC)
doc(M.AveragePrecision, "ty.metrics.AveragePrecision([{average='macro'}]) -> metric\n" ..
   "  Streaming ty.metrics.average_precision (keeps every batch's scores).\n" .. STREAM_DOC)
doc(M.MSE, "ty.metrics.MSE() -> metric\n  Streaming mean squared error.\n" .. STREAM_DOC)
doc(M.MAE, "ty.metrics.MAE() -> metric\n  Streaming mean absolute error.\n" .. STREAM_DOC)
doc(M.R2, "ty.metrics.R2() -> metric\n  Streaming R^2 (running sums of y, y^2 and " ..
   "squared errors).\n" .. STREAM_DOC)
doc(M.Perplexity, "ty.metrics.Perplexity([{ignore_index=}]) -> metric\n" ..
   "  Streaming perplexity: m:update(logits, labels).\n" .. STREAM_DOC)

local REGISTRY = {
   accuracy = function(o) return M.Accuracy(o) end,
   top5_accuracy = function(o)
      local t = {top_k = 5}
      for k, v in pairs(o or {}) do t[k] = v end
      return M.Accuracy(t)
   end,
   precision = function(o) return M.Precision(o) end,
   recall = function(o) return M.Recall(o) end,
   f1 = function(o) return M.F1(o) end,
   confusion_matrix = function(o) return M.ConfusionMatrix(o) end,
   mse = function() return M.MSE() end,
   mae = function() return M.MAE() end,
   r2 = function() return M.R2() end,
   perplexity = function(o) return M.Perplexity(o) end,
   auroc = function(o) return M.AUROC(o) end,
   average_precision = function(o) return M.AveragePrecision(o) end,
}

function M.get(name, opts)
   if type(name) == "table" and getmetatable(name) and name.update then return name end
   local f = REGISTRY[name]
   if not f then
      local names = {}
      for k in pairs(REGISTRY) do names[#names + 1] = k end
      table.sort(names)
      error(string.format("[metrics.get] unknown metric '%s' (expected %s)", tostring(name),
                          table.concat(names, ", ")), 2)
   end
   return f(opts)
end
doc(M.get, "ty.metrics.get(name, [opts]) -> metric\n" ..
   "  A new streaming metric by name: accuracy, top5_accuracy, precision, recall,\n" ..
   "  f1, confusion_matrix, mse, mae, r2, perplexity, auroc, average_precision\n" ..
   "  (a metric object is returned unchanged). Used by ty.train.fit's metrics.")

M.docs = docs
return M
