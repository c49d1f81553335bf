"""The paper's reported numbers (Tables 1-4), copied from the paper text, marked as reported.

None = "-" in the paper (LPIPS of a deterministic model: all scores were zero). These values are
never computed here; the tables show them beside ours, labelled "paper".
"""

from __future__ import annotations

SOURCE = "Image Generation using Continuous Filter Atoms (paper text, as reported)"

# Table 1: image-conditional generation (pix2pix sets), LPIPS up, FID down.
TABLE1 = {
    "facades": {"bicyclegan": {"lpips": 0.1413, "fid": 98.85}, "msgan": {"lpips": 0.1894, "fid": 92.84},
                "basisgan": {"lpips": 0.2648, "fid": 88.70}, "ours": {"lpips": 0.2712, "fid": 87.75}},
    "maps": {"bicyclegan": {"lpips": 0.1150, "fid": 145.78}, "msgan": {"lpips": 0.2189, "fid": 152.43},
             "basisgan": {"lpips": 0.2417, "fid": 35.54}, "ours": {"lpips": 0.1803, "fid": 98.72}},
    "night2day": {"bicyclegan": {"lpips": 0.103, "fid": 120.63}, "msgan": {"lpips": 0.176, "fid": 107.90},
                  "basisgan": {"lpips": 0.184, "fid": 102.56}, "ours": {"lpips": 0.264, "fid": 106.95}},
    "edges2shoes": {"bicyclegan": {"lpips": 0.139, "fid": 72.49}, "msgan": {"lpips": 0.167, "fid": 60.28},
                    "basisgan": {"lpips": 0.242, "fid": 64.17}, "ours": {"lpips": 0.237, "fid": 57.29}},
    "edges2handbags": {"bicyclegan": {"lpips": 0.184, "fid": 96.28}, "msgan": {"lpips": 0.228, "fid": 89.96},
                       "basisgan": {"lpips": 0.350, "fid": 88.76}, "ours": {"lpips": 0.276, "fid": 38.07}},
}

# Table 2: paired rotation sets, Pix2Pix vs Pix2Pix + atoms ("ours").
TABLE2 = {
    "RC-49": {"pix2pix": {"lpips": None, "fid": 251.49}, "pix2pix-cfa": {"lpips": 0.1127, "fid": 195.01}},
    "RCA-20": {"pix2pix": {"lpips": None, "fid": 218.88}, "pix2pix-cfa": {"lpips": 0.0931, "fid": 85.06}},
    "RA-20": {"pix2pix": {"lpips": None, "fid": 165.01}, "pix2pix-cfa": {"lpips": 0.068, "fid": 73.82}},
    "RL-20": {"pix2pix": {"lpips": None, "fid": 227.04}, "pix2pix-cfa": {"lpips": 0.1089, "fid": 124.83}},
    "RT-20": {"pix2pix": {"lpips": None, "fid": 206.49}, "pix2pix-cfa": {"lpips": 0.1213, "fid": 70.92}},
}

# Table 3: unpaired sets, CycleGAN vs CycleGAN + atoms.
TABLE3 = {
    "Cell-200": {"cyclegan": {"lpips": None, "fid": 30.44}, "cyclegan-cfa": {"lpips": 0.1355, "fid": 22.22}},
    "SteeringAngle": {"cyclegan": {"lpips": None, "fid": 73.03},
                      "cyclegan-cfa": {"lpips": 0.0544, "fid": 52.39}},
    "UTKFace": {"cyclegan": {"lpips": None, "fid": 47.24}, "cyclegan-cfa": {"lpips": 0.0052, "fid": 41.55}},
    "CACD2000": {"cyclegan": {"lpips": None, "fid": 58.43}, "cyclegan-cfa": {"lpips": 0.0018, "fid": 57.15}},
}

# Table 4: label-conditional generation on UTKFace (CcGAN protocol).
TABLE4 = {
    "UTKFace": {
        "cgan": {"intra_fid": 4.516, "niqe": 2.315, "diversity": 0.254, "label_score": 11.087},
        "ccgan": {"intra_fid": 0.425, "niqe": 1.725, "diversity": 1.298, "label_score": 7.452},
        "cgan-cfa": {"intra_fid": 0.432, "niqe": 1.749, "diversity": 1.321, "label_score": 7.399},
    },
}

TABLES = {1: TABLE1, 2: TABLE2, 3: TABLE3, 4: TABLE4}


def paper_value(table: int, dataset: str, method: str, metric: str):
    """The reported number, or None when the paper shows '-' or has no such cell."""
    return TABLES[table].get(dataset, {}).get(method, {}).get(metric)
