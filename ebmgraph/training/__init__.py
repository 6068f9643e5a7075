"""Training: contrastive losses (Table 1 of 003 plus InfoNCE), contrastive samplers, regularized
methods (VICReg, Barlow Twins, sparse, variational, score matching) and the loop around them."""

from .config import TrainConfig, import_plugins, load_config, parse_config
from .data import DataError, Dataset, make_dataset
from .loop import CollapseWarning, TrainingStopped, TrainResult, train

__all__ = ["CollapseWarning", "DataError", "Dataset", "TrainConfig", "TrainResult", "TrainingStopped",
           "import_plugins", "load_config", "make_dataset", "parse_config", "train"]
