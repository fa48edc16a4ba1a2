"""``datasets``' run-noise hint counts replicates as ``fit --run-noise`` does (inference.model.input_configurations):
over the law's other inputs too, so the suggested command is never refused for lack of replicates."""

from __future__ import annotations

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.commands.data import export_frame, replicated_configurations
from bayes_scaling.inference.model import configurations


def _ladder(**extra):
    """Two seeds at each of 3 (N, D) configurations."""
    n = np.repeat([1e8, 3e8, 1e9], 2)
    return pd.DataFrame({"params": n, "tokens": 20 * n, "seed": [0, 1] * 3, **extra})


def test_a_metric_tables_seeds_are_replicates_although_each_measures_its_own_L():
    loss = np.repeat([3.0, 2.8, 2.6], 2) + np.tile([0.0, 0.01], 3)  # each seed's own predictor L
    frame = _ladder(metric=np.linspace(0.3, 0.6, 6), L=loss)
    runs = bs.load_runs(frame, extra_cols={"L": "L"}, seed_col="seed")
    assert configurations(bs.get_law("sigmoid_metric"), runs)[1].max() == 2  # what fit --run-noise sees: keyed on N, D
    assert replicated_configurations(runs) == (3, ("N", "D"))
    assert "--run-noise" in export_frame(runs)[1]


def test_a_loss_tables_replicates_are_keyed_on_every_input_it_carries():
    frame = _ladder(loss=np.linspace(3.0, 2.5, 6), U=np.repeat([1e9, 6e9, 2e10], 2) * np.tile([1.0, 0.5], 3))
    runs = bs.load_runs(frame, extra_cols={"U": "U"}, seed_col="seed")
    assert replicated_configurations(runs) == (0, ("N", "D", "U"))  # the seeds saw different unique data U
    runs = bs.load_runs(frame.drop(columns="U"), seed_col="seed")
    assert replicated_configurations(runs) == (3, ("N", "D"))


def test_runs_of_declared_groups_at_one_n_d_are_not_replicates_of_a_pooled_fit():
    """Two datasets trained at the same (N, D) were set apart on purpose: not replicates, whether or not the fit
    varies by the group (stop 28 counted them 1/k each in a pooled fit's calibration and stacking)."""
    from bayes_scaling.inference.model import replicate_shares

    frame = _ladder(loss=np.linspace(3.0, 2.5, 6)).assign(dataset=np.tile(["a", "b"], 3))
    runs = bs.load_runs(frame.drop(columns="seed"), group_cols=["dataset"])
    idx, counts, by = configurations(bs.get_law("chinchilla"), runs)
    assert counts.max() == 1 and by == ("N", "D", "dataset")
    assert np.all(replicate_shares([bs.get_law("chinchilla")], runs) == 1.0)
    same = bs.load_runs(frame.drop(columns="seed").assign(dataset="a"), group_cols=["dataset"])
    assert configurations(bs.get_law("chinchilla"), same)[1].max() == 2  # one label: replicates again, keyed on N, D
    assert configurations(bs.get_law("chinchilla"), same)[2] == ("N", "D")


def test_design_runs_take_the_tables_one_group_label_and_stay_replicates():
    """A simulated design run on a table that declares one group: it takes that label (a run at a recorded (N, D) is
    a replicate there) and run noise's cells are built (a missing label crashed np.unique before)."""
    from dataclasses import replace

    from bayes_scaling.inference.design import with_simulated_runs
    from bayes_scaling.inference.model import model_data
    from bayes_scaling.specs.spec import default_spec
    from bayes_scaling.testing import fake_fit

    n = np.repeat([1e8, 3e8, 1e9, 3e9], 2)
    f = pd.DataFrame({"params": n, "tokens": 20 * n, "seed": [0, 1] * 4, "dataset": "a",
                      "loss": 1.7 + 400 / n ** 0.34 + 410 / (20 * n) ** 0.28 + np.tile([0, 0.01], 4)})
    runs = bs.load_runs(f, group_cols=["dataset"], seed_col="seed")
    spec = default_spec("chinchilla")
    spec = replace(spec, likelihood=replace(spec.likelihood, family="normal")).synced()
    sim = with_simulated_runs(fake_fit(spec=spec, runs=runs, run_noise=True), [1e9], [2e10],
                              rng=np.random.default_rng(0))
    assert sim.frame["dataset"].iloc[-1] == "a"
    assert configurations(bs.get_law("chinchilla"), sim)[1].max() == 3  # the new run joins the two at (1e9, 2e10)
    assert model_data(spec, sim, run_noise=True) is not None
