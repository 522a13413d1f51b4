"""The fast paths equal the reference (vprop.ops.naive), forward and backward; API behaviour."""
import subprocess
import sys

import pytest
import torch

import vprop.ops as ops
from vprop.ops import _library, cpu, naive
from vprop.ops.naive import DIRECTIONS

from support.propagate import SHAPES, ignored_gates, make_inputs, value_and_grads

# "auto" on CPU is the registered custom op vprop::propagate (CPU kernel = the scan-major path) where a gradient
# is needed, and that kernel called directly in eager inference.
FAST_IMPLS = ["cpu", "auto"]


def assert_same(got, want, rtol=1e-10, atol=1e-10):
    for name, a, b in zip(("y", "dx", "dgates"), got, want):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("impl", FAST_IMPLS)
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference(impl, direction, shape):
    x, gates = make_inputs(shape, [direction])
    want = value_and_grads(lambda x, g: naive.propagate(x, g, direction), x, gates)
    got = value_and_grads(lambda x, g: ops.propagate(x, g, direction, impl=impl), x, gates)
    assert_same(got, want)
    assert not got[2][ignored_gates(shape, direction)].any(), "ignored gates must get no gradient"


@pytest.mark.parametrize("impl", FAST_IMPLS)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_matches_reference_float32(impl, direction):
    x, gates = make_inputs((2, 4, 9, 13), [direction], dtype=torch.float32)
    want = value_and_grads(lambda x, g: naive.propagate(x, g, direction), x, gates)
    got = value_and_grads(lambda x, g: ops.propagate(x, g, direction, impl=impl), x, gates)
    assert got[0].dtype == torch.float32
    assert_same(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_inference_calls_the_ops_cpu_kernel_directly_with_the_same_result(shape):
    x, gates = make_inputs(shape)
    with torch.no_grad():
        direct = ops.propagate_4dir(x, gates)
        one = ops.propagate(x, gates[:, :3], "r2l")
    torch.testing.assert_close(direct, torch.ops.vprop.propagate_4dir(x, gates), rtol=0, atol=0)
    torch.testing.assert_close(one, torch.ops.vprop.propagate(x, gates[:, :3], "r2l"), rtol=0, atol=0)
    torch.testing.assert_close(direct, naive.propagate_4dir(x, gates))


def test_inference_does_not_import_dynamo():
    """The custom op's first call imports torch._dynamo: seconds on every `vprop` run, for nothing in eager
    inference."""
    code = ("import sys, torch, vprop.ops as ops\n"
            "x, g = torch.rand(1, 2, 6, 7), torch.rand(1, 12, 6, 7) / 3\n"
            "with torch.inference_mode():\n"
            "    ops.propagate_4dir(x, g)\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_4dir_reference_is_the_per_direction_op():
    x, gates = make_inputs((1, 2, 5, 6))
    y = naive.propagate_4dir(x, gates)
    assert y.shape == (1, 4, 2, 5, 6)
    for k, direction in enumerate(DIRECTIONS):
        torch.testing.assert_close(y[:, k], naive.propagate(x, gates[:, 3 * k:3 * k + 3], direction))


@pytest.mark.parametrize("impl", FAST_IMPLS)
@pytest.mark.parametrize("shape", SHAPES)
def test_4dir_matches_reference(impl, shape):
    x, gates = make_inputs(shape)
    want = value_and_grads(naive.propagate_4dir, x, gates)
    got = value_and_grads(lambda x, g: ops.propagate_4dir(x, g, impl=impl), x, gates)
    assert_same(got, want)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("shape", SHAPES)
def test_4dir_max_is_the_max_of_the_four_scans(shape, layout):
    x, gates = make_inputs(shape)
    want = naive.propagate_4dir(x, gates).amax(1)
    with torch.inference_mode():     # the fused inference path
        got = ops.propagate_4dir_max(x.contiguous(memory_format=layout), gates.contiguous(memory_format=layout))
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    # recording gradients, it is the differentiable expression
    x.requires_grad_()
    ops.propagate_4dir_max(x, gates).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("impl", ["naive", *FAST_IMPLS])
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_zero_gates_return_x_exactly(impl, direction):
    x = torch.randn(2, 3, 6, 5)
    y = ops.propagate(x, torch.zeros(2, 3, 6, 5), direction, impl=impl)
    assert torch.equal(y, x)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_gradcheck_cpu_path(direction):
    x, gates = make_inputs((1, 2, 4, 5), [direction])
    assert torch.autograd.gradcheck(lambda x, g: cpu.propagate(x, g, direction), (x, gates))
    assert torch.autograd.gradcheck(lambda x, g: torch.ops.vprop.propagate(x, g, direction), (x, gates))


def test_gradcheck_4dir_op():
    x, gates = make_inputs((1, 2, 3, 4))
    assert torch.autograd.gradcheck(torch.ops.vprop.propagate_4dir, (x, gates))


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_opcheck_propagate(direction):
    torch.library.opcheck(torch.ops.vprop.propagate.default, (*make_inputs((2, 3, 4, 5), [direction]), direction))


def test_opcheck_propagate_4dir():
    torch.library.opcheck(torch.ops.vprop.propagate_4dir.default, make_inputs((2, 3, 4, 5)))


def test_low_precision_scans_in_float32():
    x, gates = make_inputs((1, 3, 6, 40), ["l2r"], dtype=torch.float32)
    want = ops.propagate(x, gates, "l2r")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = ops.propagate(x.bfloat16(), gates.bfloat16(), "l2r")
    assert got.dtype == torch.bfloat16
    # The inputs are rounded to bfloat16, the 40 scan steps are not.
    want_from_rounded = ops.propagate(x.bfloat16().float(), gates.bfloat16().float(), "l2r")
    torch.testing.assert_close(got, want_from_rounded.bfloat16(), rtol=0, atol=0)
    torch.testing.assert_close(got.float(), want, rtol=0.05, atol=0.05)
    got.float().sum().backward()
    assert gates.grad is not None and gates.grad.dtype == torch.float32


def test_float64_stays_float64():
    x, gates = make_inputs((1, 2, 3, 4), ["t2b"])
    assert ops.propagate(x, gates, "t2b").dtype == torch.float64


def test_module_equals_function():
    x, gates = make_inputs((1, 2, 5, 4), ["b2t"])
    module = ops.Propagate("b2t")
    assert "b2t" in repr(module)
    torch.testing.assert_close(module(x, gates), ops.propagate(x, gates, "b2t"))


def test_env_var_picks_impl_at_call_time(monkeypatch):
    calls = []
    reference = naive.propagate
    monkeypatch.setattr(naive, "propagate", lambda *a: calls.append(a) or reference(*a))
    x, gates = torch.randn(1, 2, 3, 4), torch.rand(1, 3, 3, 4) * 0.3
    ops.propagate(x, gates, "l2r")
    assert not calls
    monkeypatch.setenv(ops.IMPL_ENV_VAR, "naive")
    ops.propagate(x, gates, "l2r")
    assert len(calls) == 1
    ops.propagate(x, gates, "l2r", impl="cpu")  # the argument wins over the environment
    assert len(calls) == 1
    monkeypatch.setenv(ops.IMPL_ENV_VAR, "fastest")
    with pytest.raises(ValueError, match="fastest"):
        ops.propagate(x, gates, "l2r")


@pytest.mark.parametrize("x_shape, gates_shape, direction, impl, match", [
    ((1, 2, 3, 4), (1, 3, 3, 4), "diagonal", None, "direction"),
    ((1, 2, 3, 4), (1, 3, 3, 4), "l2r", "cuda", "impl"),
    ((2, 3, 4), (2, 3, 4), "l2r", None, "x must be"),
    ((1, 2, 0, 4), (1, 3, 0, 4), "l2r", None, "H, W >= 1"),
    ((1, 2, 3, 4), (1, 2, 3, 4), "l2r", None, "gates must be"),
    ((1, 2, 3, 4), (1, 3, 4, 3), "t2b", None, "gates must be"),
    ((1, 2, 3, 4), (2, 3, 3, 4), "r2l", None, "gates must be"),
])
def test_bad_input_raises(x_shape, gates_shape, direction, impl, match):
    with pytest.raises(ValueError, match=match):
        ops.propagate(torch.randn(x_shape), torch.rand(gates_shape), direction, impl=impl)


def test_bad_input_raises_4dir_and_module():
    with pytest.raises(ValueError, match=r"\(B, 12, H, W\)"):
        ops.propagate_4dir(torch.randn(1, 2, 3, 4), torch.rand(1, 3, 3, 4))
    with pytest.raises(ValueError, match="floating point"):
        ops.propagate(torch.ones(1, 2, 3, 4, dtype=torch.long), torch.rand(1, 3, 3, 4), "l2r")
    with pytest.raises(ValueError, match="direction"):
        ops.Propagate("up")
    with pytest.raises(ValueError, match="direction"):
        torch.ops.vprop.propagate(torch.randn(1, 2, 3, 4), torch.rand(1, 3, 3, 4), "up")


def test_triton_self_check_failure_warns_and_falls_back(monkeypatch):
    pytest.importorskip("triton")
    from vprop.ops import triton_kernels

    monkeypatch.setattr(triton_kernels, "propagate_fwd_4dir", lambda x, gates: torch.zeros(2, 4, 3, 11, 7))  # wrong answers
    with pytest.warns(RuntimeWarning, match="Triton propagation disabled"):
        assert not _library.triton_usable.__wrapped__(torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("impl", ["auto", "cpu"])
def test_cuda_matches_reference(impl):
    x, gates = make_inputs((2, 3, 17, 33), dtype=torch.float32)
    want = value_and_grads(naive.propagate_4dir, x, gates)
    xc, gc = (t.detach().cuda().requires_grad_() for t in (x, gates))
    got = value_and_grads(lambda x, g: ops.propagate_4dir(x, g, impl=impl), xc, gc)
    assert_same([t.cpu() for t in got], want, rtol=1e-4, atol=1e-4)
