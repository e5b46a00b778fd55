"""Kedro's project settings for the modelyard project (not modelyard's configuration).

modelyard itself is configured through :mod:`modelyard.config`; this module only tells
Kedro where the pipeline configuration lives and which hooks to run.
"""

from kedro.config import OmegaConfigLoader

from modelyard.training.hooks import TrainingHooks

HOOKS = (TrainingHooks(),)

# Kedro's telemetry plugin is never asked; runs do not phone home.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-telemetry",)

CONF_SOURCE = "conf"
CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
