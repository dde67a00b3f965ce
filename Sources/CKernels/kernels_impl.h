// The kernel bodies, included once per instruction set by kernels_<isa>.c with KNAME(x)
// defined to x##_<isa> and a target pragma around the include, so the same source is compiled
// for each vector width. 16-lane clang vectors become 1 zmm, 2 ymm or 4 xmm registers.
// (each includer has included math.h, string.h and CKernels.h first)

// No contraction into fused multiply-adds except where a function allows it: the norms give
// the same bits as the executors' separate multiply and add.
#pragma STDC FP_CONTRACT OFF
// The 16-lane helpers are static and inlined: their vector ABI never crosses a call.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16f __attribute__((ext_vector_type(16), aligned(4)));
typedef int v16i __attribute__((ext_vector_type(16), aligned(4)));
typedef double v8d __attribute__((ext_vector_type(8), aligned(8)));
typedef float v8f __attribute__((ext_vector_type(8), aligned(4)));

static inline v16f KNAME(ld)(const float *p) { return *(const v16f *)p; }
static inline void KNAME(st)(float *p, v16f x) { *(v16f *)p = x; }
static inline v16f KNAME(sel)(v16i m, v16f a, v16f b) {
    return (v16f)(((v16i)a & m) | ((v16i)b & ~m));
}
static inline float KNAME(hsum)(v16f x) {
    v8f a = x.lo + x.hi;
    float s = 0;
    for (int i = 0; i < 8; i++) s += a[i];
    return s;
}

// e^x as FPTensor's vexp (SIMDMath.swift): x = n ln2 + r, a degree-6 polynomial for e^r, 2^n
// from exponent bits in two factors; clamped to the float range, NaN kept.
static inline v16f KNAME(vexp)(v16f x) {
    const v16f hi = 88.72283f, lo = -103.0f, magic = 12582912.0f;
    v16f xc = KNAME(sel)(x > hi, hi, x);
    xc = KNAME(sel)(xc < lo, lo, xc);
    v16f shifted = xc * 1.442695040888963f + magic;
    v16f n = shifted - magic;
    v16i ni = (v16i)shifted - 0x4B400000;
    v16f r = xc - n * 0.693145751953125f;
    r = r - n * 1.428606765330187e-06f;
    v16f p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    v16i n1 = ni >> 1, n2 = ni - n1;
    v16f s1 = (v16f)((n1 + 127) << 23), s2 = (v16f)((n2 + 127) << 23);
    v16f y = p * s1 * s2;
    const v16f inf = INFINITY, zero = 0.0f;
    y = KNAME(sel)(x > hi, inf, y);
    y = KNAME(sel)(x < lo, zero, y);
    return KNAME(sel)(x != x, x, y);
}

static inline float KNAME(dot)(const float *a, const float *b, int n) {
#pragma clang fp contract(fast)
    v16f acc = 0;
    int i = 0;
    for (; i + 16 <= n; i += 16) acc += KNAME(ld)(a + i) * KNAME(ld)(b + i);
    float s = KNAME(hsum)(acc);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

// y += c x
static inline void KNAME(axpy)(float *y, float c, const float *x, int n) {
#pragma clang fp contract(fast)
    int i = 0;
    v16f cv = c;
    for (; i + 16 <= n; i += 16) KNAME(st)(y + i, KNAME(ld)(y + i) + cv * KNAME(ld)(x + i));
    for (; i < n; i++) y[i] += c * x[i];
}

// The keys query i may see: [lo, hi] (causal and the window), less those the key mask hides.
static inline void KNAME(range)(const fpk_attention_shape *a, int i, int *lo, int *hi) {
    int qi = a->past + i;
    *hi = qi < a->T - 1 ? qi : a->T - 1;
    *lo = a->window > 0 && qi - a->window + 1 > 0 ? qi - a->window + 1 : 0;
}

// Scores of query q against keys [lo, hi] of K transposed (kt[d * ld + j], ld a multiple of 16
// with zero columns after the last key): sixteen keys per vector and four vectors in flight, no
// horizontal sums; s[j] = alpha q.k_j, written up to the next multiple of 16 after lo.
static inline void KNAME(scores_kt)(const float *q, const float *kt, int ld, int dh, float alpha, int lo, int hi, float *s) {
#pragma clang fp contract(fast)
    int j = lo;
    for (; j + 48 <= hi; j += 64) {
        v16f a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int d = 0; d < dh; d++) {
            v16f qd = q[d];
            const float *row = kt + (long)d * ld + j;
            a0 += qd * KNAME(ld)(row); a1 += qd * KNAME(ld)(row + 16);
            a2 += qd * KNAME(ld)(row + 32); a3 += qd * KNAME(ld)(row + 48);
        }
        KNAME(st)(s + j, a0 * alpha); KNAME(st)(s + j + 16, a1 * alpha);
        KNAME(st)(s + j + 32, a2 * alpha); KNAME(st)(s + j + 48, a3 * alpha);
    }
    for (; j <= hi; j += 16) {
        v16f a0 = 0;
        for (int d = 0; d < dh; d++) a0 += (v16f)q[d] * KNAME(ld)(kt + (long)d * ld + j);
        KNAME(st)(s + j, a0 * alpha);
    }
}

