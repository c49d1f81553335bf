"""edges2objects: a built-in paired set (line drawing -> render) for image-only translation.

Table 1 of the paper is pix2pix-style translation (labels -> facades, edges -> shoes, ...). This set
lets it run with no download. Every pair is one view of one procedural object
(`cfa.render.procedural`): B is the shaded render on white, A its line drawing, dark lines on
white like edges2shoes. Several categories, several objects per category and several views per
object (yaw evenly spaced with a random phase, elevation drawn from ELEVATION_RANGE_DEG) give the
variety that LPIPS diversity and FID need. Objects, not views, are split between train, val and
test, so test inputs show objects never seen in training.

How the edges are made, and why. pix2pix's edges2shoes ran HED (a learned edge detector) on the
photos and post-processed the result (thinning, removing small components). We have no photos:
we have the geometry, so we draw what an illustrator draws from it, in image space from two
extra buffers rendered with the same camera (Saito & Takahashi 1990, "Comprehensible rendering
of 3-D shapes"):

- silhouettes: object pixels next to background (the depth buffer is 0 there);
- occluding contours: jumps in depth between neighbouring object pixels, found on inverse depth,
  which is affine in screen space over a plane, so a slanted plane never looks like a jump;
  the line goes on the nearer side;
- creases: the angle between surface normals two pixels apart exceeds CREASE_DEG (normals come
  from a flat, unlit pass whose face colours encode the object-space normal; two pixels apart so
  that the anti-aliased pixel on a crease, a blend of both normals, cannot hide it).

Canny on the render (scikit-image or OpenCV, neither installed here) would follow the lighting
and the paint: a crease between two equally lit faces disappears, a colour boundary on a flat
part or a shading band on a cylinder appears, and both change as the object turns under fixed
lights. The geometric lines depend only on the shape and the viewpoint, so they are exact,
deterministic, free of noise (no thresholds on gradients of a shaded image; the only
post-processing drops line specks smaller than MIN_SPECK_AREA output pixels, which sub-pixel
parts leave) and the same 3-D features are drawn from every view. The normal pass culls back
faces, so coincident faces (a screen panel glued on a laptop lid) cannot z-fight into dashed
lines. Buffers are rendered at SUPERSAMPLE times the output size and the line mask is
box-averaged down, which gives anti-aliased lines one output pixel wide up to 191 px images and
max(1, round(size / 128)) pixels wide above (2 at 256, about the weight of edges2shoes' lines).

Each object's mesh and views depend only on (seed, category, object index), so growing
`--objects` or `--views` keeps the earlier pairs, and `workers` changes only the speed.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue
import time
import traceback
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cfa.datasets.h5writer import SPLIT_CODES
from cfa.errors import UserError

# cfa.render.procedural.CATEGORIES, spelled out so that `cfa --help` need not import trimesh.
CATEGORY_NAMES = ("airplane", "car", "chair", "laptop", "table")
ELEVATION_RANGE_DEG = (5.0, 40.0)
CREASE_DEG = 40.0            # above the 36 deg between facets of a 10-sided cylinder, below a box edge
DEPTH_GAP = 0.02             # relative inverse-depth jump that counts as an occluding contour
SUPERSAMPLE = 2
MIN_SPECK_AREA = 3.0         # line pieces smaller than this many output pixels are dropped
DEFAULTS = {"objects": 20, "views": 8, "size": 64, "holdout": 0.15, "seed": 0}
EDGE_RULE = (f"geometric line drawing: silhouettes, occluding contours (relative inverse-depth jump > "
             f"{DEPTH_GAP}) and creases (normals {CREASE_DEG:g} deg apart), found at {SUPERSAMPLE}x the "
             f"size, specks under {MIN_SPECK_AREA:g} px dropped, box-averaged down; dark lines on white, "
             f"max(1, round(size / 128)) px wide")


# ---------------------------------------------------------------------------------------------
# Edges from the geometry buffers


def edge_mask(normals: np.ndarray, depth: np.ndarray, crease_deg: float = CREASE_DEG,
              depth_gap: float = DEPTH_GAP) -> np.ndarray:
    """(H, W) bool line mask from a normal buffer (H, W, 3) uint8, normal n stored as (n + 1) * 127.5,
    and a linear depth buffer (H, W) with 0 on the background. Every line is two pixels wide."""
    h, w_ = depth.shape
    pad = 2                                  # the farthest neighbour looked at
    fg = np.pad(depth > 0, pad)              # outside the image is background
    n = np.pad(normals.astype(np.float32) / 127.5 - 1.0, ((pad, pad), (pad, pad), (0, 0)))
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
    d = np.pad(depth.astype(np.float32), pad)
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)   # inverse depth, 0 on background
    cos_crease = np.float32(math.cos(math.radians(crease_deg)))
    edges = np.zeros(fg.shape, dtype=bool)

    for axis in (0, 1):
        def at(a, k):
            """a[i + k] along `axis` for every image pixel i (a view into the padded array)."""
            if axis == 0:
                return a[pad + k: pad + k + h, pad: pad + w_]
            return a[pad: pad + h, pad + k: pad + k + w_]

        here = at(fg, 0)
        # Silhouette: object pixels within two pixels of the background.
        for k in (-2, -1, 1, 2):
            at(edges, 0)[...] |= here & ~at(fg, k)
        # Crease between x-1 and x+1 (both on the object): marks x, and x+1 from its own side.
        dot = np.einsum("ijc,ijc->ij", at(n, -1), at(n, 1))
        at(edges, 0)[...] |= at(fg, -1) & at(fg, 1) & (dot < cos_crease)
        # Occluding contour between x and x+1: neither side's slope predicts the other side.
        # Inverse depth is affine in screen space over a plane, so slanted planes never qualify.
        v_prev, v, v_next, v_next2 = at(inv, -1), at(inv, 0), at(inv, 1), at(inv, 2)
        jump = (here & at(fg, -1) & at(fg, 1) & at(fg, 2)
                & (np.abs(v_next - (2 * v - v_prev)) > depth_gap * v)
                & (np.abs(v - (2 * v_next - v_next2)) > depth_gap * v_next))
        x_nearer = jump & (v >= v_next)      # larger inverse depth = nearer
        next_nearer = jump & (v < v_next)
        at(edges, 0)[...] |= x_nearer        # the line goes on the nearer side: x and x-1 ...
        at(edges, -1)[...] |= x_nearer
        at(edges, 1)[...] |= next_nearer     # ... or x+1 and x+2
        at(edges, 2)[...] |= next_nearer
    return edges[pad: pad + h, pad: pad + w_]


def drop_specks(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    """The mask without 8-connected pieces smaller than `min_pixels`."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labels]


