// lazyflow_cuda.h: the one header every generated CUDA translation unit includes first.
//
// Under NVRTC / nvcc (__CUDACC_RTC__ / __CUDACC__) it pulls in the fp16/bf16 headers and a few
// helpers shared by generated kernels. Under a host C++ compiler (g++) it is a CPU emulation of
// the CUDA built-ins the code generator uses, so the same kernel text can be run and checked on a
// machine without a GPU (see lazyflow/codegen/cuda/verify). In the emulation every thread of a
// block is a fiber (ucontext) that yields at __syncthreads and at warp-level exchanges
// (shuffles, votes, __syncwarp); kernels without those run as a plain loop over threads.
#pragma once

// ---------------------------------------------------------------------------------------------
// Helpers shared by both sides (NVRTC has no host <math.h>: INFINITY/NAN are undefined there).
// ---------------------------------------------------------------------------------------------
#define LF_INFINITY_F (__int_as_float(0x7f800000))
#define LF_NAN_F (__int_as_float(0x7fffffff))
#define LF_INFINITY_D (__longlong_as_double(0x7ff0000000000000LL))
#define LF_NAN_D (__longlong_as_double(0x7ff8000000000000LL))

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
// ============================== device compilation (NVRTC, nvcc) =============================
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#define LAZYFLOW_CUDA_EMULATION 0

#else
// ================================ host emulation (g++ >= 9) ==================================
#define LAZYFLOW_CUDA_EMULATION 1
#include <fenv.h>
#include <math.h>
#include <cmath>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define LF_EMU_ASAN 1
#else
#define LF_EMU_ASAN 0
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
// Static __shared__ arrays live in one section, which every launch fills with garbage (0xcd
// bytes, as the dynamic buffer), so reading shared memory before writing it shows up in results.
// ASAN builds keep them as plain statics, which ASAN surrounds with redzones.
#if LF_EMU_ASAN
#define __shared__ static
#else
#define __shared__ static __attribute__((section("lf_emu_shared"), aligned(16)))
#endif
extern "C" char __start_lf_emu_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_lf_emu_shared[] __attribute__((weak, visibility("hidden")));
#define __constant__ static
#define __managed__
#define __grid_constant__
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define LF_EMU_EXPORT extern "C" __attribute__((visibility("default")))

// ---- built-in vector types and variables ----------------------------------------------------
struct uint3 { unsigned int x, y, z; };
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 { float x, y; };
struct float3 { float x, y, z; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned int x, y; };
struct alignas(16) uint4 { unsigned int x, y, z, w; };
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
static inline float3 make_float3(float x, float y, float z) { return float3{x, y, z}; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline double2 make_double2(double x, double y) { return double2{x, y}; }
static inline int2 make_int2(int x, int y) { return int2{x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
static inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

static uint3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;
static constexpr int warpSize = 32;

// ---- bit casts ------------------------------------------------------------------------------
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
static inline float __uint_as_float(unsigned int i) { float f; memcpy(&f, &i, 4); return f; }
static inline unsigned int __float_as_uint(float f) { unsigned int i; memcpy(&i, &f, 4); return i; }
static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, 8); return d; }
static inline long long __double_as_longlong(double d) { long long i; memcpy(&i, &d, 8); return i; }
static inline int __double2hiint(double d) { return (int)(__double_as_longlong(d) >> 32); }
static inline int __double2loint(double d) { return (int)(__double_as_longlong(d) & 0xffffffffLL); }
static inline double __hiloint2double(int hi, int lo) {
  return __longlong_as_double((long long)(((unsigned long long)(unsigned)hi << 32) | (unsigned)lo));
}

// ---- float16 / bfloat16 (round to nearest even, like __float2half / __float2bfloat16) ------
namespace lf_emu {
static inline unsigned short float_to_half_bits(float f) {
  unsigned int x = __float_as_uint(f);
  unsigned short sign = (unsigned short)((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return 0x7fff;                    // NaN: CUDA's canonical half NaN
  if (x >= 0x477ff000u) return sign | 0x7c00u;           // >= 65520 rounds to infinity
  if (x < 0x38800000u) {                                 // below 2^-14: subnormal half or zero
    float scaled = fabsf(f) * 16777216.0f;               // exact: multiply by 2^24
    return sign | (unsigned short)nearbyintf(scaled);    // ties to even (default rounding mode)
  }
  unsigned int r = x + 0xfffu + ((x >> 13) & 1u);        // round mantissa to 10 bits, ties to even
  return sign | (unsigned short)((r - 0x38000000u) >> 13);
}
static inline unsigned short double_to_half_bits(double d) {
  unsigned long long x = (unsigned long long)__double_as_longlong(d);
  unsigned short sign = (unsigned short)((x >> 48) & 0x8000u);
  x &= 0x7fffffffffffffffull;
  if (x > 0x7ff0000000000000ull) return 0x7fff;
  if (x >= 0x40effe0000000000ull) return sign | 0x7c00u;   // >= 65520
  if (x < 0x3f10000000000000ull) {                          // below 2^-14
    return sign | (unsigned short)nearbyint(fabs(d) * 16777216.0);
  }
  unsigned long long r = x + 0x3ffffffffffull + ((x >> 42) & 1ull);
  return sign | (unsigned short)((r - 0x3f00000000000000ull) >> 42);
}
static inline float half_bits_to_float(unsigned short h) {
  unsigned int sign = (unsigned int)(h & 0x8000u) << 16;
  unsigned int e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    float v = (float)m * 5.9604644775390625e-08f;        // m * 2^-24
    return sign ? -v : v;
  }
  if (e == 31) return __uint_as_float(sign | 0x7f800000u | (m << 13));
  return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}
static inline unsigned short float_to_bf16_bits(float f) {
  unsigned int x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fff;   // NaN: CUDA's canonical bf16 NaN
  return (unsigned short)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
static inline unsigned short double_to_bf16_bits(double d) {
  unsigned long long x = (unsigned long long)__double_as_longlong(d);
  unsigned long long a = x & 0x7fffffffffffffffull;
  if (a > 0x7ff0000000000000ull) return 0x7fff;
  // Round once, directly from double: keep sign/exponent (rebias 1023 -> 127) and 7 mantissa bits.
  if (a >= 0x47effff000000000ull) return (unsigned short)(((x >> 48) & 0x8000u) | 0x7f80u);
  if (a < 0x3810000000000000ull) {                        // below 2^-126: subnormal bf16 or zero
    unsigned short m = (unsigned short)nearbyint(fabs(d) * 1.329227995784916e+36);  // * 2^120 -> 2^-133 units
    return (unsigned short)(((x >> 48) & 0x8000u) | m);
  }
  unsigned long long r = a + 0x1fffffffffffull + ((a >> 45) & 1ull);
  return (unsigned short)(((x >> 48) & 0x8000u) | ((r - 0x3800000000000000ull) >> 45));
}
static inline float bf16_bits_to_float(unsigned short b) { return __uint_as_float((unsigned int)b << 16); }
}  // namespace lf_emu

struct __half {
  unsigned short __x;
  __half() = default;
  __half(float f) : __x(lf_emu::float_to_half_bits(f)) {}
  __half(double d) : __x(lf_emu::double_to_half_bits(d)) {}
  __half(int i) : __x(lf_emu::float_to_half_bits((float)i)) {}
  __half(unsigned int i) : __x(lf_emu::float_to_half_bits((float)i)) {}
  __half(long long i) : __x(lf_emu::float_to_half_bits((float)i)) {}
  __half(unsigned long long i) : __x(lf_emu::float_to_half_bits((float)i)) {}
  __half(short i) : __x(lf_emu::float_to_half_bits((float)i)) {}
  __half(unsigned short i) : __x(lf_emu::float_to_half_bits((float)i)) {}
  operator float() const { return lf_emu::half_bits_to_float(__x); }
};
struct __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f) : __x(lf_emu::float_to_bf16_bits(f)) {}
  __nv_bfloat16(double d) : __x(lf_emu::double_to_bf16_bits(d)) {}
  __nv_bfloat16(int i) : __x(lf_emu::float_to_bf16_bits((float)i)) {}
  __nv_bfloat16(unsigned int i) : __x(lf_emu::float_to_bf16_bits((float)i)) {}
  __nv_bfloat16(long long i) : __x(lf_emu::float_to_bf16_bits((float)i)) {}
  __nv_bfloat16(unsigned long long i) : __x(lf_emu::float_to_bf16_bits((float)i)) {}
  __nv_bfloat16(short i) : __x(lf_emu::float_to_bf16_bits((float)i)) {}
  __nv_bfloat16(unsigned short i) : __x(lf_emu::float_to_bf16_bits((float)i)) {}
  operator float() const { return lf_emu::bf16_bits_to_float(__x); }
};
typedef __half half;
typedef __nv_bfloat16 nv_bfloat16;

static inline float __half2float(__half h) { return (float)h; }
static inline __half __float2half(float f) { return __half(f); }
static inline __half __float2half_rn(float f) { return __half(f); }
static inline __half __double2half(double d) { return __half(d); }
static inline __half __int2half_rn(int i) { return __half(i); }
static inline float __bfloat162float(__nv_bfloat16 b) { return (float)b; }
static inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
static inline __nv_bfloat16 __double2bfloat16(double d) { return __nv_bfloat16(d); }
static inline __nv_bfloat16 __float2bfloat16_rz(float f) {
  __nv_bfloat16 b; unsigned int x = __float_as_uint(f);
  b.__x = ((x & 0x7fffffffu) > 0x7f800000u) ? (unsigned short)0x7fff : (unsigned short)(x >> 16);
  return b;
}
static inline unsigned short __half_as_ushort(__half h) { return h.__x; }
static inline __half __ushort_as_half(unsigned short u) { __half h; h.__x = u; return h; }
static inline short __half_as_short(__half h) { return (short)h.__x; }
static inline __half __short_as_half(short s) { __half h; h.__x = (unsigned short)s; return h; }
static inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.__x; }
static inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { __nv_bfloat16 b; b.__x = u; return b; }
static inline short __bfloat16_as_short(__nv_bfloat16 b) { return (short)b.__x; }
static inline __nv_bfloat16 __short_as_bfloat16(short s) { __nv_bfloat16 b; b.__x = (unsigned short)s; return b; }

