"""Cell-200: fluorescence nuclei images with a known cell count, simulated SIMCEP-style.

CcGAN's Cell-200 was itself made with SIMCEP (Lehmussola et al., 2007), nuclei only. This is our
own vectorised re-implementation of that model (REFERENCE.md section 3):

- a 256x256 canvas; each nucleus has radius 5, its outline 11 points around the circle with
  jittered radii, closed by a periodic cubic spline (the shape is star-shaped, so a pixel is inside
  when its distance to the centre is below the spline radius at its angle);
- texture: multi-octave value noise (random 2^o grids interpolated to the nucleus, octaves 1..5,
  persistence 0.5), normalised and mapped to b + (1 - b) x with bias b = 0.2;
- uniform positions, overlaps allowed and averaged;
- per-nucleus blur: |N(0, 0.5)| rescaled to a Gaussian sigma in [0.5, 5] pixels;
- quadratic illumination fall-off from a jittered centre;
- background autofluorescence: the same noise over the whole canvas, scaled to 0.05 of the cell
  energy; Gaussian sensor noise of variance 1e-4;
- grey, box-averaged to 64x64 and stored as uint8.

All nuclei of an image are processed as one stack: shapes, textures and blurs are batched matrix
products, and compositing is one `np.bincount`. Each image has its own seed, derived from
(seed, count, index), so the output is identical for any number of workers.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
from scipy.interpolate import CubicSpline


@dataclass(frozen=True)
class CellParams:
    canvas: int = 256
    radius: float = 5.0
    shape_points: int = 11
    shape_jitter: float = 0.15      # relative std of each outline point's radius
    octaves: int = 5
    first_octave: int = 1           # grid 2^o for o = first_octave .. first_octave + octaves - 1
    persistence: float = 0.5
    texture_bias: float = 0.2
    blur_std: float = 0.5           # |N(0, blur_std)| ...
    blur_range: tuple[float, float] = (0.5, 5.0)  # ... rescaled into this sigma range (pixels)
    illumination_falloff: float = 0.3   # intensity drops by this fraction at the canvas corner
    autofluorescence: float = 0.05      # background energy relative to the cell energy
    noise_variance: float = 1e-4
    size: int = 64

    def as_dict(self) -> dict:
        return asdict(self)


def image_seed(seed: int, count: int, index: int) -> np.random.SeedSequence:
    """The seed of image `index` with `count` cells: independent of batching and workers."""
    return np.random.SeedSequence([int(seed), int(count), int(index)])


class CellSimulator:
    """Render single images; construct once (precomputes geometry), call `render` many times."""

    def __init__(self, params: CellParams = CellParams()):
        if params.canvas % params.size:
            raise ValueError(f"canvas {params.canvas} must be a multiple of the stored size {params.size}")
        self.p = params
        r = params.radius
        # Core patch: holds the widest possible nucleus (radius jitter up to +4 std is clipped).
        self.core_half = int(np.ceil(r * (1 + 4 * params.shape_jitter))) + 1
        core = 2 * self.core_half + 1
        # Blurred patch: the core plus 3 sigma of the widest blur.
        self.pad = int(np.ceil(3 * params.blur_range[1]))
        self.patch = core + 2 * self.pad
        yy, xx = np.mgrid[-self.core_half:self.core_half + 1, -self.core_half:self.core_half + 1]
        self.core_dist = np.hypot(yy, xx).ravel()
        theta = np.mod(np.arctan2(yy, xx), 2 * np.pi).ravel()
        # A periodic cubic spline is linear in its knot values: evaluate it once for each unit
        # knot vector and every nucleus's radius profile is one matrix product.
        knots = np.linspace(0, 2 * np.pi, params.shape_points + 1)
        basis = np.zeros((params.shape_points + 1, params.shape_points))
        basis[:params.shape_points] = np.eye(params.shape_points)
        basis[-1] = basis[0]
        self.spline_matrix = CubicSpline(knots, basis, bc_type="periodic")(theta)  # (core^2, points)
        self.octave_grids = [2 ** o for o in range(params.first_octave, params.first_octave + params.octaves)]
        self.core_interp = [_linear_interp_matrix(g, core) for g in self.octave_grids]
        self.grid_interp = [_linear_interp_matrix(g, params.size) for g in self.octave_grids]
        self.octave_weights = params.persistence ** np.arange(params.octaves)
        yy, xx = np.mgrid[0:params.size, 0:params.size] + 0.5
        self._grid_yy, self._grid_xx = yy / params.size, xx / params.size

    # -- noise -------------------------------------------------------------------------------
    def _value_noise(self, rng: np.random.Generator, n: int, interps: list[np.ndarray]) -> np.ndarray:
        """(n, S, S) multi-octave value noise, each field normalised to [0, 1]."""
        total = None
        for weight, grid, interp in zip(self.octave_weights, self.octave_grids, interps):
            g = rng.random((n, grid + 1, grid + 1))
            layer = interp @ g @ interp.T
            total = weight * layer if total is None else total + weight * layer
        lo = total.min(axis=(1, 2), keepdims=True)
        hi = total.max(axis=(1, 2), keepdims=True)
        return (total - lo) / np.maximum(hi - lo, 1e-12)

    # -- one image ---------------------------------------------------------------------------
    def render(self, count: int, seed: np.random.SeedSequence | int) -> np.ndarray:
        """One (size, size) uint8 image with `count` nuclei."""
        p = self.p
        rng = np.random.default_rng(seed)
        c = p.canvas
        n = int(count)
        canvas = np.zeros(c * c)
        if n > 0:
            canvas = self._nuclei(rng, n)
        f = c // p.size
        small = canvas.reshape(p.size, f, p.size, f).mean(axis=(1, 3))
        # The remaining fields are smooth (or white), so they are applied on the stored grid: the
        # box average of the canvas-size noise is white noise of 1/f^2 the variance.
        cy, cx = 0.5 + rng.normal(0, 0.1, size=2)
        r2 = ((self._grid_yy - cy) ** 2 + (self._grid_xx - cx) ** 2) / 0.5
        small = small * (1 - p.illumination_falloff * np.clip(r2, 0, 1))
        energy = small.sum()
        if energy > 0:
            background = self._value_noise(rng, 1, self.grid_interp)[0]
            small = small + background * (p.autofluorescence * energy / background.sum())
        small = small + rng.normal(0, np.sqrt(p.noise_variance) / f, size=small.shape)
        return np.round(np.clip(small, 0, 1) * 255).astype(np.uint8)

    def _nuclei(self, rng: np.random.Generator, n: int) -> np.ndarray:
        p = self.p
        c = p.canvas
        h = self.core_half
        # Shapes: jittered outline radii -> spline radius at every core pixel's angle.
        radii = p.radius * np.clip(1 + p.shape_jitter * rng.standard_normal((n, p.shape_points)),
                                   1 - 3 * p.shape_jitter, 1 + 3 * p.shape_jitter)
        outline = radii @ self.spline_matrix.T                       # (n, core^2)
        core = 2 * h + 1
        mask = (self.core_dist[None, :] <= outline).reshape(n, core, core).astype(np.float32)
        texture = p.texture_bias + (1 - p.texture_bias) * self._value_noise(rng, n, self.core_interp)
        intensity = texture.astype(np.float32) * mask
        # Per-nucleus blur as K X K^T with a (patch x core) Gaussian matrix per nucleus.
        z = np.abs(rng.normal(0, p.blur_std, size=n))
        lo, hi = p.blur_range
        sigma = lo + (hi - lo) * np.clip(z / (3 * p.blur_std), 0, 1)
        offsets = np.arange(self.patch)[:, None] - (np.arange(core)[None, :] + self.pad)
        kernel = np.exp(-0.5 * (offsets[None] / sigma[:, None, None]) ** 2).astype(np.float32)
        kernel /= kernel.sum(axis=1, keepdims=True)                  # (n, patch, core)
        kt = kernel.transpose(0, 2, 1)
        blurred = kernel @ intensity @ kt
        weight = kernel @ mask @ kt
        # Uniform positions (centre kept on the canvas); scatter every patch in one bincount on a
        # canvas padded by the patch half-width, then crop.
        centres = rng.integers(0, c, size=(n, 2))
        half = self.patch // 2
        padded = c + 2 * half
        rows = centres[:, 0, None] + np.arange(self.patch)[None, :]   # padded coordinates
        cols = centres[:, 1, None] + np.arange(self.patch)[None, :]
        flat = (rows[:, :, None] * padded + cols[:, None, :]).ravel()
        size = padded * padded
        light = np.bincount(flat, weights=blurred.ravel(), minlength=size)
        cover = np.bincount(flat, weights=weight.ravel(), minlength=size)
        # Overlaps averaged: where blurred nuclei cover a pixel more than once, divide by the
        # coverage; single (and blur-tail) coverage keeps its intensity.
        composite = light / np.maximum(cover, 1.0)
        return composite.reshape(padded, padded)[half:half + c, half:half + c].ravel()


def _linear_interp_matrix(grid: int, size: int) -> np.ndarray:
    """(size, grid + 1) matrix interpolating grid + 1 knots linearly onto `size` pixel centres."""
    x = (np.arange(size) + 0.5) / size * grid
    lo = np.minimum(np.floor(x).astype(int), grid - 1)
    frac = x - lo
    # Smoothstep weights: continuous slope at the knots, the "smoothed" value noise of SIMCEP.
    frac = frac * frac * (3 - 2 * frac)
    m = np.zeros((size, grid + 1))
    m[np.arange(size), lo] = 1 - frac
    m[np.arange(size), lo + 1] = frac
    return m


# -- batches and workers ------------------------------------------------------------------------
_WORKER_SIM: CellSimulator | None = None
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker(params: CellParams) -> None:
    global _WORKER_SIM
    _WORKER_SIM = CellSimulator(params)


def _render_job(job: tuple[int, list[tuple[int, int]]]) -> np.ndarray:
    seed, items = job
    assert _WORKER_SIM is not None
    return np.stack([_WORKER_SIM.render(count, image_seed(seed, count, index)) for count, index in items])


def iter_cell_batches(counts: list[int], per_count: int | dict[int, int], seed: int,
                      params: CellParams = CellParams(), workers: int = 0, batch: int = 64):
    """Yield (images (b, size, size) uint8, counts (b,) int32) in count-major order.

    `per_count` is the number of images of every count, or a {count: images} mapping.

    Rows are fixed by (count, index) and their seeds, so `workers` only changes speed.
    workers >= 1 renders in that many spawned processes with one BLAS thread each: the
    simulator's many small matrix products slow down several-fold when OpenBLAS threads them on a
    busy CPU. workers = 0 renders in this process (no start-up cost; for small sets and tests).
    """
    how_many = per_count if isinstance(per_count, dict) else {c: per_count for c in counts}
    items = [(int(c), i) for c in counts for i in range(int(how_many[c]))]
    jobs = [(seed, items[k:k + batch]) for k in range(0, len(items), batch)]
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if workers == 0:
        _init_worker(params)
        results = map(_render_job, jobs)
        pool = None
    else:
        import multiprocessing as mp

        # Workers already run in parallel: one BLAS thread each (set before they import numpy).
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update({k: "1" for k in _THREAD_VARS})
        try:
            pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(params,))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        results = pool.imap(_render_job, jobs)
    try:
        for (_, chunk), images in zip(jobs, results):
            yield images, np.array([c for c, _ in chunk], dtype=np.int32)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()


def prepare_cells(out, counts: tuple[int, int] = (1, 200), per_count: int = 1000, seed: int = 0,
                  size: int = 64, workers: int = 0, progress: bool = True, source_images: int | None = None,
                  kind: str = "unpaired-with-label", test_fraction: float = 0.0, split_seed: int = 0) -> dict:
    """Simulate Cell-200 into one HDF5 in CcGAN's layout; returns the manifest.

    Keys: `IMGs_grey` uint8 (N, 1, size, size), `CellCounts` float32 (N,) (CcGAN's names), plus
    `domain`, `condition` (domains.cell_domains with the largest requested count as the top) and
    `image_index` (int32: the image of count c with index i has seed SeedSequence([seed, c, i])).
    `source_images` (default `per_count`) is the number of images of count 1, the source
    domain of the unpaired setting: a small set can have many sources and few images per target
    count. `test_fraction` > 0 adds a seeded `split` (cfa.datasets.splits).
    """
    import time

    from tqdm import tqdm

    from cfa.datasets import domains
    from cfa.datasets.h5writer import StreamingH5
    from cfa.datasets.splits import finish_label_file
    from cfa.errors import UserError
    from cfa.io import atomic_output, write_manifest

    first, last = counts
    if not 0 <= first <= last:
        raise UserError(f"--counts must be FIRST:LAST with 0 <= FIRST <= LAST, got {first}:{last}")
    if per_count < 1:
        raise UserError(f"--per-count must be >= 1, got {per_count}")
    if workers < 0:
        raise UserError(f"--workers must be >= 0 (0 = render in this process), got {workers}")
    if size < 1 or 256 % size:
        raise UserError(f"--size must divide the 256-pixel canvas (e.g. 64, 128), got {size}")
    source_images = per_count if source_images is None else int(source_images)
    if source_images < 1:
        raise UserError(f"source_images must be >= 1, got {source_images}")
    params = CellParams(size=size)
    t0 = time.perf_counter()
    count_list = list(range(first, last + 1))
    top = max(last, 2)
    images_of = {c: (source_images if c == 1 else per_count) for c in count_list}
    total = sum(images_of.values())
    with atomic_output(out) as tmp:
        with StreamingH5(tmp) as writer, tqdm(total=total, desc="simulate cells", unit="img",
                                              disable=not progress) as bar:
            # image (count c, index i) is seeded by (seed, c, i): the index within its count
            indices = np.concatenate([np.arange(images_of[c]) for c in count_list]).astype(np.int32)
            for images, labels in iter_cell_batches(count_list, images_of, seed, params, workers=workers):
                domain, condition = domains.cell_domains(labels, max_count=top)
                index = indices[writer.rows:writer.rows + len(labels)]
                writer.append(IMGs_grey=images[:, None], CellCounts=labels.astype(np.float32),
                              domain=domain, condition=condition, image_index=index)
                bar.update(len(labels))
            rule = domains.cells_description(top)
            split = finish_label_file(writer, dataset="cells", kind=kind, rule=rule,
                                      encoding=domains.cells_encoding(top), test_fraction=test_fraction,
                                      split_seed=split_seed, where=f"(counts {first}:{last})")
            writer.set_attrs(
                dataset="cells",
                source="simulated",
                image_key="IMGs_grey",
                label_key="CellCounts",
                label_name="cell count",
                size=size,
                seed=seed,
                seed_rule="image (count, index) uses numpy SeedSequence([seed, count, index])",
                simulator=params.as_dict(),
                domain_rule=domains.cells_description(top),
            )
    seconds = time.perf_counter() - t0
    all_counts = np.repeat(count_list, [images_of[c] for c in count_list])
    domain, condition = domains.cell_domains(all_counts, max_count=top)
    counts = {"images": total, "per_count": per_count, "source_images": source_images,
              "domains": {k: v for k, v in domains.domain_counts(domain, condition).items()
                          if not k.startswith("target t=")}}
    if split is not None:
        counts["split"] = split
    return write_manifest(out, dataset="cells", source="simulated (SIMCEP-style, cfa.datasets.cells)",
                          params={"counts": [first, last], "per_count": per_count, "source_images": source_images,
                                  "seed": seed, "size": size, "workers": workers, "kind": kind,
                                  "test_fraction": test_fraction, "split_seed": split_seed,
                                  "simulator": params.as_dict()},
                          counts=counts, seconds=seconds, images_per_second=round(total / max(seconds, 1e-9), 2))
