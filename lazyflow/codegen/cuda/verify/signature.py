"""Read kernel signatures and call graphs out of CUDA C text (the subset generated code uses)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# C parameter type -> numpy dtypes accepted for it (scalars by value, arrays behind pointers).
# bfloat16 data travels as uint16 bits (numpy has no bfloat16) or as ml_dtypes' bfloat16.
_CTYPES: dict[str, tuple[str, ...]] = {
    "float": ("float32",),
    "double": ("float64",),
    "__half": ("float16",),
    "__nv_bfloat16": ("uint16", "bfloat16"),
    "bool": ("bool",),
    "signed char": ("int8",),
    "char": ("int8",),
    "unsigned char": ("uint8",),
    "short": ("int16",),
    "unsigned short": ("uint16",),
    "int": ("int32",),
    "unsigned int": ("uint32",),
    "long long": ("int64",),
    "long": ("int64",),
    "unsigned long long": ("uint64",),
    "unsigned long": ("uint64",),
    "void": (),
}
_ALIASES = {
    "half": "__half", "nv_bfloat16": "__nv_bfloat16", "unsigned": "unsigned int",
    "signed": "int", "signed int": "int", "long int": "long", "long long int": "long long",
    "signed long long": "long long", "unsigned long long int": "unsigned long long",
    "unsigned long int": "unsigned long", "short int": "short",
    "unsigned short int": "unsigned short",
    "int8_t": "signed char", "uint8_t": "unsigned char", "int16_t": "short",
    "uint16_t": "unsigned short", "int32_t": "int", "uint32_t": "unsigned int",
    "int64_t": "long long", "uint64_t": "unsigned long long", "size_t": "unsigned long long",
    "ptrdiff_t": "long long",
}
_QUALIFIERS = {"const", "volatile", "__restrict__", "__restrict", "restrict", "__grid_constant__"}

# Built-ins that need every thread of a block to be a fiber (the rest run as a plain loop).
SYNC_BUILTINS = ("__syncthreads", "__syncwarp", "__shfl", "__ballot_sync", "__any_sync",
                 "__all_sync", "__activemask", "__match_")


@dataclass(frozen=True)
class Param:
    name: str
    ctype: str        # canonical base type, e.g. "float", "unsigned char", "__half"
    pointer: bool
    const: bool       # pointee is const (the kernel only reads through it)

    @property
    def dtypes(self) -> tuple[str, ...]:
        return _CTYPES[self.ctype]

    @property
    def c_decl(self) -> str:
        return f"{self.ctype}*" if self.pointer else self.ctype


@dataclass(frozen=True)
class KernelSignature:
    name: str
    params: tuple[Param, ...]
    needs_fibers: bool


def strip_comments(src: str) -> str:
    """Drop // and /* */ comments (string literals in kernels never contain them)."""
    src = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def _parse_param(text: str, kernel: str) -> Param:
    tokens = text.replace("*", " * ").replace("&", " & ").split()
    if "&" in tokens or "[" in text:
        raise ValueError(f"kernel {kernel}: unsupported parameter {text.strip()!r}")
    stars = tokens.count("*")
    const = False
    if stars:
        first_star = tokens.index("*")
        const = "const" in tokens[:first_star]
    words = [t for t in tokens if t not in _QUALIFIERS and t != "*"]
    if stars > 1 or len(words) < 2:
        raise ValueError(f"kernel {kernel}: unsupported parameter {text.strip()!r} "
                         "(need `type name` or `type* name`)")
    name, base = words[-1], " ".join(words[:-1])
    base = _ALIASES.get(base, base)
    if base not in _CTYPES:
        raise ValueError(f"kernel {kernel}: parameter {name!r} has unsupported type {base!r}; "
                         f"supported: {', '.join(sorted(_CTYPES))}")
    if base == "void" and not stars:
        raise ValueError(f"kernel {kernel}: parameter {name!r} cannot be void")
    return Param(name=name, ctype=base, pointer=bool(stars), const=const)


_BOUNDS = r"(?:__launch_bounds__\s*\([^)]*\)\s*)?"
_KERNEL = re.compile(
    r'extern\s+"C"\s+' + _BOUNDS + r"(?:__global__\s+" + _BOUNDS + r"void|void\s+__global__)\s+"
    + _BOUNDS + r"(\w+)\s*\(([^)]*)\)\s*\{")
_FUNC = re.compile(r"\b(\w+)\s*\([^;{}()]*(?:\([^()]*\)[^;{}()]*)*\)\s*(?:const\s*)?\{")
_CONTROL = {"if", "for", "while", "switch", "return", "sizeof", "catch", "do"}


