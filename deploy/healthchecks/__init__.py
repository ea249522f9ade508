"""Container healthchecks: each means "every model answers", read from the generated configs."""
