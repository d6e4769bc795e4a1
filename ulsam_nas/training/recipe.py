"""The training recipe every run shares: proxy training, refinement, full training and the supernet.

SGD with Nesterov momentum, a linear warm-up over a share of the steps, then cosine decay to zero; label
smoothing; weight decay. Why these values: benchmarks/RESULTS.md, "A recipe that trains deep networks".
"""

from __future__ import annotations

__all__ = ["BATCH_SIZE", "BEFORE_PROXY", "FULL_LR", "LABEL_SMOOTHING", "MOMENTUM", "PROXY_LR", "WARMUP", "WEIGHT_DECAY",
           "ZERO_INIT_RESIDUAL"]

BATCH_SIZE = 64
PROXY_LR = 0.1
FULL_LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 4e-5
LABEL_SMOOTHING = 0.1
WARMUP = 0.15  # share of the steps
ZERO_INIT_RESIDUAL = False

# What a study stored before a recipe field existed trained with (they open, read as that recipe).
BEFORE_PROXY = {"warmup": 0.15, "zero_init_residual": False}
