"""Loading registered models and keeping the served version current (shared by API and worker)."""