def _body_end(src: str, open_brace: int) -> int:
    depth = 0
    for i in range(open_brace, len(src)):
        c = src[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced braces in CUDA source")


def function_bodies(src: str) -> dict[str, str]:
    """Top-level function name -> body text (later overloads are appended to earlier ones)."""
    bodies: dict[str, str] = {}
    pos = 0
    while True:
        m = _FUNC.search(src, pos)
        if not m:
            return bodies
        name = m.group(1)
        open_brace = m.end() - 1
        end = _body_end(src, open_brace)
        if name not in _CONTROL:
            bodies[name] = bodies.get(name, "") + src[open_brace:end]
        pos = end


def _uses_sync(name: str, bodies: dict[str, str], memo: dict[str, bool],
               active: set[str]) -> bool:
    if name in memo:
        return memo[name]
    if name in active:
        return False
    active.add(name)
    body = bodies.get(name, "")
    found = any(tok in body for tok in SYNC_BUILTINS)
    if not found:
        for callee in set(re.findall(r"\b(\w+)\s*(?:<[^<>;]*>)?\s*\(", body)):
            if callee != name and callee in bodies and _uses_sync(callee, bodies, memo, active):
                found = True
                break
    active.discard(name)
    memo[name] = found
    return found


_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
EMULATION_HEADER = "lazyflow_cuda.h"


def included_headers(src: str, include_dirs: tuple[Path, ...],
                     seen: set[str] | None = None) -> list[str]:
    """Texts of the quoted #includes found in `include_dirs` (recursively), except
    lazyflow_cuda.h, whose functions are the built-ins themselves."""
    seen = set() if seen is None else seen
    texts: list[str] = []
    for name in _INCLUDE.findall(src):
        if name == EMULATION_HEADER or name in seen:
            continue
        seen.add(name)
        for d in include_dirs:
            path = Path(d) / name
            if path.is_file():
                text = strip_comments(path.read_text())
                texts += included_headers(text, include_dirs, seen)
                texts.append(text)
                break
    return texts


def parse_kernels(source: str,
                  include_dirs: tuple[Path, ...] = ()) -> dict[str, KernelSignature]:
    """Every `extern "C" __global__ void name(...)` kernel in `source`, in order.

    Helpers defined in headers that `source` includes from `include_dirs` take part in the
    call-graph scan that decides which kernels need fibers.
    """
    src = strip_comments(source)
    bodies: dict[str, str] = {}
    for text in included_headers(src, tuple(include_dirs)):
        for name, body in function_bodies(text).items():
            bodies[name] = bodies.get(name, "") + body
    for name, body in function_bodies(src).items():
        bodies[name] = bodies.get(name, "") + body
    memo: dict[str, bool] = {}
    kernels: dict[str, KernelSignature] = {}
    for m in _KERNEL.finditer(src):
        name, params_text = m.group(1), m.group(2).strip()
        params: tuple[Param, ...] = ()
        if params_text and params_text != "void":
            params = tuple(_parse_param(p, name) for p in params_text.split(","))
        if name in kernels:
            raise ValueError(f"kernel {name!r} is defined twice")
        kernels[name] = KernelSignature(name, params, _uses_sync(name, bodies, memo, set()))
    return kernels


_DYN_SHARED = re.compile(
    r"extern\s+__shared__\s+((?:__align__\s*\(\s*\d+\s*\)|alignas\s*\(\s*\d+\s*\)|\s)*)"
    r"([A-Za-z_][\w\s]*?)\s+(\w+)\s*\[\s*\]\s*;")


_STATIC_SHARED = re.compile(r"\bstatic\s+__shared__\b|\b__shared__\s+static\b")


def rewrite_dynamic_shared(src: str) -> str:
    """`extern __shared__ T name[];` -> a pointer to the launch's dynamic shared buffer, and
    `static __shared__` -> `__shared__` (the emulation's __shared__ already means static)."""
    def repl(m: re.Match) -> str:
        ctype, name = " ".join(m.group(2).split()), m.group(3)
        return f"{ctype}* const {name} = reinterpret_cast<{ctype}*>(lf_emu::dynamic_shared());"
    return _STATIC_SHARED.sub("__shared__", _DYN_SHARED.sub(repl, src))


def dtype_matches(param: Param, dtype: np.dtype) -> bool:
    if param.ctype == "void":
        return True
    return dtype.name in param.dtypes
