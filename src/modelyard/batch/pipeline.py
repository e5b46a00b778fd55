"""The ``inference`` pipeline: only wiring; the work is in :mod:`modelyard.batch.nodes`.

``kedro run --pipeline inference --params inference.input=data.csv,inference.output=out.csv``
scores a file; the parameters are in ``conf/base/parameters_inference.yml``. ``tracking``
comes from the project's hook, as for training.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from modelyard.batch import nodes


def create_pipeline() -> Pipeline:
    return pipeline(
        [
            node(nodes.load_model, "params:inference", "batch_model", name="load_model"),
            node(nodes.plan_run, ["batch_model", "params:inference"], "batch_plan", name="plan"),
            node(nodes.score, ["batch_model", "batch_plan"], "batch_summary", name="score"),
            node(
                nodes.record_run,
                ["tracking", "batch_summary", "params:inference.experiment"],
                "batch_run",
                name="record",
            ),
        ]
    )
