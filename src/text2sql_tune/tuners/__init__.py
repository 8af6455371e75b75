"""tuners."""
