"""The data module: counter-seeded batches, one per iteration, grouped when a step runs several."""

import torch

from ganbench.data import GANDataModule
from ganbench.data.module import IterationGroups


def test_grouped_batches_are_the_iterations_batches_in_order():
    data = GANDataModule(batch_size=8, iterations_per_batch=3, seed=5)
    single = GANDataModule(batch_size=8, seed=5)
    grouped = iter(data.train_dataloader())
    expected = iter(single.train_dataloader())
    for _ in range(2):
        group = next(grouped)
        assert isinstance(group, list) and len(group) == 3
        for batch in group:
            assert torch.equal(batch, next(expected))


def test_a_resumed_run_groups_from_its_iteration():
    data = GANDataModule(batch_size=4, iterations_per_batch=2)
    later = next(iter(IterationGroups(data.batches_from(6), 2)))
    from_start = iter(data.batches_from(0))
    batches = [next(from_start) for _ in range(8)]
    assert torch.equal(later[0], batches[6]) and torch.equal(later[1], batches[7])


def test_a_finite_loader_ends_with_its_last_partial_group():
    assert list(IterationGroups(range(5), 2)) == [[0, 1], [2, 3], [4]]
