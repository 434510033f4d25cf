"""Sample pictures mark each mode covered or missed exactly as modes_covered counts them."""

import torch
from PIL import Image

from ganbench.evaluation.modes import mode_metrics
from ganbench.evaluation.scatter import PRINT_DPI, covered_modes, scatter_plot

RING = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
SIGMA = 0.01


def test_covered_modes_agree_with_modes_covered_and_print_resolution(tmp_path):
    g = torch.Generator().manual_seed(0)
    # 400 samples on modes 0 and 1, 3 stray samples on mode 2 (below 0.1 x the expected 99), none on 3.
    centers = torch.cat([RING[torch.arange(400) % 2], RING[[2, 2, 2]]])
    samples = centers + SIGMA * torch.randn(403, 2, generator=g)
    assert covered_modes(samples, RING, SIGMA).tolist() == [True, True, False, False]
    assert mode_metrics(samples, RING, SIGMA)["modes_captured"] == 3  # PacGAN's count takes the strays
    path = scatter_plot(samples, RING, SIGMA, tmp_path / "ring.png", title="run")
    with Image.open(path) as image:
        assert round(image.info["dpi"][0]) == PRINT_DPI
