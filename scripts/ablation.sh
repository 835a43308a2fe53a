#!/usr/bin/env bash
# Issue 3's ablation at one compute budget: every row makes the same number of generator updates on the
# same images in the same order (seed 0). L1 rows: S1 + S2 steps of L1 only. GAN rows: the same first S1
# L1 steps, then S2 steps of PatchGAN + 100 * L1 (the seed's two-stage recipe). Each stage stops by DEADLINE
# (seconds since the epoch) with a checkpoint; run the script again and every stage resumes where it was.
#   CPU (this repo's table): SIZE=128 LOAD=256 PREDICT=256 DOWNS=7 BATCH=16 S1=300 S2=300 THREADS=1 bash scripts/ablation.sh
#   GPU: DATA=/root/d/train VAL=/root/d/val OUT=gpuruns MP=bf16 WORKERS=5 S1=4000 S2=4000 EMA=0.999 bash scripts/ablation.sh
set -uo pipefail
DATA=${DATA:-../shared/data/imagenette/train}
VAL=${VAL:-../shared/data/imagenette/val}
OUT=${OUT:-runs/ablation}
PY=${PY:-python3}
S1=${S1:-4000}
S2=${S2:-4000}
DEADLINE=${DEADLINE:-$(( $(date +%s) + 86400 ))}
REBALANCE=${REBALANCE:-}   # folder with pts_in_hull.npy + prior_probs.npy: adds a ResNet L1 row with rebalancing
export OMP_NUM_THREADS=${THREADS:-${OMP_NUM_THREADS:-}}
[ -z "$OMP_NUM_THREADS" ] && unset OMP_NUM_THREADS
COMMON=(--data "$DATA" --val-data "$VAL" --val-images ${VAL_IMAGES:-96} --out "$OUT" --batch-size ${BATCH:-32} --seed 0
        --image-size ${SIZE:-256} --load-size ${LOAD:-0} --predict-size ${PREDICT:-0}
        --workers ${WORKERS:-2} --mixed-precision ${MP:-no} --ema ${EMA:-0} --log-every ${LOG:-50}
        --sample-every 1000000 --ckpt-every ${CKPT:-100} -q)
P2P=(--ngf ${NGF:-28} --num-downs ${DOWNS:-8})
RES=(--depth ${DEPTH:-18})

last_step() {  # run folder -> last logged step (0 when none)
  $PY -c "import json,sys; print(max(json.loads(l).get('step',0) for l in open(sys.argv[1])))" "$1/metrics.jsonl" 2>/dev/null || echo 0
}

stage() {  # family, name, steps, flags... -> success once the run has made its steps
  local family=$1 name=$2 steps=$3; shift 3
  local mins=$(( (DEADLINE - $(date +%s)) / 60 ))
  [ "$(last_step "$OUT/$name")" -ge "$steps" ] && return 0
  [ "$mins" -lt 1 ] && return 1
  if [ -f "$OUT/$name/checkpoint.pt" ]; then
    $PY -m tomau train "$family" --resume "$OUT/$name" --steps "$steps" --max-minutes "$mins"
  else
    $PY -m tomau train "$family" "${COMMON[@]}" --name "$name" --steps "$steps" --max-minutes "$mins" "$@"
  fi
  [ "$(last_step "$OUT/$name")" -ge "$steps" ]
}

rows() {  # family, prefix, flags...: stage 1 to S1, keep that model, GAN row from it, then the L1 row to S1 + S2
  local family=$1 prefix=$2; shift 2
  local l1=(--gan-weight 0) gan=()
  [ "$family" = resunet ] && l1=(--stage pretrain) gan=(--stage gan)
  stage "$family" "${prefix}_l1" "$S1" "${l1[@]}" "$@" || return 1
  if [ ! -f "$OUT/${prefix}_stage1/model.safetensors" ]; then
    mkdir -p "$OUT/${prefix}_stage1" && cp "$OUT/${prefix}_l1/model.safetensors" "$OUT/${prefix}_stage1/"
  fi
  stage "$family" "${prefix}_gan" "$S2" "${gan[@]}" --init "$OUT/${prefix}_stage1/model.safetensors" "$@" || return 1
  stage "$family" "${prefix}_l1" $(( S1 + S2 ))
}

ROWS=${ROWS:-p2p res}   # which pipelines to run
mkdir -p "$OUT"
[[ " $ROWS " == *" p2p "* ]] && rows pix2pix p2p "${P2P[@]}" > "$OUT/p2p.log" 2>&1 &
[[ " $ROWS " == *" res "* ]] && rows resunet res "${RES[@]}" > "$OUT/res.log" 2>&1 &
if [ -n "$REBALANCE" ]; then
  stage resunet res_rebal_l1 $(( S1 + S2 )) --stage pretrain "${RES[@]}" --rebalance "$REBALANCE" > "$OUT/res_rebal.log" 2>&1 &
fi
wait
for r in "$OUT"/*_l1 "$OUT"/*_gan; do [ -d "$r" ] && echo "$(basename "$r"): step $(last_step "$r")"; done
