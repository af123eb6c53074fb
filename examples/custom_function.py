"""A custom autograd.Function: its backward is recorded into the same lazy graph.

    python examples/custom_function.py [--quick]

`ClampedExp` computes exp(x) clamped at `limit` and passes gradients straight through the clamp
(a common trick for stable training). Its forward and backward are ordinary lazy ops, so the
custom gradient appears in the IR next to everything else and compiles with the step. The
example checks the gradient against finite differences with `gradcheck`.
"""

import argparse

import lazyflow as torch


class ClampedExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, limit: float):
        y = x.exp()
        ctx.save_for_backward(y)
        return y.clamp(max=limit)

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved_tensors
        return grad_out * y, None          # straight through the clamp; no grad for `limit`


def main(argv=None) -> bool:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="(the example is already short)")
    p.parse_args(argv)
    torch.manual_seed(0)
    x = torch.randn(5, requires_grad=True)
    y = ClampedExp.apply(x, 2.0)
    y.sum().backward()                     # records the custom backward; nothing runs yet
    print("pending gradient graph of x.grad:")
    print(torch.debug.inspect(x.grad).ir)
    print("y      =", y)                   # printing is a barrier
    print("x.grad =", x.grad)
    assert torch.allclose(x.grad, x.detach().exp())

    # gradcheck compares the analytic gradient with finite differences in float64
    xd = torch.randn(4, dtype=torch.float64, requires_grad=True)
    ok = torch.autograd.gradcheck(lambda t: ClampedExp.apply(t, 1e9), (xd,))
    print("gradcheck:", ok)
    return ok


if __name__ == "__main__":
    main()
