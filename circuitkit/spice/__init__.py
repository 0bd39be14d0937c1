"""spice stage."""
