"""Table 4: label-only generation (Eq. 7) on UTKFace ages, CcGAN's protocol; Figure 7.

Rows (methods): cGAN (CcGAN's K-class baseline, `cgan`), CcGAN (not trained here: the paper's
values, marked reported; both from the CcGAN paper as the paper reports them) and ours
(`cgan-cfa`). Metric rows: the CcGAN metrics (Intra-FID, NIQE, Diversity, Label Score; registered
by the CcGAN metrics module) and the plain metrics every label-only set supports today (FID, LPIPS
diversity). Which rows show is params.yaml `tables.table4.metrics`.
"""

from cfa.tables import paper_values
from cfa.tables.spec import Block, MetricRow, value

NUMBER = 4
PAPER_FIGURES = "Figure 7"   # made from this table's runs (`cfa sample`, `cfa evaluate --figure`)
TITLE = "Label-only generation on UTKFace ages (Eq. 7; CcGAN protocol): cGAN, CcGAN and ours"
KIND = "labelled"
LAYOUT = "methods_as_rows"   # the paper's Table 4: one row per method, one column per metric
MODEL_LABELS = {"cgan": "cGAN", "ccgan": "CcGAN", "cgan-cfa": "Ours"}
# CcGAN's vicinal training is CcGAN's method, not ours to re-train: its row is the paper's numbers.
REPORTED = {"ccgan": "CcGAN (reported)"}
PAPER_ORDER = ("cgan", "ccgan", "cgan-cfa")
# The paper's numbers are UTKFace's (ages 1..60), our dataset entry UTKFace-ages.
PAPER = {"UTKFace-ages": paper_values.TABLE4["UTKFace"]}
PAPER_SOURCES = ("utkface",)
PAPER_DATA = "UTKFace (ages 1-60, 64x64)"

# The labels of Figure 7's sweep (`cfa sample --t range:N`): N evenly spaced labels over the
# dataset's range, every age for UTKFace's 1..60.
FIGURE_LABELS = 60

SAMPLING = ("fakes: evaluate.fakes_per_label images (CcGAN: 1000) at every integer label of the dataset's "
            "range (UTKFace ages 1..60), compared with every real image of that range")

BLOCKS = (
    Block("Paper metrics (CcGAN protocol)", (
        MetricRow("intra_fid", "Intra-FID ↓", r"Intra-FID $\downarrow$", value("values", "intra_fid"),
                  metric="intra_fid", digits=3,
                  protocol="CcGAN's sliding-window FID: for every integer centre c from min+R to max-R, the FID "
                           "between the real and the generated images with label in [c-R, c+R], R = "
                           "evaluate.intra_fid.radius (5: CcGAN's opts.py default; CcGAN-improved's UTKFace script "
                           "runs R = 0, one window per age), on the 512-d bottleneck of an autoencoder trained on "
                           "the real images, averaged over centres, computed as CcGAN's cal_FID does "
                           "(evaluate.intra_fid.ccgan_feature_batch); " + SAMPLING),
        MetricRow("niqe", "NIQE ↓", r"NIQE $\downarrow$", value("values", "niqe"), metric="niqe", digits=3,
                  protocol="CcGAN's intra-NIQE: per label, NIQE of the fakes under a model fitted (fitniqe, 8x8 "
                           "blocks, sharpness threshold 0.1) on that label's real images, averaged over labels; "
                           + SAMPLING),
        MetricRow("diversity", "Diversity ↑", r"Diversity $\uparrow$", value("values", "diversity"),
                  metric="diversity", better="up", digits=3,
                  protocol="CcGAN's diversity: per window (as Intra-FID), the entropy of the attribute a "
                           "classifier trained on the real images predicts for the fakes (UTKFace: 5 races; "
                           "rendered sets: object type), averaged over windows; " + SAMPLING),
        MetricRow("label_score", "Label Score ↓", r"Label Score $\downarrow$", value("values", "label_score"),
                  metric="label_score", digits=3,
                  protocol="CcGAN's label score: mean |predicted - assigned| label over all fakes, predicted by a "
                           "regressor trained on the real images, in label units (years); " + SAMPLING),
    )),
    Block("Plain metrics (not in the paper's Table 4)", (
        MetricRow("ae_fid", "AE-FID ↓", r"AE-FID $\downarrow$", value("values", "ae_fid"), metric="ae_fid", digits=3,
                  protocol="FID of the fakes against the real images of the range on the autoencoder's bottleneck "
                           "(ours: no download needed); " + SAMPLING),
        MetricRow("fid", "FID ↓", r"FID $\downarrow$", value("values", "fid"), metric="fid", digits=2,
                  protocol="FID (Inception pool3) of the fakes against the real images of the range, each a "
                           "seeded subset of evaluate.fid_max_images when larger; " + SAMPLING),
        MetricRow("lpips", "LPIPS diversity ↑", r"LPIPS $\uparrow$", value("values", "lpips_diversity"),
                  metric="lpips_diversity", better="up", digits=4,
                  protocol="mean LPIPS (AlexNet) between two fakes of the same label (two z), "
                           "evaluate.lpips_pairs pairs at each of evaluate.lpips_inputs labels drawn at random"),
    ), has_paper=False),
)


def sample_sweep(params: dict) -> str:
    """Figure 7's sweep for `cfa sample`: every age 1..60 for UTKFace; 60 angles over 0..89 deg for
    the built-in set (the run's dataset records its range)."""
    return f"range:{FIGURE_LABELS}"
