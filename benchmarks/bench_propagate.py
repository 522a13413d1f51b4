"""Time the propagation implementations: the reference (naive) vs the fast CPU path, and Triton on CUDA.

    python benchmarks/bench_propagate.py [--reps 10] [--sizes 64 128] [--channels 32] [--threads N]

Forward is timed under torch.no_grad(); forward+backward with both inputs requiring grad. Each number is
the median of --reps runs after one warm-up, on one CPU thread unless --threads says otherwise. B=1.
"4dir" is propagate_4dir: the four directions at once. Then the inference merge of a propagation unit,
propagate_4dir(...).amax(1) against the fused propagate_4dir_max, B=4 as the frame loop batches.
On CUDA, the Triton columns add the effective bandwidth: the bytes a pass must move at least (every
input read once, every output written once) divided by its time, against the device's peak.
"""
import argparse
import statistics
import time

import torch

from vprop.ops import propagate, propagate_4dir, propagate_4dir_max
from vprop.ops.naive import DIRECTIONS


def median_ms(fn, reps: int, sync=lambda: None) -> float:
    fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def cuda_ms(fn, reps: int) -> float:
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def make_call(direction: str, impl: str):
    if direction == "4dir":
        return lambda x, g: propagate_4dir(x, g, impl=impl)
    return lambda x, g: propagate(x, g, direction, impl=impl)


def fwd_and_fwd_bwd(call, x, gates, timer):
    def fwd():
        with torch.no_grad():
            call(x, gates)

    def fwd_bwd():
        call(x, gates).sum().backward()
        x.grad = gates.grad = None

    return timer(fwd), timer(fwd_bwd)


def inputs(channels: int, size: int, direction: str, device: str):
    gate_channels = 12 if direction == "4dir" else 3
    x = torch.randn(1, channels, size, size, device=device, requires_grad=True)
    gates = (torch.softmax(torch.randn(1, gate_channels, size, size, device=device), 1) * 0.9).requires_grad_()
    return x, gates


def pass_bytes(x, gates, direction: str) -> tuple[int, int]:
    """Least bytes moved by a forward and by a forward+backward."""
    scans = 4 if direction == "4dir" else 1
    xb, gb, yb = x.nbytes, gates.nbytes, x.nbytes * scans
    fwd = xb + gb + yb  # read x, gates; write y
    bwd = yb + xb + gb + yb + xb + gb  # read dy, x, gates, y; write dx, dgates
    return fwd, fwd + bwd


def peak_bandwidth() -> float | None:
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    clock_khz, bus_bits = getattr(props, "memory_clock_rate", 0), getattr(props, "memory_bus_width", 0)
    return 2 * clock_khz * 1e3 * bus_bits / 8 if clock_khz and bus_bits else None  # double data rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--reps", type=int, default=10)
    # One thread by default: a scan step works on one column, too small for intra-op threads to pay off, and
    # on a busy machine every parallel region waits for a descheduled sibling thread (10-50x slower).
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, 0 for torch's default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    directions = [*DIRECTIONS, "4dir"]
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; B=1, C={args.channels}, "
          f"median of {args.reps} (ms)")

    header = (f"{'C x H x W':>14} {'dir':>5} | {'naive fwd':>9} {'cpu fwd':>8} {'x':>5} | "
              f"{'naive f+b':>9} {'cpu f+b':>8} {'x':>5}")
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        for direction in directions:
            x, gates = inputs(args.channels, size, direction, "cpu")
            timer = lambda fn: median_ms(fn, args.reps)  # noqa: E731
            nf, nfb = fwd_and_fwd_bwd(make_call(direction, "naive"), x, gates, timer)
            cf, cfb = fwd_and_fwd_bwd(make_call(direction, "cpu"), x, gates, timer)
            print(f"{f'{args.channels}x{size}x{size}':>14} {direction:>5} | {nf:9.2f} {cf:8.2f} {nf / cf:4.1f}x | "
                  f"{nfb:9.2f} {cfb:8.2f} {nfb / cfb:4.1f}x")

    print(f"\n{'B x C x H x W':>18} | {'4dir+amax':>9} {'4dir_max':>8} {'x':>5} | {'channels-last':>13} {'x':>5}"
          "   (inference forward, cpu; channels-last: both inputs in it, as the network runs on CPU)")
    for size in args.sizes:
        x = torch.randn(4, args.channels, size, size)
        gates = torch.softmax(torch.randn(4, 12, size, size), 1) * 0.9
        x_cl, gates_cl = (t.contiguous(memory_format=torch.channels_last) for t in (x, gates))
        with torch.inference_mode():
            plain = median_ms(lambda: propagate_4dir(x, gates, impl="cpu").amax(1), args.reps)
            fused = median_ms(lambda: propagate_4dir_max(x, gates, impl="cpu"), args.reps)
            fused_cl = median_ms(lambda: propagate_4dir_max(x_cl, gates_cl, impl="cpu"), args.reps)
        print(f"{f'4x{args.channels}x{size}x{size}':>18} | {plain:9.2f} {fused:8.2f} {plain / fused:4.1f}x | "
              f"{fused_cl:13.2f} {plain / fused_cl:4.1f}x")

    if not torch.cuda.is_available():
        print("\nCUDA not available: Triton kernels not timed.")
        return

    peak = peak_bandwidth()
    name = torch.cuda.get_device_name()
    print(f"\n{name}, peak memory bandwidth " + (f"{peak / 1e9:.0f} GB/s" if peak else "unknown"))
    header = (f"{'C x H x W':>14} {'dir':>5} | {'cpu fwd':>8} {'triton fwd':>10} {'GB/s':>6} {'%peak':>5} | "
              f"{'cpu f+b':>8} {'triton f+b':>10} {'GB/s':>6}")
    print(header)
    print("-" * len(header))
    timer = lambda fn: cuda_ms(fn, args.reps * 5)  # noqa: E731
    for size in [*args.sizes, 512]:
        for direction in directions:
            x, gates = inputs(args.channels, size, direction, "cuda")
            cf, cfb = fwd_and_fwd_bwd(make_call(direction, "cpu"), x, gates, timer)
            tf, tfb = fwd_and_fwd_bwd(make_call(direction, "triton"), x, gates, timer)
            fwd_bytes, fb_bytes = pass_bytes(x, gates, direction)
            bw_f, bw_fb = fwd_bytes / tf / 1e6, fb_bytes / tfb / 1e6
            pct = f"{100 * bw_f * 1e9 / peak:4.1f}%" if peak else "  n/a"
            print(f"{f'{args.channels}x{size}x{size}':>14} {direction:>5} | {cf:8.3f} {tf:10.3f} {bw_f:6.0f} {pct:>5} | "
                  f"{cfb:8.3f} {tfb:10.3f} {bw_fb:6.0f}")


if __name__ == "__main__":
    main()
