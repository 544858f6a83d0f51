"""The stack configuration: parsed once, from the raw `ml-platform:*` keys, into a typed `StackConfig`.

One job per module: `schema` (the typed objects), `decode` (engine config -> raw values -> `StackConfig`), `rules`
(checks that span several keys) and `problems` (the wording: key paths, did-you-mean, `ConfigError`). The public
names are re-exported here, so `from components.config import StackConfig` is all a user of the components needs.
"""

from components.config.decode import TOP_LEVEL_KEYS, parse_engine_config, parse_stack_config, raw_project_config
from components.config.problems import ConfigError
from components.config.schema import (
    IMAGE_VOLUME,
    INIT_CONTAINER,
    MODEL_DIR_ENV,
    MODEL_NAME_MAX,
    RESERVED_ENV,
    Autoscaling,
    BuildConfig,
    Canary,
    Delivery,
    EnvValue,
    GpuConfig,
    ModelArtifact,
    ModelConfig,
    Probe,
    Probes,
    RegistryConfig,
    Replicas,
    Resources,
    RuntimeConfig,
    ScalingPolicy,
    SecretRef,
    Shutdown,
    StackConfig,
)

__all__ = [
    "IMAGE_VOLUME",
    "INIT_CONTAINER",
    "MODEL_DIR_ENV",
    "MODEL_NAME_MAX",
    "RESERVED_ENV",
    "TOP_LEVEL_KEYS",
    "Autoscaling",
    "BuildConfig",
    "Canary",
    "ConfigError",
    "Delivery",
    "EnvValue",
    "GpuConfig",
    "ModelArtifact",
    "ModelConfig",
    "Probe",
    "Probes",
    "RegistryConfig",
    "Replicas",
    "Resources",
    "RuntimeConfig",
    "ScalingPolicy",
    "SecretRef",
    "Shutdown",
    "StackConfig",
    "parse_engine_config",
    "parse_stack_config",
    "raw_project_config",
]