// The pattern row of query i in batch b from its scores p[lo..hi] (written by the caller): zeros
// for hidden keys (p has room for ld >= T + 15 floats), the soft-cap, softmax over the visible
// keys. Returns 0 when the query sees no key (the row is all zeros).
static inline int KNAME(softmax_row)(const fpk_attention_shape *a, int b, int i, float *p) {
    int T = a->T, lo, hi;
    KNAME(range)(a, i, &lo, &hi);
    if (lo > 0) memset(p, 0, sizeof(float) * lo);
    if (hi + 1 < T) memset(p + hi + 1, 0, sizeof(float) * (T - hi - 1));
    if (hi < lo) return 0;
    float m = -INFINITY;
    int any = 0;
    if (!a->mask && !(a->softcap > 0)) {
        // every key in [lo, hi] is visible: the maximum by vectors (a NaN wins, as below)
        int j = lo;
        v16f mv = -INFINITY;
        for (; j + 16 <= hi + 1; j += 16) {
            v16f x = KNAME(ld)(p + j);
            mv = KNAME(sel)((x > mv) | (x != x), x, mv);
        }
        for (int l = 0; l < 16; l++) if (mv[l] > m || mv[l] != mv[l]) m = mv[l];
        for (; j <= hi; j++) if (p[j] > m || p[j] != p[j]) m = p[j];
        any = 1;
    } else for (int j = lo; j <= hi; j++) {
        if (a->mask && !a->mask[(long)b * T + j]) { p[j] = -INFINITY; continue; }
        float s = p[j];
        if (a->softcap > 0) p[j] = s = a->softcap * tanhf(s / a->softcap);
        if (s > m || s != s) m = s;
        any = 1;
    }
    if (!any) {
        memset(p + lo, 0, sizeof(float) * (hi - lo + 1));
        return 0;
    }
    // exp(s - m) over the window [lo, hi] (hidden keys are -inf: 0), then / sum
    int n = hi - lo + 1, j = 0;
    float *w = p + lo, sum = 0;
    v16f mv = m, acc = 0;
    for (; j + 16 <= n; j += 16) {
        v16f e = KNAME(vexp)(KNAME(ld)(w + j) - mv);
        KNAME(st)(w + j, e);
        acc += e;
    }
    sum = KNAME(hsum)(acc);
    for (; j < n; j++) { w[j] = expf(w[j] - m); sum += w[j]; }
    float inv = 1 / sum;
    v16f iv = inv;
    for (j = 0; j + 16 <= n; j += 16) KNAME(st)(w + j, KNAME(ld)(w + j) * iv);
    for (; j < n; j++) w[j] *= inv;
    return 1;
}

