"""The runtime: barriers and the compile cache (`sync`, `cache`), backends, live tensors,
buffers and donation, metrics."""
