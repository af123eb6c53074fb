// lazyflow_device.h: device helpers shared by every kernel lazyflow generates.
//
// Included after lazyflow_cuda.h (which maps CUDA built-ins to host code when the same text is
// compiled by g++ for CPU emulation). Everything here is plain CUDA C++: overloads that let the
// generated scalar expressions be type-generic (float / double / integers), rounding to the
// storage precision of float16 and bfloat16, Philox4x32-10 (the CPU backend's stream), and block
// reductions built from warp shuffles and shared memory.
#pragma once

#define LF_INF __int_as_float(0x7f800000)
#define LF_DINF __longlong_as_double(0x7ff0000000000000LL)

// ---------------------------------------------------------------- storage rounding
// bfloat16 tensors are stored as float32 rounded to bfloat16 (as the CPU backend stores them);
// float16 tensors are stored as __half. Both compute in float and round after every op, which
// is what the numpy backend does, so both backends agree bit for bit on arithmetic.
__device__ __forceinline__ float lf_round_bf16(float x) {
  unsigned int u = __float_as_uint(x);
  if (x != x) return x;
  u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  return __uint_as_float(u);
}
__device__ __forceinline__ float lf_round_f16(float x) { return __half2float(__float2half_rn(x)); }
__device__ __forceinline__ float lf_load(const __half* p, long long i) { return __half2float(p[i]); }
__device__ __forceinline__ void lf_store(__half* p, long long i, float v) { p[i] = __float2half_rn(v); }

// ---------------------------------------------------------------- math overloads
#define LF_UNARY_F(name, ff, df)                                           \
  __device__ __forceinline__ float name(float x) { return ff(x); }         \
  __device__ __forceinline__ double name(double x) { return df(x); }
LF_UNARY_F(lf_exp, expf, exp)
LF_UNARY_F(lf_expm1, expm1f, expm1)
LF_UNARY_F(lf_log, logf, log)
LF_UNARY_F(lf_log1p, log1pf, log1p)
LF_UNARY_F(lf_log2, log2f, log2)
LF_UNARY_F(lf_log10, log10f, log10)
LF_UNARY_F(lf_sqrt, sqrtf, sqrt)
LF_UNARY_F(lf_sin, sinf, sin)
LF_UNARY_F(lf_cos, cosf, cos)
LF_UNARY_F(lf_tan, tanf, tan)
LF_UNARY_F(lf_asin, asinf, asin)
LF_UNARY_F(lf_acos, acosf, acos)
LF_UNARY_F(lf_atan, atanf, atan)
LF_UNARY_F(lf_sinh, sinhf, sinh)
LF_UNARY_F(lf_cosh, coshf, cosh)
LF_UNARY_F(lf_tanh, tanhf, tanh)
LF_UNARY_F(lf_asinh, asinhf, asinh)
LF_UNARY_F(lf_acosh, acoshf, acosh)
LF_UNARY_F(lf_atanh, atanhf, atanh)
LF_UNARY_F(lf_erf, erff, erf)
LF_UNARY_F(lf_floor, floorf, floor)
LF_UNARY_F(lf_ceil, ceilf, ceil)
LF_UNARY_F(lf_trunc, truncf, trunc)
LF_UNARY_F(lf_rint, rintf, rint)
LF_UNARY_F(lf_lgamma, lgammaf, lgamma)
LF_UNARY_F(lf_erfinv, erfinvf, erfinv)
#undef LF_UNARY_F

