"""Module: parameter/buffer/submodule registration, state_dict, hooks, train/eval, repr."""

__all__: list[str] = []