// Arithmetic between two halves (or two bfloat16s) is computed in float and rounded once, which
// equals the correctly rounded result. Mixed half/float expressions are ambiguous here exactly as
// they are under NVRTC, so the emulation rejects the same code.
#define LF_EMU_LOWP_OPS(T)                                                                         \
  static inline T operator+(const T& a, const T& b) { return T((float)a + (float)b); }            \
  static inline T operator-(const T& a, const T& b) { return T((float)a - (float)b); }            \
  static inline T operator*(const T& a, const T& b) { return T((float)a * (float)b); }            \
  static inline T operator/(const T& a, const T& b) { return T((float)a / (float)b); }            \
  static inline T& operator+=(T& a, const T& b) { a = a + b; return a; }                          \
  static inline T& operator-=(T& a, const T& b) { a = a - b; return a; }                          \
  static inline T& operator*=(T& a, const T& b) { a = a * b; return a; }                          \
  static inline T& operator/=(T& a, const T& b) { a = a / b; return a; }                          \
  static inline T operator-(const T& a) { T r = a; r.__x ^= 0x8000u; return r; }                  \
  static inline T operator+(const T& a) { return a; }                                              \
  static inline bool operator==(const T& a, const T& b) { return (float)a == (float)b; }          \
  static inline bool operator!=(const T& a, const T& b) { return (float)a != (float)b; }          \
  static inline bool operator<(const T& a, const T& b) { return (float)a < (float)b; }            \
  static inline bool operator>(const T& a, const T& b) { return (float)a > (float)b; }            \
  static inline bool operator<=(const T& a, const T& b) { return (float)a <= (float)b; }          \
  static inline bool operator>=(const T& a, const T& b) { return (float)a >= (float)b; }          \
  static inline T __hadd(T a, T b) { return a + b; }                                               \
  static inline T __hsub(T a, T b) { return a - b; }                                               \
  static inline T __hmul(T a, T b) { return a * b; }                                               \
  static inline T __hdiv(T a, T b) { return a / b; }                                               \
  static inline T __hneg(T a) { return -a; }                                                       \
  static inline T __habs(T a) { T r = a; r.__x &= 0x7fffu; return r; }                            \
  static inline T __hfma(T a, T b, T c) { return T(fmaf((float)a, (float)b, (float)c)); }         \
  static inline T __hmax(T a, T b) { return T(fmaxf((float)a, (float)b)); }                      \
  static inline T __hmin(T a, T b) { return T(fminf((float)a, (float)b)); }                      \
  static inline bool __heq(T a, T b) { return a == b; }                                            \
  static inline bool __hne(T a, T b) { return a != b; }                                            \
  static inline bool __hlt(T a, T b) { return a < b; }                                             \
  static inline bool __hle(T a, T b) { return a <= b; }                                            \
  static inline bool __hgt(T a, T b) { return a > b; }                                             \
  static inline bool __hge(T a, T b) { return a >= b; }                                            \
  static inline bool __hisnan(T a) { return isnan((float)a); }                                     \
  static inline int __hisinf(T a) { float f = (float)a; return isinf(f) ? (f > 0 ? 1 : -1) : 0; } \
  static inline T hexp(T a) { return T(expf((float)a)); }                                          \
  static inline T hlog(T a) { return T(logf((float)a)); }                                          \
  static inline T hsqrt(T a) { return T(sqrtf((float)a)); }                                        \
  static inline T hrsqrt(T a) { return T(1.0f / sqrtf((float)a)); }                                \
  static inline T hsin(T a) { return T(sinf((float)a)); }                                          \
  static inline T hcos(T a) { return T(cosf((float)a)); }                                          \
  static inline T hfloor(T a) { return T(floorf((float)a)); }                                      \
  static inline T hceil(T a) { return T(ceilf((float)a)); }                                        \
  static inline T htrunc(T a) { return T(truncf((float)a)); }                                      \
  static inline T hrint(T a) { return T(rintf((float)a)); }
