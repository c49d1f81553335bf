"""Intra-FID (CcGAN, Table 4): sliding windows over the label, per window the FID between real and
generated images whose labels fall in [centre - R, centre + R], on the autoencoder's bottleneck
features; averaged over centres R+1 ... max-R (`evaluate.intra_fid.radius`, CcGAN's FID_radius).

`evaluate.intra_fid.ccgan_feature_batch: 500` reproduces CcGAN's cal_FID exactly, which leaves the
features of the rows past the last whole batch of min(500, n_real, n_fake) at zero (see
cfa/metrics/ccgan_protocol.py); null computes the FID of all features. The setting is recorded.
"""

from __future__ import annotations

import numpy as np

from cfa.metrics.base import Metric, MetricResult
from cfa.metrics.ccgan_protocol import sliding_window_fid
from cfa.metrics.evalnets import ae_features


class IntraFID(Metric):
    name = "intra_fid"
    evalnets = ("autoencoder",)

    def compute(self, context) -> MetricResult:
        cfg = context.settings["intra_fid"]
        autoencoder, _ = context.evalnet("autoencoder")
        real = context.testset.real_images("train")
        fakes, assigned = context.testset.labelled_fakes(context.generate)
        f_real = ae_features(autoencoder, real.images, batch_size=context.batch_size, progress=context.progress)
        f_fake = ae_features(autoencoder, fakes, batch_size=context.batch_size, progress=context.progress)
        result = sliding_window_fid(f_real, real.labels, f_fake, assigned, radius=float(cfg["radius"]),
                                    ccgan_feature_batch=cfg.get("ccgan_feature_batch"),
                                    rng=np.random.default_rng(context.seed))
        detail = {**result, "ccgan_feature_batch": cfg.get("ccgan_feature_batch"),
                  "real_split": "train", "unit": real.label_unit}
        return MetricResult(values={"intra_fid": result["mean"]}, detail=detail,
                            counts={"intra_fid_windows": len(result["centres"])})
