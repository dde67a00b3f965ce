// Elementwise activations, included after kernels_impl.h (whose vexp, ld, st and sel they use)
// once per instruction set. The formulas are SIMDMath.swift's, operation for operation and with
// no fused multiply-adds, so every variant gives the same bits; a tail shorter than 16 goes
// through a padded vector, so an element's result does not depend on where a range starts.
// erf is glibc's libmvec (KNAME(verf), defined by the includer: one AVX-512 call, two AVX2 calls
// or four SSE calls per 16 lanes, scalar erff elsewhere), whose variants may differ in the last
// bit or two.

static inline v16f KNAME(vtanh)(v16f x) {
    v16f ax = KNAME(sel)(x < 0, -x, x);
    v16f e = KNAME(vexp)(ax * 2.0f);
    v16f t = 1.0f - 2.0f / (e + 1.0f);
    v16f x2 = x * x;
    // |x| < 0.0625: x - x^3/3 + 2x^5/15 is exact to float precision
    v16f series = ax * (1.0f + x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f)));
    t = KNAME(sel)(ax < 0.0625f, series, t);
    t = KNAME(sel)(x < 0, -t, t);
    return KNAME(sel)(x != x, x, t);
}

static inline v16f KNAME(vsigmoid)(v16f x) { return 1.0f / (1.0f + KNAME(vexp)(-x)); }

static inline v16f KNAME(activation)(int op, v16f x) {
    switch (op) {
    case FPK_EXP: return KNAME(vexp)(x);
    case FPK_TANH: return KNAME(vtanh)(x);
    case FPK_GELU_TANH: {
        // 0.5 x (1 + tanh u) = x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3)
        v16f u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return x / (1.0f + KNAME(vexp)(-2.0f * u));
    }
    case FPK_SILU: return x * KNAME(vsigmoid)(x);
    case FPK_ERF: return KNAME(verf)(x);
    // 0.5 x (1 + erf(x / sqrt 2)), in torch's order (the tail below about -5 cancels in 1 + erf,
    // as torch's does)
    case FPK_GELU_ERF: return 0.5f * x * (1.0f + KNAME(verf)(x * 0.7071067811865476f));
    default: return KNAME(vsigmoid)(x);   // FPK_SIGMOID
    }
}

// d act / dx at x, for the backward of FPK_SILU, FPK_GELU_TANH and FPK_GELU_ERF.
static inline v16f KNAME(activation_slope)(int op, v16f x) {
    if (op == FPK_SILU) {
        v16f s = KNAME(vsigmoid)(x);
        return s * (1.0f + x * (1.0f - s));
    }
    if (op == FPK_GELU_ERF) {
        // Phi(x) + x phi(x), phi(x) = e^(-x^2 / 2) / sqrt(2 pi)
        v16f phi = KNAME(vexp)(-0.5f * x * x) * 0.3989422804014327f;
        return 0.5f * (1.0f + KNAME(verf)(x * 0.7071067811865476f)) + x * phi;
    }
    // 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2), t = tanh(c (x + 0.044715 x^3))
    const float c = 0.7978845608028654f;
    v16f t = KNAME(vtanh)(c * (x + 0.044715f * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x * x);
}

// y = act(x) (times o when o is not NULL) or, for the gradient, o * act'(x): full vectors, then
// the tail through a zero-padded vector.
static inline v16f KNAME(pointwise)(int op, int grad, v16f x, v16f o, int with_o) {
    if (grad) return o * KNAME(activation_slope)(op, x);
    v16f a = KNAME(activation)(op, x);
    return with_o ? a * o : a;
}

static inline void KNAME(pointwise_map)(int op, int grad, const float *x, const float *o, float *y, long n) {
    long i = 0;
    for (; i + 16 <= n; i += 16)
        KNAME(st)(y + i, KNAME(pointwise)(op, grad, KNAME(ld)(x + i), o ? KNAME(ld)(o + i) : (v16f)0.0f, o != NULL));
    if (i == n) return;
    float in[16] = {0}, on[16] = {0}, out[16];
    memcpy(in, x + i, sizeof(float) * (n - i));
    if (o) memcpy(on, o + i, sizeof(float) * (n - i));
    KNAME(st)(out, KNAME(pointwise)(op, grad, KNAME(ld)(in), KNAME(ld)(on), o != NULL));
    memcpy(y + i, out, sizeof(float) * (n - i));
}

void KNAME(fpk_activation)(int op, const float *x, const float *mul, float *y, long n) {
    KNAME(pointwise_map)(op, 0, x, mul, y, n);
}

void KNAME(fpk_activation_grad)(int op, const float *x, const float *g, float *y, long n) {
    KNAME(pointwise_map)(op, 1, x, g, y, n);
}
