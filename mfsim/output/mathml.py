"""Math of the HTML report as MathML, which browsers render natively (no script, no network).

:func:`render` turns the ASCII math of texts from the analysis (``d^alpha``, ``t_k^*``,
``ceil(t^sharp)``, ``sigma_1^2(u_(k+1))``, Greek letters spelled out) into MathML inside
otherwise HTML-escaped text; the other helpers build the report's own formulas.
"""

from __future__ import annotations

import html
import re

import numpy as np
from markupsafe import Markup

from mfsim.datamodel import stored_dimension_text

__all__ = ["assignments", "coordinate", "math", "number", "quantity", "render"]

GREEK = {
    "alpha": "\u03b1",
    "beta": "\u03b2",
    "gamma": "\u03b3",
    "delta": "\u03b4",
    "Delta": "\u0394",
    "eps": "\u03b5",
    "epsilon": "\u03b5",
    "eta": "\u03b7",
    "kappa": "\u03ba",
    "lambda": "\u03bb",
    "mu": "\u03bc",
    "rho": "\u03c1",
    "sigma": "\u03c3",
    "Sigma": "\u03a3",
    "varpi": "\u03d6",
}
#: Superscript words -> their symbol.
SUPERSCRIPTS = {"*": "*", "sharp": "\u266f", "star": "*", "T": "\u22a4"}


def math(inner: str) -> Markup:
    """``<math>`` element around MathML content (inline)."""
    return Markup(f"<math>{inner}</math>")


def _atom(token: str) -> str:
    """One identifier or number as MathML: Greek names become letters."""
    if token in GREEK:
        return f"<mi>{GREEK[token]}</mi>"
    if token in SUPERSCRIPTS:
        return f"<mo>{SUPERSCRIPTS[token]}</mo>"
    if re.fullmatch(r"[0-9.]+", token):
        return f"<mn>{token}</mn>"
    if len(token) == 1:
        return f"<mi>{html.escape(token)}</mi>"
    return f'<mi mathvariant="normal">{html.escape(token)}</mi>'


def _script(text: str) -> str:
    """A sub- or superscript: ``k``, ``(k+1)``, ``2``, ``*``, ``r+1``."""
    text = text[1:-1] if text.startswith("(") and text.endswith(")") else text
    parts = re.findall(r"[A-Za-z]+|[0-9.]+|[+\-*]", text)
    if len(parts) == 1:
        return _atom(parts[0])
    inner = "".join(f"<mo>{p}</mo>" if p in "+-" else _atom(p) for p in parts)
    return f"<mrow>{inner}</mrow>"


def _symbol(base: str, sub: str | None, sup: str | None) -> str:
    base_ml = _atom(base)
    if sub and sup:
        return f"<msubsup>{base_ml}{_script(sub)}{_script(sup)}</msubsup>"
    if sub:
        return f"<msub>{base_ml}{_script(sub)}</msub>"
    if sup:
        return f"<msup>{base_ml}{_script(sup)}</msup>"
    return base_ml


_SCRIPT = r"(?:\([^()\s]*\)|[A-Za-z0-9*]+)"
_TOKEN = re.compile(
    rf"(?<![\w.])(?P<base>[A-Za-z]+)(?:_(?P<sub>{_SCRIPT}))?(?:\^(?P<sup>{_SCRIPT}))?"
    rf"(?P<arg>\((?:[A-Za-z]+(?:_{_SCRIPT})?(?:\^{_SCRIPT})?)\))?(?![\w])"
)
_BIG_O = re.compile(r"O\(log d\)")


def _replace(match: re.Match) -> str:
    base, sub, sup, arg = match["base"], match["sub"], match["sup"], match["arg"]
    word = base not in GREEK and (len(base) > 1 or not (sub or sup))
    if word and not (arg and re.search(r"[_^]", arg) and not (sub or sup)):
        return _text(match[0])  # an ordinary word, or an identifier such as log_slope
    inner = _atom(base) if word else _symbol(base, sub, sup)
    if arg:
        inner_arg = _TOKEN.sub(lambda m: _bare(m), arg[1:-1])
        inner += f"<mo>(</mo>{inner_arg}<mo>)</mo>"
    return f"<math>{inner}</math>"


def _text(text: str) -> str:
    return html.escape(text).replace("&gt;=", "\u2265").replace("&lt;=", "\u2264")


def _bare(match: re.Match) -> str:
    return _symbol(match["base"], match["sub"], match["sup"])


