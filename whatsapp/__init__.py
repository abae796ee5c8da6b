"""A WhatsApp Web multi-device client library, written from scratch in Python.

The protocol core (codec, Noise, pairing crypto, Signal) is sans-I/O: plain classes and
functions over bytes. asyncio lives only at the edges (connection, client, storage drivers).
"""

__version__ = "0.1.0"
