"""Draw packaging/thighmap.png, the application icon (our own drawing, 256 x 256)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Polygon  # noqa: E402

fig = plt.figure(figsize=(2.56, 2.56), dpi=100)
ax = fig.add_axes((0, 0, 1, 1))
ax.set_xlim(0, 1)
ax.set_ylim(0, 1)
ax.axis("off")
ax.add_patch(FancyBboxPatch((0.04, 0.04), 0.92, 0.92, boxstyle="round,pad=0,rounding_size=0.18", fc="#20242b"))
ax.add_patch(Polygon([(0.3, 0.9), (0.7, 0.9), (0.6, 0.12), (0.4, 0.12)], closed=True, fc="#a3483a"))  # thigh
ax.plot([0.47, 0.5, 0.52, 0.51], [0.88, 0.6, 0.35, 0.12], color="#f2cd32", lw=7, solid_capstyle="round")  # nerve
ax.plot([0.9, 0.66], [0.64, 0.52], color="#d8dde6", lw=4, solid_capstyle="round")  # needle
ax.plot([0.66, 0.61], [0.52, 0.495], color="#1f9e4a", lw=4, solid_capstyle="round")  # tip, clear of the nerve
fig.savefig(Path(__file__).with_name("thighmap.png"), transparent=True)
