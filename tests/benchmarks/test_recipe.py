"""The recipe table: each recipe's final top-1 per network, today's against the others with their noise."""

from benchmarks.recipe import NETWORKS, RECIPES, report, settings_of


def run(top1: float) -> dict:
    return {"top1": [top1 / 2, top1], "train_loss": [1.5, 1.0]}


def test_each_recipe_is_todays_with_its_changes():
    assert settings_of("after", "/d", 12, 0).grad_clip == 10.0 and settings_of("clip5", "/d", 12, 0).grad_clip == 5.0
    before, first_fix = settings_of("before", "/d", 12, 1), settings_of("zero-init", "/d", 12, 1)
    assert (before.lr, before.zero_init_residual, before.grad_clip, before.warmup) == (0.05, False, None, 1 / 12)
    assert (first_fix.lr, first_fix.zero_init_residual, first_fix.grad_clip, first_fix.seed) == (0.025, True, None, 1)
    assert set(RECIPES) == {"before", "zero-init", "clip5", "after"}


def test_a_gap_beyond_the_pooled_seed_noise_is_called_so_and_one_within_it_is_not():
    name = next(iter(NETWORKS))
    runs = {f"before|{name}|0": run(0.50), f"before|{name}|1": run(0.51),
            f"after|{name}|0": run(0.78), f"after|{name}|1": run(0.77)}
    table = report({"runs": runs, "epochs": 2, "dataset": "d", "machine": "m"})
    row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
    assert "50.5% (50.0%, 51.0%)" in row and "77.5% (78.0%, 77.0%)" in row and "+27.0 ±" in row
    assert "(beyond noise)" in row and "zero-init" not in table  # a recipe with no runs gets no column
    close = {**runs, f"after|{name}|0": run(0.51), f"after|{name}|1": run(0.50)}
    assert "(within noise)" in report({"runs": close, "epochs": 2})


def test_each_recipe_carries_its_own_seed_noise():
    first, second = list(NETWORKS)[:2]
    runs = {f"before|{first}|0": run(0.50), f"before|{first}|1": run(0.70),  # the old recipe: wild
            f"before|{second}|0": run(0.52), f"before|{second}|1": run(0.70),
            f"after|{first}|0": run(0.78), f"after|{first}|1": run(0.77),  # today's: calm
            f"after|{second}|0": run(0.76), f"after|{second}|1": run(0.77)}
    table = report({"runs": runs, "epochs": 2})
    assert "before 13.5% (2), after 0.7% (2)" in table
