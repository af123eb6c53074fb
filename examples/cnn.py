"""A small CNN learns to tell horizontal from vertical bars, lazily.

    python examples/cnn.py [--quick]

Conv2d, MaxPool2d, Flatten and Linear layers as in torch; convolutions run as one GEMM over
unfolded windows. The last lines print the kernel count of one training step and the metrics.
"""

import argparse

import numpy as np

import lazyflow as torch
import lazyflow.nn as nn
import lazyflow.nn.functional as F


def make_images(n: int, size: int = 16, seed: int = 0):
    """Noisy images with one bright bar; label 0 = horizontal, 1 = vertical."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, (n, 1, size, size)).astype(np.float32)
    labels = rng.integers(0, 2, n)
    pos = rng.integers(2, size - 2, n)
    for i in range(n):
        if labels[i]:
            x[i, 0, :, pos[i]] += 1.0
        else:
            x[i, 0, pos[i], :] += 1.0
    return torch.from_numpy(x), torch.from_numpy(labels)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 4 * 4, 2)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few steps only")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    x, y = make_images(512)
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    steps = 15 if args.quick else 60
    for step in range(steps):
        i = (step * 32) % 480
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[i:i + 32]), y[i:i + 32])
        loss.backward()
        if step == 0:
            report = torch.debug.inspect(loss, *[p.grad for p in model.parameters()])
            print(f"one training step: {report.num_nodes} IR nodes, "
                  f"{report.num_optimized_nodes} after the passes, {report.num_kernels} kernels")
        optimizer.step()
        if step % 5 == 0 or step == steps - 1:
            print(f"step {step:3d}  loss {loss.item():.4f}")
    with torch.no_grad():
        accuracy = (model(x[480:]).argmax(1) == y[480:]).float().mean().item()
    print(f"held-out accuracy {accuracy:.3f}")
    print(torch.debug.metrics_report())
    return accuracy


if __name__ == "__main__":
    main()
