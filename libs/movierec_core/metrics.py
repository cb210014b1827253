"""Prometheus metrics with go-grpc-prometheus names, fed by the server interceptor."""

from __future__ import annotations

import prometheus_client

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LABELS = ("grpc_service", "grpc_method", "grpc_type")

SERVER_STARTED = prometheus_client.Counter(
    "grpc_server_started_total", "RPCs started on the server.", _LABELS)
SERVER_HANDLED = prometheus_client.Counter(
    "grpc_server_handled_total", "RPCs completed on the server, by status code.", (*_LABELS, "grpc_code"))
SERVER_LATENCY = prometheus_client.Histogram(
    "grpc_server_handling_seconds", "Time to handle an RPC on the server.", _LABELS, buckets=LATENCY_BUCKETS)
SERVING = prometheus_client.Gauge(
    "movierec_serving", "1 when the tier reports SERVING to health checks.", ("tier",))


def start_metrics_server(port: int, host: str) -> int:
    """Serve /metrics on a background thread; returns the bound port (port 0 picks one)."""
    server, _thread = prometheus_client.start_http_server(port, addr=host)
    return server.server_port
