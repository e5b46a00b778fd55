"""The model a batch scores with: any reference the API takes, loaded as the API loads it.

``--model`` (the ``inference.model`` parameter) is ``[name@]ref`` as in
:mod:`modelyard.bindings`: a version, an alias, a ``models:/`` or ``runs:/`` URI, a run or
logged-model id, or a folder; without it, ``MODELYARD_MODEL_REF`` of
``MODELYARD_MODEL_NAME``. The version is loaded through the model cache in
``MODELYARD_HOME/models`` (:class:`~modelyard.inference.watcher.ModelSlots`), so a version
the API or the worker loaded on this machine loads again without MLflow.
"""

from __future__ import annotations

from modelyard.bindings import Binding, parse_binding
from modelyard.config import Settings
from modelyard.errors import ConfigError
from modelyard.inference.model import LoadedModel


def binding_for(settings: Settings, ref: str | None) -> Binding:
    """The model ``ref`` names (None: the settings' model); a ConfigError if malformed."""
    if ref is None or not ref.strip():
        return settings.model_binding
    try:
        return parse_binding(ref, settings.model_name)
    except ValueError as exc:
        raise ConfigError(f"--model: {exc}") from None


def load_batch_model(settings: Settings, ref: str | None) -> LoadedModel:
    """Resolve and load the model ``ref`` names (a ModelNotFoundError for an unknown one)."""
    from modelyard.inference.watcher import ModelSlots
    from modelyard.registry import Registry

    binding = binding_for(settings, ref)
    registry = Registry.from_settings(settings, binding.name)
    return ModelSlots(registry, settings.home / "models").slot(binding.ref).load()
