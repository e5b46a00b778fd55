"""Registry operations against a real MLflow server."""

from __future__ import annotations

import pytest

from modelyard.errors import ModelNotFoundError, RegistryError, RegistryUnavailableError
from modelyard.registry import CHALLENGER, CHAMPION, Registry, VersionInfo
from support import TrainedRegistry, free_port

pytestmark = pytest.mark.integration


def test_versions_aliases_and_metrics(isolated_registry: TrainedRegistry) -> None:
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)
    versions = registry.versions()
    assert [v.version for v in versions] == ["2", "1"]
    assert registry.aliases()[CHAMPION] == "2"
    assert registry.aliases()[CHALLENGER] == "2"
    champion = registry.resolve(CHAMPION)
    assert champion.version == "2" and CHAMPION in champion.aliases
    assert 0.5 < champion.metrics["accuracy"] <= 1.0
    assert registry.resolve("1").run_id != champion.run_id


def test_promote_and_rollback_move_the_champion(isolated_registry: TrainedRegistry) -> None:
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)
    promoted = registry.promote("1")
    assert promoted.version == "1" and promoted.promoted_at is not None
    assert registry.aliases()[CHAMPION] == "1"
    back = registry.rollback()
    assert back.version == "2"
    assert registry.aliases()[CHAMPION] == "2"


def test_rollback_without_history_is_refused(isolated_registry: TrainedRegistry) -> None:
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)
    assert registry.history() == ["1"]  # version 1 was champion before version 2
    registry.rollback()
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback()


def test_unknown_references(isolated_registry: TrainedRegistry) -> None:
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)
    with pytest.raises(ModelNotFoundError):
        registry.resolve("42")
    with pytest.raises(ModelNotFoundError):
        registry.resolve("no-such-alias")
    with pytest.raises(ModelNotFoundError):
        registry.promote("42")
    assert Registry(isolated_registry.tracking_uri, "never-registered").versions() == []


def test_unreachable_server_is_reported() -> None:
    registry = Registry(f"http://127.0.0.1:{free_port()}", "iris")
    with pytest.raises(RegistryUnavailableError):
        registry.resolve(CHAMPION)


def test_rest_resolution_matches_the_mlflow_client(isolated_registry: TrainedRegistry) -> None:
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)
    for ref in (CHAMPION, "1", "2"):
        over_rest = registry.resolve(ref)
        client_mv = (
            registry.client.get_model_version(registry.name, ref)
            if ref.isdigit()
            else registry.client.get_model_version_by_alias(registry.name, ref)
        )
        from_client = VersionInfo.from_mlflow(client_mv)
        assert over_rest == from_client
        assert over_rest.tags and over_rest.run_id


def test_models_with_a_champion_over_rest_and_the_client(
    isolated_registry: TrainedRegistry,
) -> None:
    registry = Registry(isolated_registry.tracking_uri, isolated_registry.model_name)
    names = registry.names_with_alias(CHAMPION)
    assert isolated_registry.model_name in names
    found = registry.client.search_registered_models(max_results=1000)
    assert names == sorted(rm.name for rm in found if CHAMPION in (rm.aliases or {}))
    assert registry.names_with_alias("no-such-alias") == []
