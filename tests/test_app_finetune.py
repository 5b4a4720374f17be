"""Fine-tuning on labelled drawings: on a copy, with replay, progress and cancel."""

import threading

import pytest

import purenet as pn
from purenet import architectures
from purenet.app.finetune import Cancelled, FineTune, copy_model
from purenet.cli import PRETRAINED_MODEL

SMALL = dict(replay_size=16, epochs=1, batch_size=8, check=0)


@pytest.fixture(scope="module")
def shipped():
    return pn.load(PRETRAINED_MODEL)


@pytest.fixture(scope="module")
def mnist_test():
    return pn.datasets.load_bundled("test")


def weights(model):
    return {k: list(v.data) for k, v in model.state_dict().items()}


def right(model, images, labels):
    """The fraction of ``images`` the model classifies as ``labels``."""
    return sum(p == y for p, y in zip(model.predict_classes(images), labels)) / len(labels)


def test_copy_model_is_independent(shipped):
    twin = copy_model(shipped)
    assert weights(twin) == weights(shipped) and twin.classes == shipped.classes
    assert twin.history == shipped.history and twin.history is not shipped.history
    twin.layers[0].weight.data[0] += 1.0
    assert weights(twin) != weights(shipped)


def test_run_trains_a_copy_and_reports(shipped, mnist_test):
    images, digits = mnist_test
    before = weights(shipped)
    progress = []
    job = FineTune(shipped, [images[i] for i in range(6)], digits[:6], replay=mnist_test, **SMALL)
    result = job.run(lambda done, total: progress.append((done, total)))
    assert weights(shipped) == before  # the live model is untouched
    assert weights(result.model) != before
    assert result.trained_on == (6, 16) and result.skipped == 0
    total = -(-(6 * 3 + 16) // 8)  # each drawing 3 times + the replay, batches of 8, one pass
    assert progress == [(i, total) for i in range(total + 1)]
    # the fractions of the six drawings each model gets right, measured here independently
    six = [images[i] for i in range(6)]
    assert result.user_before == right(shipped, six, digits[:6])
    assert result.user_after == right(result.model, six, digits[:6])
    assert result.check_before is None and "Right on your drawings" in result.summary()
    assert result.model.loss is None and result.model.optimizer is None


def test_finetuning_learns_the_drawings():
    """An untrained model fine-tuned on four drawings gets them right afterwards."""
    model = architectures.build("cnn-small", classes=2, seed=1)
    model.classes = [0, 1]
    images, digits = pn.datasets.load_bundled("train")
    picks = [i for i, d in enumerate(digits) if d in (0, 1)][:4]
    job = FineTune(model, [images[i] for i in picks], [digits[i] for i in picks], replay_size=0,
                   epochs=12, batch_size=4, lr=0.05, check=0)
    result = job.run()
    assert result.user_after == 1.0 and result.trained_on == (4, 0)


def test_drawings_of_other_digits_are_left_out(mnist_test):
    model = architectures.build("cnn-small", classes=2)
    model.classes = [0, 1]
    images, digits = mnist_test
    picks = [i for i, d in enumerate(digits) if d in (0, 1)][:3] + [i for i, d in enumerate(digits) if d == 7][:2]
    job = FineTune(model, [images[i] for i in picks], [digits[i] for i in picks], replay=mnist_test, **SMALL)
    assert len(job.drawings) == 3 and job.skipped == 2
    result = job.run()
    assert result.skipped == 2 and "2 drawings of other digits left out" in result.summary()
    with pytest.raises(ValueError, match="model's classes"):
        FineTune(model, [images[picks[-1]]], [7], **SMALL)


def test_replay_draws_only_the_models_classes(mnist_test):
    model = architectures.build("mlp", classes=2)
    model.classes = [3, 5]
    images, digits = mnist_test
    job = FineTune(model, [images[0]], [3], replay=mnist_test, replay_size=50, check=0)
    import random

    sample = job._replay_sample(random.Random(0))
    assert len(sample) == 50 and {y for _, y in sample} == {0, 1}  # class indices of 3 and 5


def test_check_measures_mnist_before_and_after(shipped, mnist_test):
    images, digits = mnist_test
    result = FineTune(shipped, [images[0]], [digits[0]], replay=mnist_test, replay_size=8, epochs=1,
                      check=40).run()
    # the first 40 bundled test images, measured here independently with each model
    x, y = pn.datasets.load_bundled("test")
    assert result.check_before == right(shipped, x[:40], y[:40]) >= 0.9
    assert result.check_after == right(result.model, x[:40], y[:40])
    assert "MNIST: " in result.summary()


def test_start_runs_in_a_thread_and_cancel_stops_it(shipped, mnist_test):
    images, digits = mnist_test
    job = FineTune(shipped, [images[0]], [digits[0]], replay=mnist_test, replay_size=2000, epochs=3, check=0)
    first = threading.Event()

    def on_progress(done, total):
        assert threading.current_thread() is not threading.main_thread()
        if done >= 1:
            first.set()

    job.start(on_progress)
    assert first.wait(60)
    assert job.running
    job.cancel()
    job.join(60)
    assert not job.running and isinstance(job.error, Cancelled) and job.result is None


def test_an_error_in_the_thread_is_kept(shipped, mnist_test):
    images, digits = mnist_test
    job = FineTune(shipped, [images[0]], [digits[0]], replay=mnist_test, **SMALL)

    def broken(done, total):
        raise RuntimeError("boom")

    job.start(broken)
    job.join(60)
    assert isinstance(job.error, RuntimeError) and job.result is None


def test_mismatched_lengths_are_refused(shipped):
    with pytest.raises(ValueError, match="one digit per drawing"):
        FineTune(shipped, [[0.0] * 784], [1, 2])


def test_the_fine_tune_is_recorded_in_the_history(shipped, mnist_test, tmp_path):
    """It trains through model.fit: its epochs follow the model's earlier ones in the history
    (with the MNIST check sample as validation data), which the saved file keeps."""
    images, digits = mnist_test
    job = FineTune(shipped, [images[0], images[1]], digits[:2], replay=mnist_test, replay_size=8, epochs=2,
                   check=20)
    result = job.run()
    before, after = shipped.history, result.model.history
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert after[key][: len(before[key])] == before[key]
        assert len(after[key]) == len(before[key]) + 2
    assert after["val_accuracy"][-1] == pytest.approx(result.check_after)
    path = str(tmp_path / "tuned.safetensors")
    result.model.save(path)
    assert pn.load(path).history["loss"][-2:] == pytest.approx(after["loss"][-2:], rel=1e-6)
