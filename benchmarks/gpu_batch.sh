#!/usr/bin/env bash
# The long-trained reference and the supernet-fidelity runs on one lent GPU, side by side, within a deadline.
#
#   bash benchmarks/gpu_batch.sh DATA_TAR OUT_DIR DEADLINE_SECONDS [EPOCHS]
#
# The reference's 20 runs (14 networks + 6 second seeds) train as REF_WORKERS processes sharing the GPU; the
# supernets (one per width, uniform and sandwich sampling, and one of every width, channels sliced) train beside
# them at a lower CPU priority (SUPERNETS=0: not at all). Each finished run is copied to OUT_DIR as it lands; at
# the deadline everything still training is stopped (a run stored is complete; nothing partial is stored).
#
# Measured on an H200 with 16 cores (benchmarks/RESULTS.md, "A lent GPU"): 27 processes were CPU-bound at about
# 15,000 images/s together, so the 20-epoch reference (about 10 M images) needs about 11 minutes: more than one
# call. Run it with SUPERNETS=0 and call again at once on the warm machine (its checkpoints in
# benchmarks/reference/runs/ stay there while it is warm, and the runs resume from their last epoch).
set -u
tar_file=$1 out=$2 deadline=$3 epochs=${4:-20}
start=$(date +%s)
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
results=/tmp/results && mkdir -p $results /tmp/data && tar xzf "$tar_file" -C /tmp/data
data=/tmp/data/cifar5-dev
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt"
nproc >> "$out/gpu.txt"
# decode the images once: every worker reads the cache
python3 -c "from ulsam_nas.data import load_dataset; d = load_dataset('imagefolder:$data', 32); print('images', len(d.train_labels), len(d.val_labels))" >> "$out/gpu.txt" 2>&1
python3 -m benchmarks.reference --data $data --epochs "$epochs" --workers "${REF_WORKERS:-16}" --device "${DEVICE:-cuda}" \
  --results $results/reference.json > "$out/reference.log" 2>&1 &
pids=$!
[ "${SUPERNETS:-1}" = 0 ] && variants=() || variants=("uniform separate 3" "sandwich separate 3" "uniform sliced 1")
for variant in ${variants[@]+"${variants[@]}"}; do
  set -- $variant
  nice -n 10 python3 -m benchmarks.supernet_fidelity --data $data --epochs "$epochs" --sampling "$1" --widths "$2" \
    --workers "$3" --device "${DEVICE:-cuda}" --results $results/supernet-$1-$2.json >> "$out/supernet.log" 2>&1 &
  pids="$pids $!"
done
while [ $(( $(date +%s) - start )) -lt "$deadline" ]; do
  cp $results/*.json "$out/" 2>/dev/null
  running=0
  for pid in $pids; do kill -0 "$pid" 2>/dev/null && running=1; done
  [ $running = 0 ] && break
  sleep 5
done
echo "stopped after $(( $(date +%s) - start ))s" >> "$out/gpu.txt"
nvidia-smi >> "$out/gpu.txt" 2>&1
pkill -f "benchmarks\.(reference|supernet_fidelity)"; sleep 3
cp $results/*.json "$out/" 2>/dev/null
ls -la "$out" >> "$out/gpu.txt"
