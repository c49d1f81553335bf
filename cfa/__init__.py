"""cfa: image generation with continuous filter atoms (Wang, Hwang, Miao, Qiu).

The library: the atom generator and atom convolutions, the networks, datasets, metrics and
tables. The command line lives in `pipeline/` (console script `cfa`).
"""

__version__ = "0.1.0"
