"""BatchNorm1D/2D without an oracle: small cases computed by hand, buffers, modes, errors.

(PyTorch parity over generated shapes is in test_torch_parity_layers.py.)
"""

import math
import random

import pytest

import purenet as pn
from purenet import Matrix
from purenet.layers.base import Buffer


def built(layer, shape):
    layer.build(shape, random.Random(0))
    return layer


def test_buffers_have_pytorch_names_shapes_and_initial_values():
    bn = built(pn.BatchNorm2D(), (3, 2, 2))
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert bn.weight.data == [1.0] * 3 and bn.bias.data == [0.0] * 3
    assert [p.tensor_shape for p in bn.parameters()] == [(3,), (3,)]
    named = bn.named_buffers()
    assert [n for n, _ in named] == ["running_mean", "running_var", "num_batches_tracked"]
    assert all(isinstance(b, Buffer) for _, b in named) and bn.buffers() == [b for _, b in named]
    mean, var, count = (b for _, b in named)
    assert (mean.data, var.data, count.data) == ([0.0] * 3, [1.0] * 3, [0.0])
    assert (mean.tensor_shape, var.tensor_shape, count.tensor_shape) == ((3,), (3,), ())
    assert (mean.dtype, var.dtype, count.dtype) == (None, None, "I64")
    assert not {id(b) for b in bn.buffers()} & {id(p) for p in bn.parameters()}  # optimizers never see them


def test_unbuilt_layer_has_no_state():
    assert pn.BatchNorm1D().named_buffers() == [] and pn.BatchNorm1D().parameters() == []


def test_training_normalises_each_channel_with_the_biased_variance():
    bn = built(pn.BatchNorm2D(momentum=0.25, eps=0.0 + 1e-12), (2, 1, 2))
    # channel 0 holds 1, 3 | 5, 7 (mean 4, biased var 5); channel 1 holds 2, 2 | 2, 2
    x = Matrix([[1.0, 3.0, 2.0, 2.0], [5.0, 7.0, 2.0, 2.0]])
    y = bn.forward(x, training=True)
    s = math.sqrt(5.0 + 1e-12)
    assert y.data == pytest.approx([-3 / s, -1 / s, 0.0, 0.0, 1 / s, 3 / s, 0.0, 0.0], abs=1e-12)
    assert bn.running_mean.data == pytest.approx([0.25 * 4.0, 0.25 * 2.0])
    # the unbiased variance, 20 / 3, goes into the running statistics
    assert bn.running_var.data == pytest.approx([0.25 * 20 / 3 + 0.75, 0.75])
    assert bn.num_batches_tracked.data == [1.0]


def test_evaluation_uses_the_running_statistics_and_changes_nothing():
    bn = built(pn.BatchNorm1D(eps=1e-5), (2,))
    bn.running_mean.assign([1.0, -2.0])
    bn.running_var.assign([4.0, 0.25])
    bn.weight.assign([2.0, 1.0])
    bn.bias.assign([0.5, 0.0])
    y = bn.forward(Matrix([[3.0, -1.0]]))
    assert y.data == pytest.approx([2.0 * 2.0 / math.sqrt(4.0 + 1e-5) + 0.5, 1.0 / math.sqrt(0.25 + 1e-5)])
    assert bn.running_mean.data == [1.0, -2.0] and bn.running_var.data == [4.0, 0.25]
    assert bn.num_batches_tracked.data == [0.0]


def test_momentum_none_is_the_average_of_every_batch():
    bn = built(pn.BatchNorm1D(momentum=None), (1,))
    means, variances = [], []
    rng = random.Random(1)
    for _ in range(5):
        values = [rng.uniform(-3.0, 3.0) for _ in range(4)]
        bn.forward(Matrix.from_flat(values, 4, 1), training=True)
        m = sum(values) / 4
        means.append(m)
        variances.append(sum((v - m) ** 2 for v in values) / 3)
    assert bn.running_mean.data == pytest.approx([sum(means) / 5])
    assert bn.running_var.data == pytest.approx([sum(variances) / 5])
    assert bn.num_batches_tracked.data == [5.0]


def test_rebuild_resets_the_state():
    bn = built(pn.BatchNorm2D(), (1, 2, 2))
    bn.forward(Matrix([[1.0, 2.0, 3.0, 5.0]]), training=True)
    assert bn.num_batches_tracked.data == [1.0]
    bn.build((1, 2, 2), random.Random(0))
    assert bn.num_batches_tracked.data == [0.0] and bn.running_mean.data == [0.0]


@pytest.mark.parametrize(
    "make,shape,message",
    [
        (lambda: pn.BatchNorm2D(), (4,), r"samples of shape \(C, H, W\); Received: \(4,\)"),
        (lambda: pn.BatchNorm1D(), (1, 2, 3), r"\(C,\) or \(C, L\); Received: \(1, 2, 3\)"),
    ],
)
def test_wrong_sample_shapes_are_refused(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make().build(shape, random.Random(0))


@pytest.mark.parametrize("kwargs", [{"momentum": 1.5}, {"momentum": -0.1}, {"momentum": "0.1"}, {"eps": 0.0},
                                    {"eps": -1.0}, {"eps": float("nan")}, {"momentum": True}])
def test_bad_configs_are_refused(kwargs):
    with pytest.raises(ValueError, match="Received"):
        pn.BatchNorm2D(**kwargs)


def test_backward_before_forward_says_so():
    bn = built(pn.BatchNorm1D(), (2,))
    with pytest.raises(RuntimeError, match="before forward"):
        bn.backward(Matrix([[1.0, 2.0]]))


@pytest.mark.parametrize("kwargs", [{"pool_size": 2, "padding": 2}, {"pool_size": 0}, {"pool_size": 2, "stride": 0},
                                    {"pool_size": 3, "padding": -1}])
def test_avgpool_bad_configs_are_refused(kwargs):
    with pytest.raises(ValueError, match="Received"):
        pn.AvgPool2D(**kwargs)


def test_avgpool_counts_the_padding_in_the_divisor():
    pool = built(pn.AvgPool2D(2, stride=2, padding=1), (1, 2, 2))
    assert pool.output_shape == (1, 2, 2)
    # every window holds one real value and three zeros of padding
    assert pool.forward(Matrix([[4.0, 8.0, 12.0, 16.0]])).data == [1.0, 2.0, 3.0, 4.0]
    assert pool.backward(Matrix([[4.0, 4.0, 4.0, 4.0]])).data == [1.0, 1.0, 1.0, 1.0]


def test_leaky_relu_config_and_refusals():
    assert pn.LeakyReLU().get_config() == {"negative_slope": 0.01}
    for bad in (float("inf"), "0.1", None, True):
        with pytest.raises(ValueError, match="Received"):
            pn.LeakyReLU(bad)


def test_a_model_with_the_new_layers_saves_and_loads(tmp_path):
    model = pn.Sequential(
        [pn.Conv2D(2, 3), pn.BatchNorm2D(), pn.LeakyReLU(), pn.AvgPool2D(2, padding=1), pn.GlobalAvgPool2D(),
         pn.BatchNorm1D(momentum=None), pn.Dense(3), pn.Softmax()],
        input_shape=(1, 6, 6),
        seed=0,
    )
    rng = random.Random(0)
    x = Matrix.from_flat([rng.random() for _ in range(4 * 36)], 4, 36)
    model.fit(x, [0, 1, 2, 1], epochs=2, batch_size=2, verbose=0)
    path = str(tmp_path / "m.safetensors")
    model.save(path, dtype="F64")
    clone = pn.load(path)
    assert repr(clone) == repr(model)
    assert clone.architecture == model.architecture
