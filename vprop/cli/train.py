import dataclasses
import tomllib
from pathlib import Path

import click

from vprop.cli._console import user_errors
from vprop.training.loop import TrainConfig


@click.command("train")
@click.argument("task", type=click.Choice(["color", "seg", "hdr"]))
@click.option("--data", "data", multiple=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder of training videos (repeatable); seg: videos with masks/<stem>/NNNNN.png beside them; "
                   "hdr: folder of HDR panoramas (.exr, .hdr).")
@click.option("--dev", multiple=True, help="Video or panorama names (file stems) held out for validation "
                                           "(repeatable; seg and hdr default to the DAVIS / HDR dev split).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="TOML file of TrainConfig fields; command-line options override it.")
@click.option("--out", default=None, help="Run directory (checkpoint.pt, log.csv); default runs/TASK.")
@click.option("--steps", type=click.IntRange(1), default=None)
@click.option("--batch-size", type=click.IntRange(1), default=None)
@click.option("--lr", type=float, default=None)
@click.option("--no-switch", is_flag=True, help="Basic TPN: no switchable reverse loss.")
@click.option("--no-align", is_flag=True, help="The paper's plain TPN: no optical-flow alignment of the key.")
@click.option("--decoder", type=click.Choice(["residual", "paper"]), default=None)
@click.option("--refine", is_flag=True,
              help="seg: train the SEG(t+s) refiner (a spatial network) on the masks of a SEG(t) model.")
@click.option("--coarse-weights", default=None, help="With --refine: the SEG(t) weights whose masks it refines "
                                                     "(default: the shipped ones).")
@click.option("--init", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Start from these weights (fine-tuning).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--export", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="After training, write the weights (safetensors) here.")
@click.option("--workers", type=click.IntRange(0), default=None, help="Data loader processes.")
def train_command(task, data, dev, config_path, out, steps, batch_size, lr, no_switch, no_align, decoder, refine,
                  coarse_weights, init, resume, export, workers):
    """Train a TPN for TASK (color, seg, hdr) on folders of real video (hdr: of HDR panoramas).

    Under torchrun (--nproc_per_node N) it trains data-parallel; only rank 0 logs, checkpoints and exports.
    """
    from vprop.training import distributed
    from vprop.training.run import BUILDERS

    with user_errors():
        fields = {}
        if config_path:
            with open(config_path, "rb") as f:
                fields.update(tomllib.load(f))
        given = {"data": list(data) or None, "dev": list(dev) or None, "out": out, "steps": steps,
                 "batch_size": batch_size, "lr": lr, "decoder": decoder, "init": init, "workers": workers}
        fields.update({k: v for k, v in given.items() if v is not None})
        if no_switch:
            fields["switch"] = False
        if refine or coarse_weights:
            if task != "seg":
                raise click.UsageError("--refine trains the segmentation refiner: use it with 'vprop train seg'")
            fields["refine"] = True
            if coarse_weights:
                fields["coarse_weights"] = coarse_weights
        if no_align:
            fields["aligned"] = False
            fields.setdefault("decoder", "paper")
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = set(fields) - known
        if unknown:
            raise click.UsageError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        if task != "color":
            fields.setdefault("out", f"runs/{task}-refine" if fields.get("refine") else f"runs/{task}")
        cfg = TrainConfig(task=task, **fields)
        if not cfg.data:
            raise click.UsageError("give --data FOLDER (or data = [...] in --config)")
        trainer = BUILDERS[task](cfg)
        checkpoint = Path(cfg.out) / "checkpoint.pt"
        if resume and checkpoint.exists():
            trainer.resume(checkpoint)
            if distributed.is_main():
                click.echo(f"resumed at step {trainer.step}")
        elif cfg.init:
            copied = trainer.init_from(Path(cfg.init))
            if distributed.is_main():
                click.echo(f"initialised {copied} of {len(trainer.model.state_dict())} tensors from {cfg.init}")
        trainer.run()
        if export and distributed.is_main():
            trainer.export(Path(export))
            click.echo(f"exported {export}")
