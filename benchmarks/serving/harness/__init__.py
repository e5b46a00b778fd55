"""Pieces of the serving benchmark: processes, load, models, profiling and the report."""
