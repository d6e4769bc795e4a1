"""The training recipe every run shares: proxy training, refinement, full training (and the supernet).

SGD with Nesterov momentum 0.9; a linear warm-up over the first 10% of the steps, then cosine decay to zero;
label smoothing 0.1; weight decay 4e-5 (MobileNet's); the last BatchNorm of every residual block starts at zero,
so that each residual block begins as the identity (Goyal et al., 2017; BigNAS).

The learning rate is 0.025 for batches of 64 images: 0.1 per 256, the linear scaling rule's base rate. Until the
fix, ``train`` used 0.05 and the proxy 0.1 at batch 64, and at 32 px deep networks failed to train: the training
loss rose above chance at the peak of the warm-up (vanilla MobileNet-V2 ended 12 epochs of cifar5-dev at 50.7%,
the network with every droppable block dropped at 70.4%). Measured per cause, one seed each, 12 epochs, 32 px:
lr 0.05 with zero-initialised residuals: vanilla 71.0%; lr 0.0125: vanilla 74.4%, shallow 74.0%; lr 0.025 with
zero-initialised residuals: vanilla 78.4%, shallow 77.1% (the shallow network has no residual block, so zero-init
leaves it unchanged). The before/after table over six networks: benchmarks/RESULTS.md, "A recipe that trains
deep networks" (``python -m benchmarks.recipe``). MobileNet-V2 w0.75 still spiked at lr 0.025 (largest gradient
norm per epoch 16-64 from epoch 3 on, against 3-7 at lr 0.0125) and ended at 61.2/68.1% (two seeds). With the
gradient norm clipped it trains (seed 0): 74.4% at a clip of 5, 76.7% at 10. A clip of 5 acted on 97-100% of the
first epoch's steps of every network (their norms are 7-15 then) and cost the stable networks 0-2 points; 10
leaves most of those steps alone, so the recipe clips at 10. Over the six networks and two seeds at 10 every
network trains (deep 75.2-77.8%, shallow 72.4-77.9%, two-seed means), but 2 of the 12 runs still spiked (largest
norm per epoch 20-32 from epoch 3 on) and ended about 5 points below their other seed: the clip makes the spikes
rarer, it does not remove them. The table's "clip5" column keeps the runs at 5; "zero-init" the recipe before any
clip.
"""

from __future__ import annotations

__all__ = ["BATCH_SIZE", "BEFORE_PROXY", "GRAD_CLIP", "LABEL_SMOOTHING", "LR", "MOMENTUM", "WARMUP", "WEIGHT_DECAY",
           "ZERO_INIT_RESIDUAL"]

BATCH_SIZE = 64
LR = 0.025  # at BATCH_SIZE: 0.1 per 256 images
MOMENTUM = 0.9
WEIGHT_DECAY = 4e-5
LABEL_SMOOTHING = 0.1
WARMUP = 0.1  # share of the steps
ZERO_INIT_RESIDUAL = True
GRAD_CLIP: float | None = 10.0  # largest gradient norm per step (None: no clipping)

# What a study stored before each of these fields existed trained with (such studies open, read as that recipe).
BEFORE_PROXY = {"warmup": 0.15, "zero_init_residual": False, "grad_clip": None}
