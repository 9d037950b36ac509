"""describe subpackage."""
