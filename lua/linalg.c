/*
 * linalg.c -- ty.linalg.* (core/linalg.c: LAPACK through OpenBLAS) and
 * ty.einsum. The factorizations run on the CPU whatever the input's device:
 * inputs are evaluated and copied to the host, and the results are put back
 * on the input's device (as MLX does). Axes are 1-based.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "binding.h"

/* The options table at idx or 0 (none/nil); raises on other values. */
static int opts_at(lua_State *L, int idx, const char *fname, const char *allowed)
{
    if (lua_isnoneornil(L, idx)) return 0;
    if (!lty_arg_is_opts(L, idx))
        luaL_error(L, "[%s] argument %d must be an options table, got %s", fname, idx,
                   luaL_typename(L, idx));
    lty_arg_check_opts(L, idx, fname, allowed);
    return idx;
}

static ty_array *check_result(lua_State *L, ty_array *r)
{
    if (!r) lty_error(L);
    return r;
}

static int l_inv(lua_State *L)
{
    ty_array *a = lty_arg_array(L, 1, NULL);
    ty_array *r;
    LTY_CALL(L, r, ty_linalg_inv(a));
    lty_push(L, r);
    return 1;
}

static int l_det(lua_State *L)
{
    ty_array *a = lty_arg_array(L, 1, NULL);
    ty_array *r;
    LTY_CALL(L, r, ty_linalg_det(a));
    lty_push(L, r);
    return 1;
}

static int l_slogdet(lua_State *L)
{
    ty_array *a = lty_arg_array(L, 1, NULL);
    ty_array *s = NULL, *l = NULL;
    int rc;
    LTY_CALL_INT(L, rc, ty_linalg_slogdet(a, &s, &l));
    if (rc != 0) return lty_error(L);
    lty_push(L, s);
    lty_push(L, l);
    return 2;
}

static int l_solve(lua_State *L)
{
    ty_array *a = lty_arg_array(L, 1, NULL);
    ty_array *b = lty_arg_array(L, 2, a);
    ty_array *r;
    LTY_CALL(L, r, ty_linalg_solve(a, b));
    lty_push(L, r);
    return 1;
}

static int l_cholesky(lua_State *L)
{
    const char *fn = "linalg.cholesky";
    ty_array *a = lty_arg_array(L, 1, NULL);
    int o = opts_at(L, 2, fn, "upper");
    bool upper = lty_arg_bool(L, o, fn, "upper", false);
    ty_array *r;
    LTY_CALL(L, r, ty_linalg_cholesky(a, upper));
    lty_push(L, r);
    return 1;
}

static int l_qr(lua_State *L)
{
    const char *fn = "linalg.qr";
    ty_array *a = lty_arg_array(L, 1, NULL);
    int o = opts_at(L, 2, fn, "mode");
    const char *mode = lty_arg_string(L, o, fn, "mode", "reduced");
    bool complete;
    if (!strcmp(mode, "reduced")) complete = false;
    else if (!strcmp(mode, "complete")) complete = true;
    else if (!strcmp(mode, "r")) complete = false;
    else return luaL_error(L, "[%s] mode must be 'reduced', 'complete' or 'r', got '%s'", fn,
                           mode);
    ty_array *q = NULL, *r = NULL;
    int rc;
    LTY_CALL_INT(L, rc, ty_linalg_qr(a, complete, &q, &r));
    if (rc != 0) return lty_error(L);
    if (!strcmp(mode, "r")) {
        ty_release(q);
        lty_push(L, r);
        return 1;
    }
    lty_push(L, q);
    lty_push(L, r);
    return 2;
}

static int l_svd(lua_State *L)
{
    const char *fn = "linalg.svd";
    ty_array *a = lty_arg_array(L, 1, NULL);
    int o = opts_at(L, 2, fn, "full_matrices compute_uv");
    bool full = lty_arg_bool(L, o, fn, "full_matrices", true);
    bool uv = lty_arg_bool(L, o, fn, "compute_uv", true);
    ty_array *u = NULL, *s = NULL, *vt = NULL;
    int rc;
    LTY_CALL_INT(L, rc, ty_linalg_svd(a, full, uv ? &u : NULL, &s, uv ? &vt : NULL));
    if (rc != 0) return lty_error(L);
    if (!uv) {
        lty_push(L, s);
        return 1;
    }
    lty_push(L, u);
    lty_push(L, s);
    lty_push(L, vt);
    return 3;
}