// The pattern row of query i of head h in batch b into p[0..T), the scores from kt (K
// transposed with row stride ld, when not NULL) or from dot products with the rows of K.
static inline int KNAME(pattern_row)(const fpk_attention_shape *a, int b, int h, int i, const float *kt, int ld, float *p) {
    int g = h / (a->nH / a->nKV), dh = a->dh, lo, hi;
    KNAME(range)(a, i, &lo, &hi);
    const float *q = a->q + b * a->q_sb + i * a->q_sp + h * a->q_sh;
    const float *kb = a->k + b * a->k_sb + g * a->k_sh;
    if (hi >= lo) {
        if (kt) KNAME(scores_kt)(q, kt, ld, dh, a->alpha, lo, hi, p);
        else for (int j = lo; j <= hi; j++) p[j] = a->alpha * KNAME(dot)(q, kb + j * a->k_sp, dh);
    }
    return KNAME(softmax_row)(a, b, i, p);
}

// Scores of four queries against keys [lo, hi] of K transposed, as scores_kt (the same
// operations per score, so the same bits) with each loaded key vector used four times.
static inline void KNAME(scores_kt4)(const float *const q[4], const float *kt, int ld, int dh, float alpha,
                                     int lo, int hi, float *const s[4]) {
#pragma clang fp contract(fast)
    int j = lo;
    for (; j + 16 <= hi; j += 32) {
        v16f a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        for (int d = 0; d < dh; d++) {
            const float *row = kt + (long)d * ld + j;
            v16f k0 = KNAME(ld)(row), k1 = KNAME(ld)(row + 16);
            v16f q0 = q[0][d], q1 = q[1][d], q2 = q[2][d], q3 = q[3][d];
            a0 += q0 * k0; a1 += q1 * k0; a2 += q2 * k0; a3 += q3 * k0;
            b0 += q0 * k1; b1 += q1 * k1; b2 += q2 * k1; b3 += q3 * k1;
        }
        KNAME(st)(s[0] + j, a0 * alpha); KNAME(st)(s[1] + j, a1 * alpha);
        KNAME(st)(s[2] + j, a2 * alpha); KNAME(st)(s[3] + j, a3 * alpha);
        KNAME(st)(s[0] + j + 16, b0 * alpha); KNAME(st)(s[1] + j + 16, b1 * alpha);
        KNAME(st)(s[2] + j + 16, b2 * alpha); KNAME(st)(s[3] + j + 16, b3 * alpha);
    }
    for (; j <= hi; j += 16) {
        v16f a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int d = 0; d < dh; d++) {
            v16f k0 = KNAME(ld)(kt + (long)d * ld + j);
            a0 += (v16f)q[0][d] * k0; a1 += (v16f)q[1][d] * k0; a2 += (v16f)q[2][d] * k0; a3 += (v16f)q[3][d] * k0;
        }
        KNAME(st)(s[0] + j, a0 * alpha); KNAME(st)(s[1] + j, a1 * alpha);
        KNAME(st)(s[2] + j, a2 * alpha); KNAME(st)(s[3] + j, a3 * alpha);
    }
}