LF_EMU_LOWP_OPS(__half)
LF_EMU_LOWP_OPS(__nv_bfloat16)
#undef LF_EMU_LOWP_OPS

// ---- paired types for 32-bit vector access to half / bfloat16 data -------------------------
struct alignas(4) __half2 { __half x, y; };
struct alignas(4) __nv_bfloat162 { __nv_bfloat16 x, y; };
typedef __half2 half2;
typedef __nv_bfloat162 nv_bfloat162;
static inline __half2 __halves2half2(__half a, __half b) { return __half2{a, b}; }
static inline __half2 make_half2(__half a, __half b) { return __half2{a, b}; }
static inline __half2 __half2half2(__half a) { return __half2{a, a}; }
static inline __half __low2half(__half2 v) { return v.x; }
static inline __half __high2half(__half2 v) { return v.y; }
static inline float2 __half22float2(__half2 v) { return float2{(float)v.x, (float)v.y}; }
static inline __half2 __float22half2_rn(float2 v) { return __half2{__half(v.x), __half(v.y)}; }
static inline __half2 __floats2half2_rn(float a, float b) { return __half2{__half(a), __half(b)}; }
static inline __half2 __hadd2(__half2 a, __half2 b) { return __half2{a.x + b.x, a.y + b.y}; }
static inline __half2 __hmul2(__half2 a, __half2 b) { return __half2{a.x * b.x, a.y * b.y}; }
static inline __half2 __hfma2(__half2 a, __half2 b, __half2 c) {
  return __half2{__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y)};
}
static inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat162{a, b}; }
static inline __nv_bfloat162 make_bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat162{a, b}; }
static inline __nv_bfloat16 __low2bfloat16(__nv_bfloat162 v) { return v.x; }
static inline __nv_bfloat16 __high2bfloat16(__nv_bfloat162 v) { return v.y; }
static inline float2 __bfloat1622float2(__nv_bfloat162 v) { return float2{(float)v.x, (float)v.y}; }
static inline __nv_bfloat162 __float22bfloat162_rn(float2 v) {
  return __nv_bfloat162{__nv_bfloat16(v.x), __nv_bfloat16(v.y)};
}
static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
  return __nv_bfloat162{__nv_bfloat16(a), __nv_bfloat16(b)};
}

// ---- math library extras (the C library supplies expf, logf, erff, tanhf, ...) -------------
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
static inline double rcbrt(double x) { return 1.0 / cbrt(x); }
// glibc declares __expf & co. itself; macros keep the CUDA spellings pointing at our versions.
namespace lf_emu {
static inline float fast_expf(float x) { return expf(x); }
static inline float fast_exp10f(float x) { return powf(10.0f, x); }
static inline float fast_logf(float x) { return logf(x); }
static inline float fast_log2f(float x) { return log2f(x); }
static inline float fast_log10f(float x) { return log10f(x); }
static inline float fast_sinf(float x) { return sinf(x); }
static inline float fast_cosf(float x) { return cosf(x); }
static inline float fast_tanf(float x) { return tanf(x); }
static inline void fast_sincosf(float x, float* s, float* c) { *s = sinf(x); *c = cosf(x); }
static inline float fast_powf(float x, float y) { return powf(x, y); }
}  // namespace lf_emu
#define __expf lf_emu::fast_expf
#define __exp10f lf_emu::fast_exp10f
#define __logf lf_emu::fast_logf
#define __log2f lf_emu::fast_log2f
#define __log10f lf_emu::fast_log10f
#define __sinf lf_emu::fast_sinf
#define __cosf lf_emu::fast_cosf
#define __tanf lf_emu::fast_tanf
#define __sincosf lf_emu::fast_sincosf
#define __powf lf_emu::fast_powf
static inline float __fdividef(float x, float y) { return x / y; }
static inline float fdividef(float x, float y) { return x / y; }
// Arithmetic with an explicit IEEE rounding mode (_rn nearest, _rz toward zero, _rd down, _ru up):
// the operation runs with the SSE rounding mode switched, through volatile to defeat folding.
namespace lf_emu {
template <class F> static inline auto with_rounding(int mode, F op) -> decltype(op()) {
  int old = fegetround();
  fesetround(mode);
  volatile decltype(op()) r = op();
  fesetround(old);
  return r;
}
}  // namespace lf_emu
#define LF_EMU_ROUNDED(sfx, mode)                                                                  \
  static inline float __fadd_##sfx(float a, float b) { return lf_emu::with_rounding(mode, [&] { volatile float x = a, y = b; return x + y; }); } \
  static inline float __fsub_##sfx(float a, float b) { return lf_emu::with_rounding(mode, [&] { volatile float x = a, y = b; return x - y; }); } \
  static inline float __fmul_##sfx(float a, float b) { return lf_emu::with_rounding(mode, [&] { volatile float x = a, y = b; return x * y; }); } \
  static inline float __fdiv_##sfx(float a, float b) { return lf_emu::with_rounding(mode, [&] { volatile float x = a, y = b; return x / y; }); } \
  static inline float __frcp_##sfx(float a) { return lf_emu::with_rounding(mode, [&] { volatile float x = a; return 1.0f / x; }); } \
  static inline float __fsqrt_##sfx(float a) { return lf_emu::with_rounding(mode, [&] { volatile float x = a; return sqrtf(x); }); } \
  static inline float __fmaf_##sfx(float a, float b, float c) { return lf_emu::with_rounding(mode, [&] { volatile float x = a; return fmaf(x, b, c); }); } \
  static inline double __dadd_##sfx(double a, double b) { return lf_emu::with_rounding(mode, [&] { volatile double x = a, y = b; return x + y; }); } \
  static inline double __dsub_##sfx(double a, double b) { return lf_emu::with_rounding(mode, [&] { volatile double x = a, y = b; return x - y; }); } \
  static inline double __dmul_##sfx(double a, double b) { return lf_emu::with_rounding(mode, [&] { volatile double x = a, y = b; return x * y; }); } \
  static inline double __ddiv_##sfx(double a, double b) { return lf_emu::with_rounding(mode, [&] { volatile double x = a, y = b; return x / y; }); } \
  static inline double __drcp_##sfx(double a) { return lf_emu::with_rounding(mode, [&] { volatile double x = a; return 1.0 / x; }); } \
  static inline double __dsqrt_##sfx(double a) { return lf_emu::with_rounding(mode, [&] { volatile double x = a; return sqrt(x); }); } \
  static inline double __fma_##sfx(double a, double b, double c) { return lf_emu::with_rounding(mode, [&] { volatile double x = a; return fma(x, b, c); }); }
