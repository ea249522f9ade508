"""Demo models for Tandem."""
