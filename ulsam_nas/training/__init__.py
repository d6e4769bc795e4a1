"""Training: proxy runs that score search candidates, and full runs that train a chosen config.

Both are configurations of one loop (``loop.py``: ``prepare_training``, ``train_one_epoch``, ``evaluate``),
as in torchvision's classification reference, with one recipe (``recipe.py``); their settings records
(``settings.py``) import no PyTorch::

    from ulsam_nas.training import ProxySettings, train_proxy, TrainSettings, train
"""

from ..lazy import lazy_exports
from .settings import AUTO, ProxySettings, RefineSettings, TrainSettings

_LAZY = {"ProxyResult": ".proxy", "train_proxy": ".proxy", "TrainReport": ".full", "load_trained": ".full",
         "train": ".full", "TrainingDiverged": ".loop", "evaluate": ".loop", "recalibrate_batchnorm": ".loop"}
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = ["AUTO", "ProxyResult", "ProxySettings", "RefineSettings", "TrainReport", "TrainSettings", "TrainingDiverged",
           "evaluate", "load_trained", "recalibrate_batchnorm", "train", "train_proxy"]
