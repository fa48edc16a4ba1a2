"""Numbers written as text (as read from a file or a command line) are those numbers in arrays as in scalars; words
are refused with one line naming the quantity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling import BayesScalingError
from bayes_scaling.conventions import check_positive, check_positive_array, pf_days_to_flops, real_array
from bayes_scaling.testing import fake_fit


@pytest.fixture(scope="module")
def chin():
    return fake_fit(draws=50)


@pytest.mark.parametrize("text", ["1e9", ["1e9", "2e9"], np.array(["1e9", "2e9"]), pd.Series(["1e9", "2e9"]),
                                  np.array([1e9, "2e9"], dtype=object), (" 1e9 ", b"2e9")],
                         ids=["scalar", "list", "str array", "Series", "mixed object array", "spaces and bytes"])
def test_arrays_of_numeric_text_read_as_scalars_do(text):
    want = np.array([1e9, 2e9])[: np.size(text)]
    np.testing.assert_array_equal(real_array(text), want)
    np.testing.assert_array_equal(check_positive_array("N must be > 0", text, "N"), want)
    assert check_positive("N must be > 0", "1e9", "N") == 1e9


def test_queries_take_numeric_text_and_refuse_words(chin):
    a, b = chin.predict(N=["1e9", "2e9"], D="2e10", seed=0), chin.predict(N=[1e9, 2e9], D=2e10, seed=0)
    np.testing.assert_array_equal(a["loss"].values, b["loss"].values)
    np.testing.assert_array_equal(bs.compute_optimal(chin, ["1e21"])["N_opt"].values,
                                  bs.compute_optimal(chin, [1e21])["N_opt"].values)
    assert pf_days_to_flops(["1", "2"]).tolist() == pf_days_to_flops([1.0, 2.0]).tolist()
    for words in (["1e9", "big"], np.array(["1e9", "x"]), "big", ["True"]):
        with pytest.raises(BayesScalingError, match="parameters N must be a number or a list of numbers") as e:
            chin.predict(N=words, D=2e10)
        assert e.value.quantity == "N" and "\n" not in str(e.value)
    with pytest.raises(BayesScalingError, match="must be finite and > 0"):  # text that spells a bad number
        chin.predict(N=["1e9", "nan"], D=2e10)
