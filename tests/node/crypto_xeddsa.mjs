// XEdDSA oracle: reads one JSON document on stdin, prints one JSON document on stdout.
//   {"verify": [{"pub": hex, "msg": hex, "sig": hex}, ...],        -> curve25519-js strict verify
//    "sign":   [{"priv": hex, "msg": hex, "random": hex?}, ...],   -> curve25519-js sign (deterministic with random)
//    "baileys_sign": [{"priv": hex, "msg": hex}, ...]}             -> Baileys' Curve.sign (libsignal)
// Output: {"verify": [bool...], "sign": [hex...], "baileys_sign": [{"pub": hex, "sig": hex}...]}
// curve25519-js's verify is the real check; Baileys' Curve.verify is NOT used (it accepts anything: docs/protocol.md §Client quirks).
import * as curve from 'curve25519-js';
import { Curve } from 'baileys';
import { readFileSync } from 'node:fs';

const input = JSON.parse(readFileSync(0, 'utf8'));
const hex = (s) => Buffer.from(s, 'hex');
const out = { verify: [], sign: [], baileys_sign: [] };

for (const v of input.verify ?? []) {
  let ok;
  try {
    ok = curve.verify(hex(v.pub), hex(v.msg), hex(v.sig)) === true;
  } catch {
    ok = false;
  }
  out.verify.push(ok);
}
for (const s of input.sign ?? []) {
  const sig = s.random ? curve.sign(hex(s.priv), hex(s.msg), hex(s.random)) : curve.sign(hex(s.priv), hex(s.msg));
  out.sign.push(Buffer.from(sig).toString('hex'));
}
for (const s of input.baileys_sign ?? []) {
  const priv = hex(s.priv);
  // The public key as libsignal derives it (X25519 of the clamped scalar), so Python checks against it.
  const pub = Buffer.from(curve.generateKeyPair(priv).public);
  const sig = Curve.sign(priv, hex(s.msg));
  out.baileys_sign.push({ pub: pub.toString('hex'), sig: Buffer.from(sig).toString('hex') });
}
process.stdout.write(JSON.stringify(out) + '\n');