// digamma and trigamma (digamma's derivative): the recurrence up to x >= 6, then the
// asymptotic series, reflection below 0; in double, as the numpy backend (lazyflow/ir/special.py)
#define LF_PI 3.14159265358979323846
#define LF_DNAN __longlong_as_double(0x7ff8000000000000LL)
__device__ __forceinline__ double lf_digamma_pos(double x) {
  double acc = 0.0;
  while (x < 6.0) { acc += 1.0 / x; x += 1.0; }
  double inv2 = 1.0 / (x * x);
  double series = inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (
      1.0 / 240 - inv2 * (1.0 / 132 - inv2 * (691.0 / 32760 - inv2 / 12))))));
  return log(x) - 0.5 / x - series - acc;
}
__device__ __forceinline__ double lf_digamma(double x) {
  if (x != x) return x;
  if (x == 0) return 1.0 / x < 0 ? LF_DINF : -LF_DINF;   // digamma(-0.0) = +inf, as torch
  if (x == LF_DINF) return x;
  if (x == -LF_DINF) return LF_DNAN;
  if (x < 0) {
    double f = x - floor(x);
    if (f == 0) return LF_DNAN;
    return lf_digamma_pos(1.0 - x) - LF_PI / tan(LF_PI * f);
  }
  return lf_digamma_pos(x);
}
__device__ __forceinline__ float lf_digamma(float x) { return (float)lf_digamma((double)x); }
__device__ __forceinline__ double lf_trigamma_pos(double x) {
  double acc = 0.0;
  while (x < 6.0) { acc += 1.0 / (x * x); x += 1.0; }
  double inv = 1.0 / x, inv2 = inv * inv;
  return inv + inv2 / 2 + inv * inv2 * (1.0 / 6 - inv2 * (1.0 / 30 - inv2 * (1.0 / 42 - inv2 * (
      1.0 / 30 - inv2 * (5.0 / 66 - inv2 * (691.0 / 2730 - inv2 * 7.0 / 6)))))) + acc;
}
__device__ __forceinline__ double lf_trigamma(double x) {
  if (x != x) return x;
  if (x == 0) return LF_DINF;
  if (x == LF_DINF) return 0.0;
  if (x == -LF_DINF) return LF_DNAN;
  if (x < 0) {
    double s = sin(LF_PI * (x - rint(x)));
    return LF_PI * LF_PI / (s * s) - lf_trigamma_pos(1.0 - x);
  }
  return lf_trigamma_pos(x);
}
__device__ __forceinline__ float lf_trigamma(float x) { return (float)lf_trigamma((double)x); }

__device__ __forceinline__ float lf_fmod(float a, float b) { return fmodf(a, b); }
__device__ __forceinline__ double lf_fmod(double a, double b) { return fmod(a, b); }
__device__ __forceinline__ float lf_atan2(float a, float b) { return atan2f(a, b); }
__device__ __forceinline__ double lf_atan2(double a, double b) { return atan2(a, b); }
__device__ __forceinline__ float lf_pow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double lf_pow(double a, double b) { return pow(a, b); }
__device__ __forceinline__ float lf_copysign(float a, float b) { return copysignf(a, b); }
__device__ __forceinline__ double lf_copysign(double a, double b) { return copysign(a, b); }

template <class T> __device__ __forceinline__ T lf_pow(T a, T b) {  // integers: torch's rules
  if (b < 0) return a == 1 ? T(1) : (a == -1 ? ((b & 1) ? T(-1) : T(1)) : T(0));
  T r = 1;
  while (b) { if (b & 1) r *= a; a *= a; b >>= 1; }
  return r;
}
template <class T> __device__ __forceinline__ T lf_fmod(T a, T b) { return b == 0 ? T(0) : a % b; }

