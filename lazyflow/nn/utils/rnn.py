"""torch.nn.utils.rnn: pad_sequence / unpad_sequence for variable-length batches.

(PackedSequence and pack_padded_sequence need the recurrent layers to accept packed input and
are not provided.)"""

from __future__ import annotations

from ...frontend.factories import full
from ...frontend.tensor import Tensor

__all__ = ["pad_sequence", "unpad_sequence"]


def _cat(ts: list, dim: int) -> Tensor:
    from ...frontend.ops_shape import FUNCTIONS
    return FUNCTIONS["cat"](ts, dim)


def _stack(ts: list, dim: int) -> Tensor:
    from ...frontend.ops_shape import FUNCTIONS
    return FUNCTIONS["stack"](ts, dim)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack (L_i, *) tensors into (L_max, B, *) (or (B, L_max, *)), padding each to L_max
    on `padding_side` with `padding_value` (differentiable, one graph)."""
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got "
                           f"{padding_side}.")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences[1:]:
        for d, (a, b) in enumerate(zip(trailing, s.shape[1:])):
            if a != b:
                raise RuntimeError(f"The size of tensor a ({a}) must match the size of tensor "
                                   f"b ({b}) at non-singleton dimension {d + 1}")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            pad = full((missing, *trailing), padding_value, dtype=s.dtype, device=s.device)
            s = _cat([s, pad] if padding_side == "right" else [pad, s], 0)
        padded.append(s)
    return _stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor, batch_first: bool = False
                   ) -> list:
    """The list of unpadded (L_i, *) sequences of a right-padded batch."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lens = [int(n) for n in (lengths.tolist() if isinstance(lengths, Tensor) else lengths)]
    return [seq[:n] for seq, n in zip(padded_sequences.unbind(0), lens)]