LF_EMU_ROUNDED(rn, FE_TONEAREST)
LF_EMU_ROUNDED(rz, FE_TOWARDZERO)
LF_EMU_ROUNDED(rd, FE_DOWNWARD)
LF_EMU_ROUNDED(ru, FE_UPWARD)
#undef LF_EMU_ROUNDED
static inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
static inline float erfcxf(float x) {
  double d = x;
  if (d < 25.0) return (float)(exp(d * d) * erfc(d));
  double r = 1.0 / (d * d);   // asymptotic series where exp(x^2) overflows
  return (float)(0.56418958354775628 / d * (1.0 - 0.5 * r + 0.75 * r * r - 1.875 * r * r * r));
}
static inline double erfcx(double d) {
  if (d < 25.0) return exp(d * d) * erfc(d);
  double r = 1.0 / (d * d);
  return 0.56418958354775628 / d * (1.0 - 0.5 * r + 0.75 * r * r - 1.875 * r * r * r);
}
static inline float cyl_bessel_i0f(float x) { return (float)std::cyl_bessel_i(0.0, fabs((double)x)); }
static inline float cyl_bessel_i1f(float x) {
  double v = std::cyl_bessel_i(1.0, fabs((double)x));
  return (float)(x < 0 ? -v : v);
}
static inline double cyl_bessel_i0(double x) { return std::cyl_bessel_i(0.0, fabs(x)); }
static inline double cyl_bessel_i1(double x) { double v = std::cyl_bessel_i(1.0, fabs(x)); return x < 0 ? -v : v; }
static inline float __saturatef(float x) { return x != x ? 0.0f : fminf(fmaxf(x, 0.0f), 1.0f); }
static inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }
static inline double normcdf(double x) { return 0.5 * erfc(-x * 0.70710678118654752440); }

static inline float sinpif(float x) { return (float)sin(3.14159265358979323846 * (double)x); }
static inline float cospif(float x) { return (float)cos(3.14159265358979323846 * (double)x); }
static inline void sincospif(float x, float* s, float* c) { *s = sinpif(x); *c = cospif(x); }
static inline double sinpi(double x) { return sin(3.14159265358979323846 * x); }
static inline double cospi(double x) { return cos(3.14159265358979323846 * x); }
namespace lf_emu {
// Inverse error function: a rational first guess refined by Newton steps on erf (double).
static inline double erfinv(double y) {
  if (!(y > -1.0 && y < 1.0)) return y == 1.0 ? HUGE_VAL : y == -1.0 ? -HUGE_VAL : NAN;
  double w = -log((1.0 - y) * (1.0 + y)), x;
  if (w < 5.0) {
    w -= 2.5;
    x = 2.81022636e-08; x = 3.43273939e-07 + x * w; x = -3.5233877e-06 + x * w;
    x = -4.39150654e-06 + x * w; x = 0.00021858087 + x * w; x = -0.00125372503 + x * w;
    x = -0.00417768164 + x * w; x = 0.246640727 + x * w; x = 1.50140941 + x * w;
  } else {
    w = sqrt(w) - 3.0;
    x = -0.000200214257; x = 0.000100950558 + x * w; x = 0.00134934322 + x * w;
    x = -0.00367342844 + x * w; x = 0.00573950773 + x * w; x = -0.0076224613 + x * w;
    x = 0.00943887047 + x * w; x = 1.00167406 + x * w; x = 2.83297682 + x * w;
  }
  x *= y;
  for (int i = 0; i < 3; ++i) x -= (erf(x) - y) / (1.1283791670955126 * exp(-x * x));
  return x;
}
}  // namespace lf_emu
static inline float erfinvf(float y) { return (float)lf_emu::erfinv(y); }
static inline double erfinv(double y) { return lf_emu::erfinv(y); }
static inline float erfcinvf(float y) { return (float)lf_emu::erfinv(1.0 - (double)y); }
static inline double erfcinv(double y) { return lf_emu::erfinv(1.0 - y); }
static inline float normcdfinvf(float p) { return (float)(-1.4142135623730951 * lf_emu::erfinv(1.0 - 2.0 * (double)p)); }
static inline double normcdfinv(double p) { return -1.4142135623730951 * lf_emu::erfinv(1.0 - 2.0 * p); }

static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
static inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
static inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }
// CUDA's mixed-sign overloads compare in the unsigned type.
static inline unsigned int min(int a, unsigned int b) { return min((unsigned int)a, b); }
static inline unsigned int min(unsigned int a, int b) { return min(a, (unsigned int)b); }
static inline unsigned int max(int a, unsigned int b) { return max((unsigned int)a, b); }
static inline unsigned int max(unsigned int a, int b) { return max(a, (unsigned int)b); }
static inline unsigned long long min(long long a, unsigned long long b) { return min((unsigned long long)a, b); }
static inline unsigned long long min(unsigned long long a, long long b) { return min(a, (unsigned long long)b); }
static inline unsigned long long max(long long a, unsigned long long b) { return max((unsigned long long)a, b); }
static inline unsigned long long max(unsigned long long a, long long b) { return max(a, (unsigned long long)b); }
static inline double min(float a, double b) { return fmin((double)a, b); }
static inline double min(double a, float b) { return fmin(a, (double)b); }
static inline double max(float a, double b) { return fmax((double)a, b); }
static inline double max(double a, float b) { return fmax(a, (double)b); }