// z_r = sum_j p_r[j] v_j for four queries r, each over its own keys [lo[r], hi[r]] in ascending
// order (no key outside a query's range is touched, so a NaN in a value it does not see stays
// out of it); each loaded value vector is used by every query that sees that key.
static inline void KNAME(weighted_sum4)(const float *const p[4], const float *vb, long v_sp, int dh,
                                        const int lo[4], const int hi[4], float *const z[4]) {
#pragma clang fp contract(fast)
    int first = lo[0], last = hi[0], cl = lo[0], ch = hi[0];
    for (int r = 1; r < 4; r++) {
        if (lo[r] < first) first = lo[r];
        if (hi[r] > last) last = hi[r];
        if (lo[r] > cl) cl = lo[r];
        if (hi[r] < ch) ch = hi[r];
    }
    int d = 0;
    for (; d + 64 <= dh; d += 64) {
        v16f acc[4][4] = {{0}};
        for (int j = first; j <= last; j++) {
            const float *vj = vb + j * v_sp + d;
            v16f v0 = KNAME(ld)(vj), v1 = KNAME(ld)(vj + 16), v2 = KNAME(ld)(vj + 32), v3 = KNAME(ld)(vj + 48);
            for (int r = 0; r < 4; r++) {
                if ((j < cl || j > ch) && (j < lo[r] || j > hi[r])) continue;
                v16f pr = p[r][j];
                acc[r][0] += pr * v0; acc[r][1] += pr * v1; acc[r][2] += pr * v2; acc[r][3] += pr * v3;
            }
        }
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) KNAME(st)(z[r] + d + 16 * c, acc[r][c]);
    }
    for (; d + 16 <= dh; d += 16) {
        v16f acc[4] = {0, 0, 0, 0};
        for (int j = first; j <= last; j++) {
            v16f v = KNAME(ld)(vb + j * v_sp + d);
            if (j >= cl && j <= ch) {
                acc[0] += (v16f)p[0][j] * v; acc[1] += (v16f)p[1][j] * v;
                acc[2] += (v16f)p[2][j] * v; acc[3] += (v16f)p[3][j] * v;
            } else {
                for (int r = 0; r < 4; r++) if (j >= lo[r] && j <= hi[r]) acc[r] += (v16f)p[r][j] * v;
            }
        }
        for (int r = 0; r < 4; r++) KNAME(st)(z[r] + d, acc[r]);
    }
    for (; d < dh; d++)
        for (int r = 0; r < 4; r++) {
            float s = 0;
            for (int j = lo[r]; j <= hi[r]; j++) s += p[r][j] * vb[j * v_sp + d];
            z[r][d] = s;
        }
}

// z = sum_j p_j v_j over j in [lo, hi], the accumulators in registers (64 dims and two keys
// at a time).
static inline void KNAME(weighted_sum)(const float *p, const float *vb, long v_sp, int dh, int lo, int hi, float *z) {
#pragma clang fp contract(fast)
    int d = 0;
    for (; d + 64 <= dh; d += 64) {
        v16f a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        int j = lo;
        for (; j + 1 <= hi; j += 2) {
            v16f pj = p[j], pk = p[j + 1];
            const float *v = vb + j * v_sp + d, *w = v + v_sp;
            a0 += pj * KNAME(ld)(v); a1 += pj * KNAME(ld)(v + 16);
            a2 += pj * KNAME(ld)(v + 32); a3 += pj * KNAME(ld)(v + 48);
            b0 += pk * KNAME(ld)(w); b1 += pk * KNAME(ld)(w + 16);
            b2 += pk * KNAME(ld)(w + 32); b3 += pk * KNAME(ld)(w + 48);
        }
        if (j <= hi) {
            v16f pj = p[j];
            const float *v = vb + j * v_sp + d;
            a0 += pj * KNAME(ld)(v); a1 += pj * KNAME(ld)(v + 16);
            a2 += pj * KNAME(ld)(v + 32); a3 += pj * KNAME(ld)(v + 48);
        }
        KNAME(st)(z + d, a0 + b0); KNAME(st)(z + d + 16, a1 + b1);
        KNAME(st)(z + d + 32, a2 + b2); KNAME(st)(z + d + 48, a3 + b3);
    }
    for (; d + 16 <= dh; d += 16) {
        v16f a0 = 0;
        for (int j = lo; j <= hi; j++) a0 += (v16f)p[j] * KNAME(ld)(vb + j * v_sp + d);
        KNAME(st)(z + d, a0);
    }
    for (; d < dh; d++) {
        float a = 0;
        for (int j = lo; j <= hi; j++) a += p[j] * vb[j * v_sp + d];
        z[d] = a;
    }
}