static bool uplo_upper(lua_State *L, int o, const char *fn)
{
    const char *uplo = lty_arg_string(L, o, fn, "UPLO", "L");
    if (!strcmp(uplo, "L") || !strcmp(uplo, "l")) return false;
    if (!strcmp(uplo, "U") || !strcmp(uplo, "u")) return true;
    luaL_error(L, "[%s] UPLO must be 'L' or 'U', got '%s'", fn, uplo);
    return false;
}

static int l_eigh(lua_State *L)
{
    const char *fn = "linalg.eigh";
    ty_array *a = lty_arg_array(L, 1, NULL);
    int o = opts_at(L, 2, fn, "UPLO");
    bool upper = uplo_upper(L, o, fn);
    ty_array *w = NULL, *v = NULL;
    int rc;
    LTY_CALL_INT(L, rc, ty_linalg_eigh(a, upper, &w, &v));
    if (rc != 0) return lty_error(L);
    lty_push(L, w);
    lty_push(L, v);
    return 2;
}

static int l_eigvalsh(lua_State *L)
{
    const char *fn = "linalg.eigvalsh";
    ty_array *a = lty_arg_array(L, 1, NULL);
    int o = opts_at(L, 2, fn, "UPLO");
    bool upper = uplo_upper(L, o, fn);
    ty_array *w = NULL;
    int rc;
    LTY_CALL_INT(L, rc, ty_linalg_eigh(a, upper, &w, NULL));
    if (rc != 0) return lty_error(L);
    lty_push(L, w);
    return 1;
}

static int l_pinv(lua_State *L)
{
    const char *fn = "linalg.pinv";
    ty_array *a = lty_arg_array(L, 1, NULL);
    int o = opts_at(L, 2, fn, "rcond");
    double rcond = lty_arg_number(L, o, fn, "rcond", 1e-15);
    ty_array *r;
    LTY_CALL(L, r, ty_linalg_pinv(a, rcond));
    lty_push(L, r);
    return 1;
}

static int l_matrix_rank(lua_State *L)
{
    const char *fn = "linalg.matrix_rank";
    ty_array *a = lty_arg_array(L, 1, NULL);
    int o = opts_at(L, 2, fn, "tol");
    double tol = lty_arg_number(L, o, fn, "tol", -1);
    ty_array *r;
    LTY_CALL(L, r, ty_linalg_matrix_rank(a, tol));
    if (r && ty_ndim(r) == 0) {
        int64_t v;
        int rc = ty_item_int64(r, &v);
        ty_release(r);
        if (rc != 0) return lty_error(L);
        lua_pushinteger(L, (lua_Integer)v);
        return 1;
    }
    lty_push(L, r);
    return 1;
}

static int l_lstsq(lua_State *L)
{
    const char *fn = "linalg.lstsq";
    ty_array *a = lty_arg_array(L, 1, NULL);
    ty_array *b = lty_arg_array(L, 2, a);
    int o = opts_at(L, 3, fn, "rcond");
    double rcond = lty_arg_number(L, o, fn, "rcond", -1);
    ty_array *x = NULL, *res = NULL, *sv = NULL;
    int64_t rank = 0;
    int rc;
    LTY_CALL_INT(L, rc, ty_linalg_lstsq(a, b, rcond, &x, &res, &rank, &sv));
    if (rc != 0) return lty_error(L);
    lty_push(L, x);
    lty_push(L, res);
    lua_pushinteger(L, (lua_Integer)rank);
    lty_push(L, sv);
    return 4;
}

