"""Re-export the public names of a package's submodules (each lists them in `__all__`).

`nn.modules` and `nn.functional` are assembled from small files that each own one family of
layers or functions; this keeps the package namespaces in one place without star imports.
"""

from __future__ import annotations

from importlib import import_module


def reexport(namespace: dict, package: str, submodules: tuple[str, ...]) -> list[str]:
    """Copy every name in each submodule's `__all__` into `namespace`; returns the names."""
    names: list[str] = []
    for sub in submodules:
        mod = import_module(f"{package}.{sub}")
        for name in mod.__all__:
            namespace[name] = getattr(mod, name)
            names.append(name)
    return names
