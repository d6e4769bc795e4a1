"""One network under the recipe with one change, epoch by epoch, with its gradient norms: a recipe probe.

    python -m benchmarks.recipe_probe --data /tmp/cifar5-dev --width 0.75 [--lr 0.0125] [--clip 5] [--seed 0]
        [--epochs 12] [--out benchmarks/recipe_probe/NAME.json]

Vanilla MobileNet-V2 at ``--width``, trained as ``ulsam-nas train`` trains it (the same loop, recipe, crop and
flip; 32 px, all the training images, one thread) except for ``--lr`` and ``--clip`` (the gradient norm
clipped to that value before every step; the recipe's by default). Each epoch's training loss, validation top-1
and the mean and largest gradient norm (before clipping) are printed and written to ``--out`` as they come. Used to find why w0.75 trained
unstably under the new recipe (benchmarks/RESULTS.md, "A recipe that trains deep networks").
"""

from __future__ import annotations

import argparse
import json
import math
import re
import warnings
from pathlib import Path

import torch

from ulsam_nas import ArchConfig, runtime
from ulsam_nas.data import load_dataset
from ulsam_nas.training.full import crop_and_flip
from ulsam_nas.training.loop import evaluate, prepare_training, train_one_epoch
from ulsam_nas.training.settings import TrainSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--width", type=float, default=0.75)
    parser.add_argument("--lr", type=float, default=TrainSettings().lr)
    parser.add_argument("--clip", type=float, default=TrainSettings().grad_clip or math.inf,
                        help="largest gradient norm (default: the recipe's; inf: no clipping)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(f"benchmarks/recipe_probe/w{args.width}-lr{args.lr}-clip{args.clip}-s{args.seed}.json")
    torch.set_num_threads(1)
    settings = TrainSettings(dataset=f"imagefolder:{args.data}", epochs=args.epochs, resolution=32, seed=args.seed,
                             threads=1, lr=args.lr)
    data = load_dataset(settings.dataset, settings.resolution)
    mean, std = data.channel_stats()
    steps = len(data.train_labels) // settings.batch_size
    history, norms = [], []
    with runtime.seeded(args.seed):
        config = ArchConfig(width=args.width, num_classes=data.num_classes)
        model, optimizer, scheduler = prepare_training(config, settings, torch.device("cpu"), args.epochs * steps)
        plain_step = optimizer.step

        def clipped_step(*step_args, **step_kwargs):
            norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)))
            return plain_step(*step_args, **step_kwargs)

        optimizer.step = clipped_step
        warnings.filterwarnings("ignore", message=re.escape("Seems like `optimizer.step()` has been overridden"))
        generator = torch.Generator().manual_seed(args.seed)
        for epoch in range(1, args.epochs + 1):
            order = torch.randperm(len(data.train_labels), generator=generator)
            stats = train_one_epoch(model, data.train_images, data.train_labels, order, optimizer, scheduler, mean,
                                    std, batch_size=settings.batch_size, epoch=epoch,
                                    label_smoothing=settings.label_smoothing,
                                    augment=lambda images: crop_and_flip(images, True, generator))
            top1 = evaluate(model, data.val_images, data.val_labels, mean, std).top1
            history.append({"epoch": epoch, "train_loss": stats.mean_loss, "top1": top1,
                            "grad_norm_mean": sum(norms) / len(norms), "grad_norm_max": max(norms)})
            norms.clear()
            print(json.dumps(history[-1]), flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            clip = None if math.isinf(args.clip) else args.clip  # JSON has no infinity
            out.write_text(json.dumps({"width": args.width, "lr": args.lr, "clip": clip, "seed": args.seed,
                                       "epochs": history}, indent=1) + "\n")


if __name__ == "__main__":
    main()
