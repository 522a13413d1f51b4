"""Triton kernels vs the reference. Not collected by default: test_ops_propagate_triton.py runs this file in a
subprocess, under the Triton interpreter on CPU (TRITON_INTERPRET=1 must be set before Triton is imported,
which a shared pytest process cannot promise) and, where CUDA is available, on the GPU.

The interpreter costs ~2 ms per program per column, hence the tiny shapes.
"""
import os
import warnings

import pytest
import torch

triton = pytest.importorskip("triton")

from support.propagate import SHAPES, ignored_gates, make_inputs, value_and_grads  # noqa: E402

import vprop.ops as ops  # noqa: E402
from vprop.ops import _library, cpu, naive, triton_kernels  # noqa: E402
from vprop.ops.naive import DIRECTIONS  # noqa: E402

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
DEVICE = "cpu" if INTERPRET else "cuda"
if not INTERPRET and not torch.cuda.is_available():
    pytest.skip("needs CUDA or TRITON_INTERPRET=1", allow_module_level=True)

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}


def on_device(fn):
    """fn on DEVICE copies of CPU leaves, with its results brought back."""
    def wrapped(x, gates):
        return fn(x.to(DEVICE), gates.to(DEVICE)).cpu()
    return wrapped


def assert_same(got, want, dtype):
    for name, a, b in zip(("y", "dx", "dgates"), got, want):
        torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_4dir_one_launch(shape, dtype):
    x, gates = make_inputs(shape, dtype=dtype)
    want = value_and_grads(naive.propagate_4dir, x, gates)
    got = value_and_grads(on_device(triton_kernels.propagate_4dir), x, gates)
    assert_same(got, want, dtype)


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("shape", [(1, 2, 5, 7), (1, 2, 1, 4), (1, 1, 4, 1)])
def test_single_direction(shape, direction):
    x, gates = make_inputs(shape, [direction])
    want = value_and_grads(lambda x, g: naive.propagate(x, g, direction), x, gates)
    got = value_and_grads(on_device(lambda x, g: ops.propagate(x, g, direction, impl="triton")), x, gates)
    assert_same(got, want, torch.float64)
    assert not got[2][ignored_gates(shape, direction)].any()


def test_per_direction_x():
    """x4 may also be (B, 4, C, H, W), one input per direction."""
    x, gates = make_inputs((1, 2, 4, 6))
    x4 = torch.randn(1, 4, 2, 4, 6, dtype=x.dtype, requires_grad=True)
    want = value_and_grads(lambda x4, g: torch.stack(
        [naive.propagate(x4[:, k], g[:, 3 * k:3 * k + 3], d) for k, d in enumerate(DIRECTIONS)], 1), x4, gates)
    got = value_and_grads(on_device(triton_kernels.propagate_4dir), x4, gates)
    assert_same(got, want, torch.float64)


def test_zero_gates_return_x_exactly():
    x = torch.randn(2, 3, 5, 6, device=DEVICE)
    y = triton_kernels.propagate_fwd_4dir(x, torch.zeros(2, 12, 5, 6, device=DEVICE))
    assert torch.equal(y, x.unsqueeze(1).expand_as(y))


def test_self_check_passes():
    # inference_mode: like inside an op kernel, autograd records nothing there.
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.filterwarnings("error", message="vprop")
        _library.triton_usable.cache_clear()
        assert _library.triton_usable(torch.device(DEVICE))  # cached for the tests below


def test_cuda_kernels_of_the_ops():
    """The CUDA kernels registered for the vprop:: ops, called directly (the interpreter wants CPU tensors)."""
    x, gates = (t.detach() for t in make_inputs((1, 2, 4, 5)))
    grad = torch.randn(1, 4, 2, 4, 5, dtype=x.dtype)
    on = lambda *ts: [t.to(DEVICE) for t in ts]  # noqa: E731
    with torch.inference_mode():
        y = _library._propagate_4dir_cuda(*on(x, gates))
        got = [t.cpu() for t in (y, *_library._propagate_4dir_backward_cuda(*on(grad, x, gates), y))]
        y = cpu.propagate_4dir_fwd(x, gates)
        assert_same(got, (y, *cpu.propagate_4dir_bwd(grad, x, gates, y)), torch.float64)
        for k, direction in enumerate(DIRECTIONS):
            g = gates[:, 3 * k:3 * k + 3]
            y = _library._propagate_cuda(*on(x, g), direction)
            got = [t.cpu() for t in (y, *_library._propagate_backward_cuda(*on(grad[:, k], x, g), y, direction))]
            y = cpu.propagate_fwd(x, g, direction)
            assert_same(got, (y, *cpu.propagate_bwd(grad[:, k], x, g, y, direction)), torch.float64)


def test_new_size_does_not_recompile():
    """Sizes are not specialised: only a new power-of-two block size compiles a new kernel."""
    kernel = triton_kernels._fwd_kernel
    if INTERPRET or not hasattr(kernel, "device_caches"):
        pytest.skip("needs compiled kernels and Triton's per-device kernel caches")

    def run(h, w):
        triton_kernels.propagate_fwd_4dir(torch.randn(1, 2, h, w, device=DEVICE), torch.rand(1, 12, h, w, device=DEVICE))
        return sum(len(caches[0]) for caches in kernel.device_caches.values())

    assert run(33, 47) == run(40, 61)  # both use 64-row blocks
