"""The figures' own style: sizes, fonts, palette and words, independent of the user's matplotlibrc.

Every figure of :mod:`mfsim.output` is built and saved inside :func:`style_context`, which
starts from matplotlib's built-in defaults (``matplotlib.style.context(..., after_reset=True)``,
a public API) and sets the project's style on top: no TeX (a user rc with ``text.usetex: True``
and no LaTeX installed cannot break a figure), DejaVu Sans and its mathtext (they ship with
matplotlib), the Okabe-Ito colorblind-safe palette, journal column widths and font sizes.

The ``figures:`` section of a sweep config (:class:`FigureOptions`) chooses the style
(``paper``: 8 pt text for a printed column; ``screen``: 10 pt), the time units of stage times
(steps t, gradient-flow time eta t, or eta Delta t) and the step axis of error curves (log or
linear).
"""

from __future__ import annotations

import functools
import itertools
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.style
import numpy as np
import xarray as xr
from cycler import cycler
from matplotlib.figure import Figure

__all__ = [
    "COLUMN_WIDTH",
    "DOUBLE_COLUMN_WIDTH",
    "FigureOptions",
    "PALETTE",
    "figure_options",
    "style_context",
    "style_rc",
]

#: Okabe & Ito (2008) colorblind-safe palette: blue, vermillion, bluish green, reddish purple,
#: orange, sky blue, yellow, black.
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
BLUE, VERMILLION, GREEN, PURPLE, ORANGE, SKY, YELLOW, BLACK = PALETTE
GREY = "0.45"
#: Journal column widths in inches (single column, full page width).
COLUMN_WIDTH = 3.5
DOUBLE_COLUMN_WIDTH = 7.2
#: Resolution of the PNG files (a double-column figure is 1440 px wide).
DPI = 200
FORMATS = ("png", "pdf")
#: A heat map or map panel writes its values in the cells only up to this many cells.
MAX_ANNOTATED_CELLS = 64
#: Diverging colormap of Gram-matrix heat maps (colorblind-safe, symmetric about 0).
HEATMAP_CMAP = "RdBu_r"

STYLES = {"paper": 8.0, "screen": 10.0}  # base font size in points
TIME_UNITS = ("steps", "eta_t", "eta_Delta_t")
STEP_AXES = ("log", "linear")


@dataclass(frozen=True)
class FigureOptions:
    """The ``figures:`` section of a sweep config.

    Attributes
    ----------
    style : {"paper", "screen"}
        ``paper``: 8 pt text, sized for a journal column; ``screen``: 10 pt text.
    time_units : {"steps", "eta_t", "eta_Delta_t"}
        Stage times and the step axis in steps t, in gradient-flow time eta t, or in
        eta Delta t (where the eta-dependence of the small-signal stage times collapses).
    step_axis : {"log", "linear"}
        Step axis of the error curves: symmetric log (t = 0 shown, linear below 1), or linear.
    """

    style: str = "paper"
    time_units: str = "steps"
    step_axis: str = "log"

    @property
    def font_size(self) -> float:
        return STYLES[self.style]


def figure_options(section: Mapping | FigureOptions | None = None) -> FigureOptions:
    """Options from a ``figures:`` config section (missing keys take their defaults).

    Raises
    ------
    ValueError
        Naming the key, the value as given and the allowed values, for an unknown key or value.
    """
    if isinstance(section, FigureOptions):
        return section
    section = dict(section or {})
    allowed = {"style": tuple(STYLES), "time_units": TIME_UNITS, "step_axis": STEP_AXES}
    for key, value in section.items():
        if key not in allowed:
            raise ValueError(f"figures.{key}: unknown key (allowed: {', '.join(allowed)})")
        if value not in allowed[key]:
            raise ValueError(
                f"figures.{key}: got {value!r}; allowed: {', '.join(map(repr, allowed[key]))}"
            )
    return FigureOptions(**section)


def style_rc(options: FigureOptions | None = None) -> dict:
    """The rcParams the figures are drawn with, on top of matplotlib's built-in defaults."""
    size = (options or FigureOptions()).font_size
    return {
        "text.usetex": False,
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],
        "mathtext.fontset": "dejavusans",
        "font.size": size,
        "axes.titlesize": size,
        "axes.labelsize": size,
        "xtick.labelsize": size - 1,
        "ytick.labelsize": size - 1,
        "legend.fontsize": size - 1,
        "figure.titlesize": size + 1,
        "axes.prop_cycle": cycler(color=PALETTE),
        "axes.linewidth": 0.6,
        "lines.linewidth": 1.2,
        "lines.markersize": 4.0,
        "grid.linewidth": 0.4,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "legend.frameon": False,
        "image.cmap": "viridis",
        "savefig.dpi": DPI,
        "pdf.fonttype": 42,  # TrueType in the PDF: editable text, accepted by journals
        "svg.fonttype": "path",
    }


