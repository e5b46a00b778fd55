"""modelyard's exception hierarchy, caught only at the boundaries.

The CLI turns these into a message and a non-zero exit code; the HTTP services turn them
into a 4xx/503 JSON body. Library code raises them and never formats them for people.
"""

from __future__ import annotations

from collections.abc import Sequence


class ModelyardError(Exception):
    """Base class of every error modelyard raises on purpose."""


class ConfigError(ModelyardError):
    """A setting or parameter has a value that cannot work."""


class SettingsError(ConfigError):
    """An environment variable (or ``.env`` entry) of the settings does not parse."""


class MissingExtraError(ModelyardError):
    """A command needs an optional extra that this installation lacks."""


class RegistryError(ModelyardError):
    """The model registry answered with an error."""


class RegistryUnavailableError(RegistryError):
    """The MLflow tracking server cannot be reached."""


class RegistryAuthError(RegistryError):
    """The MLflow tracking server refused the login (401) or the user's permission (403).

    Unlike an outage, waiting does not mend it: the message names the settings to fix.
    """


class ModelNotFoundError(RegistryError):
    """No registered model, version or alias matches the reference."""

    def __init__(self, name: str, ref: str, detail: str | None = None) -> None:
        self.name = name
        self.ref = ref
        message = f"model {name!r} has no version or alias {ref!r}"
        super().__init__(f"{message}: {detail}" if detail else message)


class UnknownModelError(ModelyardError):
    """A request names a model this server does not serve."""

    field = "name"

    def __init__(self, name: str, served: Sequence[str]) -> None:
        self.name = name
        self.served = tuple(served)
        listed = ", ".join(map(repr, self.served))
        super().__init__(f"unknown model {name!r}; this server serves {listed}")


class ModelNotReadyError(ModelyardError):
    """The model a binding names is not loaded yet (or failed to load so far)."""

    field = "version"

    def __init__(self, name: str, ref: str, detail: str | None = None) -> None:
        self.name = name
        self.ref = ref
        suffix = f": {detail}" if detail else ""
        super().__init__(f"model {name}@{ref} is not loaded yet{suffix}")


class TooManyModelsError(ModelyardError):
    """Loading one more model reference would pass the limit of one process."""

    field = "version"

    def __init__(self, count: int) -> None:
        self.count = count
        super().__init__(f"this server already holds {count} model references")


class ModelLoadError(ModelyardError):
    """A registered model version could not be loaded or warmed up."""


class FeatureError(ModelyardError, ValueError):
    """An input row does not match the model's feature schema.

    ``field`` names the offending feature (or None for the row as a whole) and ``row`` its
    index in a batch, so that a client can be told exactly what to fix.
    """

    def __init__(self, reason: str, field: str | None = None, row: int | None = None) -> None:
        self.reason = reason
        self.field = field
        self.row = row
        where = f"field {field!r}" if field else "input"
        if row is not None:
            where = f"row {row}, {where}"
        super().__init__(f"{where}: {reason}")


class EmptyBatchError(FeatureError):
    """A batch with no rows."""


class BatchTooLargeError(FeatureError):
    """More rows in one batch than the limit allows."""

    def __init__(self, count: int, limit: int, field: str) -> None:
        super().__init__(f"{count} rows is over the limit of {limit} rows per request", field)
        self.count = count
        self.limit = limit


class SchemaOutOfDateError(ModelyardError):
    """The predictions database is not at the newest migration."""


class DatabaseUnavailableError(ModelyardError):
    """The predictions database cannot be reached (or stays locked)."""