def line_width(size: int) -> int:
    """Line width in output pixels: 1 up to 191 px images, 2 at 256 (edges2shoes' weight), ..."""
    return max(1, round(size / 128))


def line_drawing(mask: np.ndarray, factor: int = SUPERSAMPLE, width: int = 1) -> np.ndarray:
    """(3, H/f, W/f) uint8: the box-averaged mask as dark lines on white, grey where partly covered.

    Specks under MIN_SPECK_AREA output pixels go first: they come from sub-pixel geometry (the
    sides of a 0.01-thick keyboard panel) and would draw as dots and dashes. The two-pixel lines
    of `edge_mask` are one output pixel wide; `width` > 1 thickens them by whole output pixels.
    """
    from scipy import ndimage

    mask = drop_specks(mask, int(MIN_SPECK_AREA * factor * factor))
    if width > 1:
        grow = (width - 1) * factor // 2
        mask = ndimage.binary_dilation(mask, structure=np.ones((3, 3), dtype=bool), iterations=grow)
    h, w = mask.shape
    cover = mask.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    grey = np.round(255.0 * (1.0 - cover)).astype(np.uint8)
    return np.repeat(grey[None], 3, axis=0)


def _box_down(image_hwc: np.ndarray, factor: int) -> np.ndarray:
    h, w, c = image_hwc.shape
    small = image_hwc.reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3))
    return np.round(small).astype(np.uint8).transpose(2, 0, 1)


# ---------------------------------------------------------------------------------------------
# The renderer: the shaded view (B) and the geometry buffers for its edges (A)


