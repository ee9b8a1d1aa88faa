"""The two-stream DATTT network: encoders, decoders and the depth-aware modulation layer (§4.1)."""
