import click

from vprop.cli._console import run_over_video, user_errors
from vprop.cli._options import (common, key_schedule, report_option, resolve_device, shots_option, span_options,
                                video_input, working_size_options)
from vprop.pipelines.resume import finished_frames
from vprop.tasks.hdr import BLEND_RULE, BLEND_RULES


@click.command("hdr")
@video_input
@click.option("--hdr-keys", "--keys", "keys_dir", required=True, type=click.Path(path_type=str),
              help="Directory of HDR key-frames (.exr or .hdr) named by 0-based frame index (00030.exr).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="Output directory: one half-float scene-linear EXR per frame (00000.exr ...), or a pattern of "
                   "their names (plates/hdr_%07d.exr: numbered as an input sequence's files, else from 0).")
@key_schedule("Align keys with optical flow (default: as the weights were trained).")
@click.option("--blend/--no-blend", default=True, show_default=True,
              help="Combine the network's estimate with the frame's own inverted LDR; --no-blend: network only.")
@click.option("--blend-rule", type=click.Choice(BLEND_RULES), default=BLEND_RULE, show_default=True,
              help="measured: the LDR wherever it measured the radiance; where it clipped, the estimate (never "
                   "below the clip level); in the dark (8-bit values up to 8), the estimate within what the value "
                   "allows. calibrated: where the LDR did not clip, the estimate within the radiances the key frame "
                   "itself shows for that 8-bit value (the video's own curve and codec, read off each key); where "
                   "it clipped, as measured. clipped: measured with the LDR in the dark too; paper: eq. 10, the "
                   "LDR where the estimate is below the key's threshold T.")
@click.option("--gamma", type=click.FloatRange(min=0.1, max=10), default=None,
              help="The video's camera curve: 8-bit value = 255 x^(1/G) of the linear exposure x (about 2.2 for "
                   "sRGB-like video). Default: HDRCNN's f(x) = 1.6 x^0.9 / (x^0.9 + 0.6).")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write an SDR preview .mp4 (Reinhard tone mapping, audio kept).")
@click.option("--hdr10", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write an HDR10 .mp4 (HEVC 10-bit, BT.2020, PQ, MaxCLL/MaxFALL).")
@click.option("--hlg", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write an HLG .mp4 (HEVC 10-bit, BT.2020, ARIB STD-B67: broadcast HDR, no metadata).")
@working_size_options
@report_option
@shots_option
@span_options
@common
def hdr_command(video, keys_dir, output, interval, mode, align, blend, blend_rule, gamma, preview, hdr10, hlg,
                full_resolution, working_side, report_dir, shots, resume, workers, device, quiet, weights, batch_size):
    """HDR video from the LDR VIDEO and a few HDR key-frames.

    Keys: scene-linear RGB (BT.709 primaries; an EXR whose chromaticities name others, e.g. ACES2065-1 or
    ACEScg, is converted) as OpenEXR (.exr; RGB or Y channels, half or float) or Radiance (.hdr), named by
    0-based frame index, each the HDR of that very frame (e.g. `vprop hdr-merge` of brackets
    shot from the camera's position). A key of the video's aspect ratio but another size is resized.

    Units: any absolute scale (cd/m², or a bracket merge's relative radiance); the output keeps the keys'
    units. Where the LDR did not clip it is inverted through the camera curve (--gamma) and scaled to those
    units by each key (the median ratio over the key's unclipped pixels). A VIDEO deeper than 8 bits (10-bit
    ProRes, DPX, 16-bit PNG/TIFF) is blended at its depth, its code values counted at 10 bits.

    Outputs: -o DIR gets 00000.exr ... (half float, scene-linear, in the keys' units and primaries); --preview an
    H.264 SDR view (Reinhard tone mapping); --hdr10 HEVC 10-bit PQ / BT.2020, scene-linear 1.0 shown at 203 cd/m²
    (BT.2408 reference white), with MaxCLL/MaxFALL; --hlg HEVC 10-bit HLG / BT.2020, scene-linear 1.0 at the 75%
    HLG signal (BT.2408 reference white), up to about 3.8 times that before it clips.
    """
    from vprop.pipelines.hdr import hdr

    device = resolve_device(device)
    run_over_video("hdr", video, quiet, lambda tick: hdr(
        video, keys_dir, output, interval=interval, blend=blend, gamma=gamma, weights=weights, device=device,
        batch_size=batch_size, hdr10=hdr10, hlg=hlg, preview=preview, mode=mode, align=align, blend_rule=blend_rule,
        report=report_dir, on_frame=tick, on_begin=tick.begin, shots=shots, resume=resume, workers=workers,
        full_resolution=full_resolution, working_side=working_side),
        lambda path: f"wrote {path}" + "".join(f", {p}" for p in (preview, hdr10, hlg, report_dir) if p),
        completed=finished_frames(output) if resume else 0)


@click.command("hdr-merge")
@click.argument("brackets", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The HDR key-frame to write (.exr).")
@click.option("--quiet", "-q", is_flag=True)
def hdr_merge_command(brackets, output, quiet):
    """Merge bracketed LDR exposures in BRACKETS into one HDR key-frame (Debevec).

    BRACKETS: a folder of two or more exposures of one still scene, shot from a tripod with the same aperture
    and ISO: 8-bit PNG, JPEG or TIFF (16-bit files are read as 8-bit), all of one size.

    Exposure times, in seconds, come from BRACKETS/times.txt, one "filename seconds" line per image (seconds
    as 0.004 or 1/250; # starts a comment), or else from each image's EXIF ExposureTime.

    Camera curve: none is assumed; the camera's response is calibrated from the brackets themselves (Debevec
    & Malik 1997). Output: scene-linear RGB as half-float OpenEXR, in relative units: 1.0 is the radiance that
    reads mid-gray (128) in a 1 s exposure. A region clipped in every exposure (even the shortest) is warned
    about: its radiance is unknown.
    """
    from vprop.io.brackets import hdr_merge

    with user_errors(quiet):
        path = hdr_merge(brackets, output)
        if not quiet:
            click.echo(f"wrote {path}", err=True)
