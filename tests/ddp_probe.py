"""Run by tests/test_ddp.py: two CPU ranks (gloo) train the toy GAN and report what each rank saw."""

import json
import sys

import torch
from lightning.pytorch import Callback, Trainer, seed_everything

from ganbench.data import GANDataModule
from ganbench.evaluation.callback import Evaluation
from ganbench.module import GAN


class Probe(Callback):
    def __init__(self, out):
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


if __name__ == "__main__":
    seed_everything(0)
    trainer = Trainer(
        strategy="ddp_find_unused_parameters_true",
        accelerator="cpu",
        devices=2,
        max_steps=5,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        default_root_dir=sys.argv[2],
        callbacks=[Evaluation(every_n_iterations=2, num_samples=100, plot=False), Probe(sys.argv[1])],
    )
    trainer.fit(GAN(objective="nonsaturating"), GANDataModule(batch_size=32, seed=0))
