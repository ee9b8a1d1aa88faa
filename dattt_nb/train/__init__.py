"""Stage 1, training-time training: joint mask + depth training (§4.1, eq. 2)."""
