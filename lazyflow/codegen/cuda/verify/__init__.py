"""Prove generated CUDA kernels correct without a GPU: NVRTC compiles, CPU emulation runs.

Contract with the CUDA code generator and runtime (lazyflow/codegen/cuda)
-------------------------------------------------------------------------
Source text. A generated translation unit starts with ``#include "lazyflow_cuda.h"`` and defines
kernels as ``extern "C" __global__ void name(<params>)`` (``__launch_bounds__(...)`` may follow
``void``). Parameters are pointers to, or scalars by value of: ``float``, ``double``,
``__half``, ``__nv_bfloat16``, ``bool``, ``signed char``, ``unsigned char``, ``int``,
``long long`` (also ``short``, ``unsigned int``, ``unsigned long long``), optionally ``const``
and ``__restrict__``. Kernels may use ``__device__``/``__forceinline__`` helpers, static and
``extern __shared__`` dynamic shared arrays, ``__syncthreads()``, ``__syncwarp``,
``__shfl_sync``/``__shfl_up_sync``/``__shfl_down_sync``/``__shfl_xor_sync`` (full or partial
masks, ``width``), ``__ballot_sync``/``__any_sync``/``__all_sync``, ``atomicAdd``
(float/double/int/...), ``threadIdx``/``blockIdx``/``blockDim``/``gridDim``, ``warpSize``,
grid-stride loops, ``__half``/``__nv_bfloat16`` with ``__half2float``/``__float2half(_rn)``/
``__bfloat162float``/``__float2bfloat16(_rn)``, ``float4``/``float2`` vector loads through
``reinterpret_cast``, ``__ldg``, and the CUDA math library (single and double precision, the
``__expf``-style intrinsics, ``__int_as_float`` and friends). NVRTC has no host ``<math.h>``:
write infinities as ``LF_INFINITY_F``/``LF_INFINITY_D`` (defined by the header, both sides), or
``__int_as_float(0x7f800000)``; never ``INFINITY``. Mixed ``__half``/``float`` arithmetic is
ambiguous under NVRTC and in the emulation alike: convert explicitly.

Run-time options. The runtime compiles with ``cupy.RawModule(code=src, options=NVRTC_OPTIONS)``.
CuPy then adds ``CUPY_ADDED_OPTIONS`` and ``-arch=sm_XX`` itself; ``nvrtc_compile`` adds the same,
so what is checked here is what runs there. ``NVRTC_OPTIONS`` carries the include directories
(lazyflow_cuda.h, and the CUDA fp16/bf16 headers) and a hash of every header in lazyflow's
include directory (CuPy's disk cache keys on source + options only, so a header change must
change the options). No ``--use_fast_math``.

Launch convention (what ``EmulatedFunction`` checks, stricter than CuPy where CuPy is silently
wrong): ``fn(grid, block, args, shared_mem=0)``; grid and block are tuples of 1-3 ints (CuPy's
``RawKernel`` rejects bare ints); pointer parameters take numpy arrays whose dtype matches the
pointee (bfloat16 data as uint16 bits), written in place; scalar parameters take numpy scalars
of the exact C type (``np.int32(n)`` for ``int``, ``np.float32(x)`` for ``float``). Python
``int``/``float`` are rejected: CuPy would pass them as int64/float64, which misreads an ``int``
or ``float`` parameter. Dynamic shared memory above 48 KiB needs
``max_dynamic_shared_size_bytes`` raised first, as on a GPU.

API
---
- ``nvrtc_compile(source, arch="sm_90", extra_options=()) -> CompileResult`` (cubin, ptx, log,
  per-kernel registers and spill bytes); raises ``CudaCompileError`` with NVRTC's log.
- ``check_no_spills(result)`` raises ``RegisterSpillError`` naming spilling kernels;
  ``check_compiles(source, archs=DEFAULT_ARCHS)`` does both for sm_80 and sm_90 at once.
- ``emulate_module(source, asan=False) -> EmulatedModule``; ``emulate_modules([...])`` builds
  several translation units in parallel. ``EmulatedModule.get_function(name)`` returns a
  callable with CuPy's ``RawKernel`` calling convention. Threads of a block run as fibers that
  yield at ``__syncthreads`` and at warp exchanges (shuffles, votes, ``__syncwarp``: warp-level,
  so warps that do not shuffle are not held); kernels whose call graph has none of those run as
  a plain loop. Deadlocks (a barrier or shuffle some thread never reaches, mismatched masks)
  raise ``EmulationError`` naming the waiting threads. ``fn.schedule = "reverse"`` runs blocks
  and threads backwards; output that changes exposes order-dependent (racy) code.
  ``asan=True`` builds with AddressSanitizer + UBSan and runs each launch in a runner process;
  an invalid access raises ``AddressSanitizerError`` with the sanitizer's report.
- ``nvrtc_unavailable_reason()``, ``gxx_unavailable_reason()``, ``asan_unavailable_reason()``
  return None or why the tool cannot run here (tests skip with that reason).

What the emulation cannot show: real data races between threads (use compute-sanitizer
racecheck on a GPU), the GPU's FMA contraction and flush-to-zero (``-ftz=true``) rounding, and
timing. Blocks run one after another; threads of a block in order.
"""

from .emulate import (
    AddressSanitizerError,
    EmulatedFunction,
    EmulatedModule,
    EmulationBuildError,
    EmulationError,
    emulate_module,
    emulate_modules,
)
from .nvrtc import (
    CUPY_ADDED_OPTIONS,
    DEFAULT_ARCHS,
    NVRTC_OPTIONS,
    CompileResult,
    CudaCompileError,
    KernelResources,
    RegisterSpillError,
    check_compiles,
    check_no_spills,
    nvrtc_compile,
)
from .signature import KernelSignature, Param, parse_kernels
from .toolchain import (
    HEADER_PATH,
    INCLUDE_DIR,
    asan_unavailable_reason,
    cuda_include_dir,
    gxx_unavailable_reason,
    nvrtc_unavailable_reason,
)

__all__ = [
    "AddressSanitizerError", "CUPY_ADDED_OPTIONS", "CompileResult", "CudaCompileError",
    "DEFAULT_ARCHS", "EmulatedFunction", "EmulatedModule", "EmulationBuildError",
    "EmulationError", "HEADER_PATH", "INCLUDE_DIR", "KernelResources", "KernelSignature",
    "NVRTC_OPTIONS", "Param", "RegisterSpillError", "asan_unavailable_reason",
    "check_compiles", "check_no_spills", "cuda_include_dir", "emulate_module", "emulate_modules",
    "gxx_unavailable_reason", "nvrtc_compile", "nvrtc_unavailable_reason", "parse_kernels",
]
