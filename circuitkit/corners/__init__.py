"""corners stage."""
