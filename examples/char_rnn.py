"""A character-level LSTM learns the Zen of Python, with gradient clipping and Adam.

    python examples/char_rnn.py [--quick]

The LSTM's loop over time is recorded into one graph per sequence length, so every step after
the first replays a cached graph. At the end the model writes a line of its own.
"""

import argparse
import codecs
import contextlib
import io

import numpy as np

import lazyflow as torch
import lazyflow.nn as nn
import lazyflow.nn.functional as F


def zen() -> str:
    with contextlib.redirect_stdout(io.StringIO()):  # `import this` prints the text
        import this
    return codecs.decode(this.s, "rot13")


class CharRNN(nn.Module):
    def __init__(self, vocab: int, hidden: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab, 32)
        self.lstm = nn.LSTM(32, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx, state=None):
        out, state = self.lstm(self.embed(idx), state)
        return self.head(out), state


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few steps only")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    text = zen()
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text])
    rng = np.random.default_rng(0)
    model = CharRNN(len(chars))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    steps, seq = (20, 16) if args.quick else (300, 32)
    for step in range(steps):
        starts = rng.integers(0, len(data) - seq - 1, 16)
        window = np.stack([data[s:s + seq + 1] for s in starts])
        x, y = torch.from_numpy(window[:, :-1]), torch.from_numpy(window[:, 1:])
        optimizer.zero_grad()
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            print(f"step {step:4d}  loss {loss.item():.3f}")
    # generation: one character at a time, carrying the LSTM state
    with torch.no_grad():
        idx, state, out = torch.tensor([[chars.index("B")]]), None, "B"
        for _ in range(60):
            logits, state = model(idx, state)
            nxt = torch.multinomial(F.softmax(logits[0, -1] / 0.7, dim=-1), 1)
            out += chars[int(nxt.item())]
            idx = nxt.view(1, 1)
    print("sample:", out.replace("\n", " / "))
    print(f"compiles: {torch.debug.counter_value('UncachedCompile')}, "
          f"executions: {torch.debug.counter_value('Execute')}")
    return loss.item()


if __name__ == "__main__":
    main()