static int l_norm(lua_State *L)
{
    const char *fn = "linalg.norm";
    ty_array *a = lty_arg_array(L, 1, NULL);
    int o = 0, ord_idx = 0;
    if (lty_arg_is_opts(L, 2)) o = 2;
    else {
        ord_idx = 2;
        o = opts_at(L, 3, fn, "ord axis keepdims");
    }
    if (o) lty_arg_check_opts(L, o, fn, "ord axis keepdims");
    char ord[64] = "";
    int t = LUA_TNIL;
    if (ord_idx && !lua_isnoneornil(L, ord_idx)) {
        if (o) {
            if (lua_getfield(L, o, "ord") != LUA_TNIL)
                return luaL_error(L, "[%s] ord given twice: as argument 2 and as an option", fn);
            lua_pop(L, 1);
        }
        t = lua_type(L, ord_idx);
        lua_pushvalue(L, ord_idx);
    } else {
        t = lty_arg_field(L, o, "ord");
    }
    if (t == LUA_TNUMBER) {
        double p = lua_tonumber(L, -1);
        if (isinf(p)) snprintf(ord, sizeof ord, p > 0 ? "inf" : "-inf");
        else snprintf(ord, sizeof ord, "%.17g", p);
    } else if (t == LUA_TSTRING) {
        snprintf(ord, sizeof ord, "%s", lua_tostring(L, -1));
    } else if (t != LUA_TNIL) {
        return luaL_error(L, "[%s] ord must be a number, 'fro' or 'nuc', got %s", fn,
                          lua_typename(L, t));
    }
    lua_pop(L, 1);
    int axes[2], naxes = 0;
    int at = lty_arg_field(L, o, "axis");
    int nd = ty_ndim(a);
    if (at == LUA_TNUMBER) {
        axes[0] = lty_arg_axis_value(L, fn, lua_tointeger(L, -1), nd, a);
        naxes = 1;
    } else if (at == LUA_TTABLE) {
        int n = (int)lua_rawlen(L, -1);
        if (n < 1 || n > 2)
            return luaL_error(L, "[%s] axis must be a number or a table of 2 axes", fn);
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, -1, i + 1);
            if (!lua_isinteger(L, -1))
                return luaL_error(L, "[%s] axis entries must be integers", fn);
            axes[i] = lty_arg_axis_value(L, fn, lua_tointeger(L, -1), nd, a);
            lua_pop(L, 1);
        }
        naxes = n;
    } else if (at != LUA_TNIL) {
        return luaL_error(L, "[%s] axis must be a number or a table of 2 axes", fn);
    }
    lua_pop(L, 1);
    bool keep = lty_arg_bool(L, o, fn, "keepdims", false);
    ty_array *r;
    LTY_CALL(L, r, ty_linalg_norm(a, ord[0] ? ord : NULL, axes, naxes, keep));
    lty_push(L, check_result(L, r));
    return 1;
}

static int l_einsum(lua_State *L)
{
    const char *fn = "einsum";
    const char *sub = luaL_checkstring(L, 1);
    int n = lua_gettop(L) - 1;
    if (n < 1) return luaL_error(L, "[%s] expected at least one operand", fn);
    if (n > 32) return luaL_error(L, "[%s] at most 32 operands, got %d", fn, n);
    ty_array *ops[32];
    ty_array *like = NULL;
    for (int i = 0; i < n; i++)
        if (lty_test(L, i + 2)) {
            like = lty_test(L, i + 2);
            break;
        }
    for (int i = 0; i < n; i++) ops[i] = lty_arg_array(L, i + 2, like);
    ty_array *r;
    LTY_CALL(L, r, ty_einsum(sub, ops, n));
    lty_push(L, r);
    return 1;
}

#define DEVNOTE1                                                                  \
    "\n  Computed on the CPU through LAPACK (float64) whatever the input's device:\n" \
    "  the input is evaluated, copied to the host, and the result put back on its\n"  \
    "  device."
#define DEVNOTE DEVNOTE1 " Batched over leading axes."

