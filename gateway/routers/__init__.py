"""HTTP front ends: parse and answer HTTP, delegate everything else to the dataplane."""
