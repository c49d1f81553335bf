"""Table 1: image-to-image translation conditioned on the image only (Eq. 6), BicycleGAN protocol.

Rows as in the paper: BicycleGAN and MSGAN (the paper's numbers only: no code of ours, marked
reported), BasisGAN (our run of our implementation, `basisgan`), ours (`pix2pix-cfa-image`), plus
plain deterministic Pix2Pix (`pix2pix-image`, not in the paper: LPIPS exactly 0). Columns: the five
pix2pix sets, LPIPS diversity (up) and FID (down) each, ours beside the paper's value. Which
datasets and models it shows comes from params.yaml `tables.table1`.
"""

from cfa.tables import paper_values
from cfa.tables.spec import Block, MetricRow, value

NUMBER = 1
PAPER_FIGURES = "Figure 4"   # made from this table's runs (`cfa sample`, `cfa evaluate --figure`)
TITLE = ("Image-to-image translation conditioned on the image only (Eq. 6): diversity (LPIPS, BicycleGAN "
         "protocol) and FID")
KIND = "paired-images"
LAYOUT = "methods_as_rows"
# Baselines without code of ours: the paper's numbers, marked as reported.
REPORTED = {"bicyclegan": "BicycleGAN (reported)", "msgan": "MSGAN (reported)"}
PAPER_ORDER = ("bicyclegan", "msgan", "basisgan", "pix2pix-cfa-image")
MODEL_LABELS = {"basisgan": "BasisGAN (our run of our implementation)", "pix2pix-cfa-image": "Ours",
                "pix2pix-image": "Pix2Pix, deterministic (not in the paper)"}
DATASET_LABELS = {"facades": "labels→facades", "maps": "map→satellite", "night2day": "night→day",
                  "edges2shoes": "edges→shoes", "edges2handbags": "edges→handbags",
                  "edges2objects": "lines→renders (built-in, not in the paper)"}
# The paper's rows keyed by our model keys: its "ours" is pix2pix-cfa-image.
_PAPER_KEYS = {"bicyclegan": "bicyclegan", "msgan": "msgan", "basisgan": "basisgan", "pix2pix-cfa-image": "ours"}
PAPER = {ds: {ours: rows[theirs] for ours, theirs in _PAPER_KEYS.items()}
         for ds, rows in paper_values.TABLE1.items()}
PAPER_SOURCES = ("pix2pix",)
PAPER_DATA = "the pix2pix sets"

BLOCKS = (
    Block("Paper metrics", (
        MetricRow("lpips", "LPIPS ↑", r"LPIPS $\uparrow$", value("values", "lpips_diversity"),
                  metric="lpips_diversity", better="up", digits=4),
        MetricRow("fid", "FID ↓", r"FID $\downarrow$", value("values", "fid"), metric="fid", digits=2),
    )),
)

# Figure 4's sweep for `cfa sample`: t over the training range U(0.2, 1.0) in steps of 0.1. For
# BasisGAN, which reads no t, each column is a fresh noise draw (seeded by `cfa sample --seed`).
SWEEP = "0.2:1.05:0.1"


def sample_sweep(params: dict) -> str:
    return SWEEP