static const lty_arg_fn linalg_functions[] = {
    {"norm", l_norm,
     "ty.linalg.norm(x, [ord], [{axis=, keepdims=false}]) -> array\n"
     "  numpy.linalg.norm: vector norms (ord 2 default, 1, inf, -inf, 0, any p)\n"
     "  over one axis; matrix norms ('fro' default, 'nuc', 2, -2, 1, -1, inf,\n"
     "  -inf) over axis={r, c}; no axis: the 2-norm of all elements (or of a\n"
     "  1-d/2-d x when ord is given). Lazy and differentiable ('nuc', 2, -2 go\n"
     "  through ty.linalg.svd's singular values). ord may also be an option.",
     false},
    {"inv", l_inv,
     "ty.linalg.inv(a) -> array\n"
     "  Inverse of a (...,n,n). Errors on singular matrices. Differentiable." DEVNOTE,
     false},
    {"solve", l_solve,
     "ty.linalg.solve(a, b) -> x\n"
     "  Solves a x = b: a (...,n,n), b (...,n,k) or (...,n) when b has one axis\n"
     "  fewer than a (NumPy 1.x); batch axes broadcast. Differentiable in a and b."
     DEVNOTE,
     false},
    {"det", l_det,
     "ty.linalg.det(a) -> array (...)\n"
     "  Determinant (LU). Differentiable (gradient det * inv(a)^T)." DEVNOTE, false},
    {"slogdet", l_slogdet,
     "ty.linalg.slogdet(a) -> sign, logabsdet\n"
     "  Sign (0 when singular) and log|det| (-inf when singular); logabsdet is\n"
     "  differentiable." DEVNOTE,
     false},
    {"cholesky", l_cholesky,
     "ty.linalg.cholesky(a, [{upper=false}]) -> L\n"
     "  Lower L with a = L L^T (upper: U with a = U^T U), from a's lower\n"
     "  triangle. Errors when a is not positive definite. Differentiable\n"
     "  (symmetric gradient)." DEVNOTE,
     false},
    {"qr", l_qr,
     "ty.linalg.qr(a, [{mode='reduced'}]) -> q, r\n"
     "  QR of a (...,m,n): reduced q (...,m,k), r (...,k,n), k = min(m,n);\n"
     "  mode='complete': q (...,m,m), r (...,m,n); mode='r': r only.\n"
     "  Differentiable when r is square (m >= n; complete needs m == n)." DEVNOTE,
     false},
    {"svd", l_svd,
     "ty.linalg.svd(a, [{full_matrices=true, compute_uv=true}]) -> u, s, vt\n"
     "  a = u diag(s) vt with s descending; compute_uv=false returns s only.\n"
     "  s is differentiable (u, vt are not)." DEVNOTE,
     false},
    {"eigh", l_eigh,
     "ty.linalg.eigh(a, [{UPLO='L'}]) -> w, v\n"
     "  Eigenvalues (ascending) and eigenvectors (columns of v) of the symmetric\n"
     "  a, read from its lower ('L') or upper ('U') triangle. Differentiable\n"
     "  (distinct eigenvalues; symmetric gradient)." DEVNOTE,
     false},
    {"eigvalsh", l_eigvalsh,
     "ty.linalg.eigvalsh(a, [{UPLO='L'}]) -> w\n"
     "  Eigenvalues of the symmetric a, ascending. Differentiable." DEVNOTE, false},
    {"pinv", l_pinv,
     "ty.linalg.pinv(a, [{rcond=1e-15}]) -> array (...,n,m)\n"
     "  Moore-Penrose pseudo-inverse via the SVD; singular values <= rcond *\n"
     "  max(s) are dropped. Not differentiable." DEVNOTE,
     false},
    {"lstsq", l_lstsq,
     "ty.linalg.lstsq(a, b, [{rcond=eps*max(m,n)}]) -> x, residuals, rank, s\n"
     "  numpy.linalg.lstsq for a (m,n), b (m,) or (m,k) (LAPACK dgelsd):\n"
     "  residuals (k,) when rank == n < m, else empty; rank an integer; s the\n"
     "  singular values of a. Not differentiable; not batched (2-d a only)." DEVNOTE1,
     false},
    {"matrix_rank", l_matrix_rank,
     "ty.linalg.matrix_rank(a, [{tol=}]) -> integer (or int32 array when batched)\n"
     "  Singular values above tol (default max(s) * max(m,n) * eps)." DEVNOTE, false},
    {NULL, NULL, NULL, false},
};

static const lty_arg_fn top_functions[] = {
    {"einsum", l_einsum,
     "ty.einsum(subscripts, a, [b, ...]) -> array\n"
     "  numpy.einsum: 'ij,jk->ik', implicit output ('ij,jk' -> 'ik', letters\n"
     "  seen once, sorted), '...' broadcast axes, repeated indices ('ii->i'\n"
     "  diagonal, 'ii' trace), sums. Lowered to diagonals, sums, transposes,\n"
     "  reshapes and batched matmuls, contracted pairwise left to right: lazy\n"
     "  and differentiable.",
     false},
    {NULL, NULL, NULL, false},
};

void lty_open_linalg(lua_State *L)
{
    int ty = lua_gettop(L);
    lty_arg_register(L, ty, ty, top_functions);
    lua_newtable(L);
    lty_arg_register(L, -1, ty, linalg_functions);
    lua_pushliteral(L,
                    "ty.linalg: norm, inv, solve, det, slogdet, cholesky, qr, svd, eigh,\n"
                    "eigvalsh, pinv, lstsq, matrix_rank. Factorizations run on the CPU\n"
                    "through LAPACK (OpenBLAS) in float64 whatever the input's device, as\n"
                    "MLX does: GPU inputs are evaluated, copied to the host, and results\n"
                    "put back on the input's device (float64 in, float64 out; otherwise\n"
                    "float32). They evaluate their inputs when called.");
    lua_setfield(L, -2, "__doc");
    lua_setfield(L, ty, "linalg");
    lua_settop(L, ty);
}
