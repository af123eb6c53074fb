"""The CUDA verification harness itself: hand-written kernels through NVRTC and the emulation.

Every kernel below is compiled with NVRTC for sm_80 and sm_90 (no spills allowed) and run on the
CPU emulation, with results compared to numpy. All kernels share one translation unit so g++
runs once (cached on disk by hash across runs).
"""

from __future__ import annotations

import numpy as np
import pytest

from lazyflow.codegen.cuda.verify import (
    DEFAULT_ARCHS,
    AddressSanitizerError,
    CudaCompileError,
    EmulationBuildError,
    EmulationError,
    RegisterSpillError,
    asan_unavailable_reason,
    check_compiles,
    check_no_spills,
    emulate_module,
    emulate_modules,
    gxx_unavailable_reason,
    nvrtc_compile,
    nvrtc_unavailable_reason,
    parse_kernels,
)
from lazyflow.codegen.cuda.verify.nvrtc import parse_ptxas_log
from lazyflow.ir.numerics import round_bf16

_NVRTC = nvrtc_unavailable_reason()
_GXX = gxx_unavailable_reason()
_ASAN = asan_unavailable_reason()
needs_nvrtc = pytest.mark.skipif(_NVRTC is not None, reason=f"NVRTC unavailable: {_NVRTC}")
needs_gxx = pytest.mark.skipif(_GXX is not None, reason=f"g++ unavailable: {_GXX}")
needs_asan = pytest.mark.skipif(_ASAN is not None, reason=f"ASAN unavailable: {_ASAN}")

