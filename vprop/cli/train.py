import dataclasses
import signal
import sys
import tomllib
from pathlib import Path

import click

from vprop.cli._console import log_to_stderr, progress, user_errors
from vprop.cli._options import resolve_device
from vprop.training.loop import PRECISIONS, TrainConfig, autocast_dtype


@click.command("train")
@click.argument("task", type=click.Choice(["color", "seg", "hdr"]))
@click.option("--data", "data", multiple=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder of training videos (repeatable); seg: videos with masks/<stem>/NNNNN.png beside them; "
                   "hdr: folder of HDR panoramas (.exr, .hdr).")
@click.option("--dev", multiple=True, help="Video or panorama names (file stems) held out for validation "
                                           "(repeatable; seg and hdr default to the DAVIS / HDR dev split).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=str), default=None,
              help="TOML file of TrainConfig fields; command-line options override it.")
@click.option("--out", default=None, help="Run directory (checkpoint.safetensors, log.csv); default runs/TASK.")
@click.option("--steps", type=click.IntRange(1), default=None)
@click.option("--batch-size", type=click.IntRange(1), default=None)
@click.option("--lr", type=float, default=None)
@click.option("--no-switch", is_flag=True, help="Basic TPN: no switchable reverse loss.")
@click.option("--no-align", is_flag=True, help="The paper's plain TPN: no optical-flow alignment of the key.")
@click.option("--decoder", type=click.Choice(["residual", "paper"]), default=None)
@click.option("--refine", is_flag=True,
              help="seg: train the SEG(t+s) refiner (a spatial network) on the masks of a SEG(t) model (or, with "
                   "a [coarse_folds] table in --config, of each fold's model on the videos it never saw).")
@click.option("--coarse-weights", default=None, help="With --refine: the SEG(t) weights whose masks it refines "
                                                     "(default: the shipped ones).")
@click.option("--side-blend", is_flag=True,
              help="color, stage 2: learn the offline blend of a frame's two sides for the TPN in --init (default: "
                   "the shipped one), which stays as it is; the exported weights are that TPN with the blend "
                   "(README, 'Training').")
@click.option("--init", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Start from these weights (fine-tuning).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--export", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="After training, write the weights (safetensors) here.")
@click.option("--workers", type=click.IntRange(0), default=None, help="Data loader processes.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="Where to train (default auto: the GPU when there is one; under torchrun one per process).")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="Autocast dtype of the forward pass (default auto: bf16 on a GPU that has it, else fp32; "
                   "fp16 with loss scaling, CUDA only).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or log lines (log.csv is still written).")
def train_command(task, data, dev, config_path, out, steps, batch_size, lr, no_switch, no_align, decoder, refine,
                  coarse_weights, side_blend, init, resume, export, workers, device, precision, quiet):
    """Train a TPN for TASK (color, seg, hdr) on folders of real video (hdr: of HDR panoramas).

    Under torchrun (--nproc_per_node N) it trains data-parallel; only rank 0 logs, checkpoints and exports.
    Stopped by Ctrl-C, SIGTERM or SIGHUP, it saves its checkpoint and exports nothing (exit 130, 143, 129);
    --resume continues it.
    """
    import torch

    from vprop.engine.flow import FLOW_PRESETS
    from vprop.training import distributed
    from vprop.training.run import BUILDERS
    from vprop.training.side_blend import DEFAULTS as SIDE_BLEND_DEFAULTS

    with user_errors(quiet), log_to_stderr(quiet):
        fields = {}
        if config_path:
            with open(config_path, "rb") as f:
                fields.update(tomllib.load(f))
        given = {"data": list(data) or None, "dev": list(dev) or None, "out": out, "steps": steps,
                 "batch_size": batch_size, "lr": lr, "decoder": decoder, "init": init, "workers": workers,
                 "device": device, "precision": precision}
        fields.update({k: v for k, v in given.items() if v is not None})
        if no_switch:
            fields["switch"] = False
        if refine or coarse_weights or fields.get("coarse_folds"):
            if task != "seg":
                raise click.UsageError("--refine trains the segmentation refiner: use it with 'vprop train seg'")
            fields["refine"] = True
            if coarse_weights:
                fields["coarse_weights"] = coarse_weights
        if side_blend or fields.get("side_blend"):
            if task != "color":
                raise click.UsageError("--side-blend learns the offline blend of colour: use it with 'vprop train color'")
            fields["side_blend"] = fields.get("side_blend") or SIDE_BLEND_DEFAULTS["side_blend"]
            for name, value in SIDE_BLEND_DEFAULTS.items():
                fields.setdefault(name, value)
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
        cfg.device = resolve_device(cfg.device)
        try:
            autocast_dtype(cfg.precision, torch.device(cfg.device))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--precision") from None
        if cfg.flow not in FLOW_PRESETS:
            raise click.UsageError(f"config field flow: unknown preset {cfg.flow!r}; expected one of "
                                   f"{', '.join(FLOW_PRESETS)}")
        distributed.setup(cfg.device == "cuda")      # before the builders' main_first() joins the group
        trainer = BUILDERS[task](cfg)
        checkpoint = Path(cfg.out) / "checkpoint.safetensors"
        older = checkpoint.with_suffix(".pt")          # an older vprop's pickle checkpoint: refused, with why
        if resume and (checkpoint.exists() or older.exists()):
            trainer.resume(checkpoint if checkpoint.exists() else older)
            if distributed.is_main():
                click.echo(f"resumed at step {trainer.step}")
        elif cfg.init:
            copied = trainer.init_from(Path(cfg.init))
            if distributed.is_main():
                click.echo(f"initialised {copied} of {len(trainer.model.state_dict())} tensors from {cfg.init}")
        with progress(f"train {task}", cfg.steps, quiet or not distributed.is_main(), unit="steps/s",
                      completed=trainer.step) as tick:
            trainer.run(on_step=lambda step, loss: tick(note=f"loss {loss:.4f}"))
        if trainer.step < cfg.steps:    # a stop signal ended it: the checkpoint is saved, the weights are not final
            signum = trainer.stopped_by or signal.SIGTERM    # a rank stopped because another was signalled
            if distributed.is_main():
                click.echo(f"interrupted ({signal.Signals(signum).name}) at step {trainer.step} of {cfg.steps}: "
                           f"checkpoint {checkpoint}; --resume continues; nothing exported", err=True)
            sys.exit(128 + signum)
        if export and distributed.is_main():
            trainer.export(Path(export))
            click.echo(f"exported {export}")
