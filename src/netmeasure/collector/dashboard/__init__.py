"""The live campaign dashboard served by the collector (docs/dashboard.md)."""
