"""Save a checkpoint mid-training, resume in a fresh model, get the same trajectory.

    python examples/checkpoint_resume.py [--quick]

`lazyflow.save` writes model, optimizer and scheduler state atomically (a temporary file, then a
rename); `lazyflow.load` reads tensors, numbers and strings only (`weights_only=True` by default),
so a checkpoint can never run code. The resumed run's losses equal the uninterrupted run's.
"""

import argparse
import os
import tempfile

import numpy as np

import lazyflow as torch
import lazyflow.nn as nn


def make():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    return model, optimizer, scheduler


def run(model, optimizer, scheduler, data, steps):
    losses = []
    for x, y in data[:steps]:
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps")
    args = p.parse_args(argv)
    n = 6 if args.quick else 20
    rng = np.random.default_rng(0)
    data = [(torch.from_numpy(rng.standard_normal((32, 8), dtype=np.float32)),
             torch.from_numpy(rng.standard_normal((32, 1), dtype=np.float32)))
            for _ in range(2 * n)]

    straight = run(*make(), data, 2 * n)               # uninterrupted: 2n steps

    model, optimizer, scheduler = make()
    first = run(model, optimizer, scheduler, data, n)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "checkpoint.pt")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "step": n}, path)
        print(f"saved {os.path.getsize(path):,} bytes after step {n}")
        ckpt = torch.load(path)
    model, optimizer, scheduler = make()                # a fresh start, as after a crash
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    resumed = first + run(model, optimizer, scheduler, data[ckpt["step"]:], n)
    diff = float(np.max(np.abs(np.array(straight) - np.array(resumed))))
    print(f"losses, uninterrupted: {[round(v, 4) for v in straight[-3:]]}")
    print(f"losses, resumed:       {[round(v, 4) for v in resumed[-3:]]}")
    print(f"max difference over {2 * n} steps: {diff:.2e}")
    return diff


if __name__ == "__main__":
    main()