template <class T> __device__ __forceinline__ bool lf_isnan(T x) { return x != x; }
template <class T> __device__ __forceinline__ bool lf_isinf(T x) {
  return x == (T)LF_DINF || x == -(T)LF_DINF;
}
template <class T> __device__ __forceinline__ T lf_abs(T x) { return x < 0 ? -x : (x == 0 ? T(0) : x); }
template <class T> __device__ __forceinline__ T lf_neg(T x) { return -x; }
// NaN-propagating max/min (numpy's maximum/minimum, torch's max/min)
template <class T> __device__ __forceinline__ T lf_max(T a, T b) { return (a > b || a != a) ? a : b; }
template <class T> __device__ __forceinline__ T lf_min(T a, T b) { return (a < b || a != a) ? a : b; }
template <class T> __device__ __forceinline__ T lf_relu(T x) { return (x > T(0) || x != x) ? x : T(0); }
template <class T> __device__ __forceinline__ T lf_sign(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
}
template <class T> __device__ __forceinline__ T lf_sigmoid(T x) { return T(1) / (T(1) + lf_exp(-x)); }
template <class T> __device__ __forceinline__ T lf_rsqrt(T x) { return T(1) / lf_sqrt(x); }
template <class T> __device__ __forceinline__ T lf_frac(T x) { return x - lf_trunc(x); }
template <class T> __device__ __forceinline__ bool lf_signbit(T x) { return signbit(x); }
__device__ __forceinline__ bool lf_signbit(long long x) { return x < 0; }
__device__ __forceinline__ bool lf_signbit(int x) { return x < 0; }

// Python-style floor division and remainder (the result takes the divisor's sign)
__device__ __forceinline__ float lf_floordiv(float a, float b) { return floorf(a / b); }
__device__ __forceinline__ double lf_floordiv(double a, double b) { return floor(a / b); }
template <class T> __device__ __forceinline__ T lf_floordiv(T a, T b) {
  if (b == 0) return T(0);
  T q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q -= 1;
  return q;
}
__device__ __forceinline__ float lf_remainder(float a, float b) {
  float r = fmodf(a, b);
  if (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) r += b;
  return r;
}
__device__ __forceinline__ double lf_remainder(double a, double b) {
  double r = fmod(a, b);
  if (r != 0.0 && ((r < 0.0) != (b < 0.0))) r += b;
  return r;
}
template <class T> __device__ __forceinline__ T lf_remainder(T a, T b) {
  if (b == 0) return T(0);
  T r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}
template <class T> __device__ __forceinline__ T lf_clamp(T x, T lo, T hi) { return lf_min(lf_max(x, lo), hi); }
template <class T> __device__ __forceinline__ T lf_nan_to_num(T x, T nan, T posinf, T neginf) {
  return x != x ? nan : (x == (T)LF_DINF ? posinf : (x == -(T)LF_DINF ? neginf : x));
}

// ---------------------------------------------------------------- Philox4x32-10
// Element i of a draw uses counter (offset + i / 4) and lane i % 4, keyed by the 64-bit seed:
// the same function as lazyflow/ir/philox.py, so both backends draw the same numbers.
struct lf_philox_out { unsigned int v[4]; };
__device__ __forceinline__ lf_philox_out lf_philox(unsigned long long ctr, unsigned long long seed) {
  unsigned int c0 = (unsigned int)ctr, c1 = (unsigned int)(ctr >> 32), c2 = 0u, c3 = 0u;
  unsigned int k0 = (unsigned int)seed, k1 = (unsigned int)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    unsigned long long p0 = (unsigned long long)c0 * 0xD2511F53ull;
    unsigned long long p1 = (unsigned long long)c2 * 0xCD9E8D57ull;
    unsigned int hi0 = (unsigned int)(p0 >> 32), lo0 = (unsigned int)p0;
    unsigned int hi1 = (unsigned int)(p1 >> 32), lo1 = (unsigned int)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  lf_philox_out o;
  o.v[0] = c0; o.v[1] = c1; o.v[2] = c2; o.v[3] = c3;
  return o;
}
__device__ __forceinline__ unsigned int lf_random_bits(long long seed, long long offset, long long i) {
  lf_philox_out o = lf_philox((unsigned long long)offset + (unsigned long long)(i >> 2),
                              (unsigned long long)seed);
  return o.v[i & 3];
}
// U[0, 1) with 24 random bits, exactly as philox.uniform
__device__ __forceinline__ float lf_uniform_f(long long seed, long long offset, long long i) {
  return (float)(lf_random_bits(seed, offset, i) >> 8) * (1.0f / 16777216.0f);
}
__device__ __forceinline__ double lf_uniform_d(long long seed, long long offset, long long i) {
  return (double)(lf_random_bits(seed, offset, i) >> 8) * (1.0 / 16777216.0);
}
// Box-Muller over lane pairs (0,1) and (2,3), as philox.normal
template <class T> __device__ __forceinline__ T lf_normal(long long seed, long long offset, long long i) {
  lf_philox_out o = lf_philox((unsigned long long)offset + (unsigned long long)(i >> 2),
                              (unsigned long long)seed);
  int lane = (int)(i & 3);
  int base = lane & 2;
  const T scale = T(1.0 / 16777216.0);
  T u1 = ((T)(o.v[base] >> 8) + T(1)) * scale;
  T u2 = (T)(o.v[base + 1] >> 8) * scale;
  T r = lf_sqrt(T(-2) * lf_log(u1));
  T th = T(2.0 * 3.14159265358979323846) * u2;
  return (lane & 1) ? r * lf_sin(th) : r * lf_cos(th);
}
// randint: low + bits % span with one or two 32-bit words per value
__device__ __forceinline__ long long lf_randint(long long seed, long long offset, long long i,
                                                long long low, unsigned long long span, int words) {
  unsigned long long b;
  if (words == 1) {
    b = lf_random_bits(seed, offset, i);
  } else {
    b = ((unsigned long long)lf_random_bits(seed, offset, 2 * i) << 32) |
        lf_random_bits(seed, offset, 2 * i + 1);
  }
  return (long long)((unsigned long long)low + b % (span ? span : 1ull));
}

