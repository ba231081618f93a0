/*
 * ops_optim.c -- constructor of optim_update: one fused optimizer step.
 *
 * ty_optim_update(kind, param, grad, nstate, state, hp, nhp) reads the
 * parameter, its gradient and the kind's state arrays (each shaped like
 * param, any float dtype, any strides) and returns one array of shape
 * (1 + nstate, *param.shape) and param's dtype: row 1 the new parameter,
 * then the new states in the order given. Arithmetic is float32 (float16
 * and bfloat16 parameters are computed in float32 and rounded once; float64
 * parameters, CPU only, in float64). Step-dependent factors (bias
 * corrections, decayed or scheduled learning rates) are computed by the
 * caller and passed in hp; flags are 0/1 numbers. In the formulas g is the
 * gradient, p the parameter; "g += wd*p" is L2 weight decay (applied
 * before anything else, as PyTorch does).
 *
 * TY_OPTIM_SGD, nhp 6: [lr, momentum, dampening, weight_decay, nesterov, first]
 *   states: none when momentum == 0, else (buf).
 *   g += wd*p; buf = first ? g : momentum*buf + (1-dampening)*g;
 *   d = nesterov ? g + momentum*buf : buf (d = g without momentum);
 *   p -= lr*d.
 * TY_OPTIM_ADAM, nhp 10: [lr, beta1, beta2, eps, weight_decay, decoupled,
 *   step_m, sqrt_bc2, step_g, plain]; states (m, v) or (m, v, vmax) (amsgrad).
 *   decoupled == 0: g += wd*p; decoupled == 1: p *= 1 - lr*wd (AdamW);
 *   m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g^2;
 *   vmax = max(vmax, v) and vh = vmax (amsgrad), else vh = v;
 *   plain == 0: p -= (step_m*m + step_g*g) / (sqrt(vh)/sqrt_bc2 + eps)
 *   plain == 1: p -= step_m*m.
 *   Adam/AdamW: step_m = lr/(1-beta1^t), sqrt_bc2 = sqrt(1-beta2^t),
 *   step_g = 0. NAdam: step_m = lr*mu_{t+1}/(1-prod mu_1..t+1), step_g =
 *   lr*(1-mu_t)/(1-prod mu_1..t). RAdam: rectified steps use step_m =
 *   lr*r_t/(1-beta1^t) and eps/sqrt_bc2 for eps; the others plain == 1.
 * TY_OPTIM_RMSPROP, nhp 6: [lr, alpha, eps, weight_decay, momentum, centered]
 *   states: (sq) then buf when momentum > 0, then gavg when centered.
 *   g += wd*p; sq = alpha*sq + (1-alpha)*g^2; gavg = alpha*gavg + (1-alpha)*g;
 *   avg = sqrt(sq - gavg^2 (centered) or sq) + eps;
 *   momentum > 0: buf = momentum*buf + g/avg, p -= lr*buf; else p -= lr*g/avg.
 * TY_OPTIM_ADAGRAD, nhp 3: [clr, eps, weight_decay]; states (sum).
 *   clr = lr / (1 + (t-1)*lr_decay) on the host; g += wd*p; sum += g^2;
 *   p -= clr*g/(sqrt(sum) + eps).
 * TY_OPTIM_ADADELTA, nhp 4: [lr, rho, eps, weight_decay]; states (sq, acc).
 *   g += wd*p; sq = rho*sq + (1-rho)*g^2;
 *   d = sqrt(acc + eps)/sqrt(sq + eps)*g; acc = rho*acc + (1-rho)*d^2; p -= lr*d.
 * TY_OPTIM_ADAMAX, nhp 6: [lr, beta1, beta2, eps, weight_decay, clr]; states
 *   (m, u). clr = lr/(1-beta1^t). g += wd*p; m = beta1*m + (1-beta1)*g;
 *   u = max(beta2*u, |g| + eps); p -= clr*m/u.
 * TY_OPTIM_LION, nhp 4: [lr, beta1, beta2, weight_decay]; states (m).
 *   p *= 1 - lr*wd; p -= lr*sign(beta1*m + (1-beta1)*g);
 *   m = beta2*m + (1-beta2)*g.
 */
#include "ops.h"

