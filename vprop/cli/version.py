import click


def show_version(ctx, _param, value):
    """``--version``: vprop's version, those of the libraries that decide its results, and the device that
    ``--device auto`` would pick."""
    if not value or ctx.resilient_parsing:
        return
    import av
    import cv2
    import torch

    from vprop import __version__
    from vprop.cli._options import resolve_device

    device = resolve_device("auto")
    where = f"cuda ({torch.cuda.get_device_name()})" if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    click.echo(f"vprop {__version__}\n"
               f"torch {torch.__version__} (CUDA {torch.version.cuda or 'none'}), PyAV {av.__version__}, "
               f"OpenCV {cv2.__version__}\n"
               f"device: {where}")
    ctx.exit()