def style_context(options: FigureOptions | None = None):
    """Context manager: matplotlib's defaults (the user's matplotlibrc ignored) plus
    :func:`style_rc`."""
    return matplotlib.style.context(style_rc(options), after_reset=True)


def styled(function):
    """Run a figure builder inside :func:`style_context` (its ``options`` keyword, if given)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        kwargs["options"] = figure_options(kwargs.get("options"))
        with style_context(kwargs["options"]):
            return function(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------------------------
# Words and symbols
# --------------------------------------------------------------------------------------------
#: Grid coordinate -> its symbol in mathtext (without the $).
SYMBOLS = {
    "d": "d",
    "r": "r",
    "k": "k",
    "kappa": r"\kappa",
    "eta": r"\eta",
    "varpi": r"\varpi",
    "varpi_effective": r"\varpi",
    "varpi_exponent": r"\gamma",
    "eps": r"\varepsilon",
    "seed": r"\mathrm{seed}",
}
#: Coordinates named in words (a symbol would be ambiguous).
WORDS = {"varpi_exponent": r"exponent of $d$ in $\varpi$"}
#: Stage quantity -> (noun, symbol) for titles and axes.
QUANTITIES = {
    "t_k_star": ("transition time", r"t_k^\star"),
    "escape": ("saddle-escape time", r"\mathrm{escape}_k"),
    "plateau": ("plateau length", r"\mathrm{plateau}_k"),
    "rise": ("rise time", r"\mathrm{rise}_k"),
    "learned": ("learned time", r"\mathrm{learned}_k"),
    "t_eps": (r"time to accuracy $\varepsilon$", r"t_\varepsilon"),
}
#: Time units -> (label text, factor name): ``eta_t`` multiplies steps by eta.
TIME_LABELS = {
    "steps": "steps $t$",
    "eta_t": r"gradient-flow time $\eta t$",
    "eta_Delta_t": r"$\eta \Delta t$",
}


_VERDICT_MATH = {
    "O(log d)": r"$O(\log d)$",
    "d^alpha": r"$d^{\alpha}$",
    "log d": r"$\log d$",
    "t^sharp": r"$t^\sharp$",
}


def verdict_text(verdict: str) -> str:
    """A verdict of the fits with its math in mathtext: ``$O(\\log d)$``, ``$d^{\\alpha}$``."""
    pattern = "|".join(re.escape(key) for key in _VERDICT_MATH)
    return re.sub(pattern, lambda match: _VERDICT_MATH[match[0]], verdict)


def quantity_label(quantity: str, options: FigureOptions | None = None) -> str:
    """Axis label of a stage quantity with its unit, e.g. ``rise time rise_k (steps t)``."""
    noun, symbol = QUANTITIES.get(quantity, (quantity.replace("_", " "), None))
    units = TIME_LABELS[(options or FigureOptions()).time_units]
    return f"{noun} ${symbol}$ ({units})" if symbol else f"{noun} ({units})"


def quantity_title(quantity: str) -> str:
    noun, symbol = QUANTITIES.get(quantity, (quantity.replace("_", " "), None))
    return f"{noun[0].upper()}{noun[1:]}" + (f" ${symbol}$" if symbol else "")


def coordinate_text(dim: str, value) -> str:
    """``$\\kappa = 2$``; a coordinate without a symbol in words: ``exponent of d ... = 0``."""
    if dim in WORDS:
        return f"{WORDS[dim]} = {fmt(value)}"
    symbol = SYMBOLS.get(dim)
    if symbol is None:
        return f"{dim.replace('_', ' ')} = {fmt(value)}"
    return f"${symbol} = {math_number(value)}$"


def axis_name(dim: str) -> str:
    """A grid axis in words with its symbol: ``step size $\\eta$``."""
    names = {
        "eta": r"step size $\eta$",
        "kappa": r"condition number $\kappa$",
        "varpi": r"initialization scale $\varpi$",
        "r": "rank $r$",
        "d": "dimension $d$",
    }
    return names.get(dim, WORDS.get(dim, dim.replace("_", " ")))


def group_title(selection: Mapping) -> str:
    """The coordinates of a figure's group, in math: ``$\\kappa = 2$, $\\eta = 0.1$``."""
    return ", ".join(coordinate_text(dim, value) for dim, value in selection.items())


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most about `width` characters, never broken inside ``$...$`` math."""
    parts = text.split("$")
    # odd parts are math: their spaces must not become line breaks
    joined = "$".join(p.replace(" ", "\x00") if i % 2 else p for i, p in enumerate(parts))
    return [line.replace("\x00", " ") for line in textwrap.wrap(joined, width=width)]


def math_number(value) -> str:
    """A number for mathtext: ``10^{12}`` for large powers of ten, ``1.5 \\times 10^{-5}``."""
    value = scalar(value)
    if isinstance(value, (bool, np.bool_, str)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number == 0 or 1e-3 <= abs(number) < 1e6:
        return str(value) if isinstance(value, (int, np.integer)) else f"{number:g}"
    mantissa, exponent = f"{number:.2e}".split("e")
    power = f"10^{{{int(exponent)}}}"
    mantissa = f"{float(mantissa):g}"
    return power if mantissa == "1" else f"{mantissa} \\times {power}"


# --------------------------------------------------------------------------------------------
# Small helpers shared by the figure modules
# --------------------------------------------------------------------------------------------
def scalar(value):
    """A Python scalar from a numpy scalar or 0-d array."""
    return value.item() if hasattr(value, "item") else value


def fmt(value) -> str:
    """Compact text for a coordinate value."""
    value = scalar(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def compact(value) -> str:
    """Coordinate text that fits a label: 1e+11 rather than 100000000000."""
    value = scalar(value)
    if isinstance(value, int) and abs(value) >= 10**6:
        return f"{value:.4g}"
    return fmt(value)


def scientific(value: float) -> str:
    """-5.1e-5 (one decimal, exponent without padding)."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def groups(da: xr.DataArray, inner: Sequence[str]) -> tuple[list[str], list[dict]]:
    """Outer dims of ``da`` (all but ``inner``) and every combination of their coordinates."""
    outer = [dim for dim in da.dims if dim not in inner]
    values = [da[dim].values for dim in outer]
    return outer, [dict(zip(outer, combo, strict=True)) for combo in itertools.product(*values)]


