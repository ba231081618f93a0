// elem_copy.glsl -- bit-exact element copies for the data-movement kernels
// (concatenate, pad, take, scatter_add, slice_update). Include after
// common.glsl. Inputs of these ops already have out's dtype, so a copy is a
// move of esize bytes (1, 2, 4 or 8); fill values come as raw bits.

// dst[di] = src[si], both in elements of size esize.
void copy_elem(uint64_t dst, int64_t di, uint64_t src, int64_t si, int esize)
{
    int64_t es = int64_t(esize);
    uint64_t d = dst + uint64_t(di * es), s = src + uint64_t(si * es);
    switch (esize) {
    case 1: BufU8(d).v[0] = BufU8(s).v[0]; break;
    case 2: BufU16(d).v[0] = BufU16(s).v[0]; break;
    case 4: BufU32(d).v[0] = BufU32(s).v[0]; break;
    default: BufI64(d).v[0] = BufI64(s).v[0]; break;
    }
}

// dst[di] = the low esize bytes of bits (a value encoded on the host).
void store_bits(uint64_t dst, int64_t di, int esize, int64_t bits)
{
    uint64_t d = dst + uint64_t(di * int64_t(esize));
    switch (esize) {
    case 1: BufU8(d).v[0] = uint8_t(bits & 255l); break;
    case 2: BufU16(d).v[0] = uint16_t(bits & 65535l); break;
    case 4: BufU32(d).v[0] = uint(bits & 4294967295l); break;
    default: BufI64(d).v[0] = bits; break;
    }
}

// Resolves index v (as given) against dim with the CPU's rule: negative
// indices count from the end, others are shifted down by base (so -1 is the
// last element in either base). Returns -1 when out of range.
int64_t resolve_index(int64_t v, int base, int64_t dim)
{
    int64_t j = v < 0l ? v + dim : v - int64_t(base);
    return j >= 0l && j < dim ? j : -1l;
}
