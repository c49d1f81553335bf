"""Images from a generator across a sweep of t: strips, grids and animated GIFs.

Used by the training loop (progress pictures at intervals) and by `cfa sample`. `--t` specs are in
the dataset's label units (degrees, years, ...); the objective turns them into t.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cfa.errors import UserError
from cfa.images import to_hwc_rgb
from cfa.io import atomic_output


# One image per input and value: more values than this is a typo (a STEP of 1e-6), not a figure.
MAX_T_VALUES = 10_000


RANGE_PREFIX = "range:"


def label_range_count(text: str) -> int | None:
    """N of a `range:N` spec (N labels spread over the dataset's label range), None for other specs."""
    text = str(text).strip()
    if not text.startswith(RANGE_PREFIX):
        return None
    try:
        count = int(text[len(RANGE_PREFIX):])
    except ValueError:
        count = 0
    if not 2 <= count <= MAX_T_VALUES:
        raise UserError(f"--t {text!r}: range:N needs an integer N from 2 to {MAX_T_VALUES} (N labels from the "
                        f"first to the last label of the dataset's range, both included)")
    return count


def parse_t_spec(text: str, label_range: list[float] | tuple[float, float] | None = None) -> list[float]:
    """`0,10,45` -> [0, 10, 45]; `START:STOP:STEP` -> the half-open range (like numpy.arange);
    `range:N` -> N labels evenly spaced from the first to the last label of `label_range` (the
    dataset's evaluation range, e.g. ages 1..60: range:60 gives 1, 2, ..., 60)."""
    text = str(text).strip()
    count = label_range_count(text)
    if count is not None:
        if label_range is None:
            raise UserError(f"--t {text!r}: the run's dataset records no label range (only label-only sets "
                            f"do); give the labels as a list or START:STOP:STEP")
        lo, hi = float(label_range[0]), float(label_range[1])
        return [round(lo + (hi - lo) * i / (count - 1), 6) for i in range(count)]
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3:
                raise ValueError
            if not all(math.isfinite(p) for p in parts):
                raise UserError(f"--t {text!r}: START, STOP and STEP must be finite numbers")
            start, stop, step = parts
            if step <= 0 or stop <= start:
                raise UserError(f"--t {text!r}: a range START:STOP:STEP needs STEP > 0 and STOP > START")
            count = int(math.ceil((stop - start) / step - 1e-9))
            if count > MAX_T_VALUES:
                raise UserError(f"--t {text!r}: {count} values; at most {MAX_T_VALUES} (use a larger STEP)")
            return [round(start + i * step, 10) for i in range(count)]
        values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UserError(f"--t {text!r}: expected a list like 0,10,45 or a range START:STOP:STEP "
                        f"like 0:90:2.5") from None
    if not values:
        raise UserError(f"--t {text!r}: no values given")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise UserError(f"--t {text!r}: {bad} are not finite numbers; give angles like 0,10,45")
    if len(values) > MAX_T_VALUES:
        raise UserError(f"--t {text!r}: {len(values)} values; at most {MAX_T_VALUES}")
    return values


@torch.no_grad()
def sweep(generate, sources: torch.Tensor, t_model: list[float], batch_size: int = 64) -> torch.Tensor:
    """(N_inputs, N_t, C, H, W): every input under every t, in batches mixing inputs and t."""
    n, nt = sources.shape[0], len(t_model)
    x = sources.repeat_interleave(nt, 0)
    t = torch.tensor(t_model, dtype=torch.float32, device=sources.device).repeat(n)
    outs = [generate(x[i:i + batch_size], t[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    out = torch.cat(outs, 0)
    return out.reshape(n, nt, *out.shape[1:])


def _save_png(path: Path, array: np.ndarray) -> None:
    with atomic_output(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def _pad(images: np.ndarray, pad: int = 2) -> np.ndarray:
    return np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=255)


def strip_array(source: np.ndarray | None, outputs: np.ndarray) -> np.ndarray:
    """One row: the input (if any), then its outputs left to right. source (H,W,3), outputs (T,H,W,3)."""
    tiles = _pad(outputs if source is None else np.concatenate([source[None], outputs], 0))
    return np.concatenate(list(tiles), axis=1)


def grid_array(sources: np.ndarray | None, outputs: np.ndarray) -> np.ndarray:
    """Rows = inputs (or fixed noise), columns = the input (if any) then each t."""
    firsts = [None] * len(outputs) if sources is None else sources
    return np.concatenate([strip_array(s, o) for s, o in zip(firsts, outputs)], axis=0)


def write_grid(path: str | Path, sources: torch.Tensor | None, outputs: torch.Tensor) -> Path:
    path = Path(path)
    firsts = None if sources is None else to_hwc_rgb(sources)
    _save_png(path, grid_array(firsts, np.stack([to_hwc_rgb(o) for o in outputs])))
    return path


def write_sample_set(out_dir: str | Path, sources: torch.Tensor | None, outputs: torch.Tensor,
                     t_labels: list[float], gif_ms: int = 120) -> dict:
    """A strip per input (`strip_XXX.png`), `grid.png`, an animated `sweep.gif` (one frame per t,
    the inputs side by side) and one GIF per input (`sweep_XXX.gif`). `sources` None: rows without an input column (label-only models).
    Returns the paths written."""
    out_dir = Path(out_dir)
    src = None if sources is None else to_hwc_rgb(sources)
    outs = np.stack([to_hwc_rgb(o) for o in outputs])  # (N, T, H, W, 3)
    strips = []
    for i in range(len(outs)):
        p = out_dir / f"strip_{i:03d}.png"
        _save_png(p, strip_array(None if src is None else src[i], outs[i]))
        strips.append(p)
    grid = out_dir / "grid.png"
    _save_png(grid, grid_array(src, outs))
    frames = [Image.fromarray(np.concatenate(list(_pad(outs[:, j])), axis=1))
              for j in range(outs.shape[1])]
    gif = out_dir / "sweep.gif"
    _save_gif(gif, frames, gif_ms)
    # One GIF per row too: an input's (or a fixed noise's) outputs as the label moves.
    row_gifs = []
    for i in range(len(outs)):
        p = out_dir / f"sweep_{i:03d}.gif"
        _save_gif(p, [Image.fromarray(frame) for frame in outs[i]], gif_ms)
        row_gifs.append(p)
    return {"strips": [str(p) for p in strips], "grid": str(grid), "gif": str(gif),
            "row_gifs": [str(p) for p in row_gifs], "t": list(t_labels)}


def _save_gif(path: Path, frames: list, gif_ms: int) -> None:
    with atomic_output(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=gif_ms, loop=0)
