"""API keys, per-key rate limits."""
