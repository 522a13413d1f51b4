"""`vprop`: a click group; each command is a thin module over the library."""
import click

from vprop.cli.batch import batch_group
from vprop.cli.colorize import colorize_command
from vprop.cli.eval import eval_group
from vprop.cli.gray import gray_command
from vprop.cli.hdr import hdr_command, hdr_merge_command
from vprop.cli.keys import keys_command
from vprop.cli.segment import segment_command
from vprop.cli.train import train_command
from vprop.cli.version import show_version
from vprop.cli.weights import weights_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, is_eager=True, expose_value=False, callback=show_version,
              help="Show the versions of vprop, torch, PyAV and OpenCV and the device it would use, and exit.")
def main():
    """Propagate colour, HDR radiance and object masks from a few key-frames through a video.

    Exit codes: 0 done; 1 bad input or a failed run (one `error:` line); 2 usage; 130 Ctrl-C, 143 SIGTERM,
    129 SIGHUP. A run that ends early leaves no output behind.
    """


main.add_command(colorize_command)
main.add_command(keys_command)
main.add_command(eval_group)
main.add_command(train_command)
main.add_command(hdr_command)
main.add_command(hdr_merge_command)
main.add_command(segment_command)
main.add_command(weights_group)
main.add_command(batch_group)
main.add_command(gray_command)
