"""denoise subpackage."""
