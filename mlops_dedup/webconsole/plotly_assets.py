"""plotly.js for a page whose Content-Security-Policy allows no inline style: the library served from the installed
plotly package, its global CSS rules (which it would otherwise insert as a <style> element) as a stylesheet of
ours, and the ids of the <style> elements it would create, so the page can pre-empt them."""

from __future__ import annotations

import ast
import re
from functools import cache

import plotly.offline

# plotly.js (>= 2.35) skips its global <style> when an element of this id with class no-inline-styles exists.
GLOBAL_STYLE_ID = "plotly.js-style-global"
# The object of global rules: {"X,X div": 'direction:ltr;…', …}; X and Y stand for the selectors below.
RULES_OBJECT = re.compile(r"=\{(\"X,X div\".*?)\};for\(\w+ in \w+\)")
STRING = r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
RULE = re.compile(STRING + r"\s*:\s*" + STRING)
SELECTOR_PARTS = (("X", ".js-plotly-plot .plotly"), ("Y", ".plotly-notifier"))
# Bundled CSS (maplibre's) is injected unless an element of its id exists: "if(!document.getElementById("<id>"))".
BUNDLED_STYLE = re.compile(
    r'if\(!document\.getElementById\("([0-9a-f]{32,64})"\)\)\{var \w+=document\.createElement\("style"\)'
)


@cache
def plotly_js() -> bytes:
    """The plotly.js bundle of the installed plotly package."""
    return plotly.offline.get_plotlyjs().encode()


@cache
def plotly_css() -> str:
    """plotly.js's global style rules as a stylesheet. RuntimeError when the bundle no longer carries them in the
    shape read here (a plotly upgrade): charts would then be unstyled, which a test notices."""
    source = plotly_js().decode()
    found = RULES_OBJECT.search(source)
    if not found:
        raise RuntimeError("plotly.js global style rules not found in the bundle; see webconsole/plotly_assets.py")
    rules = []
    for selector, declarations in RULE.findall(found.group(1)):
        selector = ast.literal_eval(selector)
        if selector.startswith(","):
            selector = " " + selector
        for letter, replacement in SELECTOR_PARTS:
            selector = selector.replace(letter, replacement)
        rules.append(f"{selector}{{{ast.literal_eval(declarations)}}}")
    return "\n".join(rules) + "\n"


@cache
def bundled_style_ids() -> list[str]:
    """Ids of the <style> elements the bundle creates at load time unless present (maplibre's CSS: no map here)."""
    return BUNDLED_STYLE.findall(plotly_js().decode())
