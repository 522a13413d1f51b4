"""A scene-linear equirectangular test scene: textured sky and ground, and a sun a few hundred times brighter."""
import numpy as np


def synthetic_panorama(height=128, width=256, seed=0, sun_radius=6.0):
    import cv2

    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 2.0)
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    pano = (0.05 + 0.4 * (1 - ys)) * (0.5 + texture)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    sun = np.exp(-(((xx - width * 0.4) / sun_radius) ** 2 + ((yy - height * 0.4) / sun_radius) ** 2))
    pano += (sun * 200.0)[..., None] * np.array([1.0, 0.9, 0.7], np.float32)
    return pano.astype(np.float32)
