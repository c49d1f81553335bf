"""AE-FID (ours, every table): the FID of generated against real test images in the 512-d bottleneck
of CcGAN's autoencoder trained on the dataset's own real images.

Unlike Inception FID it needs no download, so it means something offline: the feature space was
learned from this data. Computed on the same image pairs as `fid` (all test images, or the seeded
subset of evaluate.fid_max_images), the Frechet distance of all features (no batch truncation).
"""

from __future__ import annotations

from cfa.metrics.base import Metric, MetricResult
from cfa.metrics.evalnets import ae_features
from cfa.metrics.fid import fid_from_features


class AEFID(Metric):
    name = "ae_fid"
    evalnets = ("autoencoder",)

    def compute(self, context) -> MetricResult:
        ts = context.testset
        autoencoder, meta = context.evalnet("autoencoder")
        real, _ = ts.fid_reference()
        fake = ts.fid_fakes(context.generate)
        features = [ae_features(autoencoder, x, batch_size=context.batch_size, progress=context.progress)
                    for x in (real, fake)]
        value = fid_from_features(features[0], features[1])
        detail = {"value": value, "images_real": len(real), "images_fake": len(fake),
                  "features": f"{features[0].shape[1]}-d autoencoder bottleneck",
                  "autoencoder_test_mse": meta["test_metric"]["value"]}
        return MetricResult(values={"ae_fid": value}, detail=detail)
