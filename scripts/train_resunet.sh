#!/usr/bin/env bash
# Issue 3's runs on one GPU: ResNet18 U-Net, stage 1 (L1, Adam 1e-4) then stage 2 (PatchGAN, lambda 100),
# both with an EMA generator; resumes whichever stage already has a checkpoint.
#   DATA=/root/d/train VAL=/root/d/val OUT=gpuruns bash scripts/train_resunet.sh
set -euo pipefail
DATA=${DATA:-../shared/data/imagenette/train}
VAL=${VAL:-../shared/data/imagenette/val}
OUT=${OUT:-runs}
PY=${PY:-python3}
COMMON=(--data "$DATA" --val-data "$VAL" --val-images 100 --out "$OUT" --batch-size ${BATCH:-32}
        --workers ${WORKERS:-14} --mixed-precision ${MP:-bf16} --ema ${EMA:-0.999} --log-every 100
        --sample-every 1000 --ckpt-every 1000 -q ${EXTRA:-})
run_stage() {  # name, minutes, flags...
  local name=$1 minutes=$2; shift 2
  if [ -f "$OUT/$name/checkpoint.pt" ]; then
    $PY -m tomau train resunet --resume "$OUT/$name" --steps 1000000 --max-minutes "$minutes"
  else
    $PY -m tomau train resunet "${COMMON[@]}" --name "$name" --steps 1000000 --max-minutes "$minutes" "$@"
  fi
}
run_stage resunet_l1 "${STAGE1_MIN:-4}" --stage pretrain
run_stage resunet_gan "${STAGE2_MIN:-4.5}" --stage gan --init "$OUT/resunet_l1"
