// Protobuf oracle: Baileys 7's generated WAProto (protobufjs) encoding and decoding, for the Python tests.
// stdin {"cases": [{"type": "Message", "object": {...fromObject form...}}]}
//   -> {"results": [{"hex": encoded, "object": canonical toObject form}]}
// stdin {"decode": [{"type": "Message", "hex": ...}]} -> {"decoded": [canonical toObject form, ...]}
// The canonical form uses base64 for bytes, strings for 64-bit integers and enum names, so both sides compare.
import { proto } from 'baileys';
import { readFileSync } from 'node:fs';

const options = { longs: String, enums: String, bytes: String };
const input = JSON.parse(readFileSync(0, 'utf8'));
const out = {};
if (input.cases) {
  out.results = input.cases.map(({ type, object }) => {
    const message = proto[type].fromObject(object);
    const bytes = proto[type].encode(message).finish();
    return { hex: Buffer.from(bytes).toString('hex'), object: proto[type].toObject(proto[type].decode(bytes), options) };
  });
}
if (input.decode) {
  out.decoded = input.decode.map(({ type, hex }) =>
    proto[type].toObject(proto[type].decode(Buffer.from(hex, 'hex')), options),
  );
}
process.stdout.write(JSON.stringify(out) + '\n');
