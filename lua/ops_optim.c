/*
 * ops_optim.c -- Lua binding of the fused optimizer step (core/ops_optim.c):
 * ty.optim_update(kind, param, grad, states, hp) -> new_param, new_states...
 * ty.optim (lua/tycho/optim.lua) builds the optimizers on it.
 */
#include <string.h>

#include "args.h"
#include "binding.h"

static const char *const kind_names[] = {
    "sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "lion", NULL,
};

static int l_optim_update(lua_State *L)
{
    const char *fname = "optim_update";
    const char *kname = luaL_checkstring(L, 1);
    int kind = -1;
    for (int i = 0; kind_names[i]; i++)
        if (strcmp(kname, kind_names[i]) == 0) kind = i;
    if (kind < 0)
        return luaL_error(L, "[%s] unknown kind '%s' (expected sgd, adam, rmsprop, adagrad, "
                          "adadelta, adamax or lion)", fname, kname);
    ty_array *param = lty_check(L, 2);
    ty_array *grad = lty_check(L, 3);
    ty_array *states[3];
    int nstate = 0;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_Integer n = luaL_len(L, 4);
        if (n > 3) return luaL_error(L, "[%s] at most 3 state arrays, got %d", fname, (int)n);
        for (int k = 0; k < n; k++) {
            lua_geti(L, 4, k + 1);
            states[k] = lty_test(L, -1);
            if (!states[k])
                return luaL_error(L, "[%s] states[%d] must be an array, got %s", fname, k + 1,
                                  luaL_typename(L, -1));
            lua_pop(L, 1);
        }
        nstate = (int)n;
    }
    double hp[TY_OPTIM_MAX_HP] = {0};
    int nhp = 0;
    luaL_checktype(L, 5, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 5);
    if (n > TY_OPTIM_MAX_HP)
        return luaL_error(L, "[%s] at most %d hyperparameters, got %d", fname, TY_OPTIM_MAX_HP,
                          (int)n);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 5, i + 1);
        if (lua_isboolean(L, -1)) hp[i] = lua_toboolean(L, -1) ? 1 : 0;
        else if (lua_isnumber(L, -1)) hp[i] = lua_tonumber(L, -1);
        else return luaL_error(L, "[%s] hp[%d] must be a number, got %s", fname, i + 1,
                               luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    nhp = (int)n;
    ty_array *out;
    LTY_CALL(L, out, ty_optim_update((ty_optim_kind)kind, param, grad, nstate, states, hp, nhp));
    if (!out) return lty_error(L);
    int nd = ty_ndim(out);
    const int64_t *shape = ty_shape(out);
    for (int k = 0; k <= nstate; k++) {
        int64_t start[TY_MAX_DIMS], stop[TY_MAX_DIMS], step[TY_MAX_DIMS];
        for (int d = 0; d < nd; d++) {
            start[d] = 0;
            stop[d] = shape[d];
            step[d] = 1;
        }
        start[0] = k;
        stop[0] = k + 1;
        ty_array *row = ty_slice(out, start, stop, step);
        int axis0 = 0;
        ty_array *sq = row ? ty_squeeze(row, &axis0, 1) : NULL;
        ty_release(row);
        if (!sq) {
            ty_release(out);
            return lty_error(L);
        }
        lty_push(L, sq);
    }
    ty_release(out);
    return nstate + 1;
}

static const lty_arg_fn optim_functions[] = {
    {"optim_update", l_optim_update,
     "ty.optim_update(kind, param, grad, states, hp) -> new_param, new_state1, ...\n"
     "  One fused optimizer step as a single kernel (lazy; not differentiable).\n"
     "  kind: 'sgd', 'adam', 'rmsprop', 'adagrad', 'adadelta', 'adamax' or 'lion';\n"
     "  states: list of arrays shaped like param (the kind's state, in order);\n"
     "  hp: list of numbers (booleans count as 0/1), per kind (core/ops_optim.c):\n"
     "    sgd      {lr, momentum, dampening, weight_decay, nesterov, first}  states {buf} if momentum ~= 0\n"
     "    adam     {lr, beta1, beta2, eps, weight_decay, decoupled, step_m, sqrt_bc2, step_g, plain}\n"
     "             states {m, v} or {m, v, vmax} (amsgrad)\n"
     "    rmsprop  {lr, alpha, eps, weight_decay, momentum, centered}  states {sq, [buf], [gavg]}\n"
     "    adagrad  {clr, eps, weight_decay}  states {sum}\n"
     "    adadelta {lr, rho, eps, weight_decay}  states {sq, acc}\n"
     "    adamax   {lr, beta1, beta2, eps, weight_decay, lr/(1-beta1^t)}  states {m, u}\n"
     "    lion     {lr, beta1, beta2, weight_decay}  states {m}\n"
     "  Returns the new param and the new states: views (rows) of one fused output.\n"
     "  ty.optim.* (Adam{...}, SGD{...}) are the user-level optimizers.",
     false},
    {NULL, NULL, NULL, false},
};

void lty_open_optim(lua_State *L)
{
    int ty = lua_gettop(L);
    lty_arg_register(L, ty, ty, optim_functions);
    lua_settop(L, ty);
}