void KNAME(fpk_attention_forward)(const fpk_attention_shape *a, float *z, float *pattern,
                                  int begin, int end, int q0, int q1, float *scratch) {
    int P = a->P, T = a->T, nH = a->nH, dh = a->dh, group = a->nH / a->nKV;
    int ld = (T + 15) / 16 * 16 + 16;
    // K transposed (zero-padded to ld columns) pays for itself when several queries read it
    float *kt = P >= 4 ? scratch : NULL, *rows = scratch + (long)ld * dh;
    int ktFor = -1;
    for (int bh = begin; bh < end; bh++) {
        int b = bh / nH, h = bh % nH, g = h / group;
        const float *vb = a->v + b * a->v_sb + g * a->v_sh;
        if (kt && ktFor != b * a->nKV + g) {
            const float *kb = a->k + b * a->k_sb + g * a->k_sh;
            for (int d = 0; d < dh; d++) {
                float *o = kt + (long)d * ld;
                for (int j = 0; j < T; j++) o[j] = kb[j * a->k_sp + d];
                memset(o + T, 0, sizeof(float) * (ld - T));
            }
            ktFor = b * a->nKV + g;
        }
        int i = q0;
        // four queries at a time: every key and value vector loaded serves all four
        for (; kt && i + 4 <= q1; i += 4) {
            const float *q[4];
            float *p[4], *zr[4];
            int lo[4], hi[4], ok[4], first = T, last = -1;
            for (int r = 0; r < 4; r++) {
                q[r] = a->q + b * a->q_sb + (i + r) * a->q_sp + h * a->q_sh;
                p[r] = rows + (long)r * ld;
                zr[r] = z + (((long)b * P + i + r) * nH + h) * dh;
                KNAME(range)(a, i + r, &lo[r], &hi[r]);
                if (lo[r] < first) first = lo[r];
                if (hi[r] > last) last = hi[r];
            }
            if (first <= last) KNAME(scores_kt4)(q, kt, ld, dh, a->alpha, first, last, p);
            for (int r = 0; r < 4; r++) {
                ok[r] = KNAME(softmax_row)(a, b, i + r, p[r]);
                if (pattern) memcpy(pattern + ((long)bh * P + i + r) * T, p[r], sizeof(float) * T);
                if (!ok[r]) memset(zr[r], 0, sizeof(float) * dh);
            }
            if (ok[0] && ok[1] && ok[2] && ok[3]) KNAME(weighted_sum4)((const float *const *)p, vb, a->v_sp, dh, lo, hi, zr);
            else for (int r = 0; r < 4; r++)
                if (ok[r]) KNAME(weighted_sum)(p[r], vb, a->v_sp, dh, lo[r], hi[r], zr[r]);
        }
        for (; i < q1; i++) {
            float *zi = z + (((long)b * P + i) * nH + h) * dh, *row = rows;
            int live = KNAME(pattern_row)(a, b, h, i, kt, ld, row);
            if (pattern) memcpy(pattern + ((long)bh * P + i) * T, row, sizeof(float) * T);
            if (!live) { memset(zi, 0, sizeof(float) * dh); continue; }
            int lo, hi;
            KNAME(range)(a, i, &lo, &hi);
            KNAME(weighted_sum)(row, vb, a->v_sp, dh, lo, hi, zi);
        }
    }
}

void KNAME(fpk_attention_backward)(const fpk_attention_shape *a, const float *pattern, const float *dz,
                                   float *dq, float *dk, float *dv, int begin, int end, float *scratch) {
    int P = a->P, T = a->T, nH = a->nH, nKV = a->nKV, dh = a->dh, group = nH / nKV;
    for (int bg = begin; bg < end; bg++) {
        int b = bg / nKV, g = bg % nKV;
        const float *kb = a->k + b * a->k_sb + g * a->k_sh, *vb = a->v + b * a->v_sb + g * a->v_sh;
        float *dkb = dk + ((long)b * T * nKV + g) * dh, *dvb = dv + ((long)b * T * nKV + g) * dh;
        long kvRow = (long)nKV * dh;
        for (int h = g * group; h < (g + 1) * group; h++) {
            for (int i = 0; i < P; i++) {
                const float *p = pattern + (((long)b * nH + h) * P + i) * T;
                const float *q = a->q + b * a->q_sb + i * a->q_sp + h * a->q_sh;
                const float *dzi = dz + (((long)b * P + i) * nH + h) * dh;
                float *dqi = dq + (((long)b * P + i) * nH + h) * dh;
                memset(dqi, 0, sizeof(float) * dh);
                int lo, hi;
                KNAME(range)(a, i, &lo, &hi);
                // dp_j = dz . v_j; ds_j = p_j (dp_j - sum_j p_j dp_j)
                float sum = 0;
                for (int j = lo; j <= hi; j++) {
                    scratch[j] = p[j] != 0 ? KNAME(dot)(dzi, vb + j * a->v_sp, dh) : 0;
                    sum += p[j] * scratch[j];
                }
                for (int j = lo; j <= hi; j++) {
                    if (p[j] == 0) continue;
                    KNAME(axpy)(dvb + j * kvRow, p[j], dzi, dh);
                    float ds = p[j] * (scratch[j] - sum);
                    if (a->softcap > 0) {
                        // through cap tanh(s / cap): d/ds = 1 - tanh^2, recomputed from q.k
                        float t = tanhf(a->alpha * KNAME(dot)(q, kb + j * a->k_sp, dh) / a->softcap);
                        ds *= 1 - t * t;
                    }
                    ds *= a->alpha;
                    KNAME(axpy)(dqi, ds, kb + j * a->k_sp, dh);
                    KNAME(axpy)(dkb + j * kvRow, ds, q, dh);
                }
            }
        }
    }
}

