"""An MLP classifier trained with a DataLoader, StepLR and a validation pass, lazily.

    python examples/mlp_classifier.py [--quick]

Ordinary PyTorch training code: only the import differs. Each `optimizer.step()` is a barrier
that runs forward, backward and the SGD update as one compiled graph; the counters printed at
the end show the step compiled once and then came from the compile cache.
"""

import argparse

import numpy as np

import lazyflow as torch
import lazyflow.nn as nn
from lazyflow.utils.data import DataLoader, TensorDataset


def make_data(n: int, classes: int = 4, dim: int = 20, seed: int = 0):
    """Gaussian blobs: one random centre per class, unit noise around it."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2.0, (classes, dim)).astype(np.float32)
    labels = rng.integers(0, classes, n)
    x = centres[labels] + rng.normal(0, 1.0, (n, dim)).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(labels)


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two short epochs")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    x, y = make_data(2048)
    train = TensorDataset(x[:1536], y[:1536])
    val = TensorDataset(x[1536:], y[1536:])
    loader = DataLoader(train, batch_size=64, shuffle=True, drop_last=True)
    val_loader = DataLoader(val, batch_size=256)

    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 4))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)

    accuracy = 0.0
    for epoch in range(2 if args.quick else 6):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()            # barrier: one graph execution per step
        scheduler.step()
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for xb, yb in val_loader:
                _, predicted = torch.max(model(xb), 1)
                correct += (predicted == yb).sum().item()
                total += yb.size(0)
        accuracy = correct / total
        print(f"epoch {epoch}  lr {scheduler.get_last_lr()[0]:.4f}  "
              f"last loss {loss.item():.4f}  val accuracy {accuracy:.3f}")
    print(f"compiles: {torch.debug.counter_value('UncachedCompile')}, "
          f"cache hits: {torch.debug.counter_value('CachedCompile')}, "
          f"executions: {torch.debug.counter_value('Execute')}")
    return accuracy


if __name__ == "__main__":
    main()
