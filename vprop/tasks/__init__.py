"""Per-task conversions between frames, key-frames and the network's tensors, shared by inference and training."""
