"""What a source deeper than 8 bits keeps through `vprop colorize`: a real 16-bit clip (a virtual camera over a Poly
Haven sky panorama, the sRGB curve at 16 bits), its gray version by `vprop gray`, keys every K frames from the
colour frames, coloured as by default (16 bits kept) and with --8-bit, each scored against the colour frames.

    python benchmarks/eval_deep.py [--panorama PATH] [--interval 12] [--work DIR]
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PANORAMA = ROOT.parent / "shared" / "data" / "hdr-polyhaven" / "aristea_wreck_puresky.hdr"


def write_clip(panorama: Path, folder: Path, frames: int = 48) -> None:
    from vprop.io.images import read_linear_rgb
    from vprop.tasks.hdr import auto_exposure
    from vprop.training.synthetic_hdr import CameraPath, hdr_frames

    path = CameraPath(frames=frames, size=(854, 480), pan=(3.0, 0.2), zoom=0.002, rotate=0.05, scale=0.5)
    radiance = list(hdr_frames(read_linear_rgb(panorama), path))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panorama", type=Path, default=PANORAMA)
    parser.add_argument("--interval", type=int, default=12)
    parser.add_argument("--work", type=Path, default=None, help="keep the clips here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
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
