"""Loopback stand-ins for Google Wallet and APNs, for tests, demos and benchmarks.

The emulators speak the real wire protocols — Google's REST API with OAuth
service-account tokens and its error envelope, APNs over HTTP/2 with client
certificates — so the pipeline runs against them unchanged, configured only
by the settings in `EmulatorStack.env`. They import nothing from the rest of
``pipeline``: they stand in for the outside world.
"""

from .control import ApnsControl, EmulatorControl, EmulatorControlError, GoogleControl
from .faults import FaultRule, FaultRuleError
from .pki import ClientCertificate, TestPki, generate_pki
from .process import emulator_process, read_env_file
from .requestlog import RequestRecord
from .stack import (
    DEFAULT_APNS_PORT,
    DEFAULT_GOOGLE_PORT,
    ENV_APNS_CA_FILE,
    ENV_APNS_CERT_FILE,
    ENV_APNS_KEY_FILE,
    ENV_APNS_TOPIC,
    ENV_APNS_URL,
    ENV_GOOGLE_API_URL,
    ENV_GOOGLE_CREDENTIALS_FILE,
    ENV_GOOGLE_ISSUER_ID,
    EmulatorStack,
    serve,
    write_env_file,
)
from .walletstore import DEFAULT_ISSUER_ID

__all__ = [
    "DEFAULT_APNS_PORT",
    "DEFAULT_GOOGLE_PORT",
    "DEFAULT_ISSUER_ID",
    "ENV_APNS_CA_FILE",
    "ENV_APNS_CERT_FILE",
    "ENV_APNS_KEY_FILE",
    "ENV_APNS_TOPIC",
    "ENV_APNS_URL",
    "ENV_GOOGLE_API_URL",
    "ENV_GOOGLE_CREDENTIALS_FILE",
    "ENV_GOOGLE_ISSUER_ID",
    "ApnsControl",
    "ClientCertificate",
    "EmulatorControl",
    "EmulatorControlError",
    "EmulatorStack",
    "FaultRule",
    "FaultRuleError",
    "GoogleControl",
    "RequestRecord",
    "TestPki",
    "emulator_process",
    "generate_pki",
    "read_env_file",
    "serve",
    "write_env_file",
]
