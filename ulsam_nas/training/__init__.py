"""Training: proxy runs that score search candidates, and full runs that train a chosen config.

Both are configurations of one loop (``loop.py``: ``train_one_epoch``,
``evaluate``), as in torchvision's classification reference::

    from ulsam_nas.training import ProxySettings, train_proxy, TrainSettings, train
"""

from .full import TrainReport, TrainSettings, load_trained, train
from .loop import TrainingDiverged, evaluate, recalibrate_batchnorm
from .proxy import ProxyResult, ProxySettings, train_proxy

__all__ = [
    "ProxyResult",
    "ProxySettings",
    "TrainReport",
    "TrainSettings",
    "TrainingDiverged",
    "evaluate",
    "load_trained",
    "recalibrate_batchnorm",
    "train",
    "train_proxy",
]