KERNELS = r"""
#include "lazyflow_cuda.h"

__device__ __forceinline__ float warp_sum_down(float v) {
  for (int o = warpSize / 2; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_sum_all(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max_all(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Elementwise GELU (tanh form) over a grid-stride loop.
extern "C" __global__ void gelu_f32(const float* __restrict__ x, float* __restrict__ y,
                                    long long n) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)blockDim.x * gridDim.x) {
    float v = x[i];
    float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    y[i] = 0.5f * v * (1.0f + tanhf(u));
  }
}

// Shared-memory tree reduction: one partial sum per block (blockDim.x a power of two <= 256).
extern "C" __global__ void block_reduce_smem(const float* __restrict__ x,
                                             float* __restrict__ partial, int n) {
  __shared__ float buf[256];
  int tid = threadIdx.x;
  float s = 0.0f;
  for (int i = blockIdx.x * blockDim.x + tid; i < n; i += blockDim.x * gridDim.x) s += x[i];
  buf[tid] = s;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (tid < stride) buf[tid] += buf[tid + stride];
    __syncthreads();
  }
  if (tid == 0) partial[blockIdx.x] = buf[0];
}

// The same with the barrier inside the tree loop removed (a planted race).
extern "C" __global__ void block_reduce_smem_racy(const float* __restrict__ x,
                                                  float* __restrict__ partial, int n) {
  __shared__ float buf[256];
  int tid = threadIdx.x;
  float s = 0.0f;
  for (int i = blockIdx.x * blockDim.x + tid; i < n; i += blockDim.x * gridDim.x) s += x[i];
  buf[tid] = s;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (tid < stride) buf[tid] += buf[tid + stride];
  }
  if (tid == 0) partial[blockIdx.x] = buf[0];
}

// Warp-shuffle reduction, warp partials through shared memory, one atomicAdd per block.
extern "C" __global__ void sum_shuffle_atomic(const float* __restrict__ x, float* __restrict__ out,
                                              int n) {
  __shared__ float partial[32];
  float s = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    s += __ldg(&x[i]);
  s = warp_sum_down(s);
  int lane = threadIdx.x % warpSize, warp = threadIdx.x / warpSize;
  if (lane == 0) partial[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < (int)((blockDim.x + warpSize - 1) / warpSize) ? partial[lane] : 0.0f;
    s = warp_sum_down(s);
    if (lane == 0) atomicAdd(out, s);
  }
}

// Row softmax, one block per row: every warp shuffles for its partial, then only warp 0
// shuffles over the partials while the other warps wait at the barrier.
extern "C" __global__ void softmax_rows(const float* __restrict__ x, float* __restrict__ y,
                                        int rows, int cols) {
  __shared__ float red[32];
  __shared__ float stat;
  int row = blockIdx.x;
  if (row >= rows) return;
  const float* xr = x + (long long)row * cols;
  float* yr = y + (long long)row * cols;
  int tid = threadIdx.x, lane = tid % warpSize, warp = tid / warpSize;
  int nwarps = (blockDim.x + warpSize - 1) / warpSize;
  float m = -LF_INFINITY_F;
  for (int c = tid; c < cols; c += blockDim.x) m = fmaxf(m, xr[c]);
  m = warp_max_all(m);
  if (lane == 0) red[warp] = m;
  __syncthreads();
  if (warp == 0) {
    float v = lane < nwarps ? red[lane] : -LF_INFINITY_F;
    v = warp_max_all(v);
    if (lane == 0) stat = v;
  }
  __syncthreads();
  m = stat;
  float s = 0.0f;
  for (int c = tid; c < cols; c += blockDim.x) s += expf(xr[c] - m);
  s = warp_sum_all(s);
  __syncthreads();
  if (lane == 0) red[warp] = s;
  __syncthreads();
  if (warp == 0) {
    float v = lane < nwarps ? red[lane] : 0.0f;
    v = warp_sum_all(v);
    if (lane == 0) stat = v;
  }
  __syncthreads();
  float inv = 1.0f / stat;
  for (int c = tid; c < cols; c += blockDim.x) yr[c] = expf(xr[c] - m) * inv;
}

// Shuffle flavours, widths, a partial mask (only lanes < 16 take part) and a ballot.
extern "C" __global__ void shuffle_variants(const float* __restrict__ x, float* __restrict__ out,
                                            unsigned int* __restrict__ ballots) {
  int tid = threadIdx.x, lane = tid % warpSize, nt = blockDim.x;
  float v = x[tid];
  out[0 * nt + tid] = __shfl_sync(0xffffffffu, v, 3);
  out[1 * nt + tid] = __shfl_up_sync(0xffffffffu, v, 1);
  out[2 * nt + tid] = __shfl_xor_sync(0xffffffffu, v, 1);
  float s = v;
  for (int o = 8; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o, 16);
  out[3 * nt + tid] = s;
  float p = 0.0f;
  if (lane < 16) {
    p = v;
    for (int o = 8; o > 0; o >>= 1) p += __shfl_down_sync(0x0000ffffu, p, o, 16);
  }
  out[4 * nt + tid] = p;
  unsigned int b = __ballot_sync(0xffffffffu, v > 0.0f);
  if (lane == 0) ballots[tid / warpSize] = b;
}

// A tree reduction over the first 16 lanes with a 16-lane mask and the default width: lanes
// 8..15 read lanes 16..23 (outside the mask, undefined), which lane 0's sum never depends on.
extern "C" __global__ void masked_half_warp_sum(const float* __restrict__ x,
                                                float* __restrict__ y) {
  int lane = threadIdx.x % 32;
  if (lane < 16) {
    float v = x[threadIdx.x];
    for (int o = 8; o > 0; o >>= 1) v += __shfl_down_sync(0x0000ffffu, v, o);
    y[threadIdx.x] = v;
  }
}

// Lanes 16..31 leave before a full-mask shuffle: a real deadlock on a GPU.
extern "C" __global__ void shuffle_after_exit(const float* __restrict__ x, float* __restrict__ y) {
  if (threadIdx.x % 32 >= 16) return;
  y[threadIdx.x] = __shfl_down_sync(0xffffffffu, x[threadIdx.x], 1);
}

// atomicAdd on int (histogram), float and double.
extern "C" __global__ void histogram_atomic(const int* __restrict__ bins,
                                            const float* __restrict__ w, int* __restrict__ hist,
                                            float* __restrict__ fsum, double* __restrict__ dsum,
                                            int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    atomicAdd(&hist[bins[i]], 1);
    atomicAdd(fsum, w[i]);
    atomicAdd(dsum, (double)w[i]);
  }
}

// float -> half / bfloat16 -> float, with the CUDA conversion intrinsics.
extern "C" __global__ void lowp_roundtrip(const float* __restrict__ x, __half* __restrict__ h,
                                          __nv_bfloat16* __restrict__ b,
                                          float* __restrict__ h_back, float* __restrict__ b_back,
                                          int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    __half hv = __float2half_rn(x[i]);
    __nv_bfloat16 bv = __float2bfloat16_rn(x[i]);
    h[i] = __float2half(x[i]);
    b[i] = __float2bfloat16(x[i]);
    h_back[i] = __half2float(hv);
    b_back[i] = __bfloat162float(bv);
  }
}

// Low-precision arithmetic with half/bf16 arrays and scalars passed by value.
extern "C" __global__ void lowp_scale(const __half* __restrict__ x,
                                      const __nv_bfloat16* __restrict__ y,
                                      __half* __restrict__ xo, __nv_bfloat16* __restrict__ yo,
                                      __half alpha, __nv_bfloat16 beta, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    xo[i] = __hmul(alpha, x[i]);
    yo[i] = __float2bfloat16(__bfloat162float(beta) * __bfloat162float(y[i]));
  }
}

// Dynamic shared memory (16-byte aligned raw bytes): reverse each block's slice.
extern "C" __global__ void reverse_in_blocks(const float* __restrict__ x, float* __restrict__ y,
                                             int n) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* tile = reinterpret_cast<float*>(smem_raw);
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  tile[threadIdx.x] = i < n ? x[i] : 0.0f;
  __syncthreads();
  if (i < n) y[i] = tile[blockDim.x - 1 - threadIdx.x];
}

// Vectorised float4 / float2 loads with a scalar tail.
extern "C" __global__ void scale_vec4(const float* __restrict__ x, float* __restrict__ y, float a,
                                      int n) {
  int n4 = n / 4, stride = blockDim.x * gridDim.x, first = blockIdx.x * blockDim.x + threadIdx.x;
  const float4* x4 = reinterpret_cast<const float4*>(x);
  float4* y4 = reinterpret_cast<float4*>(y);
  for (int i = first; i < n4; i += stride) {
    float4 v = __ldg(&x4[i]);
    v.x *= a; v.y *= a; v.z *= a; v.w *= a;
    y4[i] = v;
  }
  for (int i = 4 * n4 + first; i < n; i += stride) y[i] = a * x[i];
}
extern "C" __global__ void add_vec2(const float* __restrict__ x, const float* __restrict__ z,
                                    float* __restrict__ y, int n) {
  int n2 = n / 2, stride = blockDim.x * gridDim.x, first = blockIdx.x * blockDim.x + threadIdx.x;
  const float2* x2 = reinterpret_cast<const float2*>(x);
  const float2* z2 = reinterpret_cast<const float2*>(z);
  for (int i = first; i < n2; i += stride) {
    float2 a = x2[i], b = __ldg(&z2[i]);
    reinterpret_cast<float2*>(y)[i] = make_float2(a.x + b.x, a.y + b.y);
  }
  for (int i = 2 * n2 + first; i < n; i += stride) y[i] = x[i] + z[i];
}

// Tiled transpose: 2-D blocks and grids, a padded shared tile, one barrier.
extern "C" __global__ void transpose_tiled(const float* __restrict__ in, float* __restrict__ out,
                                           int rows, int cols) {
  __shared__ float tile[32][33];
  int x = blockIdx.x * 32 + threadIdx.x, y = blockIdx.y * 32 + threadIdx.y;
  for (int j = 0; j < 32; j += blockDim.y)
    if (x < cols && y + j < rows) tile[threadIdx.y + j][threadIdx.x] = in[(long long)(y + j) * cols + x];
  __syncthreads();
  x = blockIdx.y * 32 + threadIdx.x;
  y = blockIdx.x * 32 + threadIdx.y;
  for (int j = 0; j < 32; j += blockDim.y)
    if (x < rows && y + j < cols) out[(long long)(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];
}

// Narrow integer and bool parameters, by pointer and by value.
extern "C" __global__ void select_mixed(const bool* __restrict__ mask,
                                        const signed char* __restrict__ a,
                                        const unsigned char* __restrict__ b, int* __restrict__ out,
                                        bool invert, signed char bias, unsigned char scale, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    bool m = mask[i] != invert;
    out[i] = m ? (int)a[i] + (int)bias : (int)b[i] * (int)scale;
  }
}

// The float math library and bit intrinsics; one output row per function.
extern "C" __global__ void math_f32(const float* __restrict__ x, const float* __restrict__ w,
                                    float* __restrict__ out, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    float v = x[i], u = w[i], a = fabsf(v);
    float r[32] = {
      expf(v), logf(a + 0.5f), log1pf(a), expm1f(v), sqrtf(a), rsqrtf(a + 0.1f), tanhf(v),
      erff(v), erfcf(v), sinf(v), cosf(v), powf(a + 0.5f, u), fabsf(v), fminf(v, u),
      fmaxf(v, u), floorf(3.0f * v), ceilf(3.0f * v), truncf(3.0f * v), rintf(2.0f * v),
      roundf(2.0f * v), fmodf(3.0f * v, 1.25f), copysignf(1.5f, v), (float)isnan(v),
      (float)isinf(v), (float)isfinite(v), (float)signbit(v), __expf(v), __logf(a + 0.5f),
      __fdividef(v, 2.0f + u * u), __int_as_float(__float_as_int(v) ^ 0x80000000),
      (float)(v < LF_INFINITY_F), (float)(v > -LF_INFINITY_F)};
    for (int k = 0; k < 32; ++k) out[(long long)k * n + i] = r[k];
  }
}

// The same in double precision.
extern "C" __global__ void math_f64(const double* __restrict__ x, const double* __restrict__ w,
                                    double* __restrict__ out, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    double v = x[i], u = w[i], a = fabs(v);
    double r[28] = {
      exp(v), log(a + 0.5), log1p(a), expm1(v), sqrt(a), rsqrt(a + 0.1), tanh(v), erf(v),
      erfc(v), sin(v), cos(v), pow(a + 0.5, u), fabs(v), fmin(v, u), fmax(v, u),
      floor(3.0 * v), ceil(3.0 * v), trunc(3.0 * v), rint(2.0 * v), round(2.0 * v),
      fmod(3.0 * v, 1.25), copysign(1.5, v), (double)isnan(v), (double)isinf(v),
      (double)isfinite(v), (double)signbit(v),
      __longlong_as_double(__double_as_longlong(v) ^ (long long)0x8000000000000000ULL),
      (double)(v < LF_INFINITY_D)};
    for (int k = 0; k < 28; ++k) out[(long long)k * n + i] = r[k];
  }
}

// Miscellaneous intrinsics a code generator reaches for (Philox needs __umulhi).
extern "C" __global__ __launch_bounds__(256) void intrinsics_misc(
    const float* __restrict__ x, const unsigned int* __restrict__ u, float* __restrict__ out,
    unsigned int* __restrict__ uout, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    float v = x[i], s, c;
    unsigned int a = u[i];
    sincosf(v, &s, &c);
    float r[14] = {erfinvf(0.9f * v), sinpif(v), cospif(v), (float)__float2int_rn(10.0f * v),
                   __saturatef(v), (float)min(i, 7), max(v, 0.25f), exp2f(v),
                   log2f(fabsf(v) + 1.0f), fmaf(v, v, 1.0f), hypotf(v, 2.0f), cbrtf(v), s, c};
    for (int k = 0; k < 14; ++k) out[(long long)k * n + i] = r[k];
    unsigned int ur[5] = {__umulhi(a, 0xD2511F53u), a * 0xD2511F53u, (unsigned int)__popc(a),
                          __brev(a), (unsigned int)__clz((int)a)};
    for (int k = 0; k < 5; ++k) uout[(long long)k * n + i] = ur[k];
  }
}

// half2 vector arithmetic through a reinterpret_cast of __half data.
extern "C" __global__ void half2_scale(const __half* __restrict__ x, __half* __restrict__ y,
                                       int n2) {
  const __half2* x2 = reinterpret_cast<const __half2*>(x);
  __half2* y2 = reinterpret_cast<__half2*>(y);
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n2; i += blockDim.x * gridDim.x)
    y2[i] = __hmul2(x2[i], __floats2half2_rn(2.0f, 0.5f));
}

// Block votes, warp votes, and shuffles of 8-byte values.
extern "C" __global__ void votes_and_wide_shuffles(const float* __restrict__ x,
                                                   long long* __restrict__ out) {
  int tid = threadIdx.x;
  float v = x[tid];
  int count = __syncthreads_count(v > 0.0f);
  int all = __syncthreads_and(v > -100.0f);
  int any = __syncthreads_or(v > 100.0f);
  int wany = __any_sync(0xffffffffu, v > 1.0f);
  int wall = __all_sync(0xffffffffu, v > -1.0f);
  double d = __shfl_sync(0xffffffffu, (double)v, 0);
  long long w = __shfl_xor_sync(0xffffffffu, (long long)tid * 3000000000LL, 2);
  long long* o = out + tid * 7;
  o[0] = count; o[1] = all; o[2] = any; o[3] = wany; o[4] = wall;
  o[5] = (long long)(d * 1000.0); o[6] = w;
}
"""


