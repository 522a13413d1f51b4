"""Reading and writing videos, key-frames, masks and HDR images."""
