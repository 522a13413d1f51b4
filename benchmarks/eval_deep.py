"""What a source deeper than 8 bits keeps through `vprop colorize` and `vprop hdr`.

colour: a real 16-bit clip (a virtual camera over a Poly Haven sky panorama, the sRGB curve at 16 bits), its gray
version by `vprop gray`, keys every K frames from the colour frames, coloured as by default (16 bits kept) and with
--8-bit, each scored against the colour frames.
hdr: the same camera path recorded by a 10-bit camera (HDRCNN's curve, ~5% of the pixels clipped) as 16-bit PNGs,
and the same frames rounded to 8-bit PNGs (what vprop read before); HDR keys every K frames from the panorama's
radiance; `vprop hdr` of each, log-radiance RMSE against the truth over the other frames, and the time each run took.

    python benchmarks/eval_deep.py [--task colour|hdr] [--panorama PATH] [--interval 12] [--work DIR]
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PANORAMA = ROOT.parent / "shared" / "data" / "hdr-polyhaven" / "aristea_wreck_puresky.hdr"


def radiance_frames(panorama: Path, frames: int = 48) -> list[np.ndarray]:
    from vprop.io.images import read_linear_rgb
    from vprop.training.synthetic_hdr import CameraPath, hdr_frames

    path = CameraPath(frames=frames, size=(854, 480), pan=(3.0, 0.2), zoom=0.002, rotate=0.05, scale=0.5)
    return list(hdr_frames(read_linear_rgb(panorama), path))


def write_clip(panorama: Path, folder: Path, frames: int = 48) -> None:
    from vprop.tasks.hdr import auto_exposure

    radiance = radiance_frames(panorama, frames)
    exposure = auto_exposure(radiance, 0.02)
    folder.mkdir(parents=True)
    for i, frame in enumerate(radiance):
        value = np.clip(frame * exposure, 0, 1)
        srgb = np.where(value <= 0.0031308, 12.92 * value, 1.055 * value ** (1 / 2.4) - 0.055)
        cv2.imwrite(str(folder / f"sky_{i:04d}.png"), (srgb * 65535 + 0.5).astype(np.uint16)[..., ::-1])


def frames(folder: Path) -> np.ndarray:
    return np.stack([cv2.imread(str(f), cv2.IMREAD_UNCHANGED)[..., ::-1].astype(np.float64)
                     for f in sorted(folder.glob("*.png"))])


def vprop(*args) -> None:
    subprocess.run([sys.executable, "-m", "vprop", *map(str, args), "-q"], check=True)


def hdr(panorama: Path, interval: int, work: Path) -> None:
    from vprop.io.images import eight_bit, read_linear_rgb, write_exr
    from vprop.tasks.hdr import auto_exposure, log_rmse, synthesize_ldr

    radiance = radiance_frames(panorama)
    exposure = auto_exposure(radiance, 0.05)
    keys, deep, eight = work / "hdr_keys", work / "ldr16", work / "ldr8"
    for folder in (keys, deep, eight):
        folder.mkdir(parents=True)
    for i, frame in enumerate(radiance):
        ldr = synthesize_ldr(frame, exposure, bits=10)
        cv2.imwrite(str(deep / f"ldr_{i:04d}.png"), ldr[..., ::-1])
        cv2.imwrite(str(eight / f"ldr_{i:04d}.png"), eight_bit(ldr)[..., ::-1])
        if i % interval == 0:
            write_exr(keys / f"{i:05d}.exr", frame, half=False)
    print(f"{panorama.name}: {len(radiance)} frames, 854x480, a 10-bit camera; HDR keys every {interval}")
    for name, source in (("16-bit PNGs (10-bit codes)", deep), ("the same at 8 bits", eight)):
        out = work / f"hdr_{source.name}"
        start = time.perf_counter()
        vprop("hdr", f"{source}/", "--hdr-keys", keys, "-o", out)
        seconds = time.perf_counter() - start
        errors = [log_rmse(read_linear_rgb(out / f"{i:05d}.exr"), frame)
                  for i, frame in enumerate(radiance) if i % interval]
        print(f"{name:28s} log-RMSE {np.sqrt(np.mean(np.square(errors))):.4f}  {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["colour", "hdr"], default="colour")
    parser.add_argument("--panorama", type=Path, default=PANORAMA)
    parser.add_argument("--interval", type=int, default=12)
    parser.add_argument("--work", type=Path, default=None, help="keep the clips here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        if args.task == "hdr":
            hdr(args.panorama, args.interval, work)
            return
        colour = work / "colour"
        write_clip(args.panorama, colour)
        vprop("gray", f"{colour}/", "-o", work / "gray" / "g_%04d.png")
        vprop("keys", f"{colour}/", "--interval", args.interval, "-o", work / "keys")
        truth = frames(colour)
        print(f"{args.panorama.name}: {len(truth)} frames, 854x480, 16 bits; keys every {args.interval}")
        for name, extra in (("default (16 bits)", []), ("--8-bit", ["--8-bit"])):
            out = work / ("eight" if extra else "deep")
            vprop("colorize", f"{work / 'gray'}/", "--keys", work / "keys", "-o", out / "c_%04d.png", *extra)
            result = frames(out)
            result = result * 257 if result.max() <= 255 else result
            psnr = 10 * np.log10(65535 ** 2 / ((result - truth) ** 2).mean())
            luma = (result - truth) @ np.array([0.2126, 0.7152, 0.0722]) / 257     # in 8-bit steps
            print(f"{name:18s} PSNR {psnr:.2f} dB (16 bits)  luma error {np.sqrt((luma ** 2).mean()):.3f} "
                  f"8-bit steps RMS  distinct red values in frame 30: {len(np.unique(result[30, ..., 0]))}")


if __name__ == "__main__":
    main()
