"""model_selection subpackage."""
