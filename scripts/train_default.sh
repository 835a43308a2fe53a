#!/usr/bin/env bash
# How the bundled default colouriser was trained (on one GPU; the same commands run on a CPU, slowly).
#   DATA=../shared/data/imagenette/train VAL=../shared/data/imagenette/val bash scripts/train_default.sh
# Stage 1: L1-only pre-training of the U-Net (the seed's recipe); stage 2: cGAN + 100 * L1 from stage 1.
set -euo pipefail
DATA=${DATA:-../shared/data/imagenette/train}
VAL=${VAL:-../shared/data/imagenette/val}
OUT=${OUT:-runs}
PY=${PY:-python3}
COMMON=(--data "$DATA" --val-data "$VAL" --val-images 100 --out "$OUT" --ngf 28 --batch-size 32
        --workers ${WORKERS:-14} --mixed-precision ${MP:-bf16} --log-every 100 --sample-every 1000 --ckpt-every 1000 -q)
if [ -f "$OUT/stage1/checkpoint.pt" ]; then
  $PY -m tomau train pix2pix --resume "$OUT/stage1" --steps ${STAGE1_STEPS:-100000} --max-minutes ${STAGE1_MIN:-3.5}
else
  $PY -m tomau train pix2pix "${COMMON[@]}" --name stage1 --gan-weight 0 --steps ${STAGE1_STEPS:-100000} --max-minutes ${STAGE1_MIN:-3.5}
fi
if [ -f "$OUT/stage2/checkpoint.pt" ]; then
  $PY -m tomau train pix2pix --resume "$OUT/stage2" --steps ${STAGE2_STEPS:-1000000} --max-minutes ${STAGE2_MIN:-4.5}
else
  $PY -m tomau train pix2pix "${COMMON[@]}" --name stage2 --init "$OUT/stage1" --steps ${STAGE2_STEPS:-1000000} --max-minutes ${STAGE2_MIN:-4.5}
fi
