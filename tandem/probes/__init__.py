"""Readiness rules that also run inside the server images: standard library only, no
imports from the rest of the package (each file is copied or shipped on its own)."""
