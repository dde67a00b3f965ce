// Rotary embedding (rotate-half pairing), included after kernels_impl.h once per instruction
// set. Multiplies and subtracts are separate (no fused multiply-add), as in the Swift loop it
// replaced, so every variant gives the same bits.

void KNAME(fpk_rope)(const fpk_rope_shape *a, float sign, long t0, long t1, float *out) {
    int H = a->H, dh = a->dh, half = a->half;
    for (long t = t0; t < t1; t++) {
        long b = t / a->P, p = t % a->P;
        const float *c = a->cos + (long)a->positions[t] * half, *s = a->sin + (long)a->positions[t] * half;
        for (int h = 0; h < H; h++) {
            const float *v = a->x + b * a->sb + p * a->sp + h * a->sh;
            float *o = out + (t * H + h) * dh;
            int i = 0;
            v16f sg = sign;
            for (; i + 16 <= half; i += 16) {
                v16f x1 = KNAME(ld)(v + i), x2 = KNAME(ld)(v + i + half), ci = KNAME(ld)(c + i);
                v16f si = sg * KNAME(ld)(s + i);
                KNAME(st)(o + i, x1 * ci - x2 * si);
                KNAME(st)(o + i + half, x2 * ci + x1 * si);
            }
            for (; i < half; i++) {
                float x1 = v[i], x2 = v[i + half], si = sign * s[i];
                o[i] = x1 * c[i] - x2 * si;
                o[i + half] = x2 * c[i] + x1 * si;
            }
            if (2 * half < dh) memcpy(o + 2 * half, v + 2 * half, sizeof(float) * (dh - 2 * half));
        }
    }
}
