"""ganbench: a benchmark of GAN objectives for convergence and mode collapse."""

__version__ = "0.1.0"
