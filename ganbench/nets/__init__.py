"""Generator/discriminator pairs, registered by name (``--model.net=NAME``)."""

from ganbench.nets import mlp  # noqa: F401  (registers "mlp")
from ganbench.nets.registry import NETS, NetPair, build_nets

__all__ = ["NETS", "NetPair", "build_nets"]
