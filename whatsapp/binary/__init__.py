"""The WhatsApp binary node codec (WABinary, token dictionary v3; docs/protocol.md §Binary codec).

`encode_node(node)` gives the frame plaintext (flag byte 0x00 + node), byte-identical to Baileys 7's
`encodeBinaryNode`; `decode_node(frame)` reads it back (inflating zlib when `flag & 2`).
"""

from whatsapp.binary.decoder import MAX_DEPTH, MAX_INFLATED_SIZE, compress_frame, decode_node, decode_node_body
from whatsapp.binary.encoder import encode_node, encode_node_body, jid_bytes, string_bytes
from whatsapp.binary.node import Node, node_to_xml

__all__ = [
    "MAX_DEPTH",
    "MAX_INFLATED_SIZE",
    "Node",
    "compress_frame",
    "decode_node",
    "decode_node_body",
    "encode_node",
    "encode_node_body",
    "jid_bytes",
    "node_to_xml",
    "string_bytes",
]
