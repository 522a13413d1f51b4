import click

from vprop.cli._console import log_to_stderr, run_over_video, wrote
from vprop.cli._options import common, frame_run_options, resolve_device, video_input
from vprop.engine.propagator import MODES
from vprop.io.keyframes import parse_mask_option
from vprop.pipelines.resume import finished_frames
from vprop.pipelines.segment import segment


@click.command("segment")
@video_input
@click.option("--mask", "masks", multiple=True, required=True, metavar="[IDX:]FILE",
              help="Mask key-frame (palette/index/binary PNG); IDX is its 0-based frame (default 0). Repeatable: "
                   "--mask first.png --mask 50:fix.png.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="Directory for the masks: 00000.png ... (DAVIS palette, object indices kept), or a pattern of "
                   "their names (mattes/m_%07d.png: numbered as an input sequence's files, else from 0).")
@click.option("--overlay", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write a video (.mp4/.mov/.mkv) of the frames with the masks drawn over them.")
@click.option("--alpha", type=click.Path(path_type=str), default=None,
              help="Also write the frames with the objects as alpha, for compositing: a .mov (ProRes 4444), a "
                   "directory ending in / (RGBA PNGs) or a pattern of PNG, TIFF or DPX names.")
@click.option("--mode", type=click.Choice(MODES), default=None,
              help="online: each frame from its preceding mask; offline: blend the masks before and after. "
                   "Default: offline with two or more --mask (after a shot's last mask, from it with the memory), "
                   "online (with the memory) with one.")
@click.option("--chain", is_flag=True,
              help="Also run the network from each frame's previous prediction, anchored by the key (online; "
                   "lost J on the training videos: the default memory is the bounded form of it).")
@click.option("--refine", is_flag=True,
              help="SEG(t+s): refine every propagated mask with the spatial network guided by its own frame "
                   "(the GrabCut snap after it re-decides only the pixels the refiner is unsure of).")
@click.option("--refine-weights", default=None, metavar="PATH|hf://ORG/REPO[@REV]/FILE",
              help="Weights of the SEG(t+s) refiner (default: the shipped ones; implies --refine).")
@click.option("--grabcut/--no-grabcut", default=True, show_default=True,
              help="Snap every propagated mask to its frame's edges and colours by a graph cut (OpenCV GrabCut).")
@click.option("--memory/--no-memory", default=True, show_default=True,
              help="The graph cut also hears the frame before: its mask, moved by one step of optical flow, "
                   "decides where the network is unsure (without --refine; offline, only after a shot's last key, "
                   "where a frame has one key).")
@click.option("--adapt", type=click.IntRange(min=0), default=0, show_default=True, metavar="STEPS",
              help="First fine-tune a copy of the mask model for STEPS steps on the first mask (its frame and "
                   "jittered copies); prints its cost. 0: the model as shipped.")
@frame_run_options
@common
def segment_command(video, masks, output, overlay, alpha, mode, chain, refine, refine_weights, grabcut, memory,
                    adapt, full_resolution, working_side, report_dir, shots, allow_missing, resume, workers, device,
                    quiet, weights, batch_size):
    """Propagate object masks from mask key-frames through VIDEO."""
    device = resolve_device(device)
    keys = {}
    for text in masks:
        index, path = parse_mask_option(text)
        if index in keys:
            raise click.BadParameter(f"frame {index} is given twice ({keys[index]}, {path})", param_hint="--mask")
        keys[index] = path
    if chain and mode == "offline":
        raise click.UsageError("--chain works online only (drop --mode offline)")
    with log_to_stderr(quiet):      # the adaptation's cost is one log line
        run_over_video("segment", video, quiet, lambda tick: segment(
            video, keys, output, mode=mode, weights=weights, device=device, batch_size=batch_size, overlay=overlay,
            alpha=alpha, chain=chain, refine=refine, refine_weights=refine_weights, full_resolution=full_resolution,
            working_side=working_side, report=report_dir, on_frame=tick, on_begin=tick.begin, shots=shots,
            allow_missing=allow_missing, resume=resume, workers=workers, adapt=adapt, grabcut=grabcut, memory=memory),
            lambda path: wrote(path, report_dir),
            completed=finished_frames(output) if resume else 0)
