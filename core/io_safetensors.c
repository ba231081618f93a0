/*
 * io_safetensors.c -- safetensors files: an 8-byte little-endian header
 * length N, N bytes of JSON ({"name": {"dtype", "shape", "data_offsets"},
 * "__metadata__": {str: str}}), then the raw little-endian tensor data.
 * A small strict JSON parser (objects, arrays, strings, integers) with depth
 * and size limits reads the header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_internal.h"
#include "strbuf.h"

#define ST_MAX_HEADER 100000000u       /* bytes, as the reference implementation */
#define JSON_MAX_DEPTH 32

static const struct {
    const char *name;
    ty_dtype dtype;
} st_dtypes[] = {
    {"BOOL", TY_BOOL},   {"U8", TY_UINT8},   {"I32", TY_INT32},    {"I64", TY_INT64},
    {"F16", TY_FLOAT16}, {"BF16", TY_BFLOAT16}, {"F32", TY_FLOAT32}, {"F64", TY_FLOAT64},
};

/* ---------------------------------------------------------------- JSON */

enum { J_OBJECT, J_ARRAY, J_STRING, J_INT };

typedef struct jv {
    int type;
    char *str;                         /* J_STRING: NUL-terminated (may hold NULs) */
    size_t slen;
    int64_t num;                       /* J_INT */
    int n;                             /* J_OBJECT / J_ARRAY: entries */
    char **keys;                       /* J_OBJECT */
    size_t *klens;
    struct jv *items;
} jv;

typedef struct jparser {
    const char *p, *end, *where;
    int depth;
} jparser;

static void jv_free(jv *v)
{
    if (!v) return;
    free(v->str);
    for (int i = 0; i < v->n; i++) {
        if (v->keys) free(v->keys[i]);
        jv_free(&v->items[i]);
    }
    free(v->keys);
    free(v->klens);
    free(v->items);
    memset(v, 0, sizeof *v);
}

static void jws(jparser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int jerr(jparser *ps, const char *what)
{
    return ty__error("%s: invalid JSON: %s", ps->where, what);
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string (ps->p at the opening quote) into a malloc'd buffer. */
static int jstring(jparser *ps, char **out, size_t *outlen)
{
    ps->p++;
    const char *s = ps->p;
    while (ps->p < ps->end && *ps->p != '"') {
        if (*ps->p == '\\' && ps->p + 1 < ps->end) ps->p++;
        ps->p++;
    }
    if (ps->p >= ps->end) return jerr(ps, "unterminated string");
    size_t raw = (size_t)(ps->p - s);
    ps->p++;
    char *o = malloc(raw + 1);         /* escapes never expand */
    if (!o) return ty__error("%s: out of memory", ps->where);
    size_t n = 0;
    for (const char *q = s; q < s + raw;) {
        unsigned char c = (unsigned char)*q++;
        if (c < 0x20) {
            free(o);
            return jerr(ps, "control character in a string");
        }
        if (c != '\\') {
            o[n++] = (char)c;
            continue;
        }
        char esc = *q++;
        switch (esc) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (s + raw - q < 4 || hex4(q, &cp) != 0) {
                free(o);
                return jerr(ps, "bad \\u escape");
            }
            q += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (s + raw - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, &lo) != 0 ||
                    lo < 0xDC00 || lo > 0xDFFF) {
                    free(o);
                    return jerr(ps, "unpaired surrogate in a \\u escape");
                }
                q += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                free(o);
                return jerr(ps, "unpaired surrogate in a \\u escape");
            }
            n += utf8_put(o + n, cp);  /* \uXXXX (6 bytes) gives at most 4 */
            break;
        }
        default:
            free(o);
            return jerr(ps, "bad escape in a string");
        }
    }
    o[n] = 0;
    *out = o;
    *outlen = n;
    return 0;
}

static int jvalue(jparser *ps, jv *v);

