"""A batch request, checked against the model before any work: the plan of the run.

The input is a CSV or Parquet file (tabular models), a folder of images (image models), or
the predictions database's pending observations: ``database`` for ``MODELYARD_DATABASE_URL``,
or a database URL (``sqlite:///...``, ``postgresql://...``). Everything that can be wrong
before the first row (an unreadable input, columns that do not match the model's features,
an output that exists, a model of the other kind) is a ConfigError naming what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelyard.batch.layout import Layout, plan_layout
from modelyard.batch.tables import TableSource, open_table
from modelyard.batch.writers import check_targets, default_rejects
from modelyard.errors import ConfigError
from modelyard.inference.model import LoadedModel
from modelyard.inputs.image import ImageSpec
from modelyard.inputs.tabular import FeatureSchema

DATABASE = "database"
_DB_SCHEMES = ("sqlite:", "postgresql:", "postgres:", "postgresql+psycopg:")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
DEFAULT_TOP_K = 5


@dataclass(frozen=True)
class BatchRequest:
    """What to score and where to write it (the CLI's options, the pipeline's parameters)."""

    input: str
    output: Path | None = None
    rejects: Path | None = None
    keys: tuple[str, ...] | None = None  # None: every column that is not a feature
    chunk_rows: int = 50_000
    top_k: int = DEFAULT_TOP_K
    overwrite: bool = False


@dataclass(frozen=True)
class TablePlan:
    source: TableSource
    layout: Layout
    output: Path
    rejects: Path
    chunk_rows: int


@dataclass(frozen=True)
class ImagePlan:
    folder: Path
    files: tuple[Path, ...]
    output: Path
    rejects: Path
    top_k: int
    chunk_rows: int


@dataclass(frozen=True)
class DatabasePlan:
    url: str | None  # None: the settings' database
    chunk_rows: int


Plan = TablePlan | ImagePlan | DatabasePlan


def is_database(text: str) -> bool:
    return text == DATABASE or text.startswith(_DB_SCHEMES)


def check_request(request: BatchRequest) -> None:
    """What can be checked without the model: the options, the input's header, the outputs
    (a ConfigError naming the one to fix). :func:`plan_batch` runs it first; the CLI runs it
    before loading the model too, so a mistake costs no model download."""
    if request.chunk_rows < 1:
        raise ConfigError(f"chunk rows: must be at least 1, got {request.chunk_rows}")
    if request.top_k < 1:
        raise ConfigError(f"--top-k: must be at least 1, got {request.top_k}")
    if is_database(request.input):
        if request.output is not None:
            raise ConfigError(
                "--output: scoring the database writes the predictions table; omit --output"
            )
        return
    source = Path(request.input).expanduser()
    output, rejects = _targets(request)
    if not source.is_dir():
        open_table(source)
    check_targets(output, rejects, request.overwrite, (source,))


def _targets(request: BatchRequest) -> tuple[Path, Path]:
    """The output and the rejects file a file or folder input is scored into."""
    if request.output is None:
        raise ConfigError("--output: name the file to write (CSV or Parquet)")
    output = request.output.expanduser()
    return output, (request.rejects or default_rejects(output)).expanduser()


def plan_batch(model: LoadedModel, request: BatchRequest) -> Plan:
    """Check ``request`` against ``model`` and the file system; the plan, or a ConfigError."""
    check_request(request)
    if is_database(request.input):
        _tabular(model, "the database's observations")
        return DatabasePlan(
            None if request.input == DATABASE else request.input, request.chunk_rows
        )
    source = Path(request.input).expanduser()
    output, rejects = _targets(request)
    if source.is_dir():
        if not isinstance(model.schema, ImageSpec):
            raise ConfigError(
                f"input {source} is a folder, but model {model.name!r} takes rows of features: "
                "give it a CSV or Parquet file"
            )
        files = image_files(source)
        return ImagePlan(source, files, output, rejects, request.top_k, request.chunk_rows)
    schema = _tabular(model, f"input {source}")
    table = open_table(source)
    layout = plan_layout(table.columns, schema, model.classes, request.keys, f"input {source}")
    return TablePlan(table, layout, output, rejects, request.chunk_rows)


def _tabular(model: LoadedModel, what: str) -> FeatureSchema:
    schema = model.schema
    if not isinstance(schema, FeatureSchema):
        raise ConfigError(
            f"model {model.name!r} classifies images: give it a folder of images, not {what}"
        )
    return schema


def image_files(folder: Path) -> tuple[Path, ...]:
    """The images under ``folder`` (sub-folders too; hidden files left out), sorted."""
    try:
        found = sorted(
            p
            for p in folder.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
    except OSError as exc:
        raise ConfigError(f"input {folder}: cannot list it: {exc}") from exc
    if not found:
        raise ConfigError(f"input {folder} holds no images ({', '.join(IMAGE_SUFFIXES)} files)")
    return tuple(found)
