"""Render rotation sets: each object turns about its vertical (+Y) axis under a fixed camera.

One `RotationRenderer` (one EGL context, one pyrender Scene) renders every frame of a process: the
camera and lights stay put and only the object node's pose changes from frame to frame. Objects
are rendered by worker processes (one renderer each; split by object) and the parent streams the
frames into the HDF5 file, so the set never sits in memory. The file is written atomically.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import queue
import time
import traceback
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import cfa.render.headless  # noqa: F401  (must precede pyrender)
import numpy as np
import trimesh

from cfa.errors import UserError
from cfa.render.sources import ObjectSpec, Selection, resolve_category, select_objects

DEFAULT_ELEVATION_DEG = 20.0
YFOV_DEG = 40.0
FRAME_MARGIN = 1.08          # the unit sphere fills 1/1.08 of the view height
BLOCK = 64                   # frames per message from a worker to the parent
COMPRESSION_LEVEL = 4        # gzip level: measured as cheap next to rendering at these sizes


# ---------------------------------------------------------------------------------------------
# Angles and splits


def parse_angles(spec: str) -> list[Decimal]:
    """'START:STOP:STEP' in degrees, half-open like numpy.arange, computed exactly in decimal.

    '0:360:0.1' gives 3600 angles 0.0 ... 359.9 with no float drift.
    """
    try:
        start, stop, step = (Decimal(x.strip()) for x in spec.split(":"))
    except (ValueError, InvalidOperation):
        raise UserError(f"--angles {spec!r}: expected START:STOP:STEP in degrees, e.g. 0:360:0.1") from None
    if not all(x.is_finite() for x in (start, stop, step)) or step <= 0 or stop <= start:
        raise UserError(f"--angles {spec!r}: need STEP > 0 and STOP > START (half-open, like numpy.arange)")
    count = math.ceil((stop - start) / step)
    return [start + i * step for i in range(count)]


def split_codes(angles: list[Decimal], rule: str) -> np.ndarray:
    """Per-angle split: 0 train, 1 test, 2 unused (angle >= 90), as docs/DESIGN.md defines."""
    codes = np.full(len(angles), 2, dtype=np.uint8)
    if rule == "parity":
        for i, a in enumerate(angles):
            tenths = a * 10
            if tenths != tenths.to_integral_value():
                raise UserError(f"--split parity needs angles on a 0.1 deg grid (got {a}); use --split grid:STEP")
            if a < 90:
                codes[i] = 0 if int(tenths) % 2 == 1 else 1
        return codes
    if rule.startswith("grid:"):
        try:
            step = Decimal(rule[5:])
        except InvalidOperation:
            step = Decimal(0)
        if not step.is_finite() or step <= 0:
            raise UserError(f"--split {rule!r}: expected grid:STEP with STEP > 0 degrees, e.g. grid:5")
        for i, a in enumerate(angles):
            if a < 90:
                codes[i] = 0 if a % step == 0 else 1
        return codes
    raise UserError(f"--split {rule!r}: choose parity, grid:STEP (e.g. grid:5) or auto")


AUTO_SPLIT = "auto"


def _degrees(value: Decimal) -> str:
    """A Decimal of degrees as written in a split rule: 10, 0.2, 2.5 (never 1E+1)."""
    return str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")


def _split_summary(rule: str) -> str:
    return ("angle < 90 with an odd last decimal" if rule == "parity"
            else f"angle < 90 and a multiple of {rule[5:]} deg")


def default_split(angles: list[Decimal]) -> str:
    """The split rule `cfa render` uses when none is given: chosen from the angle grid.

    - `parity` (CcGAN's RC-49 rule) when every angle lies on the 0.1 deg grid and the angles below
      90 have both odd and even last decimals (0.1:90:0.1, 0:90:0.5, 0:90:2.5);
    - otherwise `grid:S` with S twice the angle step, when that leaves both train and test angles
      below 90 (0:90:5 -> grid:10: train 0, 10, ..., 80; test 5, 15, ..., 85).
    A grid for which neither works (e.g. 1:90:2, whose odd angles are no multiples of 4) is a
    UserError that names the fix, so a default render never yields a set with no training rows.
    """
    below = [a for a in angles if a < 90]
    if len(below) < 2:
        raise UserError(f"--angles gives {len(below)} angle(s) below 90 deg; a train/test split needs at least "
                        f"two (train on some, test on the others), e.g. --angles 0:90:5")
    if all(a * 10 == (a * 10).to_integral_value() for a in angles):
        if {int(a * 10) % 2 for a in below} == {0, 1}:
            return "parity"
    step = angles[1] - angles[0]
    rule = f"grid:{_degrees(2 * step)}"
    codes = split_codes(angles, rule)
    if (codes == 0).any() and (codes == 1).any():
        return rule
    raise UserError(f"cannot choose a default train/test split for angles {_degrees(angles[0])}, "
                    f"{_degrees(angles[1])}, ...: neither parity (odd last decimal = train) nor {rule} "
                    f"(multiples of {_degrees(2 * step)} deg = train) leaves both train and test angles below 90. "
                    f"Give --split grid:STEP where some of your angles are multiples of STEP and others are "
                    f"not (e.g. start the angles at 0: --angles 0:90:{_degrees(step)} with --split {rule})")


def resolve_split(angles: list[Decimal], rule: str, angles_spec: str) -> tuple[str, np.ndarray]:
    """(rule, per-angle codes) for `rule`, or for `default_split` when rule is "auto".

    A rule that leaves no train angle below 90 is a UserError here, at render time: a set without
    training rows makes `cfa train` fail later, far from the cause.
    """
    chosen = default_split(angles) if rule == AUTO_SPLIT else rule
    codes = split_codes(angles, chosen)
    if not (codes == 0).any():
        try:
            hint = f"--split {default_split(angles)}, what leaving --split out would choose"
        except UserError:
            hint = "--split grid:STEP with STEP such that some angles below 90 are multiples of STEP"
        raise UserError(f"--split {chosen} leaves no train angles in --angles {angles_spec} (train = "
                        f"{_split_summary(chosen)}), so `cfa train` could not use the set. Use {hint}")
    return chosen, codes


# ---------------------------------------------------------------------------------------------
# The renderer


class RotationRenderer:
    """A fixed camera and lights around the origin; `render(angle)` yaws the current object.

    Images are uint8 (3, S, S) on a white background. Faces are drawn double-sided (no culling,
    double-sided materials) so meshes with inconsistent winding show no holes.
    """

    def __init__(self, size: int, elevation_deg: float = DEFAULT_ELEVATION_DEG):
        import pyrender

        self._pyrender = pyrender
        self.size = int(size)
        self.elevation_deg = float(elevation_deg)
        self.scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 1.0], ambient_light=[0.35, 0.35, 0.35])
        yfov = math.radians(YFOV_DEG)
        distance = FRAME_MARGIN / math.sin(yfov / 2)
        camera_pose = _look_at_origin(distance, self.elevation_deg, azimuth_deg=0.0)
        self.scene.add(pyrender.PerspectiveCamera(yfov=yfov, aspectRatio=1.0, znear=0.05, zfar=distance + 3),
                       pose=camera_pose)
        # Key light from the upper right of the camera, fill light from the left: fixed in the
        # world, so shading changes as the object turns.
        self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0),
                       pose=_look_at_origin(5.0, 45.0, azimuth_deg=35.0))
        self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=1.2),
                       pose=_look_at_origin(5.0, 10.0, azimuth_deg=-60.0))
        self.flags = pyrender.RenderFlags.SKIP_CULL_FACES
        self.renderer = pyrender.OffscreenRenderer(self.size, self.size)
        self._use_colour_only_readback()
        self._node = None

    def _use_colour_only_readback(self) -> None:
        """Read back RGB only: pyrender also blits, reads and linearises depth on every frame.

        Replaces pyrender 0.1.45's private `Renderer._read_main_framebuffer` on this instance only
        (same framebuffer names as that version); render() then returns (colour, None).
        """
        from OpenGL import GL

        core = self.renderer._renderer
        if not all(hasattr(core, a) for a in ("_main_fb", "_main_fb_ms", "_main_fb_dims")):
            return  # another pyrender version: keep its own (slower, correct) readback

        def read_colour(scene, flags):
            width, height = core._main_fb_dims
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, core._main_fb_ms)
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, core._main_fb)
            GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, core._main_fb)
            GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)  # RGB rows of odd widths are not 4-aligned
            buf = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
            colour = np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3)
            return colour[::-1], None

        core._read_main_framebuffer = read_colour

    def set_object(self, obj: trimesh.Scene) -> None:
        """Replace the rendered object (a normalised trimesh Scene)."""
        pyrender = self._pyrender
        if self._node is not None:
            self.scene.remove_node(self._node)
        mesh = pyrender.Mesh.from_trimesh(_merge_for_drawing(obj), smooth=False)
        for primitive in mesh.primitives:
            if primitive.material is not None:
                primitive.material.doubleSided = True
        self._node = self.scene.add(mesh, pose=np.eye(4))

    def render(self, angle_deg: float) -> np.ndarray:
        self.scene.set_pose(self._node, _yaw(angle_deg))
        colour, _ = self.renderer.render(self.scene, flags=self.flags)
        return np.ascontiguousarray(colour[:, :, :3].transpose(2, 0, 1))

    def close(self) -> None:
        self.renderer.delete()


def _texture_image(visual):
    material = getattr(visual, "material", None)
    return getattr(material, "image", None) or getattr(material, "baseColorTexture", None)


def _face_colours(mesh: trimesh.Trimesh) -> np.ndarray:
    """Opaque RGBA per face from colour visuals or an untextured material's main colour."""
    visual = mesh.visual
    if visual.kind in ("face", "vertex"):
        colours = np.array(visual.face_colors, dtype=np.uint8)
    else:
        material = getattr(visual, "material", None)
        main = getattr(material, "main_color", None)
        main = np.array([180, 180, 180, 255] if main is None else main, dtype=np.uint8).reshape(-1)
        colours = np.tile(main[:4] if main.size >= 4 else np.r_[main[:3], 255], (len(mesh.faces), 1))
    colours[:, 3] = 255  # opaque: blended parts (e.g. car glass) would depend on draw order
    return colours


def _merge_for_drawing(obj: trimesh.Scene) -> list[trimesh.Trimesh]:
    """Untextured parts merged into one face-coloured mesh, textured parts kept as they are.

    pyrender pays per primitive per frame (uniforms, lights, a draw call); a ShapeNet chair has
    tens of material groups, so merging them makes a frame several times cheaper.
    """
    plain, textured = [], []
    for geom in obj.geometry.values():
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue
        visual = geom.visual
        if visual.kind == "texture" and getattr(visual, "uv", None) is not None and _texture_image(visual) is not None:
            textured.append(geom)
        else:
            plain.append(geom)
    out = list(textured)
    if plain:
        offsets = np.cumsum([0] + [len(m.vertices) for m in plain[:-1]])
        merged = trimesh.Trimesh(
            vertices=np.concatenate([m.vertices for m in plain]),
            faces=np.concatenate([m.faces + o for m, o in zip(plain, offsets)]),
            face_colors=np.concatenate([_face_colours(m) for m in plain]),
            process=False)
        out.append(merged)
    return out


def _yaw(angle_deg: float) -> np.ndarray:
    # Reduce first so that 360 deg gives exactly the pose (and the image) of 0 deg.
    a = math.radians(angle_deg % 360.0)
    c, s = math.cos(a), math.sin(a)
    pose = np.eye(4)
    pose[0, 0], pose[0, 2], pose[2, 0], pose[2, 2] = c, s, -s, c
    return pose


def _look_at_origin(distance: float, elevation_deg: float, azimuth_deg: float) -> np.ndarray:
    """Pose of a camera/light at (elevation, azimuth) on a sphere, looking at the origin, +Y up."""
    e, a = math.radians(elevation_deg), math.radians(azimuth_deg)
    eye = distance * np.array([math.cos(e) * math.sin(a), math.sin(e), math.cos(e) * math.cos(a)])
    back = eye / np.linalg.norm(eye)                 # camera +Z points away from the target
    right = np.cross([0.0, 1.0, 0.0], back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, back, eye
    return pose


# ---------------------------------------------------------------------------------------------
# Workers


def _render_object_blocks(renderer: RotationRenderer, spec: ObjectSpec, angles: list[float]):
    """Yield (first angle index, frames (B,3,S,S)) for one object."""
    renderer.set_object(spec.load())
    block = np.empty((min(BLOCK, len(angles)), 3, renderer.size, renderer.size), dtype=np.uint8)
    for start in range(0, len(angles), BLOCK):
        stop = min(start + BLOCK, len(angles))
        for j in range(start, stop):
            block[j - start] = renderer.render(angles[j])
        yield start, block[: stop - start]


def _worker(tasks, results, size: int, elevation: float, angles: list[float]) -> None:
    # One llvmpipe raster thread per worker: the workers already fill the cores, and extra
    # threads only add synchronisation for frames this small (no effect on a GPU).
    os.environ.setdefault("LP_NUM_THREADS", "1")
    try:
        renderer = RotationRenderer(size, elevation)
        while (task := tasks.get()) is not None:
            obj_index, spec = task
            for start, frames in _render_object_blocks(renderer, spec, angles):
                results.put(("frames", obj_index, start, frames.copy()))
            results.put(("done", obj_index, None, None))
        renderer.close()
    except BaseException:
        results.put(("error", None, None, traceback.format_exc()))


def _stream_frames(specs: list[ObjectSpec], angles: list[float], size: int, elevation: float, workers: int):
    """Yield (object index, first angle index, frames) from `workers` processes (or this one)."""
    if workers <= 1:
        renderer = RotationRenderer(size, elevation)
        try:
            for obj_index, spec in enumerate(specs):
                for start, frames in _render_object_blocks(renderer, spec, angles):
                    yield obj_index, start, frames
        finally:
            renderer.close()
        return
    # Fresh interpreters: an EGL context (and h5py handles) must not be inherited through fork.
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue(maxsize=4 * workers)  # bounded: memory stays flat
    for item in enumerate(specs):
        tasks.put(item)
    for _ in range(workers):
        tasks.put(None)
    procs = [ctx.Process(target=_worker, args=(tasks, results, size, elevation, angles), daemon=True)
             for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        remaining = len(specs)
        while remaining:
            try:
                kind, obj_index, start, payload = results.get(timeout=5.0)
            except queue.Empty:
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    raise RuntimeError(f"render worker died (exit code {dead[0].exitcode})") from None
                continue
            if kind == "error":
                raise RuntimeError(f"render worker failed:\n{payload}")
            if kind == "done":
                remaining -= 1
            else:
                yield obj_index, start, payload
        for p in procs:
            p.join(timeout=10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# The library entry point


@dataclass
class RenderResult:
    path: Path
    manifest: dict


def render_rotation_set(out: str | os.PathLike, *, source: str, models: int, angles: str, size: int = 64,
                        root: str | os.PathLike | None = None, synset: str | None = None,
                        category: str | None = None, workers: int = 1, seed: int = 0,
                        elevation_deg: float = DEFAULT_ELEVATION_DEG, split: str = AUTO_SPLIT,
                        name: str | None = None, progress: bool = True,
                        attrs: dict | None = None) -> RenderResult:
    """Render a rotation set into `out` (HDF5, layout in docs/DESIGN.md) plus its JSON manifest.

    attrs: extra HDF5 attributes written over the defaults (lists and dicts as JSON text), e.g. a
    `kind` other than "rotation" and the keys its reader needs (`cfa.datasets.makers`).

    split: "parity", "grid:STEP", or "auto" (default): the rule `default_split` chooses from the
    angle grid. The rule used is stored as `split_rule` in the HDF5 attrs and `params.split` in
    the manifest (`params.split_auto` says whether it was chosen). A rule that leaves no train
    angle below 90 deg raises UserError before anything is rendered.
    """
    import h5py
    from tqdm import tqdm

    from cfa.io import atomic_output, manifest_path, write_manifest

    out = Path(out)
    if size < 8:
        raise UserError(f"--size {size}: images must be at least 8 pixels wide")
    if workers < 1:
        raise UserError(f"--workers {workers}: need at least 1")
    category, synset = resolve_category(category, synset)
    angle_values = parse_angles(angles)
    split_auto = split == AUTO_SPLIT
    split, codes = resolve_split(angle_values, split, angles)
    selection: Selection = select_objects(source, models, root=root, synset=synset, category=category, seed=seed)
    specs = selection.objects
    n_obj, n_ang = len(specs), len(angle_values)
    n_rows = n_obj * n_ang
    angle_floats = [float(a) for a in angle_values]
    labels = np.tile(np.asarray(angle_floats, dtype=np.float32), n_obj)
    types = np.repeat(np.arange(n_obj, dtype=np.int32), n_ang)
    split_rows = np.tile(codes, n_obj)
    workers = min(workers, n_obj)
    category_attr = category or ""

    started = time.perf_counter()
    with atomic_output(out) as tmp:
        with h5py.File(tmp, "w") as f:
            images = f.create_dataset("images", shape=(n_rows, 3, size, size), dtype=np.uint8,
                                      chunks=(1, 3, size, size), compression="gzip",
                                      compression_opts=COMPRESSION_LEVEL, shuffle=False)
            f.create_dataset("labels", data=labels)
            f.create_dataset("types", data=types)
            f.create_dataset("object_ids", data=[s.object_id for s in specs], dtype=h5py.string_dtype())
            f.create_dataset("split", data=split_rows)
            f.create_dataset("indx_train", data=np.flatnonzero(split_rows == 0).astype(np.int64))
            f.attrs["kind"] = "rotation"
            f.attrs["source"] = source
            f.attrs["category"] = category_attr
            f.attrs["size"] = size
            f.attrs["angles"] = angles
            f.attrs["split_rule"] = split
            f.attrs["elevation_deg"] = float(elevation_deg)
            for key, value in (attrs or {}).items():
                f.attrs[key] = json.dumps(value) if isinstance(value, (dict, list, tuple)) else value
            with tqdm(total=n_rows, unit="img", desc=f"render {out.name}", disable=not progress,
                      dynamic_ncols=True) as bar:
                for obj_index, start, frames in _stream_frames(specs, angle_floats, size, elevation_deg, workers):
                    row = obj_index * n_ang + start
                    images[row: row + len(frames)] = frames
                    bar.update(len(frames))
        # A manifest left from an earlier run must not vouch for the new file.
        manifest_path(out).unlink(missing_ok=True)
    seconds = time.perf_counter() - started

    counts = {"objects": n_obj, "angles": n_ang, "images": n_rows,
              "train": int((split_rows == 0).sum()), "test": int((split_rows == 1).sum()),
              "unused": int((split_rows == 2).sum())}
    params = {"source": source, "root": None if root is None else str(root), "synset": synset,
              "category": category_attr or None, "models": models, "angles": angles, "size": size,
              "workers": workers, "seed": seed, "elevation_deg": float(elevation_deg), "split": split,
              "split_auto": split_auto}
    manifest = write_manifest(
        out, dataset=name or out.stem, source=source, params=params, counts=counts,
        skipped=selection.skipped, seconds=seconds,
        object_ids=[s.object_id for s in specs],
        selection={"rule": selection.rule, "candidates": selection.candidates},
        images_per_second=round(n_rows / seconds, 1) if seconds > 0 else None,
        renderer={"pyopengl_platform": os.environ.get("PYOPENGL_PLATFORM"), "yfov_deg": YFOV_DEG,
                  "background": "white"},
    )
    return RenderResult(out, manifest)