// ---------------------------------------------------------------- block reductions
struct lf_op_sum { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; } };
struct lf_op_prod { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a * b; } };
struct lf_op_max { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return lf_max(a, b); } };
struct lf_op_min { template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return lf_min(a, b); } };

// Reduce `v` over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// result. Warps reduce with shuffles, then each thread folds the per-warp partials in order, so
// the result is deterministic.
template <class T, class Op>
__device__ __forceinline__ T lf_block_reduce(T v, Op op) {
  __shared__ T lf_partials[32];
  for (int off = 16; off > 0; off >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, off));
  __syncthreads();  // the previous reduction in this kernel has finished reading lf_partials
  if ((threadIdx.x & 31) == 0) lf_partials[threadIdx.x >> 5] = v;
  __syncthreads();
  T r = lf_partials[0];
  int nw = (int)(blockDim.x >> 5);
  for (int w = 1; w < nw; ++w) r = op(r, lf_partials[w]);
  return r;
}

// arg-reduction step: keep (a, ia) or take (b, ib); NaN wins, ties keep the lower index
template <bool IsMax, class T>
__device__ __forceinline__ void lf_arg_step(T& a, long long& ia, T b, long long ib) {
  bool an = a != a, bn = b != b;
  bool take;
  if (an || bn) take = bn && (!an || ib < ia);
  else if (a == b) take = ib < ia;
  else take = IsMax ? (b > a) : (b < a);
  if (take) { a = b; ia = ib; }
}

template <bool IsMax, class T>
__device__ __forceinline__ long long lf_block_argreduce(T v, long long i) {
  __shared__ T lf_arg_vals[32];
  __shared__ long long lf_arg_idx[32];
  for (int off = 16; off > 0; off >>= 1) {
    T ov = __shfl_xor_sync(0xffffffffu, v, off);
    long long oi = __shfl_xor_sync(0xffffffffu, i, off);
    lf_arg_step<IsMax>(v, i, ov, oi);
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) { lf_arg_vals[threadIdx.x >> 5] = v; lf_arg_idx[threadIdx.x >> 5] = i; }
  __syncthreads();
  T r = lf_arg_vals[0];
  long long ri = lf_arg_idx[0];
  int nw = (int)(blockDim.x >> 5);
  for (int w = 1; w < nw; ++w) lf_arg_step<IsMax>(r, ri, lf_arg_vals[w], lf_arg_idx[w]);
  return ri;
}
