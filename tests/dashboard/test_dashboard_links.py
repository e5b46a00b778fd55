"""Links the dashboard shows to people point at addresses a browser can open."""

from __future__ import annotations

from pathlib import Path

from modelyard.config import Settings
from modelyard.dashboard import ids
from modelyard.dashboard.layout import build_layout


def _viz_link(settings: Settings) -> str:
    for component in build_layout(settings)._traverse():
        if getattr(component, "id", None) == ids.PIPELINE_LINK:
            return str(component.href)
    raise AssertionError("no Kedro-Viz link in the layout")


def test_kedro_viz_link_defaults_to_the_local_address(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path, viz_port=4242)  # type: ignore[call-arg]
    assert _viz_link(settings) == "http://127.0.0.1:4242"


def test_kedro_viz_link_takes_the_public_url_not_the_internal_one(tmp_path: Path) -> None:
    # as in compose: the dashboard's server reaches viz:4141, a browser the published port
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=tmp_path,
        viz_url="http://viz:4141",
        viz_public_url="http://127.0.0.1:14141/",
    )
    assert settings.viz_base_url == "http://viz:4141"
    assert _viz_link(settings) == "http://127.0.0.1:14141"


def test_kedro_viz_link_follows_the_viz_url_without_a_public_one(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, home=tmp_path, viz_url="http://viz.example.com:8080/"
    )
    assert _viz_link(settings) == "http://viz.example.com:8080"
