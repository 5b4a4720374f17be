"""Learning tests on real (bundled) MNIST: the network must actually learn.

Small and seeded, so each runs in seconds to tens of seconds; the full
training runs live in the CLI and benchmarks, not here.
"""

import purenet as pn
from purenet import architectures


def small_cnn(classes, seed=0):
    return pn.Sequential(
        [pn.Conv2D(4, 3), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dense(classes), pn.Softmax()],
        input_shape=(1, 28, 28),
        seed=seed,
    )


def test_the_original_task_zeros_and_ones():
    """The seed project's task: tell handwritten 0s from 1s (here at least 99.5%)."""
    x, y = pn.datasets.load_bundled("train")
    xt, yt = pn.datasets.load_bundled("test")
    x01, y01 = pn.datasets.select_classes(x, y, (0, 1))
    xt01, yt01 = pn.datasets.select_classes(xt, yt, (0, 1))
    model = small_cnn(2)
    before = model.evaluate(xt01, yt01)["accuracy"]
    history = model.fit(x01[:1000], y01[:1000], epochs=1, batch_size=32, optimizer=pn.Adam(1e-3))
    result = model.evaluate(xt01, yt01)
    assert len(xt01) == 400
    assert history["loss"][0] < 0.5
    assert result["accuracy"] >= 0.995, (before, result)


def test_cnn_small_learns_all_ten_digits():
    """cnn-small on the bundled data: >= 95% on the 2,000 test images.

    One pass over the 10,000 training images, then half a pass at a fifth of
    the learning rate (a one-step decay): ~96%, in 1.5 epochs of compute.
    """
    x, y = pn.datasets.load_bundled("train")
    xt, yt = pn.datasets.load_bundled("test")
    model = architectures.build("cnn-small", seed=0)
    optimizer = pn.SGD(0.05, momentum=0.9)
    first = model.fit(x, y, epochs=1, batch_size=32, optimizer=optimizer)
    optimizer.lr = 0.01
    model.fit(x[:5000], y[:5000], epochs=1, batch_size=32, optimizer=optimizer)
    result = model.evaluate(xt, yt)
    assert first["accuracy"][0] > 0.8
    assert result["accuracy"] >= 0.95, result


def _train_tiny(seed):
    x, y = pn.datasets.load_bundled("train")
    model = pn.Sequential(
        [pn.Conv2D(2, 3, stride=2), pn.ReLU(), pn.MaxPool2D(2), pn.Flatten(), pn.Dropout(0.25), pn.Dense(10), pn.Softmax()],
        input_shape=(1, 28, 28),
        seed=seed,
    )
    history = model.fit(x[:96], y[:96], epochs=2, batch_size=16, optimizer=pn.Adam(3e-3), validation_data=(x[96:128], y[96:128]))
    return model, history


def test_same_seed_gives_bit_identical_weights():
    a, ha = _train_tiny(seed=7)
    b, hb = _train_tiny(seed=7)
    c, _ = _train_tiny(seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert sa[name].data == sb[name].data, name  # exact equality, not closeness
    assert ha == hb
    assert any(sa[n].data != sc[n].data for n in sa)  # and the seed matters


def test_training_leaves_global_random_state_alone():
    import random

    random.seed(123)
    state = random.getstate()
    _train_tiny(seed=1)
    assert random.getstate() == state
