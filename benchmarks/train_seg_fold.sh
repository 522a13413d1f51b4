#!/usr/bin/env bash
# SEG(t) trained for a cross-validation fold: the shipped seg-stpn recipe with its checkpoint choices fixed in
# advance, so nothing is chosen on the videos it is judged on.
#
#   bash benchmarks/train_seg_fold.sh OUT_DIR DEV_VIDEO...
#   python benchmarks/eval_seg_dev.py --weights OUT_DIR/seg.safetensors --refine-weights OUT_DIR/refine.safetensors \
#       --dev DEV_VIDEO... --grabcut --no-chain
#
# The five stages of weights/configs (the model card's seg-stpn row), each run to the step at which the shipped
# model took its checkpoint (1,500, 700, 500, 500 and 150 steps) with its cosine schedule ending there, and no
# validation: the DEV videos are held out of training and never looked at. About 35 minutes on 2 CPU cores.
# Killed and started again, it continues the stage it was in from that stage's checkpoint (--resume).
# Then the SEG(t+s) refiner on that model's masks: 1,000 steps of weights/configs/seg-refine.toml and 300 of
# seg-refine-appear.toml (about 15 minutes more). A SEG(t) model already at
# OUT_DIR/s5.safetensors skips the first five stages: the refiner is trained on that model's masks (the shipped
# refiner: weights/seg-stpn.safetensors there, and the shipped dev split). REFINE=0 stops after SEG(t).
set -euo pipefail
out=$1; shift
here=$(dirname "$0")
data=${DATA:-$here/../../shared/data/davis2016-train}
configs=$here/../weights/configs
mkdir -p "$out"
dev=$(printf '"%s", ' "$@")
stage() {   # stage NUMBER STEPS [CONFIG]: the config's fields, this fold's dev videos, a fixed length
    local cfg=$out/stage$1.toml
    { [ -n "${3:-}" ] && grep -E '^[a-z_]+ = ' "$configs/$3" | grep -vE '^(steps|validate_every) '
      echo "dev = [${dev%, }]"; echo "steps = $2"; echo "validate_every = 1000000"; } > "$cfg"
    echo "$cfg"
}
prev=$here/../weights/color-stpn.safetensors
for spec in "1 1500" "2 700 seg-long.toml" "3 500 seg-key.toml" "4 500 seg-select.toml" "5 150 seg-appear.toml"; do
    set -- $spec
    cfg=$(stage "$@")
    [ "$1" = 1 ] && printf 'max_distance = 40\ncheckpoint_every = 100\nlog_every = 25\nworkers = 1\nlr = 1e-3\n' >> "$cfg"
    [ -f "$out/s$1.safetensors" ] || [ -f "$out/s5.safetensors" ] || vprop train seg --quiet --resume --data "$data" --config "$cfg" --init "$prev" \
        --out "$out/r$1" --export "$out/s$1.safetensors"
    prev=$out/s$1.safetensors
done
ln -sf s5.safetensors "$out/seg.safetensors"
[ "${REFINE:-1}" = 0 ] && exit 0
prev=
for spec in "6 1000 seg-refine.toml" "7 300 seg-refine-appear.toml"; do
    set -- $spec
    cfg=$(stage "$@")
    [ -f "$out/s$1.safetensors" ] || vprop train seg --quiet --resume --refine --coarse-weights "$out/s5.safetensors" \
        --data "$data" --config "$cfg" ${prev:+--init "$prev"} --out "$out/r$1" --export "$out/s$1.safetensors"
    prev=$out/s$1.safetensors
done
ln -sf s7.safetensors "$out/refine.safetensors"
