"""One module per CLI verb: arguments in, a call, results out as text and an exit status."""