/* Appends an item to an object or array. */
static jv *jpush(jparser *ps, jv *v, int *cap)
{
    if (v->n == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        jv *items = realloc(v->items, (size_t)nc * sizeof *items);
        if (!items) return NULL;
        v->items = items;
        if (v->type == J_OBJECT) {
            char **keys = realloc(v->keys, (size_t)nc * sizeof *keys);
            if (!keys) return NULL;
            v->keys = keys;
            size_t *kl = realloc(v->klens, (size_t)nc * sizeof *kl);
            if (!kl) return NULL;
            v->klens = kl;
        }
        *cap = nc;
    }
    (void)ps;
    jv *it = &v->items[v->n];
    memset(it, 0, sizeof *it);
    if (v->keys) v->keys[v->n] = NULL;
    v->n++;
    return it;
}

static int jcontainer(jparser *ps, jv *v, bool object)
{
    if (++ps->depth > JSON_MAX_DEPTH) return jerr(ps, "nested too deeply");
    v->type = object ? J_OBJECT : J_ARRAY;
    ps->p++;
    int cap = 0;
    jws(ps);
    if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
        ps->p++;
        ps->depth--;
        return 0;
    }
    for (;;) {
        jv *it = jpush(ps, v, &cap);
        if (!it) return ty__error("%s: out of memory", ps->where);
        if (object) {
            jws(ps);
            if (ps->p >= ps->end || *ps->p != '"') return jerr(ps, "expected a key");
            if (jstring(ps, &v->keys[v->n - 1], &v->klens[v->n - 1]) != 0) return -1;
            for (int i = 0; i < v->n - 1; i++)
                if (v->klens[i] == v->klens[v->n - 1] &&
                    memcmp(v->keys[i], v->keys[v->n - 1], v->klens[i]) == 0)
                    return jerr(ps, "duplicate key");
            jws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return jerr(ps, "expected ':'");
            ps->p++;
        }
        if (jvalue(ps, it) != 0) return -1;
        jws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
            ps->p++;
            ps->depth--;
            return 0;
        }
        return jerr(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int jvalue(jparser *ps, jv *v)
{
    jws(ps);
    if (ps->p >= ps->end) return jerr(ps, "unexpected end");
    char c = *ps->p;
    if (c == '{' || c == '[') return jcontainer(ps, v, c == '{');
    if (c == '"') {
        v->type = J_STRING;
        return jstring(ps, &v->str, &v->slen);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        bool neg = c == '-';
        if (neg) ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return jerr(ps, "bad number");
        if (*ps->p == '0' && ps->p + 1 < ps->end && ps->p[1] >= '0' && ps->p[1] <= '9')
            return jerr(ps, "leading zero in a number");
        uint64_t x = 0;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            if (x > ((uint64_t)INT64_MAX - 9) / 10) return jerr(ps, "integer too large");
            x = x * 10 + (uint64_t)(*ps->p++ - '0');
        }
        if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E'))
            return jerr(ps, "only integers are expected");
        v->type = J_INT;
        v->num = neg ? -(int64_t)x : (int64_t)x;
        return 0;
    }
    return jerr(ps, "unexpected character");
}

static int jparse(const char *text, size_t len, const char *where, jv *out)
{
    jparser ps = {text, text + len, where, 0};
    memset(out, 0, sizeof *out);
    if (jvalue(&ps, out) != 0) {
        jv_free(out);
        return -1;
    }
    jws(&ps);
    if (ps.p != ps.end) {
        jv_free(out);
        return jerr(&ps, "trailing characters");
    }
    return 0;
}

static const jv *jget(const jv *obj, const char *key)
{
    size_t kl = strlen(key);
    for (int i = 0; i < obj->n; i++)
        if (obj->klens[i] == kl && memcmp(obj->keys[i], key, kl) == 0) return &obj->items[i];
    return NULL;
}

typedef ty_strbuf sbuf;

/* Appends s (len bytes) as a JSON string literal. */
static void sb_json_string(sbuf *b, const char *s, size_t len)
{
    ty_strbuf_add(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            ty_strbuf_add(b, esc, 2);
        } else if (c < 0x20) {
            const char *short_esc = strchr("\bb\ff\nn\rr\tt", (char)c);
            if (c && short_esc) {
                esc[0] = '\\';
                esc[1] = short_esc[1];
                ty_strbuf_add(b, esc, 2);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                ty_strbuf_add(b, esc, 6);
            }
        } else {
            ty_strbuf_add(b, (const char *)&s[i], 1);
        }
    }
    ty_strbuf_add(b, "\"", 1);
}

