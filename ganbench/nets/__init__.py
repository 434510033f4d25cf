"""Generator/discriminator pairs, registered by name (``--model.net=NAME``)."""

from ganbench.nets.registry import NETS, NetPair, build_nets
from ganbench.nets import mlp  # noqa: F401  (registers "mlp")

__all__ = ["NETS", "NetPair", "build_nets"]
