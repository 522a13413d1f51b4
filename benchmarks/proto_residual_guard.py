"""Prototype: eval_hdr_dev.py with refined_coords' correction kept only where it brings the warped key's luminance
closer to the frame's (7x7 mean absolute difference). Same arguments as eval_hdr_dev.py."""
import runpy
import sys
from pathlib import Path

import cv2
import numpy as np

import vprop.engine.working as working

unguarded = working.refined_coords


def guarded(coords, key_gray, gray, flow):
    corrected = unguarded(coords, key_gray, gray, flow)
    def mismatch(c):
        warped = cv2.remap(key_gray, c, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return cv2.blur(cv2.absdiff(warped, gray).astype(np.float32), (7, 7))
    keep = mismatch(corrected) < mismatch(coords)
    return np.where(keep[..., None], corrected, coords)


working.refined_coords = guarded
sys.argv = [str(Path(__file__).with_name("eval_hdr_dev.py"))] + sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
