#version 450
// sort.comp -- stable sort, argsort along one axis; NaN last in both orders
// (core/vk_kernels_reduce.c).
//
// Lines are laid out as in scan.comp. Every element becomes a 64-bit key
// that orders as wanted (descending inverts it; NaN and padding stay last)
// plus its original index, and the pairs (key, index) are sorted by a
// bitonic network: all pairs are distinct, so the result is the stable
// order. Floats pack both into one uint64 (32-bit ordered key, 32-bit
// index); integers keep a uint64 key and a separate uint index. A line is
// padded to P, a power of two, with keys that sort after everything.
//   MODE_LOCAL:  P <= SN: one workgroup sorts a line in shared memory and
//                writes the output.
//   MODE_BLOCKS: P > SN: one workgroup per block of SN elements loads it,
//                runs the stages k <= SN in shared memory (direction from
//                the global position, as in the full network) and stores the
//                pairs in the scratch arrays keys/idx (P per line).
//   MODE_STEP:   one invocation per pair: compare-exchange at distance j >= SN
//                of stage k, in scratch.
//   MODE_MERGE:  one workgroup per block: the steps j < SN of stage k in
//                shared memory; back to scratch, or to the output when k = P.
// The output reads x again at the original index (sort) or writes the index
// plus base (argsort).
#include "common.glsl"

#define MODE_LOCAL 0
#define MODE_BLOCKS 1
#define MODE_STEP 2
#define MODE_MERGE 3

layout(constant_id = 1) const bool FMODE = true;
layout(constant_id = 2) const int XDT = DT_FLOAT32;
layout(constant_id = 3) const int ODT = DT_FLOAT32;
layout(constant_id = 4) const int MODE = MODE_LOCAL;
layout(constant_id = 5) const uint SN = 2;          // elements in shared memory
layout(constant_id = 6) const uint WORDS = 4;       // shared words: 2 SN, 3 SN for integers

// Mirrors vk_sort_params in core/vk_kernels_reduce.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, dst, keys, idx;                 // keys, idx: scratch (P > SN)
    int64_t kshape[MAX_DIMS], kstride[MAX_DIMS];
    int64_t nlines, n, xstride, inner, base;
    uint P, k, j, kn;
    int descending, arg;                        // flags
};

layout(buffer_reference, std430, buffer_reference_align = 8) buffer BufU64 { uint64_t v[]; };

// Slot s: key in words 2s, 2s + 1; index (integers) in word 2 SN + s.
shared uint sh[WORDS];

uint64_t skey(uint s) { return pack64(uvec2(sh[2u * s], sh[2u * s + 1u])); }
uint sidx(uint s) { return sh[2u * SN + s]; }

void set_slot(uint s, uint64_t key, uint index)
{
    uvec2 w = unpack32(key);
    sh[2u * s] = w.x;
    sh[2u * s + 1u] = w.y;
    if (!FMODE) sh[2u * SN + s] = index;
}

const uint64_t PAD_KEY = 0xfffffffffffffffful;
const uint PAD_INDEX = 0xffffffffu;

// Key of element q (original index) of the line.
uint64_t make_key(Params p, int64_t xbase, uint q)
{
    bool desc = p.descending != 0;
    int64_t off = xbase + int64_t(q) * p.xstride;
    if (FMODE) {
        float v = load_f(p.x, XDT, off);
        uint o;
        if (isnan(v)) {
            o = 0xffffffffu;
        } else {
            uint bits = floatBitsToUint(v == 0.0 ? 0.0 : v);   // -0 sorts as +0
            o = (bits & 0x80000000u) != 0u ? ~bits : bits | 0x80000000u;
            if (desc) o = ~o;
        }
        return (uint64_t(o) << 32) | uint64_t(q);
    }
    uint64_t o = uint64_t(load_i(p.x, XDT, off)) ^ 0x8000000000000000ul;
    return desc ? ~o : o;
}

// Whether pair b goes strictly before pair a.
bool before(uint64_t kb, uint ib, uint64_t ka, uint ia)
{
    return kb < ka || (!FMODE && kb == ka && ib < ia);
}

// Compare-exchange of shared slots a < b for ascending (else descending).
void exchange_shared(uint a, uint b, bool asc)
{
    uint64_t ka = skey(a), kb = skey(b);
    uint ia = FMODE ? 0u : sidx(a), ib = FMODE ? 0u : sidx(b);
    if (before(kb, ib, ka, ia) == asc) {
        set_slot(a, kb, ib);
        set_slot(b, ka, ia);
    }
}

// Runs the steps j = jstart, jstart/2, .., 1 of stages kstart..kend over the
// `len` shared slots, which hold global positions first + [0, len).
void sort_shared(uint first, uint len, uint kstart, uint kend, uint jstart)
{
    uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    for (uint k = kstart; k <= kend; k <<= 1u) {
        for (uint j = min(jstart, k >> 1u); j > 0u; j >>= 1u) {
            for (uint t = lid; t < len / 2u; t += wg) {
                uint a = 2u * t - (t & (j - 1u));
                exchange_shared(a, a + j, ((first + a) & k) == 0u);
            }
            barrier();
        }
    }
}

