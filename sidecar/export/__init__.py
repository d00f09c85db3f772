"""Export: the OpenTelemetry model, Prometheus and OTLP, hot-path histograms, traces, metric points.

Export reads the core through the sources it is handed; nothing in the core imports it.
"""
