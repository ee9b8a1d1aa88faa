"""The two-stream DATTT network: encoders, decoders and the depth-aware modulation layer (§4.1)."""
from .aux_heads import AUX_TASKS, MAEHead, RotationHead, aux_loss, build_aux_head
from .backbones import BACKBONES, Encoder, create_encoder, timm_name
from .dattt import ARCHITECTURES, VARIANT_DOCS, VARIANTS, DATTTNet, Variant, build_model, get_variant
from .decoders import MLPDecoder
from .modulation import DepthModulation, ScaleModulation

__all__ = ["BACKBONES", "Encoder", "create_encoder", "timm_name", "ARCHITECTURES", "VARIANTS", "VARIANT_DOCS",
           "Variant", "get_variant", "DATTTNet", "build_model", "MLPDecoder", "DepthModulation", "ScaleModulation",
           "AUX_TASKS", "RotationHead", "MAEHead", "aux_loss", "build_aux_head"]