class EdgePairRenderer:
    """Renders (A, B) uint8 (3, S, S) pairs of one object from (yaw, elevation) viewpoints.

    The camera, field of view, framing and lights are those of `cfa.render.RotationRenderer`
    (white background, lights fixed in the world); the camera moves to the view's elevation and
    the object turns by the yaw. Each view takes two passes at SUPERSAMPLE x S: the shaded one
    and a flat one whose colours are the object-space normals, with depth.
    """

    def __init__(self, size: int, supersample: int = SUPERSAMPLE):
        import cfa.render.headless  # noqa: F401  (must precede pyrender)
        import pyrender

        from cfa.render.renderer import FRAME_MARGIN, YFOV_DEG, _look_at_origin

        self._pyrender = pyrender
        self._look_at = _look_at_origin
        self.size, self.factor = int(size), int(supersample)
        self.scene = pyrender.Scene(bg_color=[1.0, 1.0, 1.0, 1.0], ambient_light=[0.35, 0.35, 0.35])
        yfov = math.radians(YFOV_DEG)
        self.distance = FRAME_MARGIN / math.sin(yfov / 2)
        self.camera = self.scene.add(
            pyrender.PerspectiveCamera(yfov=yfov, aspectRatio=1.0, znear=0.05, zfar=self.distance + 3),
            pose=_look_at_origin(self.distance, 20.0, 0.0))
        self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=3.0),
                       pose=_look_at_origin(5.0, 45.0, azimuth_deg=35.0))
        self.scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=1.2),
                       pose=_look_at_origin(5.0, 10.0, azimuth_deg=-60.0))
        side = self.size * self.factor
        self.renderer = pyrender.OffscreenRenderer(side, side)
        self.cull = pyrender.RenderFlags.SKIP_CULL_FACES
        self.flat = pyrender.RenderFlags.FLAT          # back faces culled: see set_object
        self._nodes: tuple = ()

    def set_object(self, obj) -> None:
        """Replace the object (a normalised trimesh Scene, as `procedural_object` returns)."""
        import trimesh

        from cfa.render.renderer import _merge_for_drawing

        pyrender = self._pyrender
        for node in self._nodes:
            self.scene.remove_node(node)
        shaded = pyrender.Mesh.from_trimesh(_merge_for_drawing(obj), smooth=False)
        for primitive in shaded.primitives:
            primitive.material.doubleSided = True
        coded = []
        for geom in obj.geometry.values():
            if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
                continue
            part = trimesh.Trimesh(vertices=geom.vertices, faces=geom.faces, process=False)
            rgb = np.round((part.face_normals + 1.0) * 127.5).astype(np.uint8)
            part.visual.face_colors = np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1)
            coded.append(part)
        normals = pyrender.Mesh.from_trimesh(coded, smooth=False)
        for primitive in normals.primitives:
            # The camera is outside these closed meshes, so every visible pixel is on a front face.
            # Culling back faces stops coincident faces of opposite normals (a laptop's screen
            # panel on its lid) from z-fighting into dashed false creases.
            primitive.material.doubleSided = False
        self._shaded, self._normals = shaded, normals
        self._nodes = (self.scene.add(shaded), self.scene.add(normals))

    def render(self, yaw_deg: float, elevation_deg: float) -> tuple[np.ndarray, np.ndarray]:
        from cfa.render.renderer import _yaw

        self.scene.set_pose(self.camera, self._look_at(self.distance, elevation_deg, 0.0))
        for node in self._nodes:
            self.scene.set_pose(node, _yaw(yaw_deg))
        self._shaded.is_visible, self._normals.is_visible = True, False
        colour, _ = self.renderer.render(self.scene, flags=self.cull)
        self._shaded.is_visible, self._normals.is_visible = False, True
        normals, depth = self.renderer.render(self.scene, flags=self.flat)
        a = line_drawing(edge_mask(normals[:, :, :3], depth), self.factor, line_width(self.size))
        b = _box_down(colour[:, :, :3], self.factor)
        return a, b

    def close(self) -> None:
        self.renderer.delete()


# ---------------------------------------------------------------------------------------------
# What to render


