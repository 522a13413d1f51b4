"""Key-frames, masks and HDR images: reading, checking against the video, writing."""

import errno
import re
import warnings
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import OpenEXR
from PIL import Image

from vprop.errors import InputError
from vprop.io.atomic import atomic_path
from vprop.io.chromaticities import BT709, to_bt709


def _voc_palette() -> np.ndarray:
    # The PASCAL VOC / DAVIS colour map: bits of the index spread over R, G, B from the top bit down.
    palette = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value = index
        for bit in range(7, -1, -1):
            for channel in range(3):
                palette[index, channel] |= ((value >> channel) & 1) << bit
            value >>= 3
    return palette


DAVIS_PALETTE = _voc_palette()


def find_indexed_files(directory, suffixes=(".png", ".jpg", ".jpeg")) -> dict[int, Path]:
    """Map frame index -> file, the index being the last integer in the file name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(directory, "no such directory")
    suffixes = {s.lower() for s in suffixes}
    found: dict[int, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in suffixes:
            continue
        numbers = re.findall(r"\d+", path.stem)
        if not numbers:
            raise InputError(path, "no frame number in the file name (e.g. 00030.png)")
        index = int(numbers[-1])
        if index in found:
            raise InputError(path, f"frame {index} is also given by {found[index].name}")
        found[index] = path
    if not found:
        raise InputError(directory, f"no {'/'.join(sorted(suffixes))} files named by frame number")
    return dict(sorted(found.items()))


def read_rgb(path) -> np.ndarray:
    """An 8-bit (H, W, 3) RGB image; alpha is dropped, EXIF orientation applied."""
    path = Path(path)
    # imdecode rather than imread: imread answers None for a missing file and a
    # broken one alike, and cannot open some non-ASCII paths.
    bgr = cv2.imdecode(_file_bytes(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(path, "not an image OpenCV can read")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_png(path, rgb: np.ndarray) -> None:
    """Save uint8 RGB or RGBA as a PNG (uint16: a 16-bit PNG). Encoded in memory and written by Python, so that a
    full disk raises OSError with its errno (cv2.imwrite only answers False)."""
    _write_encoded(path, rgb, ".png")


# The files a frame pattern may name (graded/reel_%07d.dpx), PNG first: what a folder of frames holds
FRAME_SUFFIXES = (".png", ".tif", ".tiff", ".dpx")


def write_frame(path, rgb: np.ndarray) -> None:
    """Save uint8 (or uint16) RGB or RGBA as the image its name says: PNG, TIFF (OpenCV) or DPX (FFmpeg's encoder, at
    the array's 8 or 16 bits), as ``write_png`` writes."""
    _write_encoded(path, rgb, Path(path).suffix.lower())


def _write_encoded(path, rgb: np.ndarray, suffix: str) -> None:
    rgb = np.asarray(rgb)
    if suffix == ".dpx":
        ok, data = True, _dpx(rgb)
    else:
        ok, data = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA if rgb.shape[-1] == 4
                                                     else cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"cannot encode a {rgb.dtype} {rgb.shape} image as {suffix}")
    with open(path, "wb") as f:
        f.write(data)


def av_rgb_format(rgb: np.ndarray) -> str:
    """FFmpeg's name of the layout of a uint8 (or uint16) RGB or RGBA array."""
    return {(3, 1): "rgb24", (4, 1): "rgba", (3, 2): "rgb48le", (4, 2): "rgba64le"}[rgb.shape[-1], rgb.itemsize]


def eight_bit(rgb: np.ndarray) -> np.ndarray:
    """A uint16 image rounded to uint8 (a uint8 one as it is)."""
    rgb = np.asarray(rgb)
    return rgb if rgb.dtype == np.uint8 else ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _dpx(rgb: np.ndarray) -> bytes:
    encoder = av.CodecContext.create("dpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = rgb.shape[1], rgb.shape[0], av_rgb_format(rgb)
    encoder.time_base = Fraction(1, 24)     # one picture: any rate
    image = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=encoder.pix_fmt)
    return b"".join(bytes(packet) for packet in [*encoder.encode(image), *encoder.encode(None)])


