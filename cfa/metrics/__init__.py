"""Evaluation metrics: one module per metric, registered by name in `cfa.metrics.registry`.

A metric is a `Metric` subclass whose `compute(context)` returns a `MetricResult`. The context
(`cfa.metrics.suite.EvalContext`) gives it the model's `generate`, the dataset's test protocol
(`cfa.metrics.testsets`, one per dataset kind: which images are generated, which real images they
are compared with), lazily built backbones, the cached real-data statistics and the evaluation
networks trained on the dataset's real images (`cfa evalnet`). `tables.<t>.metrics`
in params.yaml names the metrics a table reports; `cfa evaluate --metrics` runs them.
"""
