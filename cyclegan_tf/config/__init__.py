"""A run's configuration: the options (`schema`), reading them from files (`files`), the checks across options
(`validation`), and resolving a run's config from the command line, a file, presets or a resumed run
(`resolve`)."""

from cyclegan_tf.config.files import read_config_file
from cyclegan_tf.config.resolve import make_config
from cyclegan_tf.config.schema import TrainConfig, check_values, option_type

__all__ = ["TrainConfig", "check_values", "make_config", "option_type", "read_config_file"]
