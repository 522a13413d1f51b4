#!/usr/bin/env bash
# The SEG(t+s) refiner trained on out-of-fold masks: each training video's coarse mask comes from the fold SEG(t)
# model that never saw it, so the refiner learns the errors SEG(t) makes on unseen video (in fold, SEG(t) is
# nearly right on its own training videos and the refiner learns to trust it).
#
#   bash benchmarks/train_refine_oof.sh OUT_DIR FOLD_DIR... [-- DEV_VIDEO...]
#
# FOLD_DIR: a run of benchmarks/train_seg_fold.sh (its seg.safetensors never saw the dev videos of its
# stage1.toml). The refiner trains on those videos only, by the shipped refiner's recipe (1,000 steps of
# weights/configs/seg-refine.toml from scratch, 300 of seg-refine-appear.toml; about 15 minutes on 2 CPU cores).
# DEV_VIDEO: held out and never used (default: the shipped dev split); a fold's own videos for cross-validation.
set -euo pipefail
out=$1; shift
folds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do folds+=("$1"); shift; done
[ $# -gt 0 ] && shift
here=$(dirname "$0")
data=${DATA:-$here/../../shared/data/davis2016-train}
configs=$here/../weights/configs
mkdir -p "$out"
dev=()
for v in "$@"; do dev+=("\"$v\""); done
prev=
for spec in "6 1000 seg-refine.toml" "7 300 seg-refine-appear.toml"; do
    set -- $spec
    cfg=$out/stage$1.toml
    { grep -E '^[a-z_]+ = ' "$configs/$3" | grep -vE '^(steps|validate_every) '
      [ ${#dev[@]} -gt 0 ] && echo "dev = [$(IFS=,; echo "${dev[*]}")]"
      echo "steps = $2"; echo "validate_every = 1000000"; echo "[coarse_folds]"
      for f in "${folds[@]}"; do
          echo "\"$(realpath "$f/seg.safetensors")\" = $(grep -E '^dev = ' "$f/stage1.toml" | cut -d= -f2-)"
      done; } > "$cfg"
    [ -f "$out/s$1.safetensors" ] || vprop train seg --quiet --resume --refine --data "$data" --config "$cfg" \
        ${prev:+--init "$prev"} --out "$out/r$1" --export "$out/s$1.safetensors"
    prev=$out/s$1.safetensors
done
ln -sf s7.safetensors "$out/refine.safetensors"
