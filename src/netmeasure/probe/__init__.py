"""Measuring: runners (iperf3, latency, speedtest), context, and the campaign scheduler.

This package never imports evaluate/, report/ or collector/: a probe carries only what it
measures with.
"""
