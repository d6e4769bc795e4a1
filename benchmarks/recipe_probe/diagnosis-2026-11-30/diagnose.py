"""Recipe diagnosis: train a network with a recipe variant; per-epoch curves to JSON."""
import json, sys, time, math, dataclasses
from pathlib import Path
import torch, torch.nn.functional as F
from torch import nn
torch.set_num_threads(1)
from ulsam_nas import ArchConfig
from ulsam_nas.builder import build_model
from ulsam_nas.data import load_dataset
from ulsam_nas.training.loop import train_one_epoch, evaluate, recalibrate_batchnorm
from ulsam_nas.training.full import _crop_and_flip
from torchvision.models.mobilenetv2 import InvertedResidual

ALL = (3,5,6,8,9,10,12,13,15,16)
NETS = {
 "vanilla": dict(), "alldrop": dict(drop=ALL),
 "paper": dict(drop=(13,16), ulsam=[{"after":16,"subspaces":4}]),
 "w05drop9": dict(width=0.5, drop=(3,5,6,8,9,10,12,13,15)),
 "w075vanilla": dict(width=0.75),
}
BASE = dict(lr=0.05, batch=64, wd=4e-5, warmup=1.0, ls=0.1, zero=False, nodecay_norm=False, clip=None, epochs=12, recal=False)

def run(net, variant, seed, overrides):
    r = dict(BASE, **overrides)
    out = Path(f"/tmp/diag/res/{net}__{variant}__s{seed}.json")
    if out.exists(): return
    out.parent.mkdir(exist_ok=True, parents=True)
    data = load_dataset("imagefolder:/tmp/cifar5-dev", 32)
    mean, std = data.channel_stats()
    torch.manual_seed(seed)
    model = build_model(ArchConfig(num_classes=5, **NETS[net])).to(memory_format=torch.channels_last).train()
    if r["zero"]:
        for m in model.modules():
            if isinstance(m, InvertedResidual) and m.use_res_connect:
                nn.init.zeros_(m.conv[-1].weight)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if (r["nodecay_norm"] and p.ndim <= 1) else decay).append(p)
    groups = [{"params": decay, "weight_decay": r["wd"]}] + ([{"params": no_decay, "weight_decay": 0.0}] if no_decay else [])
    opt = torch.optim.SGD(groups, lr=r["lr"], momentum=0.9, nesterov=True)
    spe = len(data.train_labels) // r["batch"]
    warm = int(r["warmup"] * spe); total = r["epochs"] * spe
    def factor(step):
        if step < warm: return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    gen = torch.Generator().manual_seed(seed)
    hist = []
    if r["clip"]:
        orig_step = opt.step
        def step(*a, **k):
            torch.nn.utils.clip_grad_norm_(model.parameters(), r["clip"]); return orig_step(*a, **k)
        opt.step = step
    for epoch in range(1, r["epochs"] + 1):
        t = time.time()
        order = torch.randperm(len(data.train_labels), generator=gen)
        st = train_one_epoch(model, data.train_images, data.train_labels, order, opt, sched, mean, std,
                             batch_size=r["batch"], epoch=epoch, label_smoothing=r["ls"],
                             augment=lambda im: _crop_and_flip(im, True, gen))
        ev = evaluate(model, data.val_images, data.val_labels, mean, std)
        hist.append(dict(epoch=epoch, train_loss=st.mean_loss, top1=ev.top1, val_loss=ev.val_loss, seconds=time.time()-t))
        print(net, variant, seed, hist[-1], flush=True)
    out.write_text(json.dumps(dict(net=net, variant=variant, seed=seed, recipe=r, history=hist)))

if __name__ == "__main__":
    for job in sys.argv[1:]:
        net, variant, seed, ov = job.split("|")
        run(net, variant, int(seed), json.loads(ov))
