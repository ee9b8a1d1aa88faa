"""Stage 2, test-time training on each video (§4.2, eq. 4, Fig. 4)."""