@dataclass(frozen=True)
class ObjectViews:
    category: str
    index: int
    split: int                     # SPLIT_CODES value
    yaw_deg: tuple[float, ...]
    elevation_deg: tuple[float, ...]


def object_splits(objects: int, holdout: float) -> np.ndarray:
    """Split code per object index: the last round(holdout * n) objects are test, the ones before
    them val (at least one each), the rest train."""
    held = max(1, int(round(holdout * objects)))
    if objects - 2 * held < 1:
        raise UserError(f"--objects {objects} with --holdout {holdout}: no object left for training "
                        f"({held} val + {held} test per category); use more objects or a smaller holdout")
    codes = np.full(objects, SPLIT_CODES["train"], dtype=np.uint8)
    codes[objects - 2 * held: objects - held] = SPLIT_CODES["val"]
    codes[objects - held:] = SPLIT_CODES["test"]
    return codes


def plan(categories: list[str], objects: int, views: int, seed: int, holdout: float) -> list[ObjectViews]:
    """Every object with its split and viewpoints, category-major, in row order."""
    codes = object_splits(objects, holdout)
    lo, hi = ELEVATION_RANGE_DEG
    out = []
    for category in categories:
        for index in range(objects):
            # Own stream per object (not the mesh's: procedural_object seeds that one), so the
            # views of object i do not depend on how many objects or categories are rendered.
            rng = np.random.default_rng([seed, zlib.crc32(category.encode()), index, 1])
            phase = rng.uniform(0.0, 360.0)
            yaws = tuple(float((phase + 360.0 * k / views) % 360.0) for k in range(views))
            elevations = tuple(float(e) for e in rng.uniform(lo, hi, size=views))
            out.append(ObjectViews(category, index, int(codes[index]), yaws, elevations))
    return out


# ---------------------------------------------------------------------------------------------
# Rendering, in this process or in workers


