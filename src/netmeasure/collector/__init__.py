"""The fleet collector: an HTTP API that probes upload samples to, exactly once, per-probe
tokens, on SQLite (embedded default) or PostgreSQL (production)."""
