"""Table 2: paired continuous image-to-image translation on the rotation sets (Pix2Pix vs ours).

The layout (metric rows, dataset column groups, one column pair per model) and the paper's values;
which datasets, models and metrics it shows comes from params.yaml `tables.table2`. `pix2pix` is the
paper's label-free baseline (its LPIPS is "-" in the paper; our column shows the measured 0);
`pix2pix-label` (t as an input channel) appears as an extra row, marked as not in the paper.
"""

from cfa.tables import paper_values
from cfa.tables.spec import Block, MetricRow, value

NUMBER = 2
PAPER_FIGURES = "Figures 2, 3 and 5"   # made from this table's runs (`cfa sample`, `cfa evaluate --figure`)
TITLE = "Paired continuous image-to-image translation on the rotation sets (Pix2Pix vs ours)"
KIND = "rotation"
MODEL_LABELS = {"pix2pix": "Pix2Pix", "pix2pix-label": "Pix2Pix+t (t as an input channel, not in the paper)",
                "pix2pix-cfa": "Ours"}
PAPER = paper_values.TABLE2
PAPER_SOURCES = ("shapenet", "ccgan-h5")
PAPER_DATA = "ShapeNet renders"

BLOCKS = (
    Block("Paper metrics", (
        MetricRow("lpips", "LPIPS ↑", r"LPIPS $\uparrow$", value("values", "lpips_diversity"),
                  metric="lpips_diversity", better="up", digits=4, zero_as_dash=True),
        MetricRow("fid", "FID ↓", r"FID $\downarrow$", value("values", "fid"), metric="fid", digits=2),
    )),
    Block("Unseen-angle interpolation (ours, not in the paper)", (
        MetricRow("interp_lpips_unseen", "Interp. LPIPS at unseen angle ↓",
                  r"Interp.\ LPIPS unseen $\downarrow$", value("values", "interp_lpips_unseen"),
                  metric="interpolation", digits=4),
        MetricRow("interp_lpips_nearest_seen", "Interp. LPIPS, nearest seen angle ↓",
                  r"Interp.\ LPIPS nearest seen $\downarrow$", value("values", "interp_lpips_nearest_seen"),
                  metric="interpolation", digits=4),
        MetricRow("interp_mae_unseen", "Interp. MAE at unseen angle ↓",
                  r"Interp.\ MAE unseen $\downarrow$", value("values", "interp_mae_unseen"),
                  metric="interpolation", digits=4),
        MetricRow("interp_mae_nearest_seen", "Interp. MAE, nearest seen angle ↓",
                  r"Interp.\ MAE nearest seen $\downarrow$", value("values", "interp_mae_nearest_seen"),
                  metric="interpolation", digits=4),
    ), has_paper=False),
    Block("Evaluation networks trained on each set's real images (ours, not in the paper)", (
        MetricRow("label_score", "Angle error of outputs, deg ↓", r"Angle error (deg) $\downarrow$",
                  value("values", "label_score"), metric="label_score", digits=2),
        MetricRow("label_score_floor", "Angle error of real images (floor)",
                  r"Regressor error on real images (deg, floor)", value("values", "label_score_floor"),
                  metric="label_score", digits=2),
        MetricRow("ae_fid", "AE-FID ↓", r"AE-FID $\downarrow$", value("values", "ae_fid"), metric="ae_fid",
                  digits=3),
    ), has_paper=False),
)


def sample_sweep(params: dict) -> str:
    """Figure 5's sweep for `cfa sample`: 0.1 to 89.9 deg at evaluate.figure_step_deg."""
    return f"0.1:90:{params['evaluate']['figure_step_deg']}"