/* ---------------------------------------------------------------- string pairs */

void ty__string_pairs_free(char **keys, char **values, int n)
{
    for (int i = 0; i < n; i++) {
        if (keys) free(keys[i]);
        if (values) free(values[i]);
    }
    free(keys);
    free(values);
}

/* Takes the string pairs of a parsed object. */
static int take_pairs(jv *obj, const char *where, char ***keys, char ***values, int *n)
{
    *keys = NULL;
    *values = NULL;
    *n = 0;
    if (obj->type != J_OBJECT)
        return ty__error("%s must be an object of string pairs", where);
    for (int i = 0; i < obj->n; i++)
        if (obj->items[i].type != J_STRING)
            return ty__error("%s: the value of '%s' is not a string", where, obj->keys[i]);
    char **k = calloc((size_t)(obj->n > 0 ? obj->n : 1), sizeof *k);
    char **v = calloc((size_t)(obj->n > 0 ? obj->n : 1), sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return ty__error("%s: out of memory", where);
    }
    for (int i = 0; i < obj->n; i++) {
        k[i] = obj->keys[i];
        obj->keys[i] = NULL;
        v[i] = obj->items[i].str;
        obj->items[i].str = NULL;
    }
    *keys = k;
    *values = v;
    *n = obj->n;
    return 0;
}

int ty__json_string_pairs(const char *text, size_t len, const char *where, char ***keys,
                          char ***values, int *n)
{
    jv root;
    if (jparse(text, len, where, &root) != 0) return -1;
    int rc = take_pairs(&root, where, keys, values, n);
    jv_free(&root);
    return rc;
}

/* ---------------------------------------------------------------- save */

static int cmp_named(const void *a, const void *b)
{
    return strcmp((*(const ty_named_array *const *)a)->name,
                  (*(const ty_named_array *const *)b)->name);
}