// ---- conversions with an explicit rounding mode ---------------------------------------------
namespace lf_emu {
template <class I> static inline I sat_cast(double v, double lo, double hi) {
  if (v != v) return (I)0;
  return v <= lo ? (I)lo : v >= hi ? (I)hi : (I)v;
}
}  // namespace lf_emu
static inline int __float2int_rn(float x) { return lf_emu::sat_cast<int>(nearbyintf(x), -2147483648.0, 2147483647.0); }
static inline int __float2int_rz(float x) { return lf_emu::sat_cast<int>(truncf(x), -2147483648.0, 2147483647.0); }
static inline int __float2int_rd(float x) { return lf_emu::sat_cast<int>(floorf(x), -2147483648.0, 2147483647.0); }
static inline int __float2int_ru(float x) { return lf_emu::sat_cast<int>(ceilf(x), -2147483648.0, 2147483647.0); }
static inline unsigned int __float2uint_rn(float x) { return lf_emu::sat_cast<unsigned int>(nearbyintf(x), 0.0, 4294967295.0); }
static inline unsigned int __float2uint_rz(float x) { return lf_emu::sat_cast<unsigned int>(truncf(x), 0.0, 4294967295.0); }
static inline long long __float2ll_rn(float x) { return lf_emu::sat_cast<long long>(nearbyintf(x), -9223372036854775808.0, 9223372036854775807.0); }
static inline long long __float2ll_rz(float x) { return lf_emu::sat_cast<long long>(truncf(x), -9223372036854775808.0, 9223372036854775807.0); }
static inline int __double2int_rn(double x) { return lf_emu::sat_cast<int>(nearbyint(x), -2147483648.0, 2147483647.0); }
static inline int __double2int_rz(double x) { return lf_emu::sat_cast<int>(trunc(x), -2147483648.0, 2147483647.0); }
static inline long long __double2ll_rn(double x) { return lf_emu::sat_cast<long long>(nearbyint(x), -9223372036854775808.0, 9223372036854775807.0); }
static inline float __int2float_rn(int x) { return (float)x; }
static inline float __uint2float_rn(unsigned int x) { return (float)x; }
static inline float __ll2float_rn(long long x) { return (float)x; }
static inline float __ull2float_rn(unsigned long long x) { return (float)x; }
static inline double __int2double_rn(int x) { return (double)x; }
static inline double __ll2double_rn(long long x) { return (double)x; }
static inline float __double2float_rn(double x) { return (float)x; }

// ---- integer intrinsics ---------------------------------------------------------------------
static inline int __popc(unsigned int x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline unsigned int __brev(unsigned int x) {
  unsigned int r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
static inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
static inline unsigned int __umulhi(unsigned int a, unsigned int b) { return (unsigned int)(((unsigned long long)a * b) >> 32); }
static inline long long __mul64hi(long long a, long long b) { return (long long)(((__int128)a * b) >> 64); }
static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
static inline int __mul24(int a, int b) { return ((a << 8) >> 8) * ((b << 8) >> 8); }
static inline unsigned int __umul24(unsigned int a, unsigned int b) { return (a & 0xffffffu) * (b & 0xffffffu); }

// ---- memory access hints --------------------------------------------------------------------
template <class T> static inline T __ldg(const T* p) { return *p; }
template <class T> static inline T __ldca(const T* p) { return *p; }
template <class T> static inline T __ldcg(const T* p) { return *p; }
template <class T> static inline T __ldcs(const T* p) { return *p; }
template <class T> static inline T __ldlu(const T* p) { return *p; }
template <class T> static inline void __stcg(T* p, T v) { *p = v; }
template <class T> static inline void __stcs(T* p, T v) { *p = v; }
template <class T> static inline void __stwb(T* p, T v) { *p = v; }
static inline void __threadfence() {}
static inline void __threadfence_block() {}
static inline void __threadfence_system() {}

// ---- atomics (one OS thread runs every CUDA thread and never switches inside an atomic) -----
#define LF_EMU_ATOMIC(T)                                                                           \
  static inline T atomicAdd(T* p, T v) { T o = *p; *p = o + v; return o; }                        \
  static inline T atomicExch(T* p, T v) { T o = *p; *p = v; return o; }
LF_EMU_ATOMIC(int)
LF_EMU_ATOMIC(unsigned int)
LF_EMU_ATOMIC(unsigned long long)
LF_EMU_ATOMIC(float)
LF_EMU_ATOMIC(double)
LF_EMU_ATOMIC(__half)
LF_EMU_ATOMIC(__nv_bfloat16)
#undef LF_EMU_ATOMIC
#define LF_EMU_ATOMIC_INT(T)                                                                       \
  static inline T atomicSub(T* p, T v) { T o = *p; *p = o - v; return o; }                        \
  static inline T atomicMax(T* p, T v) { T o = *p; *p = o > v ? o : v; return o; }                \
  static inline T atomicMin(T* p, T v) { T o = *p; *p = o < v ? o : v; return o; }                \
  static inline T atomicAnd(T* p, T v) { T o = *p; *p = o & v; return o; }                        \
  static inline T atomicOr(T* p, T v) { T o = *p; *p = o | v; return o; }                         \
  static inline T atomicXor(T* p, T v) { T o = *p; *p = o ^ v; return o; }                        \
  static inline T atomicCAS(T* p, T cmp, T v) { T o = *p; if (o == cmp) *p = v; return o; }
LF_EMU_ATOMIC_INT(int)
LF_EMU_ATOMIC_INT(unsigned int)
LF_EMU_ATOMIC_INT(unsigned long long)
#undef LF_EMU_ATOMIC_INT
static inline long long atomicMax(long long* p, long long v) { long long o = *p; *p = o > v ? o : v; return o; }
static inline long long atomicMin(long long* p, long long v) { long long o = *p; *p = o < v ? o : v; return o; }
static inline unsigned short atomicCAS(unsigned short* p, unsigned short cmp, unsigned short v) {
  unsigned short o = *p; if (o == cmp) *p = v; return o;
}

// ---- the block scheduler --------------------------------------------------------------------
namespace lf_emu {

enum { kWarp = 32, kMaxThreads = 1024, kMaxWarps = kMaxThreads / kWarp, kErrLen = 1024 };
#if LF_EMU_ASAN
static const size_t kStack = 512 * 1024;
#else
static const size_t kStack = 128 * 1024;
#endif

// Context switching between the scheduler and the thread fibers. On x86-64 a 20-instruction
// switch that saves callee-saved registers (swapcontext would make two syscalls per switch);
// elsewhere, or with -DLF_EMU_USE_UCONTEXT, ucontext.
#if defined(__x86_64__) && !defined(LF_EMU_USE_UCONTEXT)
struct Context { void* sp; };
extern "C" void lf_emu_switch_stack(void** save_sp, void* load_sp) __attribute__((visibility("hidden")));
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".hidden lf_emu_switch_stack\n"
    ".type lf_emu_switch_stack,@function\n"
    "lf_emu_switch_stack:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size lf_emu_switch_stack, .-lf_emu_switch_stack\n");
static inline void context_switch(Context* from, Context* to) { lf_emu_switch_stack(&from->sp, to->sp); }
static inline void context_make(Context* c, char* stack, size_t size, void (*entry)()) {
  unsigned long long* top = (unsigned long long*)(((unsigned long long)(stack + size)) & ~15ull);
  unsigned int csr[2];
  __asm__ volatile("stmxcsr %0" : "=m"(csr[0]));
  __asm__ volatile("fnstcw %0" : "=m"(*(unsigned short*)&csr[1]));
  top[-1] = 0;                                   // the entry never returns
  top[-2] = (unsigned long long)entry;           // popped by `ret`
  for (int r = 3; r <= 8; ++r) top[-r] = 0;      // rbp rbx r12 r13 r14 r15
  memcpy(&top[-9], csr, 8);                      // mxcsr + x87 control word
  c->sp = &top[-9];
}
#else
struct Context { ucontext_t uc; };
static inline void context_switch(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }
static inline void context_make(Context* c, char* stack, size_t size, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = nullptr;
  makecontext(&c->uc, entry, 0);
}
#endif

struct Exchange {            // one warp-level rendezvous: a shuffle, vote or __syncwarp
  bool in_use, complete;
  unsigned int mask, arrived;
  int readers;
  const char* what;
  unsigned long long vals[kWarp];
};
struct Fiber {
  Context ctx;
  uint3 tid;
  int linear;
  bool done, waiting;
  const char* wait_what;     // what the fiber is blocked on, for deadlock reports
  Exchange* wait_exchange;   // the exchange it waits on, or null for a block barrier
  unsigned long long wait_gen;
};

static int g_mode;                    // 0: outside a launch, 1: plain loop, 2: fibers
static int g_reverse;                 // run blocks and threads in reverse index order
static Fiber* g_fibers;
static int g_nthreads, g_current = -1;
static Context g_sched;
static char* g_stacks;
static size_t g_stacks_bytes;
static Exchange g_exchanges[kMaxWarps][kWarp];
static int g_bar_arrived, g_bar_exited, g_bar_acc, g_bar_result;
static unsigned long long g_bar_gen;
static unsigned char* g_dyn_shared;
static void (*g_thunk)(void**);
static void** g_args;
static char g_error[kErrLen];
static bool g_failed;
static jmp_buf g_plain_exit;
#if LF_EMU_ASAN
static const void* g_main_bottom;
static size_t g_main_size;
#endif

static inline void switch_to_scheduler(bool finished) {
  Fiber& f = g_fibers[g_current];
#if LF_EMU_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(finished ? nullptr : &fake, g_main_bottom, g_main_size);
  context_switch(&f.ctx, &g_sched);
  __sanitizer_finish_switch_fiber(fake, &g_main_bottom, &g_main_size);
#else
  (void)finished;
  context_switch(&f.ctx, &g_sched);
#endif
}

[[noreturn]] static inline void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] static inline void fail(const char* fmt, ...) {
  if (!g_failed) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, kErrLen, fmt, ap);
    va_end(ap);
    g_failed = true;
  }
  if (g_mode == 2 && g_current >= 0) {
    switch_to_scheduler(true);   // the scheduler abandons the block; never resumed
  } else if (g_mode == 1) {
    longjmp(g_plain_exit, 1);
  }
  fprintf(stderr, "lazyflow CUDA emulation: %s\n", g_error);
  abort();
}

