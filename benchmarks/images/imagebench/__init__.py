"""The image-serving benchmark's own pieces (the shared ones are in benchmarks/serving/harness)."""
