"""inversion subpackage."""
