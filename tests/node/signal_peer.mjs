// A long-running libsignal-node (libsignal@6.0.0) + Baileys sender-key peer for the Python Signal tests.
//
// Reads one JSON request per line on stdin and answers one JSON line on stdout, so a test can hold a whole
// conversation with one Node process (spawning Node per message would make the tests slow). State lives in
// memory for the life of the process. Bytes travel as hex. A failing request answers {"error": message}
// and the process keeps running (libsignal may already have changed its in-memory state, as it does for real).
//
// Requests ({"op": ..., ...fields}):
//   identity  {seed?, prekeys?}      create our identity (deterministic from seed when given), signed prekey id 1
//                                    and one-time prekeys 1..prekeys (default 5). -> {bundle} where bundle =
//                                    {registrationId, identityKey, signedPreKey {keyId, publicKey, signature},
//                                     preKey {keyId, publicKey} | null}  (lowest unused prekey)
//   build     {address, bundle}      SessionBuilder.initOutgoing towards "user.device" from a bundle as above
//   encrypt   {address, plaintext}   -> {type: "pkmsg"|"msg", body}
//   decrypt   {address, type, body}  -> {plaintext}
//   prekeys   {}                     -> {ids: [unused one-time prekey ids]}
//   open      {address}              -> {open: bool}
//   g_create  {group, sender}        Baileys GroupSessionBuilder.create -> {skdm}
//   g_process {group, sender, skdm}  Baileys GroupSessionBuilder.process
//   g_encrypt {group, sender, plaintext} Baileys GroupCipher.encrypt -> {body}
//   g_decrypt {group, sender, body}  Baileys GroupCipher.decrypt -> {plaintext}
// "sender" is "user.device".
import { createHash, randomBytes } from 'node:crypto';
import * as curveJs from 'curve25519-js';
import libsignal from 'libsignal';
import { serveJsonLines } from './jsonl_server.mjs';
import {
  GroupCipher,
  GroupSessionBuilder,
  SenderKeyDistributionMessage,
  SenderKeyName,
  SenderKeyRecord,
} from './node_modules/baileys/lib/Signal/Group/index.js';

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
  return { privKey: priv, pubKey: Buffer.concat([Buffer.from([5]), Buffer.from(curveJs.generateKeyPair(priv).public)]) };
}

const state = { identity: null, registrationId: 0, signedPreKey: null, preKeys: new Map(), sessions: new Map() };
const senderKeys = new Map();

const store = {
  getOurIdentity: async () => state.identity,
  getOurRegistrationId: async () => state.registrationId,
  isTrustedIdentity: async () => true,
  loadPreKey: async (id) => state.preKeys.get(Number(id)),
  removePreKey: async (id) => {
    state.preKeys.delete(Number(id));
  },
  loadSignedPreKey: async (id) => (state.signedPreKey.keyId === Number(id) ? state.signedPreKey.pair : undefined),
  // Round-trip through the serialized form, as a real store does (catches non-serializable state).
  loadSession: async (addr) => (state.sessions.has(addr) ? SessionRecord.deserialize(state.sessions.get(addr)) : undefined),
  storeSession: async (addr, record) => {
    state.sessions.set(addr, record.serialize());
  },
  loadSenderKey: async (name) => {
    const data = senderKeys.get(name.toString());
    return data ? new SenderKeyRecord(JSON.parse(data, reviver)) : new SenderKeyRecord();
  },
  storeSenderKey: async (name, record) => {
    senderKeys.set(name.toString(), JSON.stringify(record.serialize(), replacer));
  },
};

function replacer(key, value) {
  if (value && value.type === 'Buffer' && Array.isArray(value.data)) return { $hex: toHex(Buffer.from(value.data)) };
  return value;
}

function reviver(key, value) {
  return value && typeof value === 'object' && typeof value.$hex === 'string' ? hex(value.$hex) : value;
}

