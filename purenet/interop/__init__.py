"""Bridges to other frameworks: :mod:`purenet.interop.torch` (``pn.to_torch``, ``pn.from_torch``).

Each bridge imports its framework inside its functions only: importing
purenet never needs it.
"""
