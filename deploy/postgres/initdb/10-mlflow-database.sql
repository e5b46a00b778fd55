-- One PostgreSQL instance, two databases: POSTGRES_DB (default `modelyard`, the
-- predictions: observations, predictions, quality and drift) is created by the
-- entrypoint; this script adds MLflow's backend store, owned by the same user.
-- It runs once, on an empty data volume.
CREATE DATABASE mlflow;
