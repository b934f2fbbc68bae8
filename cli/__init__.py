"""The `ewarn` command line: the top layer, the only package that knows both the flows and the review app."""
