"""Pure encoders/decoders between wire formats and numpy arrays (no I/O, no framework)."""
