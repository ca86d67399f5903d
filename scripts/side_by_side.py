"""Bicubic beside DSRN for the README: ``side_by_side.py LR.png SR.png OUT.png``."""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image, ImageDraw

from dsrn_cli.resize import imresize

lr = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
sr = Image.open(sys.argv[2]).convert("RGB")
scale = sr.width // lr.shape[1]
bic = Image.fromarray(imresize(lr, scale))
out = Image.new("RGB", (bic.width + sr.width + 8, sr.height + 24), "white")
out.paste(bic, (0, 24))
out.paste(sr, (bic.width + 8, 24))
draw = ImageDraw.Draw(out)
draw.text((4, 6), f"bicubic x{scale}", fill="black")
draw.text((bic.width + 12, 6), f"DSRN x{scale}", fill="black")
out.save(sys.argv[3])