def stem(path_stem, selection: dict, sizes: dict) -> Path:
    """``path_stem`` plus the coordinates of the dims that vary (size > 1) in the sweep."""
    parts = [f"{dim}-{fmt(v)}" for dim, v in selection.items() if sizes.get(dim, 1) > 1]
    label = re.sub(r"[^A-Za-z0-9.+=_-]", "_", "_".join(parts))
    path = Path(path_stem)
    return path.with_name(f"{path.name}_{label}") if label else path


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """A Figure (Agg canvas, no pyplot state) of `width` x `height` inches."""
    return Figure(figsize=(width, height), layout=layout)


def panel_width(n_panels: int) -> float:
    """Figure width for `n_panels` side by side: one column for one panel, else the page."""
    return COLUMN_WIDTH if n_panels <= 1 else DOUBLE_COLUMN_WIDTH


def save(fig: Figure, path_stem, options: FigureOptions | None = None) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` in the project's style; returns the paths."""
    options = figure_options(options)
    path_stem = Path(path_stem)
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with style_context(options):
        for suffix in FORMATS:
            path = path_stem.with_name(f"{path_stem.name}.{suffix}")
            fig.savefig(path, dpi=DPI)
            paths.append(path)
    return paths


def save_all(figures, path_stem, sizes: dict, options: FigureOptions | None = None) -> list[Path]:
    """Save (selection, figure) pairs, one stem per selection; return the files written."""
    paths = []
    for selection, fig in figures:
        paths += save(fig, stem(path_stem, selection, sizes), options)
    return paths


def time_factor(ds: xr.Dataset, selection: Mapping, options: FigureOptions | None) -> float:
    """Factor from steps to the chosen time units at a group: 1, eta, or eta Delta.

    Raises
    ------
    ValueError
        If the units need eta (or Delta) and the group has no single value of it.
    """
    units = (options or FigureOptions()).time_units
    if units == "steps":
        return 1.0
    factor = _single(ds, selection, "eta")
    if units == "eta_Delta_t":
        factor *= _single(ds, selection, "Delta")
    return factor


def _single(ds: xr.Dataset, selection: Mapping, name: str) -> float:
    if name in selection:
        return float(scalar(selection[name]))
    if name in ds.coords:
        values = ds[name].sel({k: v for k, v in selection.items() if k in ds[name].dims})
        values = np.unique(np.asarray(values.values, dtype=float))
        if values.size == 1:
            return float(values[0])
    raise ValueError(
        f"figures.time_units: needs one value of {name} per figure group, the sweep has "
        f"{'none' if name not in ds.coords else 'several'} at {dict(selection)}"
    )
