"""The reference's networks and optimizers from a run's `TrainConfig`, which every model's `build` uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cyclegan_tf.lazy import keras
from cyclegan_tf.models.precision import dtype_policy

if TYPE_CHECKING:
    from cyclegan_tf.config import TrainConfig
    from cyclegan_tf.models.base import AdversarialModel


def reference_generator(cfg: TrainConfig, direction: str = "AtoB") -> keras.Model:
    """The reference's generator of a run for `direction` ("AtoB" -> G_AB, "BtoA" -> G_BA).

    Args:
        cfg: the run's configuration (`netG`, `ngf`, `norm`, dropout, initialisation, channel counts).
        direction: "AtoB" maps `input_nc` to `output_nc` channels; any other value the reverse, named G_BA.

    Returns:
        The generator, not compiled, under the current Keras dtype policy.
    """
    from cyclegan_tf.nn.networks import define_generator

    forward = direction == "AtoB"
    return define_generator(
        cfg.netG, input_nc=cfg.input_nc if forward else cfg.output_nc,
        output_nc=cfg.output_nc if forward else cfg.input_nc, ngf=cfg.ngf, norm=cfg.norm,
        use_dropout=cfg.dropout, init_type=cfg.init_type, init_gain=cfg.init_gain,
        name="G_AB" if forward else "G_BA", activation=cfg.g_activation, block_norm=cfg.block_norm,
        upsample=cfg.upsample, antialias=cfg.antialias,
    )


def reference_discriminator(cfg: TrainConfig, input_nc: int, name: str) -> keras.Model:
    """The reference's discriminator of a run (`--netD`, `--ndf`, `--norm`, `--n-layers-D` and initialisation).

    Args:
        cfg: the run's configuration.
        input_nc: channels of the images it judges (a conditional one's input and output stacked).
        name: the model's name and the name scope of its variables, e.g. "D_A".

    Returns:
        The discriminator, not compiled, under the current Keras dtype policy.
    """
    from cyclegan_tf.nn.networks import define_discriminator

    return define_discriminator(net_d=cfg.netD, input_nc=input_nc, ndf=cfg.ndf, norm=cfg.norm, n_layers=cfg.n_layers_D,
                                init_type=cfg.init_type, init_gain=cfg.init_gain, name=name,
                                first_norm=cfg.d_first_norm, last_stride=cfg.d_last_stride, sigmoid=cfg.d_sigmoid,
                                antialias=cfg.antialias)


def jit_setting(cfg: TrainConfig, xla_safe: bool = True) -> bool | str:
    """What `--jit-compile` asks of Keras' `compile`: True, False or "auto" (XLA with a GPU, not on a CPU).

    XLA aborts the process on some models' steps (CUT's: a failed check in its dynamic-dimension inference, seen
    on a CPU in float32 and bf16); such a model declares `XLA_SAFE = False` and `auto` leaves XLA off for it.
    `--jit-compile on` still asks for it.
    """
    jit = {"auto": "auto", "on": True, "off": False}[cfg.jit_compile]
    return False if jit == "auto" and not xla_safe else jit


def compile_with_reference_optimizers(model: AdversarialModel, cfg: TrainConfig, steps_per_epoch: int):
    """Compile with one Adam per player (lr, beta1, linear decay as the reference), loss scaling under fp16.

    Args:
        model: the model to compile.
        cfg: the run's configuration (learning rate and schedule, `beta1`, precision, `jit_compile`,
            `steps_per_execution`).
        steps_per_epoch: steps of one epoch (the learning-rate schedule counts epochs).

    Returns:
        `model`, compiled.
    """
    from cyclegan_tf.nn.schedules import EpochSchedule, Plateau

    policy = dtype_policy(cfg.mixed_precision)
    plateau = None
    if cfg.lr_policy == "plateau":  # one state for both players, saved and resumed with the run
        model.lr_plateau = plateau = Plateau()
        model.TRAINING_STATE = (*type(model).TRAINING_STATE, "lr_plateau")

    def adam(player: str):
        schedule = EpochSchedule(cfg.lr, steps_per_epoch, cfg.n_epochs, cfg.n_epochs_decay, cfg.lr_policy,
                                 cfg.lr_decay_iters, cfg.epoch_count, plateau)
        # Named, so that their variables' paths (the keys of a checkpoint) do not depend on how many optimizers
        # the process made before (Keras numbers unnamed ones: adam, adam_1, ...).
        optimizer = keras.optimizers.Adam(schedule, beta_1=cfg.beta1, beta_2=0.999, name=f"{player}_adam")
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range.
        if policy == "mixed_float16":
            return keras.optimizers.LossScaleOptimizer(optimizer, name=f"{player}_loss_scale")
        return optimizer

    model.compile(g_optimizer=adam("g"), d_optimizer=adam("d"), jit_compile=jit_setting(cfg, type(model).XLA_SAFE),
                  steps_per_execution=cfg.steps_per_execution)
    return model
