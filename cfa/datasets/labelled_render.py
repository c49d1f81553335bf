"""A rendered set read as a label-only dataset (kind `labelled`, Table 4): CcGAN's RC-49 protocol.

A `datasets:` entry rendered from meshes (sources procedural / shapenet / folder) with
`kind: labelled` is the rotation renderer's file plus attributes that tell the labelled reader
where everything is: label = yaw angle (divided by 90 deg), diversity attribute = object type,
the split codes of a rendered file, and `label_range` = the integer angles below 90 deg the test
protocol evaluates at. `cfa.datasets.makers.render_from_params` writes them.
"""

from __future__ import annotations

import math

from cfa.errors import UserError

# A rendered file's `split` codes (cfa.render: 0 train, 1 test, 2 unused = angle >= 90 deg).
RENDER_SPLIT_CODES = {"train": 0, "test": 1, "unused": 2}
# Angles are divided by 90 deg (the authors' t = angle / 90; CcGAN RC-49's max_label = 90).
ANGLE_SCALE = 90.0


def labelled_render_attrs(name: str, spec: dict) -> dict:
    """The extra HDF5 attributes of a rendered set of `spec["kind"]` ({} for a rotation set)."""
    kind = spec.get("kind", "rotation")
    if kind == "rotation":
        return {}
    if kind != "labelled":
        raise UserError(f"datasets.{name}: a rendered set is read as kind rotation or labelled, not {kind!r}")
    from cfa.render.renderer import parse_angles

    below = [float(a) for a in parse_angles(spec["angles"]) if a < 90]
    if not below:
        raise UserError(f"datasets.{name}.angles = {spec['angles']!r}: no angle below 90 deg; a labelled "
                        f"rendered set uses the angles below 90 (e.g. 0:90:1)")
    lo, hi = math.ceil(min(below)), math.floor(max(below))
    if hi < lo:
        raise UserError(f"datasets.{name}.angles = {spec['angles']!r}: no integer angle within "
                        f"[{min(below)}, {max(below)}]; the test protocol samples at integer labels")
    return {"kind": "labelled", "image_key": "images", "label_key": "labels", "attribute_key": "types",
            "attribute_names_key": "object_ids", "attribute_name": "object type", "label_unit": "deg",
            "label_scale": ANGLE_SCALE, "label_range": [lo, hi], "split_codes": RENDER_SPLIT_CODES}


__all__ = ["labelled_render_attrs", "RENDER_SPLIT_CODES", "ANGLE_SCALE"]
