"""Diversity (CcGAN, Table 4): per sliding window over the label, the entropy (nats) of the classes a
classifier trained on the real images predicts for the generated images (race for UTKFace, object
type for rotation sets: CcGAN's compute_entropy / predict_class_labels), averaged over centres."""

from __future__ import annotations

from cfa.metrics.base import Metric, MetricResult
from cfa.metrics.ccgan_protocol import sliding_window_diversity
from cfa.metrics.evalnets import predict_classes


class Diversity(Metric):
    name = "diversity"
    evalnets = ("classifier",)

    def compute(self, context) -> MetricResult:
        classifier, meta = context.evalnet("classifier")
        real = context.testset.real_images("train")
        fakes, assigned = context.testset.labelled_fakes(context.generate)
        classes = predict_classes(classifier, fakes, batch_size=context.batch_size, progress=context.progress)
        result = sliding_window_diversity(classes, assigned, radius=float(context.settings["intra_fid"]["radius"]),
                                          max_label=float(real.labels.max()))
        detail = {**result, "classifier_test_accuracy": meta["test_metric"]["value"],
                  "classes": meta.get("class_names")}
        return MetricResult(values={"diversity": result["mean"]}, detail=detail)
