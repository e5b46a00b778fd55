"""The web dashboard: live predictions, quality, drift, models, services and the pipeline.

``create_app(settings)`` in :mod:`modelyard.dashboard.app` builds the Dash app;
``modelyard ui`` serves it and ``modelyard viz`` runs Kedro-Viz next to it.
"""
