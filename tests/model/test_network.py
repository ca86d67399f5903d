import pytest
import torch

from dsrn_cli.model.config import DSRNConfig, get_config
from dsrn_cli.model.network import DSRN, count_parameters, receptive_radius
from tests.util import tiny_net


def small(**kw) -> DSRNConfig:
    base = dict(scale=2, c_lr=8, c_hr=4, c_first=8, steps=3)
    base.update(kw)
    return DSRNConfig(**base)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_shape(scale):
    m = DSRN(small(scale=scale))
    assert m(torch.rand(2, 1, 9, 11)).shape == (2, 1, 9 * scale, 11 * scale)


def test_named_configs():
    assert get_config("paper", 3).c_hr == 128 and get_config("paper", 3).steps == 7
    assert get_config("lite", 4).scale == 4
    with pytest.raises(ValueError):
        get_config("huge", 2)
    with pytest.raises(ValueError):
        DSRNConfig(scale=5)


def test_parameter_count_independent_of_t():
    counts = {count_parameters(DSRN(small(steps=t))) - 2 * t for t in (1, 3, 7)}
    assert len(counts) == 1  # only the 2T scalar PReLUs grow with T


def test_ablations_change_the_graph():
    full = DSRN(small())
    no_fb = DSRN(small(feedback=False))
    single = DSRN(small(single_state=True))
    unshared = DSRN(small(shared=False))
    assert hasattr(full.steps[0], "f_down") and not hasattr(no_fb.steps[0], "f_down")
    assert not hasattr(single.steps[0], "f_hr") and not hasattr(single.steps[0], "f_up")
    assert len(unshared.steps) == 3 and len(full.steps) == 1
    assert count_parameters(unshared) > count_parameters(full) > count_parameters(no_fb)
    for m in (no_fb, single, unshared):
        assert m(torch.rand(1, 1, 6, 6)).shape == (1, 1, 12, 12)


def test_feedback_reaches_lr_state():
    torch.manual_seed(0)
    m = DSRN(small())
    x = torch.rand(1, 1, 6, 6)
    y1 = m(x)
    with torch.no_grad():
        m.steps[0].f_down.weight.mul_(2)
    assert not torch.allclose(y1, m(x))


def test_averaged_output_equals_mean_of_predictions():
    torch.manual_seed(0)
    m = DSRN(small())
    x = torch.rand(1, 1, 7, 5)
    preds = [m.f_output(s) for s in m.hr_states(x)]
    assert len(preds) == 3
    torch.testing.assert_close(m.residual(x), torch.stack(preds).mean(0), atol=1e-6, rtol=1e-5)


def test_random_model_on_odd_image():
    m = DSRN(get_config("lite", 3, steps=2)).eval()
    with torch.no_grad():
        y = m(torch.rand(1, 1, 13, 7))
    assert y.shape == (1, 1, 39, 21) and torch.isfinite(y).all()


@pytest.mark.parametrize(
    "scale, kw",
    [(2, {}), (3, {"feedback": False}), (4, {"single_state": True}), (3, {"shared": False})],
)
def test_receptive_radius_is_the_exact_influence(scale: int, kw: dict) -> None:
    """One input pixel moves outputs up to exactly ``receptive_radius`` LR cells away."""
    torch.manual_seed(0)
    m = tiny_net(scale, width=8, steps=3, **kw).double()
    r = receptive_radius(m.cfg)
    n = 2 * r + 7
    c = n // 2
    x = torch.rand(1, 1, n, n, dtype=torch.float64)
    x2 = x.clone()
    x2[..., c, c] += 1.0  # change the centre pixel
    with torch.no_grad():
        d = (m.residual(x) - m.residual(x2)).abs()[0, 0]
    cells = torch.nonzero(d > 0) // scale  # LR cell of every HR pixel that moved
    reach = (cells - c).abs().max()
    assert reach == r  # no effect beyond the radius, and some effect at it