function address(text) {
  const dot = text.lastIndexOf('.');
  return new ProtocolAddress(text.slice(0, dot), Number(text.slice(dot + 1)));
}

function senderKeyName(group, sender) {
  const dot = sender.lastIndexOf('.');
  return new SenderKeyName(group, { id: sender.slice(0, dot), deviceId: Number(sender.slice(dot + 1)) });
}

function bundle() {
  const ids = [...state.preKeys.keys()].sort((a, b) => a - b);
  return {
    registrationId: state.registrationId,
    identityKey: toHex(state.identity.pubKey),
    signedPreKey: {
      keyId: state.signedPreKey.keyId,
      publicKey: toHex(state.signedPreKey.pair.pubKey),
      signature: toHex(state.signedPreKey.signature),
    },
    preKey: ids.length ? { keyId: ids[0], publicKey: toHex(state.preKeys.get(ids[0]).pubKey) } : null,
  };
}

const ops = {
  identity: async ({ seed, prekeys = 5 }) => {
    state.identity = keyPair(seed, 'identity');
    const reg = seed === undefined ? randomBytes(2) : createHash('sha256').update(`${seed}:registration`).digest();
    state.registrationId = (reg.readUInt16BE(0) & 0x3fff) || 1;
    const spk = keyPair(seed, 'signed-prekey');
    state.signedPreKey = { keyId: 1, pair: spk, signature: curve.calculateSignature(state.identity.privKey, spk.pubKey) };
    state.preKeys.clear();
    for (let id = 1; id <= prekeys; id++) state.preKeys.set(id, keyPair(seed, `prekey-${id}`));
    return { bundle: bundle() };
  },
  build: async ({ address: addr, bundle: b }) => {
    await new SessionBuilder(store, address(addr)).initOutgoing({
      registrationId: b.registrationId,
      identityKey: hex(b.identityKey),
      signedPreKey: { keyId: b.signedPreKey.keyId, publicKey: hex(b.signedPreKey.publicKey), signature: hex(b.signedPreKey.signature) },
      preKey: b.preKey ? { keyId: b.preKey.keyId, publicKey: hex(b.preKey.publicKey) } : undefined,
    });
    return {};
  },
  encrypt: async ({ address: addr, plaintext }) => {
    const { type, body } = await new SessionCipher(store, address(addr)).encrypt(hex(plaintext));
    return { type: type === 3 ? 'pkmsg' : 'msg', body: toHex(body) };
  },
  decrypt: async ({ address: addr, type, body }) => {
    const cipher = new SessionCipher(store, address(addr));
    const plaintext =
      type === 'pkmsg' ? await cipher.decryptPreKeyWhisperMessage(hex(body)) : await cipher.decryptWhisperMessage(hex(body));
    return { plaintext: toHex(plaintext) };
  },
  prekeys: async () => ({ ids: [...state.preKeys.keys()].sort((a, b) => a - b) }),
  open: async ({ address: addr }) => ({ open: await new SessionCipher(store, address(addr)).hasOpenSession() }),
  g_create: async ({ group, sender }) => {
    const skdm = await new GroupSessionBuilder(store).create(senderKeyName(group, sender));
    return { skdm: toHex(skdm.serialize()) };
  },
  g_process: async ({ group, sender, skdm }) => {
    const message = new SenderKeyDistributionMessage(null, null, null, null, hex(skdm));
    await new GroupSessionBuilder(store).process(senderKeyName(group, sender), message);
    return {};
  },
  g_encrypt: async ({ group, sender, plaintext }) => {
    const body = await new GroupCipher(store, senderKeyName(group, sender)).encrypt(hex(plaintext));
    return { body: toHex(body) };
  },
  g_decrypt: async ({ group, sender, body }) => {
    const plaintext = await new GroupCipher(store, senderKeyName(group, sender)).decrypt(hex(body));
    return { plaintext: toHex(plaintext) };
  },
};

await serveJsonLines(ops);
