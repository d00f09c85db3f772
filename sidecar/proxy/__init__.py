"""The hot path: the ASGI forwarder, its upstream client and header handling.

Imports nothing from `sidecar.export`: metrics reach the proxy through the `ProxyMetrics`
protocol and sampled copies leave it through the capture tap.
"""
