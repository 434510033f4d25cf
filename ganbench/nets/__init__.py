"""Generator/discriminator pairs, registered by name (``--model.net=NAME``)."""

from ganbench.nets import dcgan, gaussian, mlp, pacgan, resnet  # noqa: F401  (register the nets)
from ganbench.nets.registry import NETS, NetPair, build_nets

__all__ = ["NETS", "NetPair", "build_nets"]
