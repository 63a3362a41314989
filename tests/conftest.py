"""Shared fixtures. Training is the expensive part of the suite (tracing a step takes 10-25 s on
two CPU cores), so one short demo run is trained once and shared by every test that needs a
trained model."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

# Trained for DEMO_TEST_EPOCHS epochs of 200 steps; test_train asserts it reaches DEMO_TEST_SCORE.
DEMO_TEST_EPOCHS = 2


# Module fixtures that train a run: the tests of each such module go to one worker, which trains it once.
MODULE_RUNS = {"colour_run", "cut_run", "runs", "pix2pix_run", "bands_run"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which reads the groups into the tests' ids
def pytest_collection_modifyitems(config, items):
    """`make test` runs the suite on two pytest-xdist workers (`--dist loadgroup`): the tests of the shared
    demo run go to one worker, so that it is trained once, the tests of a module's trained run to one worker
    (the demo run's, when one of them needs both), and the others are spread over both."""
    demo = {"demo_run", "demo_score"}
    uses = {item: set(getattr(item, "fixturenames", ())) for item in items}
    with_demo = {item.module.__name__ for item, used in uses.items() if demo & used and MODULE_RUNS & used}
    for item, used in uses.items():
        if demo & used or (MODULE_RUNS & used and item.module.__name__ in with_demo):
            item.add_marker(pytest.mark.xdist_group("demo_run"))
        elif MODULE_RUNS & used:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, data_dir):
    """A CycleGAN trained on the demo dataset with the demo preset, shortened to 2 epochs."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Once per `pytest -n` run: the workers' temporary folders share a parent, where the first to train it
        # says so. A second means pytest-xdist's groups stopped working (pytest-dev/pytest-xdist#1386: setup.cfg
        # pins pytest below the version that broke them).
        try:
            (tmp_path_factory.getbasetemp().parent / "demo_run.trained").touch(exist_ok=False)
        except FileExistsError:
            pytest.fail("the demo run is trained a second time: pytest-xdist did not keep its tests on one worker")
    from cyclegan_tf.config import make_config
    from cyclegan_tf.training.trainer import train

    cfg = make_config(dict(dataset="demo", data_dir=str(data_dir), name="demo",
                           checkpoints_dir=str(tmp_path_factory.mktemp("runs")),
                           n_epochs=1, n_epochs_decay=DEMO_TEST_EPOCHS - 1, seed=0))
    return train(cfg, verbose=0)


@pytest.fixture(scope="session")
def demo_score(demo_run):
    """The demo run's exact demo score ({"score", "AtoB": {"iou", "style_accuracy"}, "BtoA": ...})."""
    from cyclegan_tf.config import TrainConfig
    from cyclegan_tf.evaluation.exact import model_exact_scores

    config = TrainConfig.load(demo_run.run_dir / "config.json")
    return model_exact_scores(demo_run.model, config, demo_run.dataroot).demo

