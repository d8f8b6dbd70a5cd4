"""MNIST: the IDX format, verified fetching from real sources, and the local cache."""