@pytest.fixture(scope="module")
def module():
    if _GXX is not None:
        pytest.skip(f"g++ unavailable: {_GXX}")
    return emulate_module(KERNELS)


def _rng(seed=0):
    return np.random.default_rng(seed)


@needs_nvrtc
@pytest.mark.parametrize("arch", DEFAULT_ARCHS)
def test_all_kernels_compile_without_spills(arch):
    result = nvrtc_compile(KERNELS, arch)
    assert set(result.kernels) == set(parse_kernels(KERNELS))
    assert result.cubin and ".entry gelu_f32" in result.ptx
    assert all(r.registers > 0 for r in result.kernels.values())
    check_no_spills(result)


@needs_gxx
@pytest.mark.parametrize("n", [1, 255, 1000, 4099])
def test_elementwise_grid_stride_odd_sizes(module, n):
    x = _rng(n).standard_normal(n).astype(np.float32)
    y = np.full(n, np.nan, np.float32)
    module.get_function("gelu_f32")((3,), (128,), (x, y, np.int64(n)))
    ref = 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@needs_gxx
@pytest.mark.parametrize("n,block,grid", [(1000, 256, 3), (77, 64, 1), (5000, 128, 64)])
def test_block_reduction_shared_memory(module, n, block, grid):
    x = _rng(n).standard_normal(n).astype(np.float32)
    partial = np.full(grid, np.nan, np.float32)
    module.get_function("block_reduce_smem")((grid,), (block,), (x, partial, np.int32(n)))
    idx = np.arange(n)
    ref = np.array([x[(idx // block) % grid == b].sum() for b in range(grid)], np.float64)
    np.testing.assert_allclose(partial, ref, rtol=1e-5, atol=1e-5)


@needs_gxx
def test_removed_syncthreads_gives_wrong_result(module):
    """Barriers are real: without the tree-loop barrier, thread 0 reads unreduced partials."""
    n, block = 4096, 256
    x = _rng(1).random(n).astype(np.float32) + 1.0
    good = np.zeros(1, np.float32)
    racy = np.zeros(1, np.float32)
    module.get_function("block_reduce_smem")((1,), (block,), (x, good, np.int32(n)))
    module.get_function("block_reduce_smem_racy")((1,), (block,), (x, racy, np.int32(n)))
    np.testing.assert_allclose(good[0], x.sum(dtype=np.float64), rtol=1e-5)
    assert abs(racy[0] - x.sum(dtype=np.float64)) > 0.01 * x.sum()


@needs_gxx
@pytest.mark.parametrize("n,block,grid", [(1, 32, 1), (1000, 128, 4), (100_003, 256, 20)])
def test_warp_shuffle_reduction_with_atomic_add(module, n, block, grid):
    x = _rng(n).standard_normal(n).astype(np.float32)
    out = np.zeros(1, np.float32)
    module.get_function("sum_shuffle_atomic")((grid,), (block,), (x, out, np.int32(n)))
    np.testing.assert_allclose(out[0], x.sum(dtype=np.float64), rtol=1e-4, atol=1e-4)


@needs_gxx
@pytest.mark.parametrize("rows,cols,block", [(7, 1000, 128), (3, 5, 64), (2, 33, 96)])
def test_row_softmax_only_warp_zero_shuffles_second_stage(module, rows, cols, block):
    x = (_rng(cols).standard_normal((rows, cols)) * 4).astype(np.float32)
    y = np.zeros_like(x)
    module.get_function("softmax_rows")((rows + 1,), (block,), (x, y, np.int32(rows),
                                                               np.int32(cols)))
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


def _shuffle_reference(v: np.ndarray):
    nt = v.size
    lanes = np.arange(nt) % 32
    base = np.arange(nt) - lanes
    out = np.empty((5, nt), np.float32)
    out[0] = v[base + 3]
    out[1] = np.where(lanes >= 1, v[np.maximum(np.arange(nt) - 1, 0)], v)
    out[2] = v[np.arange(nt) ^ 1]
    seg = np.arange(nt) // 16
    out[3] = np.array([v[seg == s].sum() for s in seg], np.float32)
    p = np.where(lanes < 16, v, 0).astype(np.float32)
    for o in (8, 4, 2, 1):
        src = np.arange(nt) + o
        ok = (lanes < 16) & ((lanes % 16) + o < 16)
        p = np.where(ok, p + p[np.minimum(src, nt - 1)], np.where(lanes < 16, p + p, p))
    out[4] = p
    bits = (v > 0).reshape(-1, 32)
    ballots = (bits * (1 << np.arange(32, dtype=np.uint64))).sum(axis=1).astype(np.uint32)
    return out, ballots


@needs_gxx
def test_shuffle_flavours_widths_partial_mask_and_ballot(module):
    nt = 64
    v = _rng(5).standard_normal(nt).astype(np.float32)
    out = np.zeros(5 * nt, np.float32)
    ballots = np.zeros(nt // 32, np.uint32)
    module.get_function("shuffle_variants")((1,), (nt,), (v, out, ballots))
    ref, ref_ballots = _shuffle_reference(v)
    np.testing.assert_allclose(out.reshape(5, nt), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ballots, ref_ballots)


@needs_gxx
def test_reading_a_lane_outside_the_mask_gives_garbage_not_an_error(module):
    x = _rng(15).standard_normal(64).astype(np.float32)
    y = np.zeros(64, np.float32)
    module.get_function("masked_half_warp_sum")((1,), (64,), (x, y))
    np.testing.assert_allclose(y[[0, 32]], [x[:16].sum(), x[32:48].sum()], rtol=1e-5)
    assert (np.abs(y[8:16]) > 1e6).all()          # these lanes read undefined values


@needs_gxx
def test_shuffle_waiting_for_exited_lanes_is_a_deadlock(module):
    x = np.zeros(32, np.float32)
    with pytest.raises(EmulationError, match="deadlock.*__shfl_down_sync"):
        module.get_function("shuffle_after_exit")((1,), (32,), (x, x.copy()))


@needs_gxx
def test_full_mask_shuffle_in_a_partial_warp_is_rejected(module):
    x = np.zeros(48, np.float32)
    with pytest.raises(EmulationError, match="beyond the block's last thread"):
        module.get_function("shuffle_variants")((1,), (48,), (x, np.zeros(5 * 48, np.float32),
                                                              np.zeros(2, np.uint32)))


@needs_gxx
def test_atomic_add_int_float_double(module):
    n, nbins = 10_000, 17
    bins = _rng(2).integers(0, nbins, n).astype(np.int32)
    w = _rng(3).random(n).astype(np.float32)
    hist = np.zeros(nbins, np.int32)
    fsum = np.zeros(1, np.float32)
    dsum = np.zeros(1, np.float64)
    module.get_function("histogram_atomic")((8,), (128,), (bins, w, hist, fsum, dsum,
                                                           np.int32(n)))
    np.testing.assert_array_equal(hist, np.bincount(bins, minlength=nbins))
    np.testing.assert_allclose(fsum[0], w.sum(dtype=np.float64), rtol=1e-5)
    np.testing.assert_allclose(dsum[0], w.sum(dtype=np.float64), rtol=1e-12)


def _lowp_inputs() -> np.ndarray:
    ulp_h = 2.0 ** -10
    special = np.array([
        0.0, -0.0, 1.0, 1 + ulp_h / 2, 1 + 3 * ulp_h / 2, -(1 + ulp_h / 2), 65504.0, 65519.0,
        65520.0, 70000.0, -1e6, 2.0 ** -24, 1.5 * 2.0 ** -24, 2.5 * 2.0 ** -24, 2.0 ** -26,
        6.1e-5, 1e-8, np.inf, -np.inf, np.nan,
        1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -8 + 2.0 ** -20, 3.4e38, -3.39e38, 1e-39,
    ], np.float32)
    rng = _rng(4)
    bulk = (rng.standard_normal(3000) * 10.0 ** rng.integers(-8, 6, 3000)).astype(np.float32)
    ties = (rng.integers(1, 2**16, 500).astype(np.uint32) << 16 | 0x8000).view(np.float32)
    return np.concatenate([special, bulk, ties])


@needs_gxx
def test_half_and_bfloat16_round_to_nearest_even(module):
    x = _lowp_inputs()
    n = x.size
    h = np.zeros(n, np.float16)
    b = np.zeros(n, np.uint16)
    h_back = np.zeros(n, np.float32)
    b_back = np.zeros(n, np.float32)
    module.get_function("lowp_roundtrip")((4,), (256,), (x, h, b, h_back, b_back, np.int32(n)))
    with np.errstate(over="ignore"):
        ref_h = x.astype(np.float16)
    np.testing.assert_array_equal(h, ref_h)            # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(h_back, ref_h.astype(np.float32))
    ref_b = round_bf16(x)
    np.testing.assert_array_equal(b_back, ref_b)
    np.testing.assert_array_equal((b.astype(np.uint32) << 16).view(np.float32), ref_b)
    nan = np.isnan(x)
    assert (h.view(np.uint16)[nan] == 0x7FFF).all() and (b[nan] == 0x7FFF).all()


@needs_gxx
def test_half_and_bfloat16_arrays_and_scalars_by_value(module):
    n = 1001
    rng = _rng(6)
    x = rng.standard_normal(n).astype(np.float16)
    y_f32 = round_bf16(rng.standard_normal(n).astype(np.float32))
    y = (y_f32.view(np.uint32) >> 16).astype(np.uint16)
    xo = np.zeros(n, np.float16)
    yo = np.zeros(n, np.uint16)
    alpha = np.float16(1.7)
    beta_f32 = round_bf16(np.array([0.3], np.float32))
    beta = np.uint16(beta_f32.view(np.uint32)[0] >> 16)
    module.get_function("lowp_scale")((2,), (128,), (x, y, xo, yo, alpha, beta, np.int32(n)))
    np.testing.assert_array_equal(xo, alpha * x)       # numpy rounds float16 products to nearest
    ref_y = round_bf16(beta_f32[0] * y_f32)
    np.testing.assert_array_equal((yo.astype(np.uint32) << 16).view(np.float32), ref_y)


@needs_gxx
@pytest.mark.parametrize("n,block", [(1000, 128), (37, 64), (4096, 1024)])
def test_dynamic_shared_memory(module, n, block):
    x = _rng(n).standard_normal(n).astype(np.float32)
    y = np.full(n, np.nan, np.float32)
    grid = (n + block - 1) // block
    module.get_function("reverse_in_blocks")((grid,), (block,), (x, y, np.int32(n)),
                                             shared_mem=block * 4)
    padded = np.zeros(grid * block, np.float32)
    padded[:n] = x
    np.testing.assert_array_equal(y, padded.reshape(grid, block)[:, ::-1].reshape(-1)[:n])


@needs_gxx
def test_dynamic_shared_memory_above_48k_needs_the_attribute(module):
    fn = module.get_function("reverse_in_blocks")
    x = np.zeros(256, np.float32)
    with pytest.raises(EmulationError, match="max_dynamic_shared_size_bytes"):
        fn((1,), (256,), (x, x.copy(), np.int32(256)), shared_mem=64 * 1024)


@needs_gxx
@pytest.mark.parametrize("n", [4, 1003, 4096, 3])
def test_vectorized_float4_and_float2_loads(module, n):
    x = _rng(n).standard_normal(n).astype(np.float32)
    z = _rng(n + 1).standard_normal(n).astype(np.float32)
    y = np.zeros(n, np.float32)
    module.get_function("scale_vec4")((2,), (64,), (x, y, np.float32(-2.5), np.int32(n)))
    np.testing.assert_array_equal(y, np.float32(-2.5) * x)
    module.get_function("add_vec2")((3,), (32,), (x, z, y, np.int32(n)))
    np.testing.assert_array_equal(y, x + z)


@needs_gxx
@pytest.mark.parametrize("rows,cols", [(100, 37), (32, 32), (1, 65)])
def test_tiled_transpose_2d_blocks(module, rows, cols):
    a = _rng(rows).standard_normal((rows, cols)).astype(np.float32)
    out = np.zeros((cols, rows), np.float32)
    grid = ((cols + 31) // 32, (rows + 31) // 32)
    module.get_function("transpose_tiled")(grid, (32, 8), (a, out, np.int32(rows),
                                                          np.int32(cols)))
    np.testing.assert_array_equal(out, a.T)


@needs_gxx
def test_bool_and_narrow_integer_parameters(module):
    n = 999
    rng = _rng(7)
    mask = rng.random(n) < 0.5
    a = rng.integers(-128, 128, n).astype(np.int8)
    b = rng.integers(0, 256, n).astype(np.uint8)
    out = np.zeros(n, np.int32)
    module.get_function("select_mixed")((2,), (256,), (mask, a, b, out, np.bool_(True),
                                                       np.int8(-3), np.uint8(7), np.int32(n)))
    np.testing.assert_array_equal(out, np.where(~mask, a.astype(np.int32) - 3,
                                                b.astype(np.int32) * 7))


def _math_inputs(dtype):
    rng = _rng(8)
    x = np.concatenate([rng.standard_normal(200) * 3, [0.0, -0.0, 2.5, -2.5, 0.5, -0.5, 1.5,
                                                      np.inf, -np.inf, np.nan]]).astype(dtype)
    w = rng.standard_normal(x.size).astype(dtype)
    return x, w


def _math_reference(x, w, double: bool):
    import math

    a = np.abs(x)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    erfc = np.vectorize(math.erfc, otypes=[np.float64])
    sign_flip = -x
    with np.errstate(all="ignore"):
        rows = [np.exp(x), np.log(a + 0.5), np.log1p(a), np.expm1(x), np.sqrt(a),
                1 / np.sqrt(a + 0.1), np.tanh(x), erf(x), erfc(x), np.sin(x), np.cos(x),
                np.power(a + 0.5, w), np.abs(x), np.fmin(x, w), np.fmax(x, w), np.floor(3 * x),
                np.ceil(3 * x), np.trunc(3 * x), np.rint(2 * x),
                np.sign(2 * x) * np.floor(np.abs(2 * x) + 0.5), np.fmod(3 * x, 1.25),
                np.copysign(1.5, x), np.isnan(x), np.isinf(x), np.isfinite(x), np.signbit(x)]
        if double:
            rows += [sign_flip, x < np.inf]
        else:
            rows += [np.exp(x), np.log(a + 0.5), x / (2 + w * w), sign_flip, x < np.inf,
                     x > -np.inf]
    return np.array(rows, np.float64)


@needs_gxx
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_math_library_matches_numpy(module, dtype):
    x, w = _math_inputs(dtype)
    double = dtype == np.float64
    nrows = 28 if double else 32
    out = np.zeros(nrows * x.size, dtype)
    module.get_function("math_f64" if double else "math_f32")((2,), (64,), (x, w, out,
                                                                           np.int32(x.size)))
    ref = _math_reference(x.astype(np.float64), w.astype(np.float64), double)
    rtol = 1e-12 if double else 2e-6
    got = out.reshape(nrows, x.size).astype(np.float64)
    for k in range(nrows):
        np.testing.assert_allclose(got[k], ref[k], rtol=rtol, atol=rtol, equal_nan=True,
                                   err_msg=f"math row {k}")


@needs_nvrtc
def test_compile_error_carries_nvrtc_log():
    bad = '#include "lazyflow_cuda.h"\nextern "C" __global__ void k(float* y) { y[0] = INFINITY; }\n'
    with pytest.raises(CudaCompileError) as info:
        nvrtc_compile(bad, "sm_90")
    assert "INFINITY" in info.value.log and "error" in info.value.log


def test_spill_report_is_parsed_and_rejected():
    log = ("ptxas info    : Compiling entry function 'big' for 'sm_90'\n"
           "ptxas info    : Function properties for big\n"
           "ptxas         .     48 bytes stack frame, 40 bytes spill stores, 36 bytes spill loads\n"
           "ptxas info    : Used 255 registers, used 1 barriers, 1024 bytes smem\n")
    kernels = parse_ptxas_log(log)
    assert kernels["big"].registers == 255 and kernels["big"].spill_bytes == 76
    assert kernels["big"].shared_bytes == 1024 and kernels["big"].barriers == 1
    from lazyflow.codegen.cuda.verify import CompileResult
    with pytest.raises(RegisterSpillError, match="big"):
        check_no_spills(CompileResult("sm_90", (), b"", "", log, kernels))


@needs_gxx
def test_block_over_1024_threads_is_an_invalid_configuration(module):
    with pytest.raises(EmulationError, match="invalid configuration"):
        module.get_function("gelu_f32")((1,), (2048,), (np.zeros(1, np.float32),
                                                        np.zeros(1, np.float32), np.int64(1)))


@needs_gxx
def test_launch_follows_cupy_argument_rules(module):
    fn = module.get_function("gelu_f32")
    x = np.zeros(8, np.float32)
    y = np.zeros(8, np.float32)
    with pytest.raises(TypeError, match="tuple"):
        fn(1, (8,), (x, y, np.int64(8)))                         # RawKernel needs tuples
    with pytest.raises(TypeError, match="numpy scalar of the exact C type"):
        fn((1,), (8,), (x, y, 8))                                # Python int -> int64 in CuPy
    with pytest.raises(TypeError, match="does not match"):
        fn((1,), (8,), (x, y, np.int32(8)))                      # long long wants int64
    with pytest.raises(TypeError, match="pointee"):
        fn((1,), (8,), (x.astype(np.float64), y, np.int64(8)))
    with pytest.raises(TypeError, match="takes 3 arguments"):
        fn((1,), (8,), (x, y))
    with pytest.raises(ValueError, match="read-only"):
        ro = np.zeros(8, np.float32)
        ro.flags.writeable = False
        fn((1,), (8,), (x, ro, np.int64(8)))
    fn((1,), (8, 1, 1), [x, y, np.int64(8)])                     # lists and 3-tuples are fine


@needs_gxx
def test_builds_are_cached_by_source_hash(module):
    import time

    again = emulate_module(KERNELS)
    assert again is module and module.path.exists()
    start = time.perf_counter()
    other = emulate_module(KERNELS + "\n// same kernels, different text\n")
    assert other is not module and other.path != module.path
    assert time.perf_counter() - start < 30


def test_signature_parsing():
    src = ('extern "C" __global__ void __launch_bounds__(128) k(const float* __restrict__ a, '
           'float *__restrict__ b, const long long n, __nv_bfloat16 s, unsigned char c) {}\n'
           '__device__ void helper() { __syncthreads(); }\n'
           'extern "C" __global__ void calls_helper(int* p) { helper(); }\n'
           '// extern "C" __global__ void commented_out(int x) {}\n')
    kernels = parse_kernels(src)
    assert list(kernels) == ["k", "calls_helper"]
    k = kernels["k"]
    assert [(p.name, p.ctype, p.pointer, p.const) for p in k.params] == [
        ("a", "float", True, True), ("b", "float", True, False), ("n", "long long", False, False),
        ("s", "__nv_bfloat16", False, False), ("c", "unsigned char", False, False)]
    assert not k.needs_fibers and kernels["calls_helper"].needs_fibers
    with pytest.raises(ValueError, match="unsupported type"):
        parse_kernels('extern "C" __global__ void bad(float3 v) {}')


def test_call_graph_scan_reads_helpers_in_included_headers(tmp_path):
    (tmp_path / "helpers.h").write_text(
        '#pragma once\n#include "more.h"\n'
        "__device__ float block_sum(float v) { v = warp_sum(v); __syncthreads(); return v; }\n"
        "__device__ float plain(float v) { return v * 2.0f; }\n")
    (tmp_path / "more.h").write_text("__device__ float warp_sum(float v) {\n"
                                     "  return v + __shfl_xor_sync(0xffffffffu, v, 1); }\n")
    src = ('#include "lazyflow_cuda.h"\n#include "helpers.h"\n'
           'extern "C" __global__ void a(float* y) { y[0] = block_sum(y[0]); }\n'
           'extern "C" __global__ void b(float* y) { y[0] = plain(y[0]); }\n')
    with_headers = parse_kernels(src, (tmp_path,))
    assert with_headers["a"].needs_fibers and not with_headers["b"].needs_fibers
    assert not parse_kernels(src)["a"].needs_fibers      # the helper's body is not visible


@needs_nvrtc
def test_register_spills_are_detected_for_real():
    src = r"""#include "lazyflow_cuda.h"
extern "C" __global__ void many_live(const float* __restrict__ x, float* __restrict__ y) {
  float acc[48];
  #pragma unroll
  for (int k = 0; k < 48; ++k) acc[k] = x[threadIdx.x * 48 + k];
  #pragma unroll
  for (int r = 0; r < 8; ++r) {
    #pragma unroll
    for (int k = 0; k < 48; ++k) acc[k] = acc[k] * acc[(k + r + 1) % 48] + 1.0f;
  }
  float s = 0.0f;
  #pragma unroll
  for (int k = 0; k < 48; ++k) s += acc[k] * (float)k;
  y[threadIdx.x] = s;
}
"""
    check_no_spills(nvrtc_compile(src, "sm_90"))
    squeezed = nvrtc_compile(src, "sm_90", extra_options=("--maxrregcount=16",))
    assert squeezed.kernels["many_live"].spill_bytes > 0
    with pytest.raises(RegisterSpillError, match="many_live"):
        check_no_spills(squeezed)


@needs_asan
def test_asan_build_runs_fiber_kernels_cleanly():
    """Fibers under ASAN (stack-switch annotations): no false reports, same results."""
    mod = emulate_module(KERNELS, asan=True)
    rows, cols = 3, 300
    x = (_rng(9).standard_normal((rows, cols)) * 3).astype(np.float32)
    y = np.zeros_like(x)
    mod.get_function("softmax_rows")((rows,), (128,), (x, y, np.int32(rows), np.int32(cols)))
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
    a = _rng(10).standard_normal((40, 70)).astype(np.float32)
    out = np.zeros((70, 40), np.float32)
    mod.get_function("transpose_tiled")((3, 2), (32, 8), (a, out, np.int32(40), np.int32(70)))
    np.testing.assert_array_equal(out, a.T)


@needs_gxx
@pytest.mark.parametrize("portable", [False, True])
def test_fiber_switch_backends_agree(monkeypatch, portable):
    """The x86-64 stack switch and the ucontext fallback run barrier/shuffle kernels alike."""
    if portable:
        monkeypatch.setenv("LAZYFLOW_CUDA_EMU_UCONTEXT", "1")
    src = ('#include "lazyflow_cuda.h"\n'
           'extern "C" __global__ void scan_warp(const int* x, int* y) {\n'
           '  __shared__ int buf[64];\n'
           '  int t = threadIdx.x, v = x[t];\n'
           '  for (int o = 1; o < 32; o <<= 1) {\n'
           '    int u = __shfl_up_sync(0xffffffffu, v, o);\n'
           '    if (t % 32 >= o) v += u;\n'
           '  }\n'
           '  buf[t] = v;\n'
           '  __syncthreads();\n'
           '  y[t] = t >= 32 ? v + buf[31] : v;\n'
           '}\n')
    x = np.arange(1, 65, dtype=np.int32)
    y = np.zeros(64, np.int32)
    emulate_module(src).get_function("scan_warp")((1,), (64,), (x, y))
    np.testing.assert_array_equal(y, np.cumsum(x))


PLANTED = r"""
#include "lazyflow_cuda.h"
extern "C" __global__ void shifted(const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i + 1];   // planted: reads one past the end when n == len(x)
}
extern "C" __global__ void smem_over(const float* x, float* y) {
  extern __shared__ float tile[];
  tile[threadIdx.x + 1] = x[threadIdx.x];   // planted: writes one past the dynamic buffer
  __syncthreads();
  y[threadIdx.x] = tile[threadIdx.x];
}
extern "C" __global__ void static_smem_over(const float* x, float* y) {
  __shared__ float s[32];
  s[threadIdx.x + 1] = x[threadIdx.x];   // planted: the last thread writes past s
  __syncthreads();
  y[threadIdx.x] = s[threadIdx.x];
}
extern "C" __global__ void misaligned_vec4(const float* x, float* y) {
  float4 v = reinterpret_cast<const float4*>(x + 1)[threadIdx.x];   // planted: 4-byte aligned
  y[threadIdx.x] = v.x + v.y + v.z + v.w;
}
extern "C" __global__ void int32_index(const float* x, float* y, int cols) {
  int row = blockIdx.x;
  int idx = row * 1000000 * cols + threadIdx.x;   // planted: overflows int for big grids
  y[threadIdx.x] = x[idx & 31];
}
extern "C" __global__ void checked(const float* x, float* y, int n) {
  assert(n <= 32);
  if (n == 0) __trap();
  y[threadIdx.x] = x[threadIdx.x];
}
extern "C" __global__ void wild_read(const float* x, float* y, long long offset) {
  y[threadIdx.x] = x[threadIdx.x + offset];
}
extern "C" __global__ void deep_stack(const float* x, float* y) {
  volatile float big[100000];   // 400 KB of locals: more than a fiber's stack
  big[threadIdx.x] = x[threadIdx.x];
  __syncthreads();
  y[threadIdx.x] = big[threadIdx.x];
}
"""


@pytest.fixture(scope="module")
def planted_asan():
    if _ASAN is not None:
        pytest.skip(f"ASAN unavailable: {_ASAN}")
    return emulate_module(PLANTED, asan=True)


@needs_asan
def test_asan_catches_out_of_bounds_read(planted_asan):
    x = np.arange(100, dtype=np.float32)
    y = np.zeros(100, np.float32)
    with pytest.raises(AddressSanitizerError, match="heap-buffer-overflow") as info:
        planted_asan.get_function("shifted")((1,), (128,), (x, y, np.int32(100)))
    assert " in shifted " in info.value.report and "kernel.cu:" in info.value.report
    # Inside bounds the same kernel runs and its output comes back from the runner.
    planted_asan.get_function("shifted")((1,), (128,), (x, y, np.int32(99)))
    np.testing.assert_array_equal(y[:99], x[1:])


@needs_asan
def test_asan_catches_dynamic_shared_memory_overflow(planted_asan):
    x = np.ones(64, np.float32)
    with pytest.raises(AddressSanitizerError, match="heap-buffer-overflow"):
        planted_asan.get_function("smem_over")((1,), (64,), (x, x.copy()), shared_mem=64 * 4)


@needs_asan
def test_asan_catches_static_shared_memory_overflow(planted_asan):
    x = np.ones(32, np.float32)
    with pytest.raises(AddressSanitizerError, match="out of bounds|global-buffer-overflow"):
        planted_asan.get_function("static_smem_over")((1,), (32,), (x, x.copy()))


@needs_asan
def test_ubsan_catches_misaligned_float4_and_int32_index_overflow(planted_asan):
    x = np.ones(64, np.float32)
    y = np.zeros(8, np.float32)
    with pytest.raises(AddressSanitizerError, match="misaligned address"):
        planted_asan.get_function("misaligned_vec4")((1,), (8,), (x, y))
    with pytest.raises(AddressSanitizerError, match="signed integer overflow"):
        planted_asan.get_function("int32_index")((3,), (8,), (x, y, np.int32(5000)))
    planted_asan.get_function("int32_index")((2,), (8,), (x, y, np.int32(5)))   # fits: fine


@needs_gxx
def test_faults_in_process_become_errors_and_the_process_survives():
    mod = emulate_module(PLANTED)
    x = np.ones(32, np.float32)
    y = np.zeros(32, np.float32)
    with pytest.raises(EmulationError, match="segmentation fault"):
        mod.get_function("wild_read")((1,), (32,), (x, y, np.int64(1 << 40)))
    with pytest.raises(EmulationError, match="fiber stack overflow"):
        mod.get_function("deep_stack")((1,), (32,), (x, y))
    mod.get_function("wild_read")((1,), (32,), (x, y, np.int64(0)))
    np.testing.assert_array_equal(y, x)


@needs_gxx
def test_device_assert_and_trap_end_the_launch_with_an_error():
    mod = emulate_module(PLANTED)
    x = np.ones(32, np.float32)
    y = np.zeros(32, np.float32)
    with pytest.raises(EmulationError, match=r"assertion `n <= 32` failed at kernel.cu:\d+"):
        mod.get_function("checked")((1,), (32,), (x, y, np.int32(33)))
    with pytest.raises(EmulationError, match=r"__trap\(\) called"):
        mod.get_function("checked")((1,), (32,), (x, y, np.int32(0)))
    mod.get_function("checked")((1,), (32,), (x, y, np.int32(32)))
    np.testing.assert_array_equal(y, x)


@needs_nvrtc
def test_nvrtc_results_are_cached_on_disk(monkeypatch, tmp_path):
    from lazyflow.codegen.cuda.verify import nvrtc as nv

    monkeypatch.setenv("LAZYFLOW_CUDA_EMU_CACHE", str(tmp_path))
    src = KERNELS + "\n// disk cache probe\n"
    first = nvrtc_compile(src, "sm_80")
    assert len(list((tmp_path / "nvrtc").glob("*.json"))) == 1
    monkeypatch.setattr(nv, "_cache", {})                 # forget the in-memory copy
    again = nvrtc_compile(src, "sm_80")
    assert again is not first and again.cubin == first.cubin and again.ptx == first.ptx
    assert again.kernels == first.kernels
    bad = src.replace("tanhf(u)", "tanhf(u, u)")
    for _ in range(2):                                     # failures are never cached
        with pytest.raises(CudaCompileError):
            nvrtc_compile(bad, "sm_80")
    monkeypatch.setenv("LAZYFLOW_NVRTC_CACHE", "0")
    nvrtc_compile(src + "// uncached\n", "sm_80")
    assert len(list((tmp_path / "nvrtc").glob("*.json"))) == 1


@needs_gxx
def test_shared_memory_starts_as_garbage():
    """Shared memory no thread of this launch wrote reads as garbage, not zeros and not the
    previous launch's values, as on a GPU."""
    src = ('#include "lazyflow_cuda.h"\n'
           'extern "C" __global__ void partly_written(const float* x, float* y, int nwrite) {\n'
           '  static __shared__ float s[64];\n'
           '  extern __shared__ float d[];\n'
           '  if (threadIdx.x < nwrite) { s[threadIdx.x] = x[threadIdx.x]; d[threadIdx.x] = 1; }\n'
           '  __syncthreads();\n'
           '  y[threadIdx.x] = s[threadIdx.x] + d[threadIdx.x];\n'
           '}\n')
    fn = emulate_module(src).get_function("partly_written")
    x = np.ones(64, np.float32)
    y = np.zeros(64, np.float32)
    fn((1,), (64,), (x, y, np.int32(64)), shared_mem=256)
    np.testing.assert_array_equal(y, 2.0)
    fn((1,), (64,), (x, y, np.int32(32)), shared_mem=256)
    np.testing.assert_array_equal(y[:32], 2.0)
    assert (np.abs(y[32:]) > 1e6).all()


@needs_gxx
def test_reverse_schedule_exposes_order_dependence(module):
    """A reduction without its in-loop barrier happens to work for some data orders; running
    threads backwards changes which partials are read, so forward vs reverse differ. The
    correct kernel gives the same result both ways."""
    n, block = 4096, 256
    x = _rng(14).random(n).astype(np.float32) + 1.0
    results = {}
    for name in ("block_reduce_smem", "block_reduce_smem_racy"):
        fn = module.get_function(name)
        out = []
        for schedule in ("forward", "reverse"):
            fn.schedule = schedule
            partial = np.zeros(1, np.float32)
            fn((1,), (block,), (x, partial, np.int32(n)))
            out.append(partial[0])
        fn.schedule = "forward"
        results[name] = out
    good = results["block_reduce_smem"]
    assert good[0] == good[1] and abs(good[0] - x.sum(dtype=np.float64)) < 1e-2
    racy = results["block_reduce_smem_racy"]
    assert racy[0] != racy[1]


@needs_gxx
def test_several_translation_units_build_together():
    srcs = [('#include "lazyflow_cuda.h"\n'
             f'extern "C" __global__ void add{k}(float* y) {{ y[threadIdx.x] += {k}.0f; }}\n')
            for k in (1, 2)]
    mods = emulate_modules(srcs)
    y = np.zeros(4, np.float32)
    mods[0].get_function("add1")((1,), (4,), (y,))
    mods[1].get_function("add2")((1,), (4,), (y,))
    np.testing.assert_array_equal(y, 3.0)
    with pytest.raises(AttributeError, match="add1"):
        mods[1].get_function("add1")


@needs_nvrtc
def test_check_compiles_covers_both_architectures():
    results = check_compiles(KERNELS)
    assert set(results) == set(DEFAULT_ARCHS)
    assert all(r.kernels.keys() == results["sm_90"].kernels.keys() for r in results.values())


_MINMAX_OK = ["min(i, 5u)", "max(u, 1)", "min(v, 1.0)", "max(i, 2)", "min(ll, 3LL)",
              "max(d, 0.5f)", "fmaxf(v, 0)"]


@needs_gxx
@needs_nvrtc
def test_mixed_type_min_max_resolve_as_under_nvrtc():
    """Overloads the emulation defines resolve (and fail to resolve) like CUDA's."""
    body = "".join(f"  y[{k}] = (double){c};\n" for k, c in enumerate(_MINMAX_OK))
    src = ('#include "lazyflow_cuda.h"\n'
           'extern "C" __global__ void mm(double* y, float v, int i, long long ll, unsigned int u,'
           f' double d) {{\n{body}}}\n')
    check_no_spills(nvrtc_compile(src, "sm_90"))
    y = np.zeros(len(_MINMAX_OK))
    emulate_module(src).get_function("mm")((1,), (1,), (y, np.float32(-2.5), np.int32(-1),
                                                         np.int64(7), np.uint32(0), np.float64(3)))
    np.testing.assert_array_equal(y, [5, 1, -2.5, 2, 3, 3, 0])   # min(-1, 5u) compares unsigned
    for ambiguous in ("max(v, 0)", "max(ll, i)"):
        bad = ('#include "lazyflow_cuda.h"\nextern "C" __global__ void k(float* y, float v, '
               f'int i, long long ll) {{ y[0] = (float)({ambiguous}); }}\n')
        with pytest.raises(CudaCompileError):
            nvrtc_compile(bad, "sm_90")
        with pytest.raises(EmulationBuildError, match="ambiguous"):
            emulate_module(bad)


@needs_gxx
@needs_nvrtc
def test_directed_rounding_and_special_functions():
    import math

    src = r"""#include "lazyflow_cuda.h"
extern "C" __global__ void rounding(const float* a, const float* b, float* y) {
  int i = threadIdx.x;
  float x = a[i], w = b[i];
  float r[8] = {__fadd_rn(x, w), __fadd_rz(x, w), __fadd_rd(x, w), __fadd_ru(x, w),
                __fmul_rz(x, w), __fmaf_ru(x, w, 1.0f), erfcxf(x), cyl_bessel_i1f(x)};
  for (int k = 0; k < 8; ++k) y[i * 8 + k] = r[k];
}
"""
    check_compiles(src)
    a = np.array([1.0, -1.0, 3.0, 0.5], np.float32)
    b = np.array([2.0**-30, 2.0**-30, 7.0, -0.5], np.float32)
    y = np.zeros(32, np.float32)
    emulate_module(src).get_function("rounding")((1,), (4,), (a, b, y))
    y = y.reshape(4, 8)
    up, down = np.nextafter(np.float32(1), np.float32(2)), np.nextafter(np.float32(-1), 0)
    np.testing.assert_array_equal(y[0, :4], [1, 1, 1, up])           # 1 + 2^-30
    np.testing.assert_array_equal(y[1, :4], [-1, down, -1, down])    # -1 + 2^-30
    assert y[0, 5] == np.nextafter(np.float32(1), np.float32(2))     # fma rounded up
    i1 = [sum((x / 2) ** (2 * k + 1) / (math.factorial(k) * math.factorial(k + 1))
              for k in range(30)) for x in a.astype(float)]
    erfcx = [math.exp(x * x) * math.erfc(x) for x in a.astype(float)]
    np.testing.assert_allclose(y[:, 6], erfcx, rtol=1e-6)
    np.testing.assert_allclose(y[:, 7], i1, rtol=1e-6)