int ty_save_safetensors(const char *path, const ty_named_array *arrays, int n,
                        const char *metadata_json)
{
    if (n < 0 || (n > 0 && !arrays)) return ty__error("[save] %s: no arrays", path);
    char where[1100];
    snprintf(where, sizeof where, "[save] %s: metadata", path);
    char **mk = NULL, **mv = NULL;
    int mn = 0;
    if (metadata_json &&
        ty__json_string_pairs(metadata_json, strlen(metadata_json), where, &mk, &mv, &mn) != 0)
        return -1;
    const ty_named_array **order = calloc((size_t)(n > 0 ? n : 1), sizeof *order);
    unsigned char **datas = calloc((size_t)(n > 0 ? n : 1), sizeof *datas);
    size_t *sizes = calloc((size_t)(n + 1), sizeof *sizes);
    const void **parts = calloc((size_t)(n + 1), sizeof *parts);
    sbuf hb = {0};
    int rc = -1;
    if (!order || !datas || !sizes || !parts) {
        ty__error("[save] %s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (!arrays[i].name || !*arrays[i].name || !arrays[i].array) {
            ty__error("[save] %s: array %d has no name", path, i + 1);
            goto done;
        }
        if (strcmp(arrays[i].name, "__metadata__") == 0) {
            ty__error("[save] %s: '__metadata__' is reserved and cannot name a tensor", path);
            goto done;
        }
        order[i] = &arrays[i];
    }
    qsort(order, (size_t)n, sizeof *order, cmp_named);
    for (int i = 1; i < n; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            ty__error("[save] %s: the name '%s' appears twice", path, order[i]->name);
            goto done;
        }
    for (int i = 1; i < mn; i++)       /* metadata keys sorted, for stable files */
        for (int j = i; j > 0 && strcmp(mk[j - 1], mk[j]) > 0; j--) {
            char *t = mk[j];
            mk[j] = mk[j - 1];
            mk[j - 1] = t;
            t = mv[j];
            mv[j] = mv[j - 1];
            mv[j - 1] = t;
        }
    ty_strbuf_adds(&hb, "{");
    if (mn > 0) {
        ty_strbuf_adds(&hb, "\"__metadata__\":{");
        for (int i = 0; i < mn; i++) {
            if (i) ty_strbuf_adds(&hb, ",");
            sb_json_string(&hb, mk[i], strlen(mk[i]));
            ty_strbuf_adds(&hb, ":");
            sb_json_string(&hb, mv[i], strlen(mv[i]));
        }
        ty_strbuf_adds(&hb, "}");
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        ty_array *a = order[i]->array;
        ty_dtype dt = ty_dtype_of(a);
        const char *dname = NULL;
        for (size_t j = 0; j < sizeof st_dtypes / sizeof st_dtypes[0]; j++)
            if (st_dtypes[j].dtype == dt) dname = st_dtypes[j].name;
        if (!dname) {
            ty__error("[save] %s: dtype %s has no safetensors equivalent", path,
                      ty_dtype_name(dt));
            goto done;
        }
        size_t nb = (size_t)ty_size(a) * ty_dtype_size(dt);
        datas[i] = malloc(nb ? nb : 1);
        if (!datas[i]) {
            ty__error("[save] %s: out of memory (%zu bytes)", path, nb);
            goto done;
        }
        if (nb && ty_copy_to(a, datas[i], dt) != 0) goto done;
        if (mn > 0 || i > 0) ty_strbuf_adds(&hb, ",");
        sb_json_string(&hb, order[i]->name, strlen(order[i]->name));
        char tmp[64];
        snprintf(tmp, sizeof tmp, ":{\"dtype\":\"%s\",\"shape\":[", dname);
        ty_strbuf_adds(&hb, tmp);
        for (int d = 0; d < ty_ndim(a); d++) {
            snprintf(tmp, sizeof tmp, d ? ",%lld" : "%lld", (long long)ty_shape(a)[d]);
            ty_strbuf_adds(&hb, tmp);
        }
        snprintf(tmp, sizeof tmp, "],\"data_offsets\":[%llu,%llu]}",
                 (unsigned long long)offset, (unsigned long long)(offset + nb));
        ty_strbuf_adds(&hb, tmp);
        offset += nb;
        sizes[i + 1] = nb;
        parts[i + 1] = datas[i];
    }
    ty_strbuf_adds(&hb, "}");
    while (!hb.failed && hb.n % 8 != 0) ty_strbuf_adds(&hb, " ");   /* 8-byte aligned data */
    if (hb.failed) {
        ty__error("[save] %s: out of memory", path);
        goto done;
    }
    unsigned char *head = malloc(8 + hb.n);
    if (!head) {
        ty__error("[save] %s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)hb.n >> (8 * i));
    memcpy(head + 8, hb.p, hb.n);
    parts[0] = head;
    sizes[0] = 8 + hb.n;
    rc = ty__write_file_atomic_parts(path, parts, sizes, n + 1);
    free(head);
done:
    if (datas)
        for (int i = 0; i < n; i++) free(datas[i]);
    free(datas);
    free(sizes);
    free(parts);
    free(order);
    free(hb.p);
    ty__string_pairs_free(mk, mv, mn);
    return rc;
}

/* ---------------------------------------------------------------- load */

typedef struct st_entry {
    const char *name;
    ty_dtype dtype;
    int ndim;
    int64_t shape[TY_MAX_DIMS];
    uint64_t begin, end;
} st_entry;

static int cmp_begin(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Validates one tensor entry against the data size. */
static int check_entry(const char *path, const char *name, const jv *t, uint64_t data_size,
                       st_entry *e)
{
    e->name = name;
    if (t->type != J_OBJECT)
        return ty__error("[load] %s: tensor '%s': entry is not an object", path, name);
    const jv *dt = jget(t, "dtype"), *sh = jget(t, "shape"), *off = jget(t, "data_offsets");
    if (!dt || !sh || !off || t->n != 3)
        return ty__error("[load] %s: tensor '%s': expected exactly dtype, shape and "
                         "data_offsets", path, name);
    if (dt->type != J_STRING)
        return ty__error("[load] %s: tensor '%s': dtype is not a string", path, name);
    bool found = false;
    for (size_t j = 0; j < sizeof st_dtypes / sizeof st_dtypes[0] && !found; j++)
        if (strcmp(st_dtypes[j].name, dt->str) == 0) {
            e->dtype = st_dtypes[j].dtype;
            found = true;
        }
    if (!found)
        return ty__error("[load] %s: tensor '%s': unsupported dtype '%.32s' (tycho reads F16 "
                         "BF16 F32 F64 I32 I64 U8 BOOL)", path, name, dt->str);
    if (sh->type != J_ARRAY)
        return ty__error("[load] %s: tensor '%s': shape is not a list", path, name);
    if (sh->n > TY_MAX_DIMS)
        return ty__error("[load] %s: tensor '%s': more than %d dimensions", path, name,
                         TY_MAX_DIMS);
    e->ndim = sh->n;
    uint64_t count = 1, nbytes;
    for (int d = 0; d < sh->n; d++) {
        if (sh->items[d].type != J_INT || sh->items[d].num < 0)
            return ty__error("[load] %s: tensor '%s': shape must hold non-negative integers",
                             path, name);
        e->shape[d] = sh->items[d].num;
        if (__builtin_mul_overflow(count, (uint64_t)e->shape[d], &count))
            return ty__error("[load] %s: tensor '%s': the shape's element count overflows",
                             path, name);
    }
    if (count > (uint64_t)INT64_MAX ||
        __builtin_mul_overflow(count, (uint64_t)ty_dtype_size(e->dtype), &nbytes))
        return ty__error("[load] %s: tensor '%s': the shape's element count overflows", path,
                         name);
    if (off->type != J_ARRAY || off->n != 2 || off->items[0].type != J_INT ||
        off->items[1].type != J_INT || off->items[0].num < 0 || off->items[1].num < 0)
        return ty__error("[load] %s: tensor '%s': data_offsets must be [begin, end]", path,
                         name);
    e->begin = (uint64_t)off->items[0].num;
    e->end = (uint64_t)off->items[1].num;
    if (e->begin > e->end)
        return ty__error("[load] %s: tensor '%s': data_offsets begin after they end", path,
                         name);
    if (e->end > data_size)
        return ty__error("[load] %s: tensor '%s': data_offsets [%llu, %llu] go past the end "
                         "of the data (%llu bytes; truncated file?)", path, name,
                         (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)data_size);
    if (e->end - e->begin != nbytes)
        return ty__error("[load] %s: tensor '%s': data_offsets span %llu bytes, but dtype "
                         "and shape need %llu", path, name,
                         (unsigned long long)(e->end - e->begin), (unsigned long long)nbytes);
    return 0;
}

int ty_load_safetensors(const char *path, ty_device device, ty_named_array **out, int *nout,
                        char **metadata_json)
{
    *out = NULL;
    *nout = 0;
    if (metadata_json) *metadata_json = NULL;
    unsigned char *data;
    size_t size;
    if (ty__read_file(path, TY_IO_MAX_FILE, &data, &size) != 0) return -1;
    int rc = -1;
    jv root = {0};
    st_entry *ents = NULL;
    st_entry **sorted = NULL;
    ty_named_array *list = NULL;
    int k = 0;
    sbuf meta = {0};
    if (size < 8) {
        ty__error("[load] %s: truncated header (%zu bytes; a safetensors file starts with an "
                  "8-byte header length)", path, size);
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)data[i] << (8 * i);
    if (hlen > ST_MAX_HEADER) {
        ty__error("[load] %s: header length %llu is over the limit of %u bytes (not a "
                  "safetensors file?)", path, (unsigned long long)hlen, ST_MAX_HEADER);
        goto done;
    }
    if (hlen > size - 8) {
        ty__error("[load] %s: truncated header (%llu bytes declared, %zu in the file)", path,
                  (unsigned long long)hlen, size - 8);
        goto done;
    }
    if (hlen < 2 || data[8] != '{') {
        ty__error("[load] %s: the header is not a JSON object (not a safetensors file?)", path);
        goto done;
    }
    char where[1100];
    snprintf(where, sizeof where, "[load] %s: header", path);
    if (jparse((const char *)data + 8, (size_t)hlen, where, &root) != 0) goto done;
    uint64_t data_size = size - 8 - hlen;
    const unsigned char *body = data + 8 + hlen;
    ents = calloc((size_t)(root.n > 0 ? root.n : 1), sizeof *ents);
    sorted = calloc((size_t)(root.n > 0 ? root.n : 1), sizeof *sorted);
    list = calloc((size_t)(root.n > 0 ? root.n : 1), sizeof *list);
    if (!ents || !sorted || !list) {
        ty__error("[load] %s: out of memory", path);
        goto done;
    }
    int ne = 0;
    for (int i = 0; i < root.n; i++) {
        const char *name = root.keys[i];
        if (strlen(name) != root.klens[i]) {
            ty__error("[load] %s: a tensor name holds a NUL character", path);
            goto done;
        }
        if (strcmp(name, "__metadata__") == 0) {
            const jv *m = &root.items[i];
            if (m->type != J_OBJECT) {
                ty__error("[load] %s: __metadata__ is not an object", path);
                goto done;
            }
            ty_strbuf_adds(&meta, "{");
            for (int j = 0; j < m->n; j++) {
                if (m->items[j].type != J_STRING) {
                    ty__error("[load] %s: __metadata__ value of '%s' is not a string", path,
                              m->keys[j]);
                    goto done;
                }
                if (j) ty_strbuf_adds(&meta, ",");
                sb_json_string(&meta, m->keys[j], m->klens[j]);
                ty_strbuf_adds(&meta, ":");
                sb_json_string(&meta, m->items[j].str, m->items[j].slen);
            }
            ty_strbuf_adds(&meta, "}");
            continue;
        }
        if (check_entry(path, name, &root.items[i], data_size, &ents[ne]) != 0) goto done;
        sorted[ne] = &ents[ne];
        ne++;
    }
    qsort(sorted, (size_t)ne, sizeof *sorted, cmp_begin);
    for (int i = 1; i < ne; i++)
        if (sorted[i]->begin < sorted[i - 1]->end) {
            ty__error("[load] %s: tensors '%s' and '%s' overlap in the data", path,
                      sorted[i - 1]->name, sorted[i]->name);
            goto done;
        }
    if (meta.failed) {
        ty__error("[load] %s: out of memory", path);
        goto done;
    }
    ty_device cpu = {TY_CPU, 0};
    for (int i = 0; i < ne; i++) {
        st_entry *e = &ents[i];
        list[k].name = strdup(e->name);
        if (!list[k].name) {
            ty__error("[load] %s: out of memory", path);
            goto done;
        }
        k++;
        const unsigned char *src = body + e->begin;
        unsigned char *fixed = NULL;
        if (e->dtype == TY_BOOL) {
            fixed = malloc(e->end - e->begin + 1);
            if (!fixed) {
                ty__error("[load] %s: out of memory", path);
                goto done;
            }
            for (uint64_t j = 0; j < e->end - e->begin; j++) fixed[j] = src[j] != 0;
            src = fixed;
        }
        ty_array *a = ty_from_data(src, e->dtype, e->ndim, e->shape, cpu);
        free(fixed);
        if (a && ty__home_device(device, a->dtype).kind != TY_CPU) {
            ty_array *d = ty_to_device(a, device);
            ty_release(a);
            a = d;
        }
        if (!a) goto done;
        list[k - 1].array = a;
    }
    if (metadata_json && meta.p) {
        *metadata_json = meta.p;
        meta.p = NULL;
    }
    *out = list;
    *nout = k;
    list = NULL;
    rc = 0;
done:
    ty_named_arrays_free(list, k);
    free(meta.p);
    free(ents);
    free(sorted);
    jv_free(&root);
    free(data);
    return rc;
}
