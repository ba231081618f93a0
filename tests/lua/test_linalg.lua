-- test_linalg.lua -- ty.linalg and ty.einsum against NumPy (fixtures from
-- tests/gen_linalg_fixtures.py) in float64 and float32, batched inputs,
-- gradients by finite differences (ty.gradcheck, float64), errors, and a
-- GPU-resident input (skipped when no Vulkan device exists).
-- Tolerances: float64 1e-9, float32 2e-4 (float32 inputs are computed in
-- float64 and rounded; the fixtures' inputs have 3 decimals, exact in neither).
local ty = require "tycho"
local h = require "helpers"
local E = dofile("tests/fixtures/linalg_expected.lua")
local LA = E.linalg

local T = {}

-- the first Vulkan device, or nil
local VK = h.vulkan_device()
local DT = {float64 = 1e-9, float32 = 2e-4}

local function A(v, dt) return ty.array(v, {dtype = dt or "float64"}) end

local function each_dtype(fn)
   for dt, tol in pairs(DT) do fn(dt, tol) end
end

function T.inv()
   each_dtype(function(dt, tol)
      for _, c in ipairs(LA.inv) do
         local r = ty.linalg.inv(A(c.a, dt))
         h.assert_dtype(r, dt)
         h.assert_close(r, c.out, tol)
      end
   end)
end

function T.det_slogdet()
   each_dtype(function(dt, tol)
      for _, c in ipairs(LA.det) do h.assert_close(ty.linalg.det(A(c.a, dt)), c.out, tol) end
      local c = LA.slogdet[1]
      local s, l = ty.linalg.slogdet(A(c.a, dt))
      h.assert_close(s, c.sign, 0)
      h.assert_close(l, c.logabs, tol)
   end)
   local s, l = ty.linalg.slogdet(A{{1, 2}, {2, 4}})
   h.assert_close(s, 0, 0)
   h.assert_eq(l:item(), -math.huge)
   h.assert_close(ty.linalg.det(A{{1, 2}, {2, 4}}), 0, 1e-12)
end

function T.solve()
   each_dtype(function(dt, tol)
      for _, c in ipairs(LA.solve) do
         h.assert_close(ty.linalg.solve(A(c.a, dt), A(c.b, dt)), c.out, tol)
      end
   end)
   -- mixed dtypes promote
   local a32 = ty.array(LA.solve[1].a, {dtype = "float32", device = "cpu"})
   h.assert_dtype(ty.linalg.solve(a32, A(LA.solve[1].b)), "float64")
   if VK then
      h.assert_error(function() ty.linalg.solve(ty.eye(2):to("cpu"), ty.ones{2, 2}:to(VK)) end,
                     "different devices")
   end
end

function T.cholesky()
   each_dtype(function(dt, tol)
      for _, c in ipairs(LA.cholesky) do
         h.assert_close(ty.linalg.cholesky(A(c.a, dt)), c.out, tol)
         local u = ty.linalg.cholesky(A(c.a, dt), {upper = true})
         h.assert_close(u, A(c.out):swapaxes(-1, -2), tol)
      end
   end)
end

function T.qr()
   each_dtype(function(dt, tol)
      for _, c in ipairs(LA.qr) do
         local q, r = ty.linalg.qr(A(c.a, dt), {mode = c.mode})
         h.assert_close(q, c.q, tol, "q " .. c.mode)
         h.assert_close(r, c.r, tol, "r " .. c.mode)
      end
   end)
   local r = ty.linalg.qr(A(LA.qr[1].a), {mode = "r"})
   h.assert_close(r, LA.qr[1].r, 1e-9)
end

function T.svd()
   each_dtype(function(dt, tol)
      for _, c in ipairs(LA.svd) do
         local a = A(c.a, dt)
         h.assert_close(ty.linalg.svd(a, {compute_uv = false}), c.s, tol)
         for _, full in ipairs{true, false} do
            local u, s, vt = ty.linalg.svd(a, {full_matrices = full})
            h.assert_close(s, c.s, tol)
            local m, n = a.shape[#a.shape - 1], a.shape[#a.shape]
            local k = math.min(m, n)
            h.assert_eq(u.shape[#u.shape], full and m or k)
            h.assert_eq(vt.shape[#vt.shape - 1], full and n or k)
            local iu, iv = {}, {}
            for _ = 1, #a.shape - 2 do iu[#iu + 1], iv[#iv + 1] = {}, {} end
            iu[#iu + 1], iu[#iu + 2] = {}, {1, k}
            iv[#iv + 1], iv[#iv + 2] = {1, k}, {}
            local uk, vk = u[iu], vt[iv]
            h.assert_close(ty.matmul(uk * ty.expand_dims(s, -2), vk), a, tol * 10)
            -- orthonormal columns / rows
            local I = ty.matmul(u:swapaxes(-1, -2), u)
            h.assert_close(I, ty.broadcast_to(ty.eye(u.shape[#u.shape], {dtype = dt}), I.shape),
                           tol * 10)
         end
      end
   end)
end

function T.eigh()
   each_dtype(function(dt, tol)
      for _, c in ipairs(LA.eigh) do
         local w, v = ty.linalg.eigh(A(c.a, dt), {UPLO = c.UPLO})
         h.assert_close(w, c.w, tol)
         h.assert_close(ty.abs(v), c.absv, tol * 10)
         h.assert_close(ty.linalg.eigvalsh(A(c.a, dt), {UPLO = c.UPLO}), c.w, tol)
      end
   end)
end

function T.pinv_lstsq_rank()
   each_dtype(function(dt, tol)
      for _, c in ipairs(LA.pinv) do h.assert_close(ty.linalg.pinv(A(c.a, dt)), c.out, tol) end
      for i, c in ipairs(LA.lstsq) do
         local x, res, rank, s = ty.linalg.lstsq(A(c.a, dt), A(c.b, dt))
         h.assert_close(x, c.x, tol * 5, "lstsq " .. i)
         h.assert_eq(res.shape[1], c.nres, "residuals " .. i)
         if c.nres > 0 then h.assert_close(res, c.res, tol * 5) end
         h.assert_eq(rank, c.rank)
         h.assert_close(s, c.s, tol)
      end
   end)
   for _, c in ipairs(LA.matrix_rank) do h.assert_eq(ty.linalg.matrix_rank(A(c.a)), c.out) end
   h.assert_eq(ty.linalg.matrix_rank(ty.stack{A(LA.matrix_rank[1].a), A(LA.matrix_rank[1].a)})
                  :tolist(), {2, 2})
end

function T.norm()
   each_dtype(function(dt, tol)
      for i, c in ipairs(LA.norm) do
         local opts = {keepdims = c.keepdims}
         if c.axis ~= "none" then opts.axis = #c.axis == 1 and c.axis[1] or c.axis end
         local ord = c.ord ~= "none" and c.ord or nil
         local r = ty.linalg.norm(A(c.x, dt), ord, opts)
         h.assert_close(r, c.out, tol, "norm case " .. i .. " ord " .. tostring(c.ord))
      end
   end)
   -- ord as an option, integer input
   h.assert_close(ty.linalg.norm(ty.array{3, 4}, {ord = 1}), 7)
   -- lazy: nothing evaluated yet for composed norms
   if ty.node then h.assert_eq(ty.node(ty.linalg.norm(ty.array{3, 4} * 1)) ~= nil, true) end
end

function T.einsum()
   each_dtype(function(dt, tol)
      for _, c in ipairs(E.einsum) do
         local ops = {}
         for i, o in ipairs(c.ops) do ops[i] = A(o, dt) end
         h.assert_close(ty.einsum(c.sub, table.unpack(ops)), c.out, tol, c.sub)
      end
   end)
   -- lazy
   if ty.node then
      h.assert_eq(ty.node(ty.einsum("ij,jk", ty.ones{2, 2}, ty.ones{2, 2})) ~= nil, true)
   end
end

-- ------------------------------------------------------------ gradients

-- VJP and JVP (forward mode: out + a zero-valued tangent term) against
-- central differences.
local gc = h.gradcheck

local function rnd(shape, seed, shift)
   local x = ty.random.normal(shape, {key = ty.random.key(seed), dtype = "float64"})
   if shift then x = x + ty.eye(shape[#shape], {dtype = "float64"}) * shift end
   return x
end

function T.grad_inv_solve_det()
   local a, b = rnd({3, 3}, 1, 3), rnd({3, 2}, 2)
   gc(function(x) return ty.linalg.inv(x) end, {a})
   gc(function(x) return ty.linalg.inv(x) end, {rnd({2, 3, 3}, 3, 3)})
   gc(function(x, y) return ty.linalg.solve(x, y) end, {a, b})
   gc(function(x, y) return ty.linalg.solve(x, y) end, {a, rnd({3}, 4)})
   gc(function(x, y) return ty.linalg.solve(x, y) end, {a, rnd({2, 3, 2}, 5)})
   gc(function(x) return ty.linalg.det(x) end, {rnd({2, 3, 3}, 6, 2)})
   gc(function(x) local _, l = ty.linalg.slogdet(x); return l end, {a})
end

function T.grad_second_order()
   local a = rnd({3, 3}, 7, 3)
   gc(function(x) return ty.grad(function(y) return ty.linalg.inv(y):sum() end)(x) end, {a})
   gc(function(x) return ty.grad(function(y) return ty.linalg.det(y) end)(x) end, {a})
end

function T.grad_cholesky_eigh_svd()
   local x = rnd({4, 3}, 8)
   local I = ty.eye(4, {dtype = "float64"})
   local function spd(y) return ty.matmul(y, y:swapaxes(-1, -2)) + I end
   gc(function(y) return ty.linalg.cholesky(spd(y)) end, {x})
   gc(function(y) return ty.linalg.cholesky(spd(y), {upper = true}) end, {x})
   gc(function(y) return ty.linalg.eigh(spd(y)) end, {x})
   gc(function(y) local _, v = ty.linalg.eigh(spd(y), {UPLO = "U"}); return v end, {x})
   gc(function(y) return ty.linalg.svd(y, {compute_uv = false}) end, {rnd({2, 4, 3}, 9)})
   gc(function(y) return ty.linalg.norm(y, "nuc") end, {x})
   gc(function(y) return ty.linalg.norm(y, -2, {axis = {1, 2}}) end, {x})
   gc(function(y) return ty.linalg.norm(y, 3, {axis = 1}) end, {x})
end

function T.grad_einsum()
   gc(function(p, q) return ty.einsum("bij,jk->bik", p, q) end, {rnd({2, 3, 4}, 10), rnd({4, 2}, 11)})
   gc(function(p) return ty.einsum("ii->i", p) end, {rnd({3, 3}, 12)})
   gc(function(p, q, r) return ty.einsum("ij,jk,kl->il", p, q, r) end,
      {rnd({2, 3}, 13), rnd({3, 4}, 14), rnd({4, 2}, 15)})
end

function T.grad_qr()
   gc(function(y) return ty.linalg.qr(y) end, {rnd({4, 3}, 17)})
   gc(function(y) return ty.linalg.qr(y, {mode = "complete"}) end, {rnd({2, 3, 3}, 18)})
end

function T.grad_not_differentiable()
   local f = ty.grad(function(x)
      local q = ty.linalg.qr(x)
      return q:sum()
   end)
   h.assert_error(function() f(rnd({3, 4}, 16)) end, "[linalg.qr] is not differentiable")
   local g = ty.grad(function(x) return ty.linalg.pinv(x):sum() end)
   h.assert_error(function() g(rnd({3, 4}, 16)) end, "[linalg.pinv] is not differentiable")
end

-- ------------------------------------------------------------ errors

function T.errors()
   h.assert_error(function() ty.linalg.inv(ty.zeros{3, 4}) end,
                  "[linalg.inv] expected square matrices (...,n,n), got (3,4)")
   h.assert_error(function() ty.linalg.det(ty.zeros{3}) end,
                  "[linalg.det] expected square matrices (...,n,n), got (3,)")
   h.assert_error(function() ty.linalg.inv(ty.zeros{2, 3, 3}) end, "singular matrix")
   h.assert_error(function() ty.linalg.solve(ty.zeros{3, 3}, ty.ones{3}) end,
                  "[linalg.solve] singular matrix")
   h.assert_error(function() ty.linalg.solve(ty.eye(3), ty.ones{4, 2}) end,
                  "[linalg.solve] a (3,3) and b (4,2) do not match")
   h.assert_error(function() ty.linalg.cholesky(ty.array{{1, 2}, {2, 1}}) end,
                  "[linalg.cholesky] matrix is not positive definite")
   h.assert_error(function() ty.linalg.norm(ty.ones{2, 2, 2}, 2) end,
                  "[linalg.norm] ord needs a 1-d or 2-d input or an axis, got (2,2,2)")
   h.assert_error(function() ty.linalg.norm(ty.ones{2, 2}, 3) end, "invalid norm order")
   h.assert_error(function() ty.linalg.norm(ty.ones{3}, "fro") end, "is for matrices")
   h.assert_error(function() ty.linalg.eigh(ty.eye(2), {UPLO = "X"}) end, "UPLO")
   h.assert_error(function() ty.linalg.svd(ty.eye(2), {bad = 1}) end, "unknown option 'bad'")
   h.assert_error(function() ty.linalg.lstsq(ty.ones{2, 2, 2}, ty.ones{2}) end,
                  "[linalg.lstsq] expected a matrix a (m,n), got (2,2,2)")
   h.assert_error(function() ty.einsum("ij,jk->ik", ty.ones{2, 3}, ty.ones{4, 2}) end,
                  "[einsum] index 'j' has sizes 3 and 4")
   h.assert_error(function() ty.einsum("ij->k", ty.ones{2, 3}) end,
                  "output index 'k' appears in no input")
   h.assert_error(function() ty.einsum("ijk", ty.ones{2, 3}) end,
                  "[einsum] term 'ijk' does not fit operand 1 of shape (2,3)")
   h.assert_error(function() ty.einsum("ij,jk", ty.ones{2, 3}) end, "name more operands than the 1 given")
end

-- ------------------------------------------------------------ devices


function T.gpu_resident_input()
   if not VK then return end             -- no Vulkan device: skipped
   local c = LA.inv[2]
   local a = A(c.a, "float32"):to(VK)
   local r = ty.linalg.inv(a)
   h.assert_eq(r.device, a.device)
   h.assert_close(r:to("cpu"), c.out, 2e-4)
   local d = ty.linalg.det(a)
   h.assert_eq(d.device, a.device)
   h.assert_close(d:to("cpu"), LA.det[2].out, 2e-4)
   local s = LA.solve[3]
   local x = ty.linalg.solve(A(s.a, "float32"):to(VK), A(s.b, "float32"):to(VK))
   h.assert_eq(x.device, a.device)
   h.assert_close(x:to("cpu"), s.out, 2e-4)
   -- a lazy GPU input is evaluated first; results feed GPU ops
   local q, rr = ty.linalg.qr(A(LA.qr[1].a, "float32"):to(VK) * 1)
   h.assert_eq(q.device, a.device)
   h.assert_close(ty.matmul(q, rr):to("cpu"), LA.qr[1].a, 2e-4)
   h.assert_close(ty.einsum("ij,jk->ik", q, rr):to("cpu"), LA.qr[1].a, 2e-4)
end

-- QA regressions ----------------------------------------------------------

-- Empty matrices (0,0), (0,3), (0,2,2) (before: a segfault, an endless
-- recursion in ty_copy_to of an empty broadcast view).
function T.qa_empty_inputs()
   h.assert_shape(ty.linalg.inv(ty.ones{0, 0}), {0, 0})
   h.assert_shape(ty.linalg.inv(ty.ones{0, 2, 2}), {0, 2, 2})
   h.assert_close(ty.linalg.det(ty.ones{0, 0}), 1)
   h.assert_shape(ty.linalg.cholesky(ty.ones{0, 0}), {0, 0})
   local u, s, vt = ty.linalg.svd(ty.ones{0, 3})
   h.assert_shape(s, {0})
   h.assert_close(vt, ty.eye(3))
   h.assert_shape(ty.linalg.pinv(ty.ones{0, 3}), {3, 0})
end

-- The 2-norm (and p > 0 norms, 'fro') of a zero vector has gradient 0 (as
-- PyTorch), not NaN.
function T.qa_norm_grad_at_zero()
   local L = ty.linalg
   h.assert_close(ty.grad(function(x) return L.norm(x) end)(ty.zeros{3}), {0, 0, 0})
   h.assert_close(ty.grad(function(x) return L.norm(x, 3) end)(ty.zeros{3}), {0, 0, 0})
   h.assert_close(ty.grad(function(x) return L.norm(x, "fro") end)(ty.zeros{2, 2}),
                  {{0, 0}, {0, 0}})
   h.assert_close(ty.grad(function(x) return ty.sum(L.norm(x, nil, {axis = 2})) end)(
                     ty.array{{3, 4}, {0, 0}}), {{0.6, 0.8}, {0, 0}})
   assert(ty.gradcheck(function(x) return ty.sum(L.norm(x, 3, {axis = 2})) end,
                       {ty.array({{1, -2, 0.5}, {0.3, 2, 1}}, "float64")}))
end

-- det's gradient at a singular matrix is the cofactor matrix (before: the
-- error "[linalg.inv] singular matrix"); slogdet's names itself.
function T.qa_det_grad_singular()
   local L = ty.linalg
   local g = ty.grad(function(x) return L.det(x) end)
   h.assert_close(g(ty.array({{1, 2}, {2, 4}}, "float64")), {{4, -2}, {-2, 1}}, 1e-9)
   h.assert_close(g(ty.array({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}, "float64")),
                  {{-3, 6, -3}, {6, -12, 6}, {-3, 6, -3}}, 1e-9)
   h.assert_close(g(ty.zeros{3, 3}), ty.zeros{3, 3})
   assert(ty.gradcheck(function(x) return ty.sum(L.det(x)) end,
                       {ty.array({{{1, 2}, {2, 4}}, {{2, 1}, {1, 3}}}, "float64")}))
   h.assert_error(function()
      ty.grad(function(x) local _, l = L.slogdet(x); return l end)(ty.array{{1, 2}, {2, 4}})
   end, "[linalg.slogdet] no gradient at a singular matrix")
end

-- NaN/inf inputs to the SVD-based functions are named errors (before: LAPACK
-- printed "On entry to DLASCL parameter number 4 had an illegal value" and
-- "did not converge (info -4)", or svd returned NaN silently for inf).
function T.qa_svd_nonfinite()
   local L = ty.linalg
   h.assert_error(function() L.svd(ty.array{{0 / 0, 1}, {1, 1}}) end,
                  "[linalg.svd] input (2,2) contains NaN (element 1)")
   h.assert_error(function() L.svd(ty.array{{1, 2}, {1 / 0, 1}}) end,
                  "[linalg.svd] input (2,2) contains an infinity (element 3)")
   h.assert_error(function() L.lstsq(ty.array{{0 / 0, 0}, {0, 1}}, ty.ones{2}) end,
                  "[linalg.lstsq] input (2,2) contains NaN")
   h.assert_error(function() L.matrix_rank(ty.array{{0 / 0, 0}, {0, 1}}) end,
                  "[linalg.matrix_rank] input (2,2) contains NaN")
end

-- einsum names the bad character or ellipsis (before: "term 'i1' does not
-- fit operand 1").
function T.qa_einsum_parse_errors()
   local a = ty.ones{2, 3}
   h.assert_error(function() ty.einsum("i1->i", a) end,
                  "[einsum] invalid subscript '1' in 'i1': subscripts are letters")
   h.assert_error(function() ty.einsum("..i->i", a) end,
                  "[einsum] term '..i' has a '.' outside a single '...' ellipsis")
   h.assert_error(function() ty.einsum("ij->j->i", a) end, "[einsum] invalid subscript '-'")
   h.assert_error(function() ty.einsum(string.rep("a", 12) .. "->", ty.ones{1}) end,
                  "has more than")
end

-- float16/bfloat16 norms accumulate in float32 (before: norm of [300]*4 in
-- float16 was inf, of [1e-4]*4 was 0) and keep the input's dtype.
function T.qa_norm_half_precision()
   local x = ty.full({4}, 300, {dtype = "float16"})
   local n = ty.linalg.norm(x)
   h.assert_dtype(n, "float16")
   h.assert_close(n:astype("float32"), 600)
   h.assert_close(ty.linalg.norm(ty.full({2, 2}, 300, {dtype = "bfloat16"}), "fro")
                  :astype("float32"), 600)
   h.assert_close(ty.linalg.norm(ty.full({4}, 1e-4, {dtype = "float16"})):astype("float32"),
                  2e-4, 1e-6)
end

-- ord both positional and as an option is an error (before: the option was
-- silently ignored).
function T.qa_norm_ord_twice()
   h.assert_error(function() ty.linalg.norm(ty.array{3, -4}, 1, {ord = 2}) end,
                  "[linalg.norm] ord given twice")
   h.assert_close(ty.linalg.norm(ty.array{3, -4}, 1, {axis = 1}), 7)
end

-- Non-differentiable outputs say why (before: a bare "is not differentiable").
function T.qa_not_differentiable_messages()
   local L = ty.linalg
   h.assert_error(function()
      ty.grad(function(a) local q = L.qr(a); return ty.sum(q) end)(ty.ones{2, 3} + ty.eye(2, 3))
   end, "[linalg.qr] is not differentiable here: only when r is square")
   h.assert_error(function()
      ty.grad(function(a) local u = L.svd(a); return ty.sum(u) end)(ty.eye(2))
   end, "[linalg.svd] is not differentiable through u or vt (only s is")
   -- s alone is fine even when u, vt were computed
   h.assert_close(ty.grad(function(a) local _, s = L.svd(a); return ty.sum(s) end)(ty.eye(2)),
                  ty.eye(2), 1e-5)
end

return T
