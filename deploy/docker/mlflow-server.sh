#!/bin/sh
# The MLflow image's entrypoint: `mlflow server` with the arguments given, behind MLflow's
# basic-auth app when MODELYARD_MLFLOW_AUTH is true (as `modelyard mlflow` does it):
#   MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD  the admin MLflow creates on its first
#       start against an empty user database (the password: 12 characters or more)
#   MODELYARD_MLFLOW_AUTH_DATABASE_URI  users and permissions (default: the backend store,
#       MLFLOW_BACKEND_STORE_URI, whose auth tables have names and a migration table of their
#       own; without one, SQLite beside the image's default store)
# The configuration goes to $TMPDIR (the container's private /tmp), readable by this user
# only; the password stays in the environment (MLFLOW_AUTH_ADMIN_PASSWORD), out of any file.
set -eu

case "$(printf '%s' "${MODELYARD_MLFLOW_AUTH:-false}" | tr '[:upper:]' '[:lower:]')" in
    1 | true | t | yes | y | on) ;;
    *) exec mlflow server "$@" ;;
esac

fail() {
    echo "error: $*" >&2
    exit 2
}
[ -n "${MLFLOW_TRACKING_USERNAME:-}" ] && [ -n "${MLFLOW_TRACKING_PASSWORD:-}" ] ||
    fail "MODELYARD_MLFLOW_AUTH is on: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (the login of MLflow's admin)"
[ "${#MLFLOW_TRACKING_PASSWORD}" -ge 12 ] ||
    fail "MLFLOW_TRACKING_PASSWORD: MLflow's admin password needs at least 12 characters"
case "$MLFLOW_TRACKING_USERNAME" in
    *:* | *'
'*) fail "MLFLOW_TRACKING_USERNAME: no colon or line break in a user name" ;;
esac
database="${MODELYARD_MLFLOW_AUTH_DATABASE_URI:-${MLFLOW_BACKEND_STORE_URI:-sqlite:////var/lib/mlflow/mlflow-auth.db}}"

umask 077
config="${TMPDIR:-/tmp}/mlflow-auth.ini"
# configparser reads the file with interpolation: a % (in a database password) is doubled
{
    echo "[mlflow]"
    echo "default_permission = READ"
    printf 'database_uri = %s\n' "$database" | sed 's/%/%%/g'
    printf 'admin_username = %s\n' "$MLFLOW_TRACKING_USERNAME" | sed 's/%/%%/g'
    echo "authorization_function = mlflow.server.auth:authenticate_request_basic_auth"
} >"$config"

export MLFLOW_AUTH_CONFIG_PATH="$config"
export MLFLOW_AUTH_ADMIN_USERNAME="$MLFLOW_TRACKING_USERNAME"
export MLFLOW_AUTH_ADMIN_PASSWORD="$MLFLOW_TRACKING_PASSWORD"
# signs the CSRF token of the sign-up form only: a new key per start will do
if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
    MLFLOW_FLASK_SERVER_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    export MLFLOW_FLASK_SERVER_SECRET_KEY
fi
exec mlflow server --app-name basic-auth "$@"