static inline Fiber& current(const char* what) {
  if (g_mode != 2 || g_current < 0)
    fail("%s reached in a kernel the harness classified as barrier-free (plain loop); "
         "report this: the call graph scan missed it", what);
  return g_fibers[g_current];
}

// Yield while blocked; the scheduler detects a round in which no fiber made progress.
// The scheduler resumes a waiting fiber only once what it waits for has happened.
static inline void wait_yield(Fiber& f, const char* what, Exchange* ex) {
  f.waiting = true;
  f.wait_what = what;
  f.wait_exchange = ex;
  f.wait_gen = g_bar_gen;
  switch_to_scheduler(false);
  f.waiting = false;
}

static inline int barrier(int predicate, const char* what) {
  Fiber& f = current(what);
  unsigned long long gen = g_bar_gen;
  g_bar_acc += predicate ? 1 : 0;
  if (++g_bar_arrived + g_bar_exited == g_nthreads) {
    g_bar_result = g_bar_acc;
    g_bar_acc = 0;
    g_bar_arrived = 0;
    ++g_bar_gen;
    int result = g_bar_result;
    switch_to_scheduler(false);   // the releasing thread goes last-in-order like the others,
    return result;                // so the scheduling order (forward/reverse) decides who runs
  } else {
    while (g_bar_gen == gen) wait_yield(f, what, nullptr);
  }
  return g_bar_result;
}

// Warp-level rendezvous of the lanes in `mask`: each lane posts a value; all read after the last
// arrival. Lanes with different masks meet in different exchanges, as partial-mask code needs.
static inline Exchange* exchange_begin(unsigned int mask, unsigned long long value, const char* what) {
  Fiber& f = current(what);
  int lane = f.linear % kWarp, warp = f.linear / kWarp;
  unsigned int bit = 1u << lane;
  if (!(mask & bit)) fail("%s: calling lane %d (thread %d) is not in mask 0x%08x", what, lane, f.linear, mask);
  int warp_lanes = g_nthreads - warp * kWarp;
  if (warp_lanes < kWarp && (mask >> warp_lanes) != 0)
    fail("%s: mask 0x%08x names lanes beyond the block's last thread (warp %d has %d lanes)",
         what, mask, warp, warp_lanes);
  Exchange* e = nullptr;
  Exchange* free_slot = nullptr;
  for (int i = 0; i < kWarp; ++i) {
    Exchange& c = g_exchanges[warp][i];
    if (c.in_use) {
      if (!c.complete && c.mask == mask && !(c.arrived & bit)) { e = &c; break; }
    } else if (!free_slot) {
      free_slot = &c;
    }
  }
  if (!e) {
    if (!free_slot) fail("%s: more than %d concurrent warp exchanges in warp %d", what, kWarp, warp);
    e = free_slot;
    e->in_use = true; e->complete = false; e->mask = mask; e->arrived = 0; e->readers = 0; e->what = what;
  }
  e->vals[lane] = value;
  e->arrived |= bit;
  if (e->arrived == mask) {
    e->complete = true;
    e->readers = __builtin_popcount(mask);
    switch_to_scheduler(false);
  } else {
    while (!e->complete) wait_yield(f, what, e);
  }
  return e;
}
static inline void exchange_end(Exchange* e) {
  if (--e->readers == 0) e->in_use = false;
}
static inline int lane_id() { return current("lane id").linear % kWarp; }

template <class T> static inline unsigned long long to_bits(T v) {
  static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
  unsigned long long b = 0; memcpy(&b, &v, sizeof(T)); return b;
}
template <class T> static inline T from_bits(unsigned long long b) { T v; memcpy(&v, &b, sizeof(T)); return v; }

// src < 0: the lane keeps its own value (out of its segment, as CUDA defines for up/down/xor).
template <class T> static inline T shuffle(unsigned int mask, T var, int src, const char* what) {
  Exchange* e = exchange_begin(mask, to_bits(var), what);
  T r = var;
  if (src >= 0) {
    // Reading a lane outside the mask is undefined on a GPU: hand back garbage, which only
    // matters if the kernel uses it (a masked tree reduction's lane 0 never does).
    r = (e->mask & (1u << src)) ? from_bits<T>(e->vals[src]) : from_bits<T>(0xcdcdcdcdcdcdcdcdull);
  }
  exchange_end(e);
  return r;
}