def _render_object(renderer: EdgePairRenderer, item: ObjectViews, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from cfa.render.procedural import procedural_object

    renderer.set_object(procedural_object(item.category, item.index, seed))
    pairs = [renderer.render(yaw, elevation) for yaw, elevation in zip(item.yaw_deg, item.elevation_deg)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _worker(tasks, results, size: int, seed: int) -> None:
    # One llvmpipe raster thread per worker: the workers already fill the cores.
    os.environ.setdefault("LP_NUM_THREADS", "1")
    try:
        renderer = EdgePairRenderer(size)
        while (task := tasks.get()) is not None:
            index, item = task
            results.put(("pairs", index, _render_object(renderer, item, seed)))
        renderer.close()
    except BaseException:
        results.put(("error", None, traceback.format_exc()))


def _rendered(items: list[ObjectViews], size: int, seed: int, workers: int):
    """Yield (A, B) arrays per object, in the order of `items`."""
    if workers <= 1:
        renderer = EdgePairRenderer(size)
        try:
            for item in items:
                yield _render_object(renderer, item, seed)
        finally:
            renderer.close()
        return
    # Fresh interpreters: an EGL context must not be inherited through fork. Plain processes, not a
    # multiprocessing.Pool: a Pool replaces a worker that dies while starting, for ever, and hangs.
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(tasks, results, size, seed), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    sent = 0

    def send() -> None:
        nonlocal sent
        if sent < len(items):
            tasks.put((sent, items[sent]))
            sent += 1

    for _ in range(2 * workers):      # at most this many objects rendered ahead of the writer
        send()
    ready: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    try:
        for index in range(len(items)):
            while index not in ready:
                try:
                    kind, done, payload = results.get(timeout=5.0)
                except queue.Empty:
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(f"render worker died (exit code {dead[0].exitcode})") from None
                    continue
                if kind == "error":
                    raise RuntimeError(f"render worker failed:\n{payload}")
                ready[done] = payload
            yield ready.pop(index)
            send()
        for _ in procs:
            tasks.put(None)
        for p in procs:
            p.join(timeout=10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# The library entry point


def prepare_edges2objects(out: str | Path, categories: list[str] | None = None,
                          objects: int = DEFAULTS["objects"], views: int = DEFAULTS["views"],
                          size: int = DEFAULTS["size"], seed: int = DEFAULTS["seed"],
                          holdout: float = DEFAULTS["holdout"], workers: int = 1,
                          progress: bool = True, dataset: str = "edges2objects",
                          kind: str = "paired-images") -> dict:
    """-> HDF5 `images_A` (line drawings) and `images_B` (renders), (N,3,S,S) uint8, `split`
    (0 train, 1 val, 2 test, by object), `names`, `categories`, `object_index`, `yaw_deg`,
    `elevation_deg`; returns the manifest. `dataset` names the file in its attrs and manifest
    (`cfa prepare --dataset` passes the params.yaml key); `kind` is recorded as attrs["kind"]."""
    from tqdm import tqdm

    from cfa.datasets.h5writer import StreamingH5
    from cfa.io import atomic_output, write_manifest
    from cfa.render.headless import platform

    categories = list(CATEGORY_NAMES) if not categories else list(categories)
    unknown = [c for c in categories if c not in CATEGORY_NAMES]
    if unknown or len(set(categories)) != len(categories):
        raise UserError(f"--categories {','.join(categories)}: each must be one of {','.join(CATEGORY_NAMES)}, "
                        f"named once")
    if views < 1:
        raise UserError(f"--views {views}: need at least 1 view per object")
    if size < 8:
        raise UserError(f"--size {size}: images must be at least 8 pixels wide")
    if not 0.0 < holdout < 0.5:
        raise UserError(f"--holdout {holdout}: the fraction of objects for val and for test each, in (0, 0.5)")
    if workers < 1:
        raise UserError(f"--workers {workers}: need at least 1 (1 renders in this process)")
    items = plan(categories, objects, views, seed, holdout)
    workers = min(workers, len(items))

    t0 = time.perf_counter()
    with atomic_output(out) as tmp:
        with StreamingH5(tmp) as writer:
            with tqdm(total=len(items) * views, unit="img", desc=f"render {Path(out).name}",
                      disable=not progress, dynamic_ncols=True) as bar:
                for item, (a, b) in zip(items, _rendered(items, size, seed, workers)):
                    writer.append(
                        images_A=a, images_B=b,
                        split=np.full(views, item.split, dtype=np.uint8),
                        names=[f"{item.category}/{item.index:04d}/view{k:02d}" for k in range(views)],
                        categories=[item.category] * views,
                        object_index=np.full(views, item.index, dtype=np.int32),
                        yaw_deg=np.asarray(item.yaw_deg, dtype=np.float32),
                        elevation_deg=np.asarray(item.elevation_deg, dtype=np.float32))
                    bar.update(views)
            writer.set_attrs(
                dataset=dataset, source="procedural", kind=kind, direction="AtoB",
                image_keys=["images_A", "images_B"], split_codes=SPLIT_CODES, size=size, seed=seed,
                categories=categories, edge_rule=EDGE_RULE,
                input="images_A: line drawing (input)", target="images_B: shaded render on white (target)")
    seconds = time.perf_counter() - t0

    names = {code: name for name, code in SPLIT_CODES.items()}
    per_split = {name: 0 for name in SPLIT_CODES}
    objects_per_split = {name: 0 for name in SPLIT_CODES}
    for item in items:
        per_split[names[item.split]] += views
        objects_per_split[names[item.split]] += 1
    n_images = len(items) * views
    return write_manifest(
        out, dataset=dataset, source="procedural meshes (cfa.render.procedural)",
        params={"categories": categories, "objects": objects, "views": views, "size": size, "seed": seed,
                "holdout": holdout, "workers": workers, "elevation_range_deg": list(ELEVATION_RANGE_DEG),
                "crease_deg": CREASE_DEG, "depth_gap": DEPTH_GAP, "supersample": SUPERSAMPLE},
        counts={"images": n_images, "splits": per_split, "objects": objects_per_split,
                "categories": {c: objects * views for c in categories}},
        seconds=seconds, images_per_second=round(n_images / seconds, 1) if seconds > 0 else None,
        edge_rule=EDGE_RULE, renderer={"pyopengl_platform": platform(), "background": "white"})
