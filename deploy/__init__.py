"""Container deploy tooling: compose configs, the local Docker engine, and `make smoke`."""
