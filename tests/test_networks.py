"""Networks: the reference's exact parameter counts, output shapes at any size, initialisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cyclegan_tf.nn.networks import (
    count_trainable_parameters,
    define_discriminator,
    define_generator,
    min_discriminator_size,
    min_input_size,
    receptive_field,
    size_multiple,
)


@pytest.mark.parametrize("net_g,norm,expected", [
    ("resnet_9blocks", "instance", 11_378_179),
    ("resnet_6blocks", "instance", 7_837_699),
    ("unet_256", "batch", 54_413_955),
    ("unet_128", "batch", 41_828_995),
])
def test_generator_parameter_counts_match_reference(net_g, norm, expected):
    model = define_generator(net_g, 3, 3, ngf=64, norm=norm, use_dropout=net_g.startswith("unet"))
    assert count_trainable_parameters(model) == expected


# Counted by hand from the reference's: a residual block of 256 channels is two 3x3 convs with bias,
# 2 x (256 * 256 * 9 + 256) = 1,180,160; a U-Net level of ngf * 8 = 512 channels (batch norm, no conv bias) is a
# 4x4 down conv 512 -> 512, a 4x4 up conv 1024 -> 512 and two batch norms: 4,194,304 + 8,388,608 + 2 x 1,024
# = 12,584,960; an affine instance norm adds a scale and an offset per channel.
RESIDUAL_BLOCK, UNET_LEVEL = 2 * (256 * 256 * 9 + 256), 512 * 512 * 16 + 1024 * 512 * 16 + 2 * 2 * 512


@pytest.mark.parametrize("net_g,norm,expected", [
    ("resnet_4blocks", "instance", 7_837_699 - 2 * RESIDUAL_BLOCK),  # 5,477,379
    ("resnet_12blocks", "instance", 11_378_179 + 3 * RESIDUAL_BLOCK),
    ("unet_64", "batch", 41_828_995 - UNET_LEVEL),  # 6 downsamplings
    ("unet_32", "batch", 41_828_995 - 2 * UNET_LEVEL),  # 5: the fewest
    ("unet_512", "batch", 54_413_955 + UNET_LEVEL),
    # stem 64, downs 128 + 256, 9 blocks x 2 x 256, ups 128 + 64 channels
    ("resnet_9blocks", "instance_affine", 11_378_179 + 2 * (64 + 128 + 256 + 18 * 256 + 128 + 64)),
])
def test_generators_of_any_depth_and_affine_norm_by_hand_count(net_g, norm, expected):
    model = define_generator(net_g, 3, 3, ngf=64, norm=norm, use_dropout=False)
    assert count_trainable_parameters(model) == expected
    side = min_input_size(net_g)  # a narrow copy runs at the smallest size it takes
    small = define_generator(net_g, 3, 3, ngf=4, norm=norm, use_dropout=False)
    assert small(np.zeros((1, side, side * 2, 3), "float32")).shape == (1, side, side * 2, 3)


def test_generator_names_outside_the_families_are_refused():
    from cyclegan_tf.choices import GENERATORS, generator_depth

    assert [generator_depth(n) for n in ("resnet_4blocks", "unet_32", "unet_1024")] == [
        ("resnet", 4), ("unet", 5), ("unet", 10)]
    for name in ("resnet_0blocks", "unet_16", "unet_100", "vgg16", "resnet_blocks"):
        assert generator_depth(name) is None and name not in GENERATORS
        with pytest.raises(ValueError, match="resnet_<N>blocks"):
            define_generator(name, 3, 3, 8, "instance", False)


@pytest.mark.parametrize("input_nc,norm,expected", [(3, "instance", 2_764_737), (6, "batch", 2_768_705)])
def test_patchgan_parameter_counts_match_reference(input_nc, norm, expected):
    assert count_trainable_parameters(define_discriminator("basic", input_nc, 64, norm)) == expected


@pytest.mark.parametrize("net_g", ["resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_generators_keep_size_and_channels(net_g, norm):
    model = define_generator(net_g, 1, 3, ngf=4, norm=norm, use_dropout=True)
    m = size_multiple(net_g)
    for height, width in [(m, m), (m, 2 * m)] if m > 4 else [(8, 8), (36, 52)]:
        out = model(np.random.uniform(-1, 1, (2, height, width, 1)).astype("float32"))
        assert out.shape == (2, height, width, 3)
        assert out.dtype == "float32"
        assert float(np.abs(out).max()) <= 1.0  # tanh


@pytest.mark.parametrize("n_layers,field,size,map_size", [
    (3, 70, 256, 30), (1, 16, 64, 30), (3, 70, 64, 6), (5, 286, 256, 6),
])
def test_patchgan_map_size_and_receptive_field(n_layers, field, size, map_size):
    assert receptive_field(n_layers) == field
    model = define_discriminator("n_layers", 3, 8, "instance", n_layers=n_layers)
    assert model(np.zeros((1, size, size, 3), "float32")).shape == (1, map_size, map_size, 1)
    # Non-square input: each side shrinks on its own.
    out = model(np.zeros((1, size, size + 32, 3), "float32"))
    assert out.shape[1] == map_size and out.shape[2] > map_size


def test_receptive_field_is_real():
    """A change of one input pixel moves exactly the outputs whose 70x70 field covers it."""
    model = define_discriminator("basic", 1, 4, "none", init_type="normal")
    x = np.zeros((1, 128, 128, 1), "float32")
    base = model(x).numpy()[0, ..., 0]
    x[0, 64, 64, 0] = 1.0
    changed = np.argwhere(np.abs(model(x).numpy()[0, ..., 0] - base) > 0)
    span = changed.max(0) - changed.min(0) + 1
    # An output cell i covers input rows 8i-? .. : with stride 8 a pixel is seen by ceil(70/8) +- 1 cells.
    assert 8 <= span[0] <= 9 and 8 <= span[1] <= 9


def test_pixel_discriminator_judges_each_pixel_alone():
    model = define_discriminator("pixel", 3, 8, "instance")
    assert model(np.zeros((1, 20, 28, 3), "float32")).shape == (1, 20, 28, 1)
    assert count_trainable_parameters(define_discriminator("pixel", 3, 64, "batch")) == (
        3 * 64 + 64 + 64 * 128 + 2 * 128 + 128)  # no bias under batch norm, as the reference


@pytest.mark.parametrize("init_type,expected_std", [("normal", 0.02), ("xavier", None), ("kaiming", None)])
def test_initialisation_statistics(init_type, expected_std):
    model = define_discriminator("basic", 3, 64, "instance", init_type=init_type, init_gain=0.02)
    kernel = model.get_layer("conv2").kernel.numpy()  # 4x4x128x256
    fan_in, fan_out = 16 * 128, 16 * 256
    if init_type == "xavier":
        expected_std = 0.02 * np.sqrt(2.0 / (fan_in + fan_out))
    if init_type == "kaiming":
        expected_std = np.sqrt(2.0 / fan_in)
    assert kernel.std() == pytest.approx(expected_std, rel=0.02)
    assert abs(kernel.mean()) < expected_std / 20
    assert np.all(model.get_layer("conv2").bias.numpy() == 0)


def test_orthogonal_initialisation_is_orthogonal_times_gain():
    model = define_discriminator("pixel", 3, 16, "none", init_type="orthogonal", init_gain=0.02)
    w = model.get_layer("conv1").kernel.numpy().reshape(16, 32)  # rows are orthogonal
    np.testing.assert_allclose(w @ w.T, 0.02**2 * np.eye(16), atol=1e-7)


def test_batch_norm_gamma_is_normal_around_one():
    model = define_generator("unet_256", 3, 3, ngf=64, norm="batch", use_dropout=False)
    gamma = model.get_layer("down3_norm").gamma.numpy()
    assert gamma.mean() == pytest.approx(1.0, abs=0.01) and gamma.std() == pytest.approx(0.02, rel=0.15)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="netG"):
        define_generator("resnet_12", 3, 3, 8, "instance", False)
    with pytest.raises(ValueError, match="norm"):
        define_discriminator("basic", 3, 8, "layer")


def test_min_input_size_is_the_smallest_that_runs():
    model = define_generator("resnet_6blocks", 3, 3, ngf=4, norm="instance", use_dropout=False)
    assert min_input_size("resnet_6blocks") == 8 and min_input_size("unet_128") == 128
    assert model(np.zeros((1, 8, 8, 3), "float32")).shape == (1, 8, 8, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="paddings must be less"):
        model(np.zeros((1, 4, 4, 3), "float32"))


@pytest.mark.parametrize("n_layers", [1, 2, 3, 4])
def test_min_discriminator_size_is_the_smallest_that_runs(n_layers):
    size = min_discriminator_size("n_layers", n_layers)
    model = define_discriminator("n_layers", 3, 4, "none", n_layers=n_layers)
    assert model(np.zeros((1, size, size, 3), "float32")).shape[1] == 1
    # One pixel less leaves no output. (Run eagerly, oneDNN's conv2d then returns a tensor of a wrong
    # shape instead of failing, which is why training checks image sizes before it starts.)
    with pytest.raises(ValueError, match="zero or negative"):
        model.compute_output_spec(keras.KerasTensor((1, size - 1, size - 1, 3)))


@pytest.mark.parametrize("net_g,norm,size", [("resnet_9blocks", "instance", 32), ("resnet_6blocks", "none", 24),
                                             ("unet_128", "batch", 128), ("unet_256", "instance", 256)])
def test_generators_round_trip_through_config_and_keras_files(net_g, norm, size, tmp_path):
    g = define_generator(net_g, 3, 1, 4, norm, True, name="G_AB")
    x = np.random.default_rng(5).uniform(-1, 1, (1, size, size, 3)).astype("float32")
    clone = keras.Model.from_config(g.get_config())
    assert count_trainable_parameters(clone) == count_trainable_parameters(g)
    g.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    assert loaded.name == "G_AB" and [layer.name for layer in loaded.layers] == [layer.name for layer in g.layers]
    np.testing.assert_array_equal(loaded(x, training=False).numpy(), g(x, training=False).numpy())


@pytest.mark.parametrize("net_g,options,expected", [
    # resize + conv has the transposed conv's parameters; the activation has none
    ("resnet_9blocks", dict(upsample="nearest", activation="leaky_relu"), 11_378_179),
    ("resnet_9blocks", dict(upsample="bilinear"), 11_378_179),
    ("unet_256", dict(upsample="nearest", norm="batch"), 54_413_955),
    # no norms in the 9 blocks: 18 affine norms of 256 channels fewer
    ("resnet_9blocks", dict(norm="instance_affine", block_norm=False), 11_388_675 - 2 * 18 * 256),
])
def test_generator_options_by_hand_count(net_g, options, expected):
    norm = options.pop("norm", "instance")
    model = define_generator(net_g, 3, 3, ngf=64, norm=norm, use_dropout=False, **options)
    assert count_trainable_parameters(model) == expected
    small = define_generator(net_g, 3, 3, ngf=4, norm=norm, use_dropout=False, **options)
    side = min_input_size(net_g)
    out = small(np.random.default_rng(0).uniform(-1, 1, (1, side, 2 * side, 3)).astype("float32"))
    assert out.shape == (1, side, 2 * side, 3)
    kinds = {type(layer).__name__ for layer in small.layers}
    assert bool({"UpSampling2D", "BilinearUpsample2D"} & kinds) == (options.get("upsample", "deconv") != "deconv")
    assert ("Conv2DTranspose" in kinds) == (options.get("upsample", "deconv") == "deconv")
    if options.get("activation") == "leaky_relu":
        assert "ReLU" not in kinds and small.get_layer("block1_relu").__class__.__name__ == "LeakyReLU"


def test_discriminator_options_by_hand_count_and_map_size():
    plain = define_discriminator("basic", 3, 64, "batch")
    first = define_discriminator("basic", 3, 64, "batch", first_norm=True)
    assert count_trainable_parameters(first) == count_trainable_parameters(plain) + 2 * 64  # one more batch norm
    x = np.random.default_rng(1).uniform(-1, 1, (1, 128, 128, 3)).astype("float32")
    assert plain(x).shape == (1, 14, 14, 1)
    # four strided convs, as GANs in Action's: 128 -> 8, then the 4x4 logits conv with padding 1: 7
    strided = define_discriminator("basic", 3, 8, "instance", last_stride=2, sigmoid=True)
    scores = np.asarray(strided(x))
    assert scores.shape == (1, 7, 7, 1) and 0 < scores.min() and scores.max() < 1
    assert min_discriminator_size("basic", 3, last_stride=2) == 48


def test_options_beyond_the_reference_are_refused_where_they_cannot_go(tmp_path):
    from cyclegan_tf.config import TrainConfig
    from cyclegan_tf.errors import UserError
    from cyclegan_tf.interop.importer import generator_arch

    config = TrainConfig(dataset="demo", gan_mode="vanilla", d_sigmoid=True)
    with pytest.raises(UserError, match="--d-sigmoid goes with --gan-mode lsgan"):
        config.validate()
    leaky = TrainConfig(name="leaky", netG="resnet_6blocks", ngf=4, g_activation="leaky_relu", upsample="nearest")
    model = define_generator("resnet_6blocks", 3, 3, 4, "instance", False)
    with pytest.raises(UserError, match="--g-activation leaky_relu, --upsample nearest: the reference's networks"):
        generator_arch(leaky, model)
