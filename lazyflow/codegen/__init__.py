"""Code generators: numpy source for the CPU (`numpy_backend`, `fused`) and CUDA C for the GPU
(`cuda`). Each turns an optimized IR graph into something the runtime can run."""
