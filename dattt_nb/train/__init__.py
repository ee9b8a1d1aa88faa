"""Stage 1, training-time training: joint mask + depth training (§4.1, eq. 2)."""
from .augment import TrainAugment
from .checkpoint import checkpoint_dir, load_checkpoint, load_model, load_weights, save_checkpoint
from .evaluate import evaluate_benchmark, evaluate_split, predict_video
from .loop import FrameBank, load_or_train, load_training_data, train

__all__ = ["TrainAugment", "checkpoint_dir", "load_checkpoint", "load_model", "load_weights", "save_checkpoint",
           "evaluate_benchmark", "evaluate_split", "predict_video", "FrameBank", "load_or_train",
           "load_training_data", "train"]
