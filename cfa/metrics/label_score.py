"""Label Score (CcGAN, Table 4; ours in Tables 2 and 3): the mean |predicted - asked-for| label of the
generated images, in label units (degrees, years, cells), predicted by a regressor trained on the
dataset's real images (CcGAN's cal_labelscore). The regressor's own error on the real test images is
the floor a generator's score is read against: it is recorded beside the score.
"""

from __future__ import annotations

from cfa.metrics.base import Metric, MetricResult
from cfa.metrics.ccgan_protocol import label_score
from cfa.metrics.evalnets import predict_labels


class LabelScore(Metric):
    name = "label_score"
    evalnets = ("regressor",)

    def compute(self, context) -> MetricResult:
        regressor, meta = context.evalnet("regressor")
        fakes, assigned = context.testset.labelled_fakes(context.generate)
        predicted = predict_labels(regressor, meta, fakes, batch_size=context.batch_size,
                                   progress=context.progress)
        score = label_score(predicted, assigned)
        floor = meta["test_metric"]["value"]
        detail = {**score, "unit": meta.get("label_unit"), "floor": floor,
                  "floor_definition": "the regressor's mean |error| on the real test images"}
        return MetricResult(values={"label_score": score["mean"], "label_score_floor": floor}, detail=detail,
                            counts={"label_score": score["n"]})
