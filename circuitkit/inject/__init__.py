"""inject stage."""
