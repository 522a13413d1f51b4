import sys

import click

from vprop.cli._console import log_to_stderr, user_errors


def _status(path, expected: str) -> str:
    from vprop.models.hub import sha256

    if not path.is_file():
        return "missing"
    actual = sha256(path)
    return "ok" if actual == expected else f"bad (the file's is {actual})"


@click.group("weights", invoke_without_command=True)
@click.pass_context
def weights_group(ctx):
    """List the weights shipped for each task and check their sha256 (exit 1 if one fails).

    `vprop weights download hf://ORG/REPO[@REV]/FILE` fills the Hugging Face cache for use offline.
    """
    if ctx.invoked_subcommand is not None:
        return
    from vprop.models.registry import SHIPPED, shipped_dir

    folder = shipped_dir()
    click.echo(f"shipped weights in {folder}")
    failed = 0
    for entry in SHIPPED.values():
        status = _status(folder / entry.file, entry.sha256)
        failed += status != "ok"
        click.echo(f"\n{entry.task}: {entry.file} ({entry.size / 1e6:.1f} MB), sha256 {status}\n"
                   f"  sha256         {entry.sha256}\n"
                   f"  architecture   {entry.architecture}\n"
                   f"  training data  {entry.training_data}\n"
                   f"  dev            {entry.dev}")
    if failed:
        click.echo(f"error: {failed} shipped weights file(s) missing or changed: reinstall vprop", err=True)
        sys.exit(1)


@weights_group.command("download")
@click.argument("uri", metavar="hf://ORG/REPO[@REV]/FILE")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Cache folder (default: the Hugging Face cache, HF_HUB_CACHE or ~/.cache/huggingface/hub).")
def download_command(uri, cache_dir):
    """Download URI into the Hugging Face cache and check it (sha256, a vprop model), so that --weights URI
    works later without network (HF_HUB_OFFLINE=1)."""
    from vprop.models.hub import fetch_hf, hub_sha256, load_weights_file, sha256

    if not uri.startswith("hf://"):
        raise click.BadParameter("expected hf://ORG/REPO[@REV]/FILE", param_hint="URI")
    with user_errors(), log_to_stderr(False):
        path = fetch_hf(uri, cache_dir)         # refuses a file whose sha256 is not the hub's
        model, _ = load_weights_file(path)
        checked = "the hub's" if hub_sha256(path) else "unverified: the hub records none for it"
        click.echo(f"{uri}: {model.cfg.task} weights, sha256 {sha256(path)} ({checked}), cached at {path}")
