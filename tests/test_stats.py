import numpy as np
import pytest

from dattt_nb.stats import bootstrap_ci, paired_delta_ci


def test_interval_covers_mean_and_narrows_with_more_videos():
    rng = np.random.default_rng(1)
    small = bootstrap_ci(rng.normal(0.3, 1.0, 8))
    large = bootstrap_ci(rng.normal(0.3, 1.0, 400))
    assert small.lo <= small.mean <= small.hi and large.lo <= large.mean <= large.hi
    assert (large.hi - large.lo) < (small.hi - small.lo) / 3
    assert large.verdict() == "helps"  # 400 videos at +0.3 sd: clearly above zero


def test_deterministic_and_verdicts():
    x = [0.01, 0.02, -0.01, 0.03]
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    assert bootstrap_ci([-0.2, -0.1, -0.3, -0.15]).verdict() == "hurts"
    assert bootstrap_ci([0.2, 0.3]).verdict() == "too few videos to tell", "two videos cannot make a verdict"
    assert bootstrap_ci([-0.2, 0.1, 0.3, -0.1]).verdict() == "no clear change"
    assert bootstrap_ci([]).n == 0 and bootstrap_ci([]).verdict() == "no clear change"
    assert bootstrap_ci([0.5]).lo == 0.5


def test_paired_and_format():
    ci = paired_delta_ci([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])
    assert ci.mean == pytest.approx(0.1) and ci.lo == pytest.approx(0.1)
    assert ci.format(scale=100) == "+10.00 [+10.00, +10.00]"
    with pytest.raises(ValueError, match="same videos"):
        paired_delta_ci([1, 2], [1])
