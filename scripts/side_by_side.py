"""Bicubic beside DSRN for the README: ``side_by_side.py LR.png SR.png [SR2.png ...] OUT.png``.

``--label TEXT`` (once per SR image) names the panels; the default is ``DSRN xS``.
``--box X Y W H`` (LR pixels) crops every panel, ``--zoom N`` enlarges the crops
(nearest neighbour) so that artifacts stay visible.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dsrn_cli.pixels.resize import imresize

ap = argparse.ArgumentParser()
ap.add_argument("paths", nargs="+", help="LR SR [SR ...] OUT")
ap.add_argument("--label", action="append", default=[])
ap.add_argument("--box", type=int, nargs=4)
ap.add_argument("--zoom", type=int, default=1)
a = ap.parse_args()
lr = np.asarray(Image.open(a.paths[0]).convert("RGB"))
srs = [Image.open(p).convert("RGB") for p in a.paths[1:-1]]
scale = srs[0].width // lr.shape[1]
labels = [f"bicubic x{scale}"] + [
    a.label[i] if i < len(a.label) else f"DSRN x{scale}" for i in range(len(srs))]
panels = [Image.fromarray(imresize(lr, scale)), *srs]
if a.box:
    x, y, bw, bh = (v * scale for v in a.box)
    panels = [p.crop((x, y, x + bw, y + bh)) for p in panels]
panels = [p.resize((p.width * a.zoom, p.height * a.zoom), Image.NEAREST) for p in panels]
w = panels[0].width
out = Image.new("RGB", ((w + 8) * len(panels) - 8, panels[0].height + 24), "white")
draw = ImageDraw.Draw(out)
for i, (panel, label) in enumerate(zip(panels, labels, strict=True)):
    out.paste(panel, (i * (w + 8), 24))
    draw.text((i * (w + 8) + 4, 6), label, fill="black")
Path(a.paths[-1]).parent.mkdir(parents=True, exist_ok=True)
out.save(a.paths[-1], optimize=True)
