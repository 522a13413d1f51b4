"""A model wrapper that notes the frame sizes it is given (which size the network really ran at)."""
import torch


class SeenSizes(torch.nn.Module):
    """The model, noting the (height, width) of every batch it is given."""

    def __init__(self, model):
        super().__init__()
        self.model, self.cfg, self.sizes = model, model.cfg, set()

    def forward(self, guidance, prop):
        self.sizes.add(tuple(guidance.shape[-2:]))
        return self.model(guidance, prop)
