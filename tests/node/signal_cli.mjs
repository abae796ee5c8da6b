// A standalone Signal (libsignal@6.0.0, the WhiskeySockets fork Baileys uses) peer with its state in a JSON file,
// so Python tests can run one side of a 1:1 Signal session in Node and the other side in Node or Python.
//
// Commands (each prints one JSON line on stdout; a failure exits 1 with {"error": message} on stdout):
//
//   node signal_cli.mjs bundle  STATE [SEED] [PREKEYS]
//        Creates STATE if it does not exist: identity key pair, registration id, signed prekey (id 1) and
//        PREKEYS one-time prekeys (default 5, ids 1..N). Keys derive from SEED when given (SHA-256(seed ":" label),
//        clamped), otherwise they are random. Prints the public bundle:
//        {"registrationId": n, "identityKey": hex33, "signedPreKey": {"keyId", "publicKey": hex33, "signature": hex64},
//         "preKey": {"keyId", "publicKey": hex33} | null}   (preKey = the lowest unused one-time prekey)
//   node signal_cli.mjs init    STATE ADDRESS BUNDLE_JSON
//        SessionBuilder.initOutgoing towards ADDRESS ("user.device", e.g. "15550002222.0" or "123456_1.0") from a
//        bundle in the format above (the one `bundle` prints; Python can write the same for its own identity).
//        Prints {"ok": true}.
//   node signal_cli.mjs encrypt STATE ADDRESS PLAINTEXT_HEX
//        SessionCipher.encrypt; prints {"type": "pkmsg" | "msg", "body": hex}  (body = 0x33 || proto [|| mac8])
//   node signal_cli.mjs decrypt STATE ADDRESS (pkmsg|msg) BODY_HEX
//        decryptPreKeyWhisperMessage / decryptWhisperMessage; prints {"plaintext": hex}
//   node signal_cli.mjs session STATE ADDRESS
//        prints {"open": bool} (whether an open session with ADDRESS exists)
//   node signal_cli.mjs keys    STATE
//        prints the private state summary for tests: {"identityPriv", "identityPub", "registrationId",
//        "signedPreKey": {"keyId", "priv", "pub", "signature"}, "preKeys": {id: {"priv", "pub"}}} (hex)
//
// STATE layout (JSON): identity {pub, priv}, registrationId, signedPreKey {keyId, pub, priv, signature},
// preKeys {id: {pub, priv}} (used ones are removed, as libsignal asks), sessions {"user.device": SessionRecord
// serialization}, identities {"user": hex33} (the last identity key seen, for inspection; every identity is trusted,
// as in Baileys). Public keys are stored 33 bytes (0x05 prefix), private keys 32 bytes clamped.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as curveJs from 'curve25519-js';
import libsignal from 'libsignal';

const { SessionBuilder, SessionCipher, SessionRecord, ProtocolAddress, curve } = libsignal;

const hex = (s) => Buffer.from(s, 'hex');
const toHex = (b) => Buffer.from(b).toString('hex');

function clamp(priv) {
  const k = Buffer.from(priv);
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
  return k;
}

function keyPair(seed, label) {
  const priv = clamp(seed === undefined ? randomBytes(32) : createHash('sha256').update(`${seed}:${label}`).digest());
  const pub = Buffer.concat([Buffer.from([5]), Buffer.from(curveJs.generateKeyPair(priv).public)]);
  return { priv, pub };
}

function createState(seed, prekeyCount) {
  const identity = keyPair(seed, 'identity');
  const spk = keyPair(seed, 'signed-prekey');
  const regBytes = seed === undefined ? randomBytes(2) : createHash('sha256').update(`${seed}:registration`).digest();
  const preKeys = {};
  for (let id = 1; id <= prekeyCount; id++) {
    const kp = keyPair(seed, `prekey-${id}`);
    preKeys[id] = { pub: toHex(kp.pub), priv: toHex(kp.priv) };
  }
  return {
    identity: { pub: toHex(identity.pub), priv: toHex(identity.priv) },
    registrationId: (regBytes.readUInt16BE(0) & 0x3fff) || 1,
    signedPreKey: {
      keyId: 1,
      pub: toHex(spk.pub),
      priv: toHex(spk.priv),
      signature: toHex(curve.calculateSignature(identity.priv, spk.pub)),
    },
    preKeys,
    sessions: {},
    identities: {},
  };
}

function load(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function save(path, state) {
  // Write-then-rename: a crash never leaves a half-written state file behind.
  writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 1));
  renameSync(`${path}.tmp`, path);
}

