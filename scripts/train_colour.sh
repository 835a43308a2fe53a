#!/usr/bin/env bash
# Issue 35's default colouriser: the bundled effunet fine-tuned (encoder too) on the many-source training set, scored
# as it trains on the unseen-source dev set. Run again to continue the same run exactly (--resume); on a new machine,
# start from the committed model instead: INIT=tomau/weights/effunet.safetensors NAME=c35-b bash scripts/train_colour.sh
#   python scripts/build_training_set.py --out ~/tomau-data --with-shared-train    # the data, once (see docs/training_data.md)
#   nice -n 5 bash scripts/train_colour.sh                                          # hours; stop and re-run at will
set -euo pipefail
DATA=${DATA:-$HOME/tomau-data/train}
DEV=${DEV:-$HOME/tomau-data/dev}
OUT=${OUT:-$HOME/tomau-runs}
NAME=${NAME:-c35-a}
INIT=${INIT:-effunet}
PY=${PY:-.venv/bin/python}
if [ -f "$OUT/$NAME/state.safetensors" ]; then
  exec $PY -m tomau train effunet --resume "$OUT/$NAME" -q
fi
exec $PY -m tomau train effunet --data "$DATA" --bins ../shared/data/zhang --init "$INIT" --train-encoder all \
  --encoder-lr-scale 0.1 --lr 3e-4 --warmup 200 --batch-size 32 --image-size 128 --mix 0.5 --temperature 0.2 --ema 0.999 \
  --workers 1 --val-data "$DEV" --val-images 250 --steps ${STEPS:-30000} --log-every 50 --sample-every 500 --ckpt-every 250 \
  --out "$OUT" --name "$NAME" -q