static inline void fiber_main() {
#if LF_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_main_bottom, &g_main_size);
#endif
  g_thunk(g_args);
  Fiber& f = g_fibers[g_current];
  f.done = true;
  ++g_bar_exited;
  if (g_bar_arrived > 0 && g_bar_arrived + g_bar_exited == g_nthreads) {   // exited threads count
    g_bar_result = g_bar_acc; g_bar_acc = 0; g_bar_arrived = 0; ++g_bar_gen;
  }
  switch_to_scheduler(true);
}

static inline void resume(int i) {
  g_current = i;
  threadIdx = g_fibers[i].tid;
#if LF_EMU_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, g_stacks + (size_t)i * kStack, kStack);
  context_switch(&g_sched, &g_fibers[i].ctx);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  context_switch(&g_sched, &g_fibers[i].ctx);
#endif
  g_current = -1;
}

static inline void describe_deadlock() {
  int n = snprintf(g_error, kErrLen, "deadlock in block (%u,%u,%u):", blockIdx.x, blockIdx.y, blockIdx.z);
  int shown = 0;
  for (int i = 0; i < g_nthreads && n < kErrLen - 200 && shown < 6; ++i) {
    Fiber& f = g_fibers[i];
    if (f.done) continue;
    ++shown;
    if (f.wait_exchange)
      n += snprintf(g_error + n, kErrLen - n, " thread %d waits at %s (mask 0x%08x, arrived 0x%08x);",
                    i, f.wait_what, f.wait_exchange->mask, f.wait_exchange->arrived);
    else
      n += snprintf(g_error + n, kErrLen - n, " thread %d waits at %s (%d arrived, %d exited of %d);",
                    i, f.wait_what, g_bar_arrived, g_bar_exited, g_nthreads);
  }
  g_failed = true;
}

static inline bool run_block_fibers(int nthreads) {
  size_t need = (size_t)nthreads * kStack;
  if (g_stacks_bytes < need) {
    if (g_stacks) munmap(g_stacks, g_stacks_bytes);
    g_stacks = (char*)mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g_stacks == MAP_FAILED) { g_stacks = nullptr; g_stacks_bytes = 0; snprintf(g_error, kErrLen, "cannot map fiber stacks"); g_failed = true; return false; }
    g_stacks_bytes = need;
    for (int i = 0; i < nthreads; ++i)   // a guard page under each stack turns overflow into a fault
      mprotect(g_stacks + (size_t)i * kStack, 4096, PROT_NONE);
  }
  g_bar_arrived = g_bar_exited = g_bar_acc = g_bar_result = 0;
  for (int w = 0; w < (nthreads + kWarp - 1) / kWarp; ++w)
    for (int i = 0; i < kWarp; ++i) g_exchanges[w][i].in_use = false;
  for (int i = 0; i < nthreads; ++i) {
    Fiber& f = g_fibers[i];
#if LF_EMU_ASAN
    // Frames abandoned by the previous block may have left poisoned redzones near the stack top.
    __asan_unpoison_memory_region(g_stacks + (size_t)(i + 1) * kStack - 32768, 32768);
#endif
    f.linear = i;
    f.tid.x = i % blockDim.x;
    f.tid.y = (i / blockDim.x) % blockDim.y;
    f.tid.z = i / (blockDim.x * blockDim.y);
    f.done = f.waiting = false;
    f.wait_what = nullptr;
    f.wait_exchange = nullptr;
    // Stagger stack tops so 1024 fibers do not all map to the same cache sets.
    context_make(&f.ctx, g_stacks + (size_t)i * kStack, kStack - (size_t)(i % 61) * 64, fiber_main);
  }
  int live = nthreads;
  while (live > 0) {
    bool ran = false;
    for (int k = 0; k < nthreads; ++k) {
      int i = g_reverse ? nthreads - 1 - k : k;
      Fiber& f = g_fibers[i];
      if (f.done) continue;
      if (f.waiting && (f.wait_exchange ? !f.wait_exchange->complete : f.wait_gen == g_bar_gen))
        continue;
      ran = true;
      resume(i);
      if (g_failed) return false;
      if (f.done) --live;
    }
    if (live > 0 && !ran) { describe_deadlock(); return false; }
  }
  return true;
}

// Blocks, and threads within a block, run in index order, or in reverse order when g_reverse is
// set: running a launch both ways exposes code that silently depends on an execution order.
static inline unsigned order(unsigned k, unsigned n) { return g_reverse ? n - 1 - k : k; }

static inline bool run_grid(void (*thunk)(void**), void** args, int nthreads, int use_fibers) {
  bool ok = true;
  for (unsigned bz = 0; bz < gridDim.z && ok; ++bz)
    for (unsigned by = 0; by < gridDim.y && ok; ++by)
      for (unsigned bx = 0; bx < gridDim.x && ok; ++bx) {
        blockIdx.x = order(bx, gridDim.x);
        blockIdx.y = order(by, gridDim.y);
        blockIdx.z = order(bz, gridDim.z);
        if (use_fibers) {
          ok = run_block_fibers(nthreads);
        } else if (setjmp(g_plain_exit) == 0) {
          for (unsigned tz = 0; tz < blockDim.z; ++tz)
            for (unsigned ty = 0; ty < blockDim.y; ++ty)
              for (unsigned tx = 0; tx < blockDim.x; ++tx) {
                threadIdx.x = order(tx, blockDim.x);
                threadIdx.y = order(ty, blockDim.y);
                threadIdx.z = order(tz, blockDim.z);
                thunk(args);
              }
        } else {
          ok = false;
        }
      }
  return ok;
}

// Without ASAN (which reports faults itself), a segmentation fault inside a kernel becomes an
// EmulationError instead of killing the Python process: the handler runs on an alternate stack
// and jumps back into launch(). Faults on other threads go to the previous handler.
#if !LF_EMU_ASAN
static sigjmp_buf g_fault_exit;
static pthread_t g_launch_thread;
static struct sigaction g_old_segv, g_old_bus;
static void on_fault(int sig, siginfo_t* info, void*) {
  if (!pthread_equal(pthread_self(), g_launch_thread)) {
    sigaction(sig, sig == SIGSEGV ? &g_old_segv : &g_old_bus, nullptr);
    return;                                      // the faulting instruction reruns under it
  }
  char* a = (char*)info->si_addr;
  if (g_stacks && a >= g_stacks && a < g_stacks + g_stacks_bytes && (size_t)(a - g_stacks) % kStack < 4096) {
    snprintf(g_error, kErrLen, "fiber stack overflow in block (%u,%u,%u) thread (%u,%u,%u): the "
             "kernel needs more than %zu KiB of stack per thread", blockIdx.x, blockIdx.y,
             blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z, kStack / 1024);
    g_failed = true;
    siglongjmp(g_fault_exit, 1);
  }
  snprintf(g_error, kErrLen, "%s at address %p in block (%u,%u,%u) thread (%u,%u,%u): an invalid "
           "memory access (rebuild with asan=True for a report)",
           sig == SIGSEGV ? "segmentation fault" : "bus error", info->si_addr, blockIdx.x,
           blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z);
  g_failed = true;
  siglongjmp(g_fault_exit, 1);
}
#endif