// Writes position q of the sorted line (pair key, index) to the output.
void write_out(Params p, int64_t xbase, int64_t obase, uint q, uint64_t key, uint index)
{
    if (int64_t(q) >= p.n) return;
    uint i = FMODE ? uint(key & 0xfffffffful) : index;
    int64_t o = obase + int64_t(q) * p.inner;
    if (p.arg != 0) {
        store_i(p.dst, ODT, o, int64_t(i) + p.base);
    } else {
        int64_t off = xbase + int64_t(i) * p.xstride;
        if (FMODE) store_f(p.dst, ODT, o, load_f(p.x, XDT, off));
        else store_i(p.dst, ODT, o, load_i(p.x, XDT, off));
    }
}

// q = a / b, r = a % b; in 32 bits where both fit: faster, and NVIDIA's
// driver 580.159.04 (H200) computed the non-uniform 64-bit pair wrongly in
// reduce.comp's invocation-per-output mode.
void divmod(uint64_t a, uint64_t b, out uint64_t q, out uint64_t r)
{
    if (a <= 0xfffffffful && b <= 0xfffffffful) {
        q = uint64_t(uint(a) / uint(b));
        r = uint64_t(uint(a) % uint(b));
    } else {
        q = a / b;
        r = a - q * b;
    }
}

void main()
{
    Params p = Params(pc.params);
    int64_t kshape[MAX_DIMS], kstride[MAX_DIMS];
    for (int d = 0; d < MAX_DIMS; d++) {
        kshape[d] = p.kshape[d];
        kstride[d] = p.kstride[d];
    }
    uint P = p.P, lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    uint64_t group = uint64_t(gl_WorkGroupID.x) +
                     uint64_t(gl_WorkGroupID.y) * uint64_t(gl_NumWorkGroups.x);

    if (MODE == MODE_STEP) {
        uint64_t t = linear_id(), half_p = uint64_t(P / 2u);
        if (t >= uint64_t(p.nlines) * half_p) return;
        uint64_t line, q64;
        divmod(t, half_p, line, q64);
        uint q = uint(q64), j = p.j;
        uint a = 2u * q - (q & (j - 1u)), b = a + j;
        bool asc = (a & p.k) == 0u;
        uint64_t ka_addr = p.keys + (line * uint64_t(P) + uint64_t(a)) * 8ul;
        uint64_t kb_addr = p.keys + (line * uint64_t(P) + uint64_t(b)) * 8ul;
        uint64_t ka = BufU64(ka_addr).v[0], kb = BufU64(kb_addr).v[0];
        uint ia = 0u, ib = 0u;
        uint64_t ia_addr = p.idx + (line * uint64_t(P) + uint64_t(a)) * 4ul;
        uint64_t ib_addr = p.idx + (line * uint64_t(P) + uint64_t(b)) * 4ul;
        if (!FMODE) {
            ia = BufU32(ia_addr).v[0];
            ib = BufU32(ib_addr).v[0];
        }
        if (before(kb, ib, ka, ia) == asc) {
            BufU64(ka_addr).v[0] = kb;
            BufU64(kb_addr).v[0] = ka;
            if (!FMODE) {
                BufU32(ia_addr).v[0] = ib;
                BufU32(ib_addr).v[0] = ia;
            }
        }
        return;
    }

    // workgroup modes: one line (MODE_LOCAL) or one block of SN of a line
    uint len = MODE == MODE_LOCAL ? P : SN;
    uint64_t nblocks = uint64_t(P / len);
    if (group >= uint64_t(p.nlines) * nblocks) return;  // uniform over the workgroup
    uint64_t line, block;
    divmod(group, nblocks, line, block);
    uint first = uint(block) * len;                     // global position of slot 0
    int64_t xbase = strided_offset(line, int(p.kn), kshape, kstride);
    uint64_t outer, within;
    divmod(line, uint64_t(p.inner), outer, within);
    int64_t obase = int64_t(outer) * p.n * p.inner + int64_t(within);
    uint64_t scratch = line * uint64_t(P) + uint64_t(first);   // element index

    // load
    for (uint s = lid; s < len; s += wg) {
        uint q = first + s;
        if (MODE == MODE_MERGE) {
            set_slot(s, BufU64(p.keys + (scratch + s) * 8ul).v[0],
                     FMODE ? 0u : BufU32(p.idx + (scratch + s) * 4ul).v[0]);
        } else {
            bool live = int64_t(q) < p.n;
            set_slot(s, live ? make_key(p, xbase, q) : PAD_KEY, live ? q : PAD_INDEX);
        }
    }
    barrier();

    // sort
    if (MODE == MODE_MERGE) sort_shared(first, len, p.k, p.k, len / 2u);
    else sort_shared(first, len, 2u, len, len / 2u);

    // store
    bool final_pass = MODE == MODE_LOCAL || (MODE == MODE_MERGE && p.k == P);
    for (uint s = lid; s < len; s += wg) {
        if (final_pass) {
            write_out(p, xbase, obase, first + s, skey(s), FMODE ? 0u : sidx(s));
        } else {
            BufU64(p.keys + (scratch + s) * 8ul).v[0] = skey(s);
            if (!FMODE) BufU32(p.idx + (scratch + s) * 4ul).v[0] = sidx(s);
        }
    }
}
