"""ULSAM module speed against a plain per-subspace loop written from the paper's description.

512 channels at 14x14; inference at batch 1 on 1 thread, and a training step
(forward + backward) at batch 32. The loop uses one small module per subspace,
``torch.chunk`` and the default memory layout; ulsam-nas's module runs as the
networks run it (channels_last) and, for reference, in the default layout.

    python -m benchmarks.ulsam_speed
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ulsam_nas import ULSAM

from .common import median_seconds


class LoopULSAM(nn.Module):
    """The paper, literally: a depthwise 1x1 conv, BN, ReLU, max-pool, 1x1 conv, BN, ReLU, softmax per subspace."""

    def __init__(self, channels: int, subspaces: int) -> None:
        super().__init__()
        size = channels // subspaces
        self.subspaces = subspaces
        self.parts = nn.ModuleList(
            nn.Sequential(nn.Conv2d(size, size, 1, groups=size), nn.BatchNorm2d(size), nn.ReLU(),
                          nn.MaxPool2d(3, 1, 1), nn.Conv2d(size, 1, 1), nn.BatchNorm2d(1), nn.ReLU())
            for _ in range(subspaces))

    def forward(self, x):
        outputs = []
        for part, features in zip(self.parts, torch.chunk(x, self.subspaces, dim=1)):
            a = part(features)
            n, _, h, w = a.shape
            a = F.softmax(a.view(n, 1, -1), dim=-1).view(n, 1, h, w)
            outputs.append(features * a + features)
        return torch.cat(outputs, dim=1)


def _inference(module, x):
    module.eval()

    def run():
        with torch.inference_mode():
            module(x)
    return median_seconds(run)


def _training_step(module, x):
    module.train()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01)

    def run():
        optimizer.zero_grad(set_to_none=True)
        module(x).sum().backward()
        optimizer.step()
    return median_seconds(run)


def run(channels: int = 512, size: int = 14) -> list[dict]:
    rows = []
    previous = torch.get_num_threads()
    for mode, batch, threads, measure in (("inference", 1, 1, _inference), ("training step", 32, previous, _training_step)):
        torch.set_num_threads(threads)
        for subspaces in (1, 4, 16):
            x = torch.randn(batch, channels, size, size)
            loop = measure(LoopULSAM(channels, subspaces), x)
            ours_default = measure(ULSAM(channels, subspaces), x)
            ours = measure(ULSAM(channels, subspaces).to(memory_format=torch.channels_last),
                           x.contiguous(memory_format=torch.channels_last))
            rows.append({"mode": mode, "batch": batch, "threads": threads, "subspaces": subspaces,
                         "loop_ms": loop * 1e3, "ulsam_ms": ours * 1e3, "ulsam_default_layout_ms": ours_default * 1e3,
                         "speedup": loop / ours, "target": 5.0 if mode == "inference" else 2.0})
    torch.set_num_threads(previous)
    return rows


def report(rows: list[dict]) -> str:
    lines = ["ULSAM module, 512 channels at 14x14 (median ms; speed-up = loop / ulsam-nas channels_last)"]
    for r in rows:
        verdict = "met" if r["speedup"] >= r["target"] else "MISSED"
        lines.append(f"  {r['mode']:13s} batch {r['batch']:2d} threads {r['threads']} g={r['subspaces']:2d}: "
                     f"loop {r['loop_ms']:.3f}  ulsam-nas {r['ulsam_ms']:.3f} (default layout {r['ulsam_default_layout_ms']:.3f})"
                     f"  speed-up {r['speedup']:.1f}x (target {r['target']:.0f}x: {verdict})")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
