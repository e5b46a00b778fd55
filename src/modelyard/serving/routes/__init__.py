"""One module of routes per protocol; each exposes ``register(app)``."""
