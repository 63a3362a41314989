"""A run's networks and optimizers from its `TrainConfig`, shared by every model's builder and by inference."""

from __future__ import annotations

import keras

from cyclegan_tf.config import TrainConfig
from cyclegan_tf.models.base import AdversarialModel
from cyclegan_tf.models.precision import dtype_policy
from cyclegan_tf.models.schedules import EpochSchedule, Plateau
from cyclegan_tf.nn.networks import dcgan_discriminator, dcgan_generator, define_discriminator, define_generator


def build_generator(cfg: TrainConfig, direction: str = "AtoB") -> keras.Model:
    """The generator of a run for `direction` ("AtoB" -> G_AB, "BtoA" -> G_BA); a DCGAN's from noise (G), a
    colorization's network from L to ab (see `models.colorization`).

    Args:
        cfg: the run's configuration (`netG`, `ngf`, `norm`, dropout, initialisation, channel counts).
        direction: "AtoB" maps `input_nc` to `output_nc` channels; any other value the reverse, named G_BA.

    Returns:
        The generator, not compiled, under the current Keras dtype policy.
    """
    if cfg.model == "dcgan":  # one generator from noise, whatever the direction
        with keras.name_scope("G"):
            return dcgan_generator(cfg.crop_size, cfg.nz, cfg.output_nc, cfg.ngf, cfg.norm, cfg.init_type,
                                   cfg.init_gain, name="G", upsample=cfg.upsample)
    if cfg.model == "colorization":  # the network proper: L (1 channel) -> ab (2), as the reference's netG
        return define_generator(
            cfg.netG, input_nc=1, output_nc=2, ngf=cfg.ngf, norm=cfg.norm, use_dropout=cfg.dropout,
            init_type=cfg.init_type, init_gain=cfg.init_gain, name="G_AB", activation=cfg.g_activation,
            block_norm=cfg.block_norm, upsample=cfg.upsample)
    forward = direction == "AtoB"
    return define_generator(
        cfg.netG, input_nc=cfg.input_nc if forward else cfg.output_nc,
        output_nc=cfg.output_nc if forward else cfg.input_nc, ngf=cfg.ngf, norm=cfg.norm,
        use_dropout=cfg.dropout, init_type=cfg.init_type, init_gain=cfg.init_gain,
        name="G_AB" if forward else "G_BA", activation=cfg.g_activation, block_norm=cfg.block_norm,
        upsample=cfg.upsample, antialias=cfg.antialias,
    )


def build_discriminator(cfg: TrainConfig, input_nc: int, name: str) -> keras.Model:
    """The discriminator of a run (`--netD`, `--ndf`, `--norm`, `--n-layers-D` and initialisation of `cfg`).

    Args:
        cfg: the run's configuration.
        input_nc: channels of the images it judges (a conditional one's input and output stacked).
        name: the model's name and the name scope of its variables, e.g. "D_A".

    Returns:
        The discriminator, not compiled, under the current Keras dtype policy.
    """
    if cfg.model == "dcgan":
        with keras.name_scope(name):
            return dcgan_discriminator(cfg.crop_size, input_nc, cfg.ndf, cfg.norm, cfg.init_type, cfg.init_gain,
                                       name=name)
    return define_discriminator(net_d=cfg.netD, input_nc=input_nc, ndf=cfg.ndf, norm=cfg.norm, n_layers=cfg.n_layers_D,
                                init_type=cfg.init_type, init_gain=cfg.init_gain, name=name,
                                first_norm=cfg.d_first_norm, last_stride=cfg.d_last_stride, sigmoid=cfg.d_sigmoid,
                                antialias=cfg.antialias)


def jit_setting(cfg: TrainConfig) -> bool | str:
    """What `--jit-compile` asks of Keras' `compile`: True, False or "auto" (XLA with a GPU, not on a CPU).

    XLA aborts the process on CUT's step (a failed check in its dynamic-dimension inference, seen on a CPU in
    float32 and bf16), so `auto` leaves it off for CUT and FastCUT; `--jit-compile on` still asks for it.
    """
    jit = {"auto": "auto", "on": True, "off": False}[cfg.jit_compile]
    return False if jit == "auto" and cfg.model in ("cut", "fastcut") else jit


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

    model.compile(g_optimizer=adam("g"), d_optimizer=adam("d"), jit_compile=jit_setting(cfg),
                  steps_per_execution=cfg.steps_per_execution)
    return model