void KNAME(fpk_norm_forward)(const float *x, long rows, int d, float eps, int centered,
                             float *scale, float *normalized, const float *w, const float *b, float *out) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * d;
        double mean = 0;
        int i = 0;
        if (centered) {
            v8d acc = 0;
            for (; i + 8 <= d; i += 8) acc += __builtin_convertvector(*(const v8f *)(row + i), v8d);
            for (int l = 0; l < 8; l++) mean += acc[l];
            for (; i < d; i++) mean += row[i];
            mean /= d;
        }
        v8d acc = 0, mv = mean;
        for (i = 0; i + 8 <= d; i += 8) {
            v8d c = __builtin_convertvector(*(const v8f *)(row + i), v8d) - mv;
            acc += c * c;
        }
        double var = 0;
        for (int l = 0; l < 8; l++) var += acc[l];
        for (; i < d; i++) { double c = (double)row[i] - mean; var += c * c; }
        float sc = (float)sqrt(var / d + (double)eps);
        scale[r] = sc;
        float m = (float)mean, inv = 1 / sc;
        float *nr = normalized ? normalized + r * d : NULL, *o = out ? out + r * d : NULL;
        v16f m16 = m, inv16 = inv;
        for (i = 0; i + 16 <= d; i += 16) {
            v16f n = (KNAME(ld)(row + i) - m16) * inv16;
            if (nr) KNAME(st)(nr + i, n);
            if (o) {
                v16f y = n * KNAME(ld)(w + i);
                if (b) y += KNAME(ld)(b + i);
                KNAME(st)(o + i, y);
            }
        }
        for (; i < d; i++) {
            float n = (row[i] - m) * inv;
            if (nr) nr[i] = n;
            if (o) o[i] = b ? n * w[i] + b[i] : n * w[i];
        }
    }
}

void KNAME(fpk_norm_backward)(const float *g, const float *n, const float *scale, long rows, int d,
                              int centered, float *gx) {
    for (long r = 0; r < rows; r++) {
        const float *gr = g + r * d, *nr = n + r * d;
        float *o = gx + r * d;
        v16f ag = 0, agn = 0;
        int i = 0;
        for (; i + 16 <= d; i += 16) {
            v16f gv = KNAME(ld)(gr + i);
            ag += gv;
            agn += gv * KNAME(ld)(nr + i);
        }
        float mg = KNAME(hsum)(ag), mgn = KNAME(hsum)(agn);
        for (; i < d; i++) { mg += gr[i]; mgn += gr[i] * nr[i]; }
        mg /= d; mgn /= d;
        if (!centered) mg = 0;
        float inv = 1 / scale[r];
        v16f mgv = mg, mgnv = mgn, invv = inv;
        for (i = 0; i + 16 <= d; i += 16) KNAME(st)(o + i, (KNAME(ld)(gr + i) - mgv - KNAME(ld)(nr + i) * mgnv) * invv);
        for (; i < d; i++) o[i] = (gr[i] - mg - nr[i] * mgn) * inv;
    }
}
