"""Gateway configuration, parsed once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from movierec_core.config import env_address, env_float, env_int, env_optional_str, env_str


@dataclass(frozen=True)
class GatewaySettings:
    host: str
    port: int
    port_file: str | None
    redis_url: str
    embedding_addr: str
    retrieval_addr: str
    profile_addr: str
    ranker_addr: str
    rpc_timeout_s: float
    request_timeout_s: float

    @classmethod
    def from_env(cls) -> GatewaySettings:
        return cls(
            host=env_str("GATEWAY_HOST", "127.0.0.1"),
            port=env_int("GATEWAY_PORT", 8080, minimum=0, maximum=65535),
            port_file=env_optional_str("MOVIEREC_PORT_FILE"),
            redis_url=env_str("REDIS_URL"),
            embedding_addr=env_address("EMBEDDING_ADDR"),
            retrieval_addr=env_address("RETRIEVAL_ADDR"),
            profile_addr=env_address("PROFILE_ADDR"),
            ranker_addr=env_address("RANKER_ADDR"),
            rpc_timeout_s=env_float("GATEWAY_RPC_TIMEOUT_S", 1.0, minimum=0.01),
            request_timeout_s=env_float("GATEWAY_REQUEST_TIMEOUT_S", 5.0, minimum=0.05),
        )