static inline int launch(void (*thunk)(void**), void** args, const long long* dims,
                         unsigned long long shared_bytes, int use_fibers, int reverse, char* err,
                         int errlen) {
  g_reverse = reverse;
  g_failed = false;
  g_error[0] = 0;
  gridDim = dim3((unsigned)dims[0], (unsigned)dims[1], (unsigned)dims[2]);
  blockDim = dim3((unsigned)dims[3], (unsigned)dims[4], (unsigned)dims[5]);
  int nthreads = (int)(blockDim.x * blockDim.y * blockDim.z);
  g_nthreads = nthreads;
  g_thunk = thunk;
  g_args = args;
  g_dyn_shared = shared_bytes ? (unsigned char*)malloc(shared_bytes) : nullptr;
  if (shared_bytes) memset(g_dyn_shared, 0xcd, shared_bytes);   // garbage, as on a GPU
  if (__start_lf_emu_shared && __stop_lf_emu_shared > __start_lf_emu_shared)
    memset(__start_lf_emu_shared, 0xcd, (size_t)(__stop_lf_emu_shared - __start_lf_emu_shared));
  if (use_fibers) {
    g_mode = 2;
    g_fibers = (Fiber*)calloc((size_t)nthreads, sizeof(Fiber));
  } else {
    g_mode = 1;
  }
  bool ok;
#if LF_EMU_ASAN
  ok = run_grid(thunk, args, nthreads, use_fibers);
#else
  static char alt_stack[1 << 16];
  stack_t ss, old_ss;
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof alt_stack;
  ss.ss_flags = 0;
  sigaltstack(&ss, &old_ss);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  g_launch_thread = pthread_self();
  sigaction(SIGSEGV, &sa, &g_old_segv);
  sigaction(SIGBUS, &sa, &g_old_bus);
  if (sigsetjmp(g_fault_exit, 1) == 0) {
    ok = run_grid(thunk, args, nthreads, use_fibers);
  } else {
    ok = false;
  }
  sigaction(SIGSEGV, &g_old_segv, nullptr);
  sigaction(SIGBUS, &g_old_bus, nullptr);
  sigaltstack(&old_ss, nullptr);
#endif
  g_current = -1;
  if (use_fibers) { free(g_fibers); g_fibers = nullptr; }
  free(g_dyn_shared);
  g_dyn_shared = nullptr;
  g_mode = 0;
  if (!ok) {
    snprintf(err, (size_t)errlen, "%s", g_error);
    return 1;
  }
  return 0;
}

static inline void* dynamic_shared() { return g_dyn_shared; }

}  // namespace lf_emu

// ---- the CUDA synchronisation built-ins ------------------------------------------------------
static inline void __syncthreads() { lf_emu::barrier(0, "__syncthreads"); }
static inline int __syncthreads_count(int p) { return lf_emu::barrier(p, "__syncthreads_count"); }
static inline int __syncthreads_and(int p) {
  return lf_emu::barrier(p, "__syncthreads_and") == lf_emu::g_nthreads - lf_emu::g_bar_exited;
}
static inline int __syncthreads_or(int p) { return lf_emu::barrier(p, "__syncthreads_or") != 0; }
static inline void __syncwarp(unsigned int mask = 0xffffffffu) {
  lf_emu::exchange_end(lf_emu::exchange_begin(mask, 0, "__syncwarp"));
}
template <class T> static inline T __shfl_sync(unsigned int mask, T var, int src, int width = warpSize) {
  int lane = lf_emu::lane_id();
  return lf_emu::shuffle(mask, var, (lane & ~(width - 1)) + (src & (width - 1)), "__shfl_sync");
}
template <class T> static inline T __shfl_up_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize) {
  int lane = lf_emu::lane_id();
  int src = (lane % width) >= (int)delta ? lane - (int)delta : -1;
  return lf_emu::shuffle(mask, var, src, "__shfl_up_sync");
}
template <class T> static inline T __shfl_down_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize) {
  int lane = lf_emu::lane_id();
  int src = (lane % width) + (int)delta < width ? lane + (int)delta : -1;
  return lf_emu::shuffle(mask, var, src, "__shfl_down_sync");
}
template <class T> static inline T __shfl_xor_sync(unsigned int mask, T var, int lane_mask, int width = warpSize) {
  int lane = lf_emu::lane_id();
  int src = lane ^ lane_mask;
  if (src >= ((lane / width) + 1) * width) src = -1;   // later segments: own value
  return lf_emu::shuffle(mask, var, src, "__shfl_xor_sync");
}
static inline unsigned int __ballot_sync(unsigned int mask, int pred) {
  lf_emu::Exchange* e = lf_emu::exchange_begin(mask, pred ? 1 : 0, "__ballot_sync");
  unsigned int r = 0;
  for (int i = 0; i < 32; ++i)
    if ((mask >> i) & 1u) r |= (e->vals[i] ? 1u : 0u) << i;
  lf_emu::exchange_end(e);
  return r;
}
static inline int __any_sync(unsigned int mask, int pred) { return __ballot_sync(mask, pred) != 0; }
static inline int __all_sync(unsigned int mask, int pred) { return __ballot_sync(mask, pred) == mask; }
static inline unsigned int __activemask() {
  lf_emu::Fiber& f = lf_emu::current("__activemask");
  int warp = f.linear / 32;
  unsigned int m = 0;
  for (int i = 0; i < 32 && warp * 32 + i < lf_emu::g_nthreads; ++i)
    if (!lf_emu::g_fibers[warp * 32 + i].done) m |= 1u << i;
  return m;
}
[[noreturn]] static inline void __trap() { lf_emu::fail("__trap() called"); }
// Device-side assert (NVRTC provides it without an include): a failure ends the launch with an
// error instead of aborting the process.
#undef assert
#define assert(e) \
  ((e) ? (void)0 : lf_emu::fail("assertion `%s` failed at %s:%d", #e, __FILE__, __LINE__))
static inline void __brkpt() { lf_emu::fail("__brkpt() called"); }

#endif  // host emulation
