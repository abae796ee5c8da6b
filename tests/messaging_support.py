"""Helpers for the messaging tests: a Python client on the emulator that records its message events.

They are shared with bench/, so they live in `whatsapp.testing.harness.peers`; re-exported here.
"""

from whatsapp.testing.harness.peers import DELIVERY_ACK, PEOPLE, PyPeer, paired_baileys, paired_python, pn

__all__ = ["DELIVERY_ACK", "PEOPLE", "PyPeer", "paired_baileys", "paired_python", "pn"]
