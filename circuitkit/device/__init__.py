"""device stage."""
