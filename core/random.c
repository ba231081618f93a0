/* random.c -- keys and the random-draw constructors (Philox counter based). */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "ops.h"

static ty_key global_key;
static int global_key_ready;
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;

ty_key ty_random_key(uint64_t seed)
{
    ty_key k = {{(uint32_t)(seed >> 32), (uint32_t)seed}};
    return k;
}

void ty_random_split(ty_key key, int n, ty_key *out)
{
    for (int i = 0; i < n; i++) {
        /* a counter space apart from the data stream (whose ctr[3] is 0) */
        uint32_t ctr[4] = {(uint32_t)i, 0, 0, 0x53504c54u}, w[4];
        ty__philox(key.w, ctr, w);
        out[i].w[0] = w[0];
        out[i].w[1] = w[1];
    }
}

void ty_random_seed(uint64_t seed)
{
    pthread_mutex_lock(&key_lock);
    global_key = ty_random_key(seed);
    global_key_ready = 1;
    pthread_mutex_unlock(&key_lock);
}

/* Seeds the global key from the clock if nothing has; key_lock held. */
static void ensure_key_locked(void)
{
    if (!global_key_ready) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        global_key = ty_random_key((uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec);
        global_key_ready = 1;
    }
}

ty_key ty_random_get_key(void)
{
    pthread_mutex_lock(&key_lock);
    ensure_key_locked();
    ty_key key = global_key;
    pthread_mutex_unlock(&key_lock);
    return key;
}

void ty_random_set_key(ty_key key)
{
    pthread_mutex_lock(&key_lock);
    global_key = key;
    global_key_ready = 1;
    pthread_mutex_unlock(&key_lock);
}

ty_key ty_random_next_key(void)
{
    pthread_mutex_lock(&key_lock);
    ensure_key_locked();
    ty_key two[2];
    ty_random_split(global_key, 2, two);
    global_key = two[0];
    pthread_mutex_unlock(&key_lock);
    return two[1];
}

static ty_array *draw(ty_random_kind kind, ty_key key, int ndim, const int64_t *shape,
                      double v1, double v2, ty_dtype dtype, ty_device device)
{
    if (ndim < 0 || ndim > TY_MAX_DIMS)
        return ty__error_null("[random] %d dimensions (at most %d)", ndim, TY_MAX_DIMS);
    for (int d = 0; d < ndim; d++)
        if (shape[d] < 0) return ty__error_null("[random] negative dimension");
    device = ty__home_device(device, dtype);
    if (!ty_device_available(device)) return ty__error_null("[random] device not available");
    ty_params p = {0};
    p.kind = kind;
    p.key = key;
    p.value = v1;
    p.value2 = v2;
    return ty__array_new_node(TY_OP_RANDOM, 0, NULL, &p, ndim, shape, dtype, device);
}

static int need_float(const char *op, ty_dtype dtype)
{
    if (!ty_dtype_is_float(dtype))
        return ty__error("[%s] dtype must be a float type, got %s", op, ty_dtype_name(dtype));
    return 0;
}

ty_array *ty_random_uniform(ty_key key, int ndim, const int64_t *shape, double lo, double hi,
                            ty_dtype dtype, ty_device device)
{
    if (need_float("uniform", dtype) != 0) return NULL;
    if (!isfinite(lo) || !isfinite(hi))
        return ty__error_null("[uniform] bounds must be finite, got low %g and high %g", lo, hi);
    if (lo > hi) return ty__error_null("[uniform] low %g is greater than high %g", lo, hi);
    return draw(TY_RANDOM_UNIFORM, key, ndim, shape, lo, hi, dtype, device);
}

ty_array *ty_random_normal(ty_key key, int ndim, const int64_t *shape, double mean,
                           double stddev, ty_dtype dtype, ty_device device)
{
    if (need_float("normal", dtype) != 0) return NULL;
    if (!isfinite(mean) || !isfinite(stddev))
        return ty__error_null("[normal] mean and std must be finite, got %g and %g", mean,
                              stddev);
    if (!(stddev >= 0)) return ty__error_null("[normal] std must be >= 0, got %g", stddev);
    return draw(TY_RANDOM_NORMAL, key, ndim, shape, mean, stddev, dtype, device);
}

ty_array *ty_random_randint(ty_key key, int ndim, const int64_t *shape, int64_t lo,
                            int64_t hi, ty_dtype dtype, ty_device device)
{
    if (!ty_dtype_is_integer(dtype))
        return ty__error_null("[randint] dtype must be an integer type, got %s",
                              ty_dtype_name(dtype));
    if (lo > hi)
        return ty__error_null("[randint] low %lld is greater than high %lld", (long long)lo,
                              (long long)hi);
    static const int64_t range[][2] = {
        [TY_UINT8] = {0, 255}, [TY_INT32] = {INT32_MIN, INT32_MAX},
        [TY_INT64] = {INT64_MIN, INT64_MAX},
    };
    if (lo < range[dtype][0] || hi > range[dtype][1])
        return ty__error_null("[randint] bounds %lld..%lld do not fit %s", (long long)lo,
                              (long long)hi, ty_dtype_name(dtype));
    double dlo = (double)lo, dhi = (double)hi;
    if ((int64_t)dlo != lo || (int64_t)dhi != hi)
        return ty__error_null("[randint] bounds beyond 2^53 are not supported");
    return draw(TY_RANDOM_RANDINT, key, ndim, shape, dlo, dhi, dtype, device);
}

ty_array *ty_random_truncated_normal(ty_key key, int ndim, const int64_t *shape, double lo,
                                     double hi, ty_dtype dtype, ty_device device)
{
    if (need_float("truncated_normal", dtype) != 0) return NULL;
    if (!(lo < hi))
        return ty__error_null("[truncated_normal] lower bound %g must be below upper %g", lo,
                              hi);
    return draw(TY_RANDOM_TRUNCATED_NORMAL, key, ndim, shape, lo, hi, dtype, device);
}

ty_array *ty_random_bernoulli(ty_key key, int ndim, const int64_t *shape, double p,
                              ty_device device)
{
    if (!(p >= 0 && p <= 1))
        return ty__error_null("[bernoulli] probability %g is not in [0, 1]", p);
    return draw(TY_RANDOM_BERNOULLI, key, ndim, shape, p, 0, TY_BOOL, device);
}

ty_array *ty_random_bits(ty_key key, int ndim, const int64_t *shape, ty_device device)
{
    return draw(TY_RANDOM_BITS, key, ndim, shape, 0, 0, TY_INT64, device);
}

ty_array *ty_random_permutation(ty_key key, int64_t n, int index_base, ty_device device)
{
    if (n < 0) return ty__error_null("[permutation] negative length %lld", (long long)n);
    /* sort 52-bit random keys: ties are vanishingly rare and broken stably */
    ty_array *keys = ty_random_randint(key, 1, &n, 0, (int64_t)1 << 52, TY_INT64, device);
    ty_array *perm = keys ? ty_argsort(keys, 0, false, index_base) : NULL;
    return ty__drop(perm, 1, keys);
}
