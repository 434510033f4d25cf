"""A callback for tests/test_ddp.py's DDP fit (imported by both ranks): what each rank saw, gathered."""

import json

import torch
from lightning.pytorch import Callback

from ganbench.evaluation.callback import Evaluation


class Probe(Callback):
    def __init__(self, out: str) -> None:
        self.out, self.seen = out, {}

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == 0:
            self.seen["noise"] = module.all_gather(torch.randn(3)).tolist()
            self.seen["batch"] = module.all_gather(batch[0]).tolist()

    def on_train_end(self, trainer, module):
        evaluation = next(cb for cb in trainer.callbacks if isinstance(cb, Evaluation))
        self.seen["evaluations_run"] = module.all_gather(torch.tensor(evaluation.evaluations_run)).tolist()
        history = torch.tensor([h["modes_captured"] for h in module.evaluation_history])
        self.seen["history"] = module.all_gather(history).tolist()
        params = torch.nn.utils.parameters_to_vector(module.parameters()).detach()
        self.seen["params"] = module.all_gather(params).tolist()
        if trainer.is_global_zero:
            self.seen["world_size"] = trainer.world_size
            with open(self.out, "w") as f:
                json.dump(self.seen, f)
