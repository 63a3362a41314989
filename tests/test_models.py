"""The CycleGAN model: its train_step learns, returns every term, and its schedule is the reference's."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.models.cycle_gan import CycleGAN
from cyclegan_tf.nn import losses
from cyclegan_tf.nn.schedules import EpochSchedule, LinearDecay


def tiny_config(**overrides):
    values = dict(dataset="x", netG="resnet_6blocks", ngf=8, ndf=8, n_epochs=1, n_epochs_decay=1, seed=0)
    return TrainConfig(**{**values, **overrides})


def test_linear_decay_is_the_reference_schedule():
    schedule = LinearDecay(2e-4, steps_per_epoch=10, n_epochs=100, n_epochs_decay=100)
    rate = lambda epoch: float(schedule((epoch - 1) * 10 + 3))  # a step inside 1-based `epoch`
    assert rate(1) == rate(100) == pytest.approx(2e-4)
    assert rate(101) == pytest.approx(2e-4 * (1 - 1 / 101))
    assert rate(150) == pytest.approx(2e-4 * (1 - 50 / 101))
    assert rate(200) == pytest.approx(2e-4 / 101)
    assert float(schedule(200 * 10)) == 0.0  # past the end
    assert LinearDecay(**schedule.get_config()).get_config() == schedule.get_config()
    # --epoch-count 51: the reference's epoch 51 is our first; the rate counts from it
    later = LinearDecay(2e-4, steps_per_epoch=10, n_epochs=100, n_epochs_decay=100, epoch_count=51)
    assert float(later(3)) == rate(51) and float(later(60 * 10 + 3)) == pytest.approx(rate(111))


@pytest.mark.parametrize("policy", ["step", "cosine"])
def test_lr_policies_equal_pytorchs_schedulers(policy):
    import torch

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2e-4)
    theirs = (torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1) if policy == "step"
              else torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=20))
    ours = EpochSchedule(2e-4, steps_per_epoch=10, n_epochs=20, n_epochs_decay=5, policy=policy, lr_decay_iters=7)
    rates = []
    for epoch in range(35):  # the reference steps its scheduler once per epoch
        rates.append(float(ours(epoch * 10 + 9)))
        assert rates[-1] == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-4, abs=1e-12), epoch
        optimizer.step()
        theirs.step()
    assert len(set(rates)) > 3  # it changed
    assert EpochSchedule(**ours.get_config()).get_config() == ours.get_config()


def test_plateau_equals_pytorchs_reduce_on_plateau_and_resumes_with_the_run(tmp_path):
    import torch

    from cyclegan_tf.runs import checkpoints

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2e-4)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.2, threshold=0.01,
                                                        patience=5)  # the reference's settings
    model = CycleGAN.build(tiny_config(lr=2e-4, lr_policy="plateau"), steps_per_epoch=10, image_shape=(32, 32))
    assert model.TRAINING_STATE[-1] == "lr_plateau" and CycleGAN.TRAINING_STATE[-1] != "lr_plateau"
    losses_by_epoch = [5.0, 4.0, 3.99, 3.98, 3.97, 3.96, 3.95, 3.94, 2.0, 2.0, 1.99, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    rates = []
    for value in losses_by_epoch:
        model.lr_plateau.step(value)
        theirs.step(value)
        rates.append(float(model.g_optimizer.learning_rate))
        assert rates[-1] == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-5)
        assert float(model.d_optimizer.learning_rate) == rates[-1]
    assert rates[0] == pytest.approx(2e-4) and rates[-1] == pytest.approx(2e-4 * 0.2)  # lowered when PyTorch did
    checkpoints.save_checkpoint(model, tmp_path, "latest_00000170", 170, 17, tiny_config(lr_policy="plateau"),
                                training_state=True)
    again = CycleGAN.build(tiny_config(lr=2e-4, lr_policy="plateau"), steps_per_epoch=10, image_shape=(32, 32))
    with checkpoints.open_checkpoint(tmp_path) as opened:
        opened.restore(checkpoints.parts_of(again, checkpoints.all_groups(again)))
    for name in ("scale", "best", "bad_epochs"):
        assert float(getattr(again.lr_plateau, name).numpy()) == float(getattr(model.lr_plateau, name).numpy())


def test_train_step_lowers_the_cycle_loss_and_reports_every_term():
    keras.utils.set_random_seed(0)
    # One fixed pair: a smooth image in each domain (the generators can learn to cycle it).
    yy, xx = np.mgrid[:32, :32] / 31.0
    real_a = np.stack([xx, yy, xx * yy], -1)[None].astype("float32") * 2 - 1
    real_b = np.stack([yy, 1 - xx, np.full_like(xx, 0.3)], -1)[None].astype("float32") * 2 - 1
    model = CycleGAN.build(tiny_config(lr=1e-3), steps_per_epoch=40, image_shape=(32, 32))
    data = tf.data.Dataset.from_tensors((real_a, real_b)).repeat()
    history = model.fit(data, epochs=2, steps_per_epoch=40, verbose=0, shuffle=False).history
    assert set(history) == set(CycleGAN.LOSS_NAMES) | {"lr"}
    for values in history.values():
        assert np.all(np.isfinite(values))
    first = model.generator_losses(real_a, real_b, training=False)[0]
    # Epoch means fall; the cycle loss at the end is a third of an untrained model's at most.
    assert history["cycle_A"][1] < history["cycle_A"][0]
    untrained = CycleGAN.build(tiny_config(), 40, (32, 32)).generator_losses(real_a, real_b, training=False)[0]
    for term in ("cycle_A", "cycle_B"):
        assert float(first[term]) < float(untrained[term]) / 3
    assert history["lr"] == pytest.approx([1e-3, 5e-4])
    assert int(model.g_optimizer.iterations.numpy()) == int(model.d_optimizer.iterations.numpy()) == 80
    assert int(model.pool_A.count.numpy()) == 50  # the pool filled


@pytest.mark.parametrize("gan_mode", losses.GAN_MODES)
def test_every_gan_mode_gives_finite_terms(gan_mode):
    model = CycleGAN.build(tiny_config(gan_mode=gan_mode, lambda_identity=0), 1, (32, 32))
    x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    g_terms, fake_a, fake_b = model.generator_losses(x, x[::-1])
    assert set(g_terms) == {"G_AB", "G_BA", "cycle_A", "cycle_B"}  # identity off
    d_terms = model.discriminator_losses(x, x[::-1], fake_a, fake_b)
    assert all(np.isfinite(float(v)) for v in {**g_terms, **d_terms}.values())


def test_gradient_penalty_is_added_to_the_discriminator_loss(monkeypatch):
    model = CycleGAN.build(tiny_config(gan_mode="wgangp"), 1, (32, 32))
    x = np.random.default_rng(2).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    y = x[:, ::-1].copy()
    monkeypatch.setattr(losses, "gradient_penalty", lambda D, real, fake, weight: 100.0 + 0 * weight)
    with_penalty = model.discriminator_losses(x, x, y, y)
    base = losses.discriminator_loss(model.D_A(x), model.D_A(y), "wgangp")
    assert float(with_penalty["D_A"]) == pytest.approx(float(base) + 100.0, rel=1e-5)


def test_identity_and_cycle_weights_follow_the_reference():
    model = CycleGAN.build(tiny_config(lambda_A=10, lambda_B=4, lambda_identity=0.5), 1, (32, 32))
    x = np.random.default_rng(3).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    terms, _, _ = model.generator_losses(x, x[:, ::-1], training=False)
    idt_b = losses.l1(model.G_AB(x[:, ::-1], training=False), x[:, ::-1])  # G_AB on a B image: weight lambda_B
    assert float(terms["idt_B"]) == pytest.approx(4 * 0.5 * float(idt_b), rel=1e-4)
    rec_a = model.G_BA(model.G_AB(x, training=False), training=False)
    assert float(terms["cycle_A"]) == pytest.approx(10 * float(losses.l1(rec_a, x)), rel=1e-4)


def test_cycle_loss_l2_is_squared_error_for_cycle_and_identity():
    model = CycleGAN.build(tiny_config(cycle_loss="l2", lambda_A=10, lambda_B=4), 1, (32, 32))
    x = np.random.default_rng(4).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    terms, _, _ = model.generator_losses(x, x[:, ::-1], training=False)
    rec_a = np.asarray(model.G_BA(model.G_AB(x, training=False), training=False))
    assert float(terms["cycle_A"]) == pytest.approx(10 * float(np.mean((rec_a - x) ** 2)), rel=1e-4)
    same_b = np.asarray(model.G_AB(x[:, ::-1], training=False))
    assert float(terms["idt_B"]) == pytest.approx(4 * 0.5 * float(np.mean((same_b - x[:, ::-1]) ** 2)), rel=1e-4)
    assert float(terms["cycle_A"]) != pytest.approx(10 * float(np.mean(np.abs(rec_a - x))), rel=1e-2)


@pytest.mark.parametrize("norm", ["instance", "none"])
def test_stacked_passes_compute_the_same_losses_and_gradients(norm):
    """Two passes of a network as one batch-of-two call (the lean step) change nothing with per-sample norms."""
    cfg = TrainConfig(dataset="x", netG="resnet_6blocks", ngf=4, ndf=4, norm=norm, seed=0)
    model = CycleGAN.build(cfg, 10, (32, 32))
    assert model.stack_passes
    rng = np.random.default_rng(0)
    real_A, real_B = (tf.constant(rng.uniform(-1, 1, (1, 32, 32, 3)), tf.float32) for _ in range(2))
    results = []
    for stacked in (True, False):
        model.stack_passes = stacked
        with tf.GradientTape() as tape:
            terms, fake_A, fake_B = model.generator_losses(real_A, real_B)
            total = tf.add_n(list(terms.values()))
        grads = tape.gradient(total, model.G_AB.trainable_variables)
        d_terms = model.discriminator_losses(real_A, real_B, fake_A, fake_B)
        results.append(({k: float(v) for k, v in {**terms, **d_terms}.items()}, [g.numpy() for g in grads]))
    (stacked_terms, stacked_grads), (plain_terms, plain_grads) = results
    assert set(stacked_terms) == set(plain_terms) == {"G_AB", "G_BA", "cycle_A", "cycle_B", "idt_A", "idt_B",
                                                      "D_A", "D_B"}
    for name in plain_terms:
        assert stacked_terms[name] == pytest.approx(plain_terms[name], rel=1e-4, abs=1e-6), name
    # float32 sums in another order: equal to within 1e-3 of the largest gradient. (The biases of convs
    # before an instance norm have a true gradient of 0, so theirs are rounding noise on both sides.)
    scale = max(np.abs(g).max() for g in plain_grads)
    for stacked_grad, plain_grad in zip(stacked_grads, plain_grads, strict=True):
        np.testing.assert_allclose(stacked_grad, plain_grad, rtol=1e-3, atol=1e-3 * scale)


def test_batch_norm_never_stacks_passes():
    cfg = TrainConfig(dataset="x", netG="resnet_6blocks", ngf=4, ndf=4, norm="batch", seed=0)
    assert not CycleGAN.build(cfg, 10, (32, 32)).stack_passes
