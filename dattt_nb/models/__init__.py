"""The two-stream DATTT network: encoders, decoders and the depth-aware modulation layer (§4.1)."""
from .backbones import BACKBONES, Encoder, create_encoder, timm_name
from .dattt import VARIANT_DOCS, VARIANTS, DATTTNet, build_model
from .decoders import MLPDecoder
from .modulation import DepthModulation, ScaleModulation

__all__ = ["BACKBONES", "Encoder", "create_encoder", "timm_name", "VARIANTS", "VARIANT_DOCS", "DATTTNet",
           "build_model", "MLPDecoder", "DepthModulation", "ScaleModulation"]