function storeFor(state) {
  return {
    getOurIdentity: async () => ({ pubKey: hex(state.identity.pub), privKey: hex(state.identity.priv) }),
    getOurRegistrationId: async () => state.registrationId,
    isTrustedIdentity: async (id, identityKey) => {
      state.identities[String(id).split('.')[0]] = toHex(identityKey);
      return true;
    },
    loadPreKey: async (id) => {
      const k = state.preKeys[id];
      return k ? { pubKey: hex(k.pub), privKey: hex(k.priv) } : undefined;
    },
    removePreKey: async (id) => {
      delete state.preKeys[id];
    },
    loadSignedPreKey: async (id) => {
      const k = state.signedPreKey;
      return k.keyId === Number(id) ? { pubKey: hex(k.pub), privKey: hex(k.priv) } : undefined;
    },
    loadSession: async (addr) => {
      const data = state.sessions[addr];
      return data ? SessionRecord.deserialize(data) : undefined;
    },
    storeSession: async (addr, record) => {
      state.sessions[addr] = record.serialize();
    },
  };
}

function bundleOf(state) {
  const ids = Object.keys(state.preKeys).map(Number).sort((a, b) => a - b);
  return {
    registrationId: state.registrationId,
    identityKey: state.identity.pub,
    signedPreKey: {
      keyId: state.signedPreKey.keyId,
      publicKey: state.signedPreKey.pub,
      signature: state.signedPreKey.signature,
    },
    preKey: ids.length ? { keyId: ids[0], publicKey: state.preKeys[ids[0]].pub } : null,
  };
}

function address(text) {
  const dot = text.lastIndexOf('.');
  if (dot <= 0 || !/^\d+$/.test(text.slice(dot + 1))) throw new Error(`bad address ${text} (want user.device)`);
  return new ProtocolAddress(text.slice(0, dot), Number(text.slice(dot + 1)));
}

const commands = {
  bundle: async (path, seed, prekeys) => {
    if (!existsSync(path)) save(path, createState(seed, prekeys === undefined ? 5 : Number(prekeys)));
    return bundleOf(load(path));
  },
  init: async (path, addr, bundleJson) => {
    const state = load(path);
    const b = JSON.parse(bundleJson);
    await new SessionBuilder(storeFor(state), address(addr)).initOutgoing({
      registrationId: b.registrationId,
      identityKey: hex(b.identityKey),
      signedPreKey: { keyId: b.signedPreKey.keyId, publicKey: hex(b.signedPreKey.publicKey), signature: hex(b.signedPreKey.signature) },
      preKey: b.preKey ? { keyId: b.preKey.keyId, publicKey: hex(b.preKey.publicKey) } : undefined,
    });
    save(path, state);
    return { ok: true };
  },
  encrypt: async (path, addr, plaintextHex) => {
    const state = load(path);
    const { type, body } = await new SessionCipher(storeFor(state), address(addr)).encrypt(hex(plaintextHex));
    save(path, state);
    return { type: type === 3 ? 'pkmsg' : 'msg', body: toHex(body) };
  },
  decrypt: async (path, addr, type, bodyHex) => {
    const state = load(path);
    const cipher = new SessionCipher(storeFor(state), address(addr));
    let plaintext;
    if (type === 'pkmsg') plaintext = await cipher.decryptPreKeyWhisperMessage(hex(bodyHex));
    else if (type === 'msg') plaintext = await cipher.decryptWhisperMessage(hex(bodyHex));
    else throw new Error(`unknown message type ${type} (want pkmsg or msg)`);
    save(path, state);
    return { plaintext: toHex(plaintext) };
  },
  session: async (path, addr) => {
    const state = load(path);
    return { open: await new SessionCipher(storeFor(state), address(addr)).hasOpenSession() };
  },
  keys: async (path) => {
    const state = load(path);
    return {
      identityPriv: state.identity.priv,
      identityPub: state.identity.pub,
      registrationId: state.registrationId,
      signedPreKey: state.signedPreKey,
      preKeys: state.preKeys,
    };
  },
};

const [command, ...args] = process.argv.slice(2);
try {
  if (!commands[command]) throw new Error(`unknown command ${command}; see the top of signal_cli.mjs`);
  process.stdout.write(JSON.stringify(await commands[command](...args)) + '\n');
} catch (err) {
  process.stdout.write(JSON.stringify({ error: String(err?.message ?? err) }) + '\n');
  process.exit(1);
}
