"""Every list of names the toolkit accepts, in one place and free of TensorFlow.

`TrainConfig`'s choices, the CLI's options and the registries read these lists: the network builders
(`nn.networks.GENERATORS`, `DISCRIMINATORS`), the norms and initialisations of `nn.networks`, the GAN
losses (`nn.losses`) and the model builders (`models.BUILDERS`). `tests/test_house.py` checks that every
registry's keys equal its list here, so a name added in one place and not the other fails a test.
"""

MODELS = ("cycle_gan", "pix2pix")
GENERATORS = ("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128")
DISCRIMINATORS = ("basic", "n_layers", "pixel")
NORMS = ("instance", "batch", "none")
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")
GAN_MODES = ("lsgan", "vanilla", "hinge", "wgangp")
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
CYCLES = ("forward", "backward", "both")  # which cycle losses count (the CycleGAN ablation)
MIXED_PRECISION = ("off", "bf16", "fp16", "auto")
JIT_COMPILE = ("auto", "on", "off")
STRATEGIES = ("auto", "none", "mirrored", "multiworker")  # tf.distribute strategies of `train --strategy`

# A run translates A -> B (its generator G_AB) and, for a CycleGAN, B -> A (G_BA).
DIRECTIONS = ("AtoB", "BtoA")
DOMAINS = {"AtoB": ("A", "B"), "BtoA": ("B", "A")}  # (source domain, target domain)
REVERSE = {"AtoB": "BtoA", "BtoA": "AtoB"}
GENERATOR_OF = {"AtoB": "G_AB", "BtoA": "G_BA"}  # a CycleGAN's generator attribute per direction

DATASET_KINDS = ("unpaired", "aligned", "single")  # CycleGAN folders, pix2pix A|B images, colorization

EXPORT_FORMATS = ("keras", "savedmodel", "onnx", "litert", "torch")  # `cyclegan-tf export --format`
QUANTIZE_MODES = ("none", "fp16", "int8")  # LiteRT export
