"""Does `vprop colorize` hand a real clip's MP3 sound through untouched? (Issue 13's case.)

Makes a 15 s 1280x720 H.264 + MP3 16 kHz mono .mp4 from real clips of the shared data (the picture
of vtest.avi at its own 10 fps, the sound of box.mp4), colours it with the shipped weights, and
compares the two files' audio packets (bytes and pts), frame counts, frame timestamps and rates.

    python benchmarks/check_audio_passthrough.py [--clip PATH] [--sound PATH] [--seconds 15]
                                                 [--interval 10] [--workdir DIR]
"""
import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips"


def make_clip(clip: Path, sound_from: Path, output: Path, seconds: float, rate: int = 10):
    """`seconds` of `clip`'s frames at 1280x720 and `rate` fps, with `sound_from`'s sound as MP3 16 kHz mono."""
    with av.open(str(output), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
        video.codec_context.options = {"crf": "20"}
        sound = out.add_stream("libmp3lame", rate=16000, layout="mono")
        with av.open(str(clip)) as src:
            for index, frame in enumerate(src.decode(video=0)):
                if index >= seconds * rate:
                    break
                image = frame.reformat(1280, 720, "yuv420p")
                image.pts, image.time_base = index, Fraction(1, rate)
                out.mux(video.encode(image))
        out.mux(video.encode(None))
        resampler = av.AudioResampler(format="s16p", layout="mono", rate=16000)
        with av.open(str(sound_from)) as src:
            for frame in src.decode(audio=0):
                if frame.time is not None and frame.time < seconds:
                    for chunk in resampler.resample(frame):
                        out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))


def describe(path: Path) -> dict:
    with av.open(str(path)) as container:
        audio, video = container.streams.audio[0], container.streams.video[0]
        digest, count = hashlib.sha256(), 0
        for packet in container.demux(audio):
            if packet.size:
                digest.update(bytes(packet))
                digest.update(str(packet.pts * packet.time_base).encode())
                count += 1
        codec = audio.codec_context.codec.canonical_name
        rate = video.average_rate
    with av.open(str(path)) as container:
        times = [frame.pts * frame.time_base for frame in container.decode(video=0)]
    return {"audio": f"{codec} {count} packets sha256 {digest.hexdigest()[:16]}",
            "frames": len(times), "timestamps sha256": hashlib.sha256(str(times).encode()).hexdigest()[:16],
            "rate": rate}


def vprop(*args):
    subprocess.run([sys.executable, "-c", "from vprop.cli import main; main()", *map(str, args)], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DATA / "vtest.avi", help="real footage for the picture")
    parser.add_argument("--sound", type=Path, default=DATA / "box.mp4", help="a real clip with sound")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vprop-passthrough-"))
    work.mkdir(parents=True, exist_ok=True)
    source, output = work / "clip.mp4", work / "out.mp4"
    make_clip(args.clip, args.sound, source, args.seconds)
    vprop("keys", source, "--interval", args.interval, "-o", work / "keys", "-q")
    start = time.perf_counter()
    vprop("colorize", source, "--keys", work / "keys", "--interval", args.interval, "--mode", "online",
          "-o", output)
    print(f"colorize took {time.perf_counter() - start:.0f} s")
    before, after = describe(source), describe(output)
    for key in before:
        print(f"{key:18} in: {before[key]}\n{'':18} out: {after[key]}")
    print("identical" if before == after else "DIFFERENT")
    return 0 if before == after else 1


if __name__ == "__main__":
    sys.exit(main())
