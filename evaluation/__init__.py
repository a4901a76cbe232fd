"""The scoring harness: validation of submissions, metrics with confidence intervals, signatures."""
