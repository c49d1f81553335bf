"""Table 3: unpaired continuous image-to-image translation conditioned on an image and a label
(CycleGAN vs CycleGAN with continuous atoms), with Figure 6's sweeps.

The paper's layout (metric rows, dataset column groups, one column per method) and its values;
which datasets, models and metrics it shows comes from params.yaml `tables.table3`. The paper's
CycleGAN has no label input (its LPIPS is "-": zero); `cyclegan-label` (the label as an input
channel) is our fairer baseline, a row not in the paper; Waymo (Figure 6 only, no numbers in the
paper) is a column not in the paper. The legend under the table says both.
"""

from cfa.tables import paper_values
from cfa.tables.spec import Block, MetricRow, value

NUMBER = 3
PAPER_FIGURES = "Figure 6"   # made from this table's runs (`cfa sample --t figure`, `cfa evaluate --figure`)
TITLE = "Unpaired continuous image-to-image translation conditioned on image and label (CycleGAN vs ours)"
KIND = "unpaired-with-label"
LAYOUT = "metrics_as_rows"   # the paper's Table 3: LPIPS and FID rows, datasets as column groups
MODEL_LABELS = {"cyclegan": "CycleGAN", "cyclegan-label": "CycleGAN+t (t as an input channel, not in the paper)",
                "cyclegan-cfa": "Ours"}
DATASET_LABELS = {"Waymo": "Waymo (dawn→day: Figure 6 only, not in the paper)"}
PAPER = paper_values.TABLE3
# The `source` attribute of the files the paper's numbers rest on: the downloads, and Waymo for
# Figure 6. Cell-200 is ours simulated ("simulated"), not CcGAN's file: called out in the caption.
PAPER_SOURCES = ("utkface", "cacd2000", "steering", "waymo")
PAPER_DATA = "the UTKFace, CACD2000 and SteeringAngle downloads and CcGAN's SIMCEP Cell-200"

BLOCKS = (
    Block("Paper metrics", (
        MetricRow("lpips", "LPIPS ↑", r"LPIPS $\uparrow$", value("values", "lpips_diversity"),
                  metric="lpips_diversity", better="up", digits=4, zero_as_dash=True),
        MetricRow("fid", "FID ↓", r"FID $\downarrow$", value("values", "fid"), metric="fid", digits=2),
    )),
)


def sample_sweep(params: dict) -> str:
    """Figure 6's sweep for `cfa sample`: each dataset records its own, in its label units
    (1 -> 200 cells, ages young -> old, -80 -> 80 deg, dawn -> day); `figure` selects it."""
    return "figure"
