"""The two-stream DATTT network: encoders, decoders and the depth-aware modulation layer (§4.1)."""
from .aux_heads import AUX_TASKS, MAEHead, RotationHead, aux_loss, build_aux_head
from .backbones import BACKBONES, Encoder, create_encoder, timm_name
from .dattt import (AUX_VARIANT_DOCS, AUX_VARIANTS, TRAIN_VARIANTS, VARIANT_DOCS, VARIANTS, DATTTNet, build_model,
                    variant_options)
from .decoders import MLPDecoder
from .modulation import DepthModulation, ScaleModulation

__all__ = ["BACKBONES", "Encoder", "create_encoder", "timm_name", "VARIANTS", "VARIANT_DOCS", "DATTTNet",
           "build_model", "MLPDecoder", "DepthModulation", "ScaleModulation", "AUX_TASKS", "AUX_VARIANTS",
           "AUX_VARIANT_DOCS", "TRAIN_VARIANTS", "variant_options", "RotationHead", "MAEHead", "aux_loss",
           "build_aux_head"]
