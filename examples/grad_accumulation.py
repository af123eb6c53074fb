"""Gradient accumulation over micro-batches, torch_xla style.

    python examples/grad_accumulation.py [--quick]

Four micro-batches of 16 accumulate into `.grad`, then one update: the result equals one step
on the whole batch of 64. Each micro-batch's forward and backward are recorded lazily; the
update runs with `lazyflow.optimizer_step(optimizer)`, which records it and then materializes
everything pending (the four losses, the gradients, the new weights) in ONE graph execution.
"""

import argparse
import copy

import numpy as np

import lazyflow as torch
import lazyflow.nn as nn


def train(model, x, y, micro_batches: int, steps: int):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.MSELoss()
    size = x.shape[0] // micro_batches
    executions = []
    for _ in range(steps):
        optimizer.zero_grad()
        before = torch.debug.counter_value("Execute")
        for i in range(micro_batches):
            loss = criterion(model(x[i * size:(i + 1) * size]), y[i * size:(i + 1) * size])
            (loss / micro_batches).backward()      # accumulates into .grad; nothing runs
        torch.optimizer_step(optimizer)           # one graph: all micro-batches + update
        executions.append(torch.debug.counter_value("Execute") - before)
    return executions


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((64, 10), dtype=np.float32))
    y = torch.from_numpy(rng.standard_normal((64, 1), dtype=np.float32))
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 1))
    twin = copy.deepcopy(model)
    steps = 3 if args.quick else 10
    execs = train(model, x, y, micro_batches=4, steps=steps)
    train(twin, x, y, micro_batches=1, steps=steps)
    diff = max((a - b).abs().max().item() for a, b in zip(model.parameters(), twin.parameters()))
    print(f"graph executions per accumulated step: {execs}")
    print(f"max |accumulated - full batch| over all weights after {steps} steps: {diff:.2e}")
    return diff


if __name__ == "__main__":
    main()
