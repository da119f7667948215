"""Bridges between costmodel's graphs and real frameworks.

- :mod:`costmodel.bridges.torch`: build a ``torch.nn.Module`` from a spec's graph (optional extra ``torch``).

Importing a bridge never imports its framework; using one without the framework installed raises
:class:`costmodel.bridges.torch.BridgeError` naming what to install.
"""