def is_grayscale(rgb: np.ndarray) -> bool:
    channels = rgb.astype(np.int16)
    return bool(np.abs(channels - channels[..., :1]).max() <= 1)


def fit_to_size(image: np.ndarray, width: int, height: int, path) -> np.ndarray:
    """Resize an image of the video's aspect ratio to its size; refuse any other shape."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    if abs(w / h - width / height) > 0.01 * width / height:
        raise InputError(path, f"size {w}x{h} does not match the video ({width}x{height})")
    warnings.warn(f"{Path(path).name}: resized from {w}x{h} to {width}x{height} to match the video",
                  stacklevel=2)
    if image.ndim == 2:  # label maps: blending labels would invent new ones
        interpolation = cv2.INTER_NEAREST
    elif w > width:
        interpolation = cv2.INTER_AREA
    else:  # bicubic overshoots; harmless on clipped uint8, not on linear HDR
        interpolation = cv2.INTER_CUBIC if image.dtype == np.uint8 else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


_LOSSY = {"JPEG", "MPO"}     # Pillow's names of lossy formats a mask could arrive in


def read_mask(path) -> np.ndarray:
    """An (H, W) uint8 label map: 0 background, 1.. objects.

    Binary masks (0/255 or 0/1) become 0/1; palette PNGs give their indices;
    grayscale values are taken as indices; RGB masks drawn in the DAVIS colours
    are mapped back to their indices.
    """
    path = Path(path)
    _check_file(path)
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(path, f"not an image Pillow can read ({error})") from None
    if image.format in _LOSSY:   # its edges blur into values that are no object's index
        raise InputError(path, f"{image.format} is lossy, so a mask's edges lose their object indices; "
                               "save the mask as PNG")
    if image.mode == "P":  # Pillow keeps the indices; OpenCV would give the colours
        labels = np.asarray(image)
    elif image.mode in ("RGB", "RGBA"):
        labels = _labels_from_colours(np.asarray(image.convert("RGB")), path)
    else:
        labels = np.asarray(image.convert("I") if image.mode != "L" else image).astype(np.int64)
    values = np.unique(labels)
    if set(values.tolist()) <= {0, 255}:
        return (labels == 255).astype(np.uint8)
    if values.max() > 254:
        raise InputError(path, f"index above 254 ({values.max()}); masks must be binary 0/255 "
                               "or hold object indices 0..254")
    return labels.astype(np.uint8)


def _labels_from_colours(rgb: np.ndarray, path: Path) -> np.ndarray:
    if is_grayscale(rgb):
        return rgb[..., 0]
    codes = rgb.astype(np.int32) @ np.array([65536, 256, 1])
    palette_codes = DAVIS_PALETTE.astype(np.int32) @ np.array([65536, 256, 1])
    lookup = {code: index for index, code in enumerate(palette_codes.tolist())}
    unique, inverse = np.unique(codes, return_inverse=True)
    if not all(code in lookup for code in unique.tolist()):
        raise InputError(path, "colour mask with colours outside the DAVIS palette; "
                               "save it as an indexed (palette) or grayscale PNG")
    return np.array([lookup[code] for code in unique.tolist()])[inverse].reshape(rgb.shape[:2])


def write_indexed_png(path, labels: np.ndarray):
    """Save a label map as a palette PNG in the DAVIS colours."""
    image = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8))
    image.putpalette(DAVIS_PALETTE.tobytes())  # turns the "L" image into "P", indices kept
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def read_exr(path) -> np.ndarray:
    """Scene-linear (H, W, 3) float32 RGB from an OpenEXR file, in BT.709 primaries with a D65 white: a file whose
    ``chromaticities`` say otherwise (ACES, ACEScg, D50) is converted (``vprop.io.chromaticities``)."""
    path = Path(path)
    _check_file(path)
    try:
        with OpenEXR.File(str(path), separate_channels=True) as file:
            channels = {name: channel.pixels for name, channel in file.channels().items()}
            chromaticities = file.header().get("chromaticities")
    except Exception as error:  # the binding raises bare RuntimeError/ValueError/...
        raise InputError(path, f"damaged, truncated or not an OpenEXR file ({error})") from None
    for prefix in [""] + sorted({name.rsplit(".", 1)[0] + "." for name in channels if "." in name}):
        rgb = [channels.get(prefix + c) for c in "RGB"]
        if all(c is not None for c in rgb):
            rgb = np.stack(rgb, axis=-1).astype(np.float32)
            matrix = None if chromaticities is None else to_bt709(chromaticities)
            return rgb if matrix is None else (rgb @ matrix.T.astype(np.float32)).astype(np.float32)
    if "RY" in channels or "BY" in channels:
        # Subsampled chroma: the Python binding cannot even write such files to test with.
        raise InputError(path, "luminance/chroma (Y, RY, BY) EXR is not supported; save it as RGB")
    if "Y" in channels:
        return np.repeat(channels["Y"][..., None], 3, axis=-1).astype(np.float32)
    raise InputError(path, f"no RGB channels (has {', '.join(sorted(channels))})")


def exr_chromaticities(path) -> tuple[float, ...] | None:
    """The primaries and white an EXR file names (``vprop.io.chromaticities``' order), None where it names none or
    is not an EXR."""
    if Path(path).suffix.lower() != ".exr":
        return None
    try:
        with OpenEXR.File(str(path), header_only=True) as file:
            value = file.header().get("chromaticities")
    except Exception as error:  # the binding raises bare RuntimeError/ValueError/...
        raise InputError(path, f"damaged, truncated or not an OpenEXR file ({error})") from None
    return None if value is None else tuple(float(v) for v in value)


def write_exr(path, rgb: np.ndarray, half: bool = True, chromaticities=BT709):
    """Save (H, W, 3) scene-linear BT.709 RGB as a ZIP-compressed OpenEXR (half floats by default), converted to
    and tagged with ``chromaticities`` (BT.709 / D65 unless given: an ACES key's run answers in ACES), so that a
    compositing application does not have to assume them."""
    rgb = np.asarray(rgb, dtype=np.float32)
    to_709 = to_bt709(chromaticities)
    if to_709 is not None:
        rgb = rgb @ np.linalg.inv(to_709).T.astype(np.float32)
    if half:  # beyond the half range a value would turn into infinity
        rgb = np.clip(rgb, -65504, 65504).astype(np.float16)
    channels = {c: np.ascontiguousarray(rgb[..., i]) for i, c in enumerate("RGB")}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage,
              "chromaticities": tuple(chromaticities)}
    with atomic_path(path) as tmp:
        try:
            OpenEXR.File(header, channels).write(str(tmp))
        except RuntimeError as error:    # how the binding reports a full disk: 'Failed ... "<name>". <reason>.'
            reason = str(error).split('". ')[-1].rstrip(".")
            raise OSError(errno.EIO, f"cannot write the EXR ({reason})") from None


def read_hdr(path) -> np.ndarray:
    """Scene-linear (H, W, 3) float32 RGB from a Radiance .hdr file."""
    path = Path(path)
    bgr = cv2.imdecode(_file_bytes(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(path, "not a Radiance .hdr image OpenCV can read")
    return cv2.cvtColor(bgr.astype(np.float32), cv2.COLOR_BGR2RGB)


def read_linear_rgb(path) -> np.ndarray:
    """Scene-linear float32 RGB from .exr or .hdr, chosen by the suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".exr":
        return read_exr(path)
    if suffix in (".hdr", ".pic"):
        return read_hdr(path)
    raise InputError(path, "unsupported HDR image type (use .exr or .hdr)")


def _check_file(path: Path):
    if not path.is_file():
        raise InputError(path, "no such file" if not path.exists() else "not a file")
    try:
        path.open("rb").close()
    except OSError as error:
        raise InputError(path, f"cannot read ({error.strerror})") from None
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")


def _file_bytes(path: Path) -> np.ndarray:
    _check_file(path)
    return np.fromfile(path, dtype=np.uint8)
