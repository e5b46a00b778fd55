"""The closed loop's triggers and records.

A retraining is asked for by hand (``modelyard retrain``, ``POST /admin/retrain``, the
dashboard's button), on a schedule, or by an alert (``POST /admin/alerts``, Alertmanager's
webhook). The API and the dashboard leave the request in the registry
(:mod:`~modelyard.loop.requests`), which every service reaches; the worker, which has the
database and the training stack, runs it (:mod:`~modelyard.loop.retrainer`) and records
every trigger, skipped ones included, with its outcome (:mod:`~modelyard.loop.records`),
beside every promotion and rollback and its evidence.
"""