static const char *const kind_names[TY_OPTIM_KIND_COUNT] = {
    "sgd", "adam", "rmsprop", "adagrad", "adadelta", "adamax", "lion",
};
static const int kind_nhp[TY_OPTIM_KIND_COUNT] = {6, 10, 6, 3, 4, 6, 4};

/* Number of states a kind expects with these hyperparameters; -1 for Adam
 * (2 or 3). */
static int expected_states(ty_optim_kind kind, const double *hp)
{
    switch (kind) {
    case TY_OPTIM_SGD: return hp[1] != 0 ? 1 : 0;
    case TY_OPTIM_ADAM: return -1;
    case TY_OPTIM_RMSPROP: return 1 + (hp[4] > 0) + (hp[5] != 0);
    case TY_OPTIM_ADAGRAD: return 1;
    case TY_OPTIM_ADADELTA: return 2;
    case TY_OPTIM_ADAMAX: return 2;
    case TY_OPTIM_LION: return 1;
    case TY_OPTIM_KIND_COUNT: break;
    }
    return 0;
}

ty_array *ty_optim_update(ty_optim_kind kind, ty_array *param, ty_array *grad, int nstate,
                          ty_array *const *state, const double *hp, int nhp)
{
    if ((unsigned)kind >= TY_OPTIM_KIND_COUNT)
        return ty__error_null("[optim_update] unknown optimizer kind %d", (int)kind);
    const char *kn = kind_names[kind];
    if (!param || !grad) return ty__error_null("[optim_update] %s: param or grad is NULL", kn);
    if (nhp != kind_nhp[kind] || (nhp > 0 && !hp))
        return ty__error_null("[optim_update] %s takes %d hyperparameters, got %d", kn,
                              kind_nhp[kind], nhp);
    if (nstate < 0 || nstate > 3 || (nstate > 0 && !state))
        return ty__error_null("[optim_update] %s: bad state count %d", kn, nstate);
    int want = expected_states(kind, hp);
    if (want >= 0 ? nstate != want : (nstate != 2 && nstate != 3))
        return ty__error_null("[optim_update] %s expects %s state arrays with these "
                              "hyperparameters, got %d", kn,
                              want == 0 ? "0" : want == 1 ? "1" : want == 2 ? "2"
                              : want == 3 ? "3" : "2 or 3", nstate);
    ty_array *in[5] = {param, grad};
    for (int k = 0; k < nstate; k++) in[2 + k] = state[k];
    if (ty__check_inputs("optim_update", in, 2 + nstate) != 0) return NULL;
    if (!ty_dtype_is_float(param->dtype))
        return ty__error_null("[optim_update] %s: param must be a float array, got %s", kn,
                              ty_dtype_name(param->dtype));
    if (param->ndim + 1 > TY_MAX_DIMS)
        return ty__error_null("[optim_update] %s: param has %d dims, at most %d allowed", kn,
                              param->ndim, TY_MAX_DIMS - 1);
    static const char *const what[5] = {"param", "grad", "state 1", "state 2", "state 3"};
    for (int k = 1; k < 2 + nstate; k++) {
        char b0[TY_SHAPE_BUF], b1[TY_SHAPE_BUF];
        if (!ty__same_shape(in[k], param->ndim, param->shape))
            return ty__error_null("[optim_update] %s: %s shape %s does not match param %s",
                                  kn, what[k], ty__shp(in[k], b0), ty__shp(param, b1));
        if (!ty_dtype_is_float(in[k]->dtype))
            return ty__error_null("[optim_update] %s: %s must be a float array, got %s", kn,
                                  what[k], ty_dtype_name(in[k]->dtype));
        if (in[k]->dtype == TY_FLOAT64 && param->dtype != TY_FLOAT64)
            return ty__error_null("[optim_update] %s: %s is float64 but param is %s", kn,
                                  what[k], ty_dtype_name(param->dtype));
    }
    ty_params p = {0};
    p.kind = (int)kind;
    for (int i = 0; i < nhp; i++) p.hp[i] = hp[i];
    int64_t shape[TY_MAX_DIMS];
    shape[0] = 1 + nstate;
    for (int d = 0; d < param->ndim; d++) shape[1 + d] = param->shape[d];
    return ty__array_new_node(TY_OP_OPTIM_UPDATE, 2 + nstate, in, &p, param->ndim + 1, shape,
                              param->dtype, param->device);
}