def render(text: str) -> Markup:
    """HTML-escaped `text` with its ASCII math as MathML.

    Converted: Greek letters spelled out (``alpha``, ``eta``, ...), symbols with a subscript
    or superscript (``t_k^*``, ``d^alpha``, ``lambda_1``, ``sigma_1^2(u_(k+1))``) and
    ``O(log d)``; identifiers with several underscores (``log_slope``, ``t_k_star``) stay text.
    """
    out, last = [], 0
    for big_o in _BIG_O.finditer(text):
        out.append(_convert(text[last : big_o.start()]))
        out.append(big_o_log_d())
        last = big_o.end()
    out.append(_convert(text[last:]))
    return Markup("".join(out))


def _convert(text: str) -> str:
    """Math tokens to MathML, the text between them escaped."""
    out, last = [], 0
    for match in _TOKEN.finditer(text):
        out.append(_text(text[last : match.start()]))
        out.append(_replace(match))
        last = match.end()
    out.append(_text(text[last:]))
    return "".join(out)


def big_o_log_d() -> str:
    return (
        '<math><mi>O</mi><mo>(</mo><mi mathvariant="normal">log</mi><mo>&#x2061;</mo>'
        "<mi>d</mi><mo>)</mo></math>"
    )


#: Stage quantity -> MathML content of its symbol.
QUANTITY_SYMBOLS = {
    "t_k_star": "<msubsup><mi>t</mi><mi>k</mi><mo>*</mo></msubsup>",
    "t_eps": "<msub><mi>t</mi><mi>\u03b5</mi></msub>",
    "rise": '<msub><mi mathvariant="normal">rise</mi><mi>k</mi></msub>',
    "learned": '<msub><mi mathvariant="normal">learned</mi><mi>k</mi></msub>',
    "escape": '<msub><mi mathvariant="normal">escape</mi><mi>k</mi></msub>',
    "plateau": '<msub><mi mathvariant="normal">plateau</mi><mi>k</mi></msub>',
}
#: Coordinate -> symbol name (GREEK key or the letter itself).
COORDINATES = {"eps": "eps"}


def quantity(name: str) -> Markup:
    """The symbol of a stage quantity as ``<math>``."""
    if name in QUANTITY_SYMBOLS:
        return math(QUANTITY_SYMBOLS[name])
    return Markup(f"<code>{html.escape(name)}</code>")


def number(value, digits: int = 3) -> str:
    """MathML content of a number: ``<mn>``, with ``10^k`` for large or small magnitudes."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return f"<mtext>{html.escape(str(value))}</mtext>"
    if not np.isfinite(x):
        return (
            "<mi>\u221e</mi>"
            if x > 0
            else ("<mo>\u2212</mo><mi>\u221e</mi>" if x < 0 else "<mtext>NaN</mtext>")
        )
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        text = f"{x:.0f}" if x == round(x) else f"{x:.{digits}g}"
        return f"<mo>\u2212</mo><mn>{text[1:]}</mn>" if text.startswith("-") else f"<mn>{text}</mn>"
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    power = f"<msup><mn>10</mn><mn>{int(exponent)}</mn></msup>"
    mantissa = f"{float(mantissa):g}"
    if mantissa == "1":
        return power
    return f"<mn>{mantissa}</mn><mo>\u00d7</mo>{power}"


def dimension(stored) -> str:
    """MathML content of a stored d: :func:`number`, and ``10^1000`` where the store holds
    -log10 d (d beyond float64, :func:`mfsim.datamodel.stored_dimension`)."""
    try:
        x = float(stored)
    except (TypeError, ValueError):
        return number(stored)
    if not np.isfinite(x) or x >= 0:
        return number(stored)
    mantissa, exponent = stored_dimension_text(x).split("e+")
    power = f"<msup><mn>10</mn><mn>{int(exponent)}</mn></msup>"
    return power if mantissa == "1" else f"<mn>{mantissa}</mn><mo>\u00d7</mo>{power}"


def coordinate(dim: str, value) -> Markup:
    """``κ = 5`` as ``<math>``; a coordinate without a symbol as text."""
    name = COORDINATES.get(dim, dim)
    if dim == "varpi_exponent":
        return Markup("exponent of {} in {} = {}").format(
            math("<mi>d</mi>"), math(_atom("varpi")), value
        )
    if name not in GREEK and len(name) > 1:
        return Markup(f"{html.escape(dim)} = {html.escape(str(value))}")
    return math(f"{_atom(name)}<mo>=</mo>{number(value, 4)}")


def assignments(text: str) -> Markup:
    """``"kappa=5, eta=0.1"`` (the report's group text) as ``κ = 5, η = 0.1`` in MathML."""
    if not text:
        return Markup("")
    parts = []
    for item in text.split(", "):
        dim, sep, value = item.partition("=")
        parts.append(coordinate(dim, value) if sep else render(item))
    return Markup(", ").join(parts)
