// Several in-memory libsignal-node (libsignal@6.0.0) + Baileys sender-key parties in one process, for
// tests/test_signal_libsignal_import.py: one party plays a Baileys bot being migrated, another its contact.
// `export` writes the bot's session / sender-key records into a Baileys useMultiFileAuthState folder exactly
// as Baileys stores them, so the Python import reads the real on-disk shape.
//
// One JSON request per line on stdin, one JSON answer per line on stdout; bytes as hex; errors as {error}.
//   identity  {who, seed}                   -> {bundle, identityPub, identityPriv}
//   build     {who, address, bundle}        SessionBuilder.initOutgoing
//   encrypt   {who, address, plaintext}     -> {type: "pkmsg"|"msg", body}
//   decrypt   {who, address, type, body}    -> {plaintext}
//   g_create / g_process / g_encrypt / g_decrypt {who, group, sender, ...} as in signal_peer.mjs
//   export    {who, dir, sessions: [address], senderKeys: [[group, sender]]}  -> {}
import { createHash } from 'node:crypto';
import * as curveJs from 'curve25519-js';
import libsignal from 'libsignal';
import { useMultiFileAuthState } from 'baileys';
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

function keyPair(seed, label) {
  const k = createHash('sha256').update(`${seed}:${label}`).digest();
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
  return { privKey: k, pubKey: Buffer.concat([Buffer.from([5]), Buffer.from(curveJs.generateKeyPair(k).public)]) };
}

const parties = new Map();

function party(who) {
  if (!parties.has(who)) {
    const state = { identity: null, registrationId: 0, signedPreKey: null, preKeys: new Map(), sessions: new Map(), senderKeys: new Map() };
    state.store = {
      getOurIdentity: async () => state.identity,
      getOurRegistrationId: async () => state.registrationId,
      isTrustedIdentity: async () => true,
      loadPreKey: async (id) => state.preKeys.get(Number(id)),
      removePreKey: async (id) => void state.preKeys.delete(Number(id)),
      loadSignedPreKey: async (id) => (state.signedPreKey.keyId === Number(id) ? state.signedPreKey.pair : undefined),
      loadSession: async (addr) => (state.sessions.has(addr) ? SessionRecord.deserialize(state.sessions.get(addr)) : undefined),
      storeSession: async (addr, record) => void state.sessions.set(addr, record.serialize()),
      // As Baileys' libsignal.js: the record's JSON text, plain JSON.stringify.
      loadSenderKey: async (name) => {
        const data = state.senderKeys.get(name.toString());
        return data ? SenderKeyRecord.deserialize(data) : new SenderKeyRecord();
      },
      storeSenderKey: async (name, record) =>
        void state.senderKeys.set(name.toString(), Buffer.from(JSON.stringify(record.serialize()), 'utf-8')),
    };
    parties.set(who, state);
  }
  return parties.get(who);
}

function address(text) {
  const dot = text.lastIndexOf('.');
  return new ProtocolAddress(text.slice(0, dot), Number(text.slice(dot + 1)));
}

function senderKeyName(group, sender) {
  const dot = sender.lastIndexOf('.');
  return new SenderKeyName(group, { id: sender.slice(0, dot), deviceId: Number(sender.slice(dot + 1)) });
}

const ops = {
  identity: async ({ who, seed }) => {
    const s = party(who);
    s.identity = keyPair(seed, 'identity');
    s.registrationId = (createHash('sha256').update(`${seed}:reg`).digest().readUInt16BE(0) & 0x3fff) || 1;
    const spk = keyPair(seed, 'signed-prekey');
    s.signedPreKey = { keyId: 1, pair: spk, signature: curve.calculateSignature(s.identity.privKey, spk.pubKey) };
    s.preKeys.set(1, keyPair(seed, 'prekey-1'));
    return {
      identityPub: toHex(s.identity.pubKey),
      identityPriv: toHex(s.identity.privKey),
      bundle: {
        registrationId: s.registrationId,
        identityKey: toHex(s.identity.pubKey),
        signedPreKey: { keyId: 1, publicKey: toHex(spk.pubKey), signature: toHex(s.signedPreKey.signature) },
        preKey: { keyId: 1, publicKey: toHex(s.preKeys.get(1).pubKey) },
      },
    };
  },
  build: async ({ who, address: addr, bundle: b }) => {
    await new SessionBuilder(party(who).store, address(addr)).initOutgoing({
      registrationId: b.registrationId,
      identityKey: hex(b.identityKey),
      signedPreKey: { keyId: b.signedPreKey.keyId, publicKey: hex(b.signedPreKey.publicKey), signature: hex(b.signedPreKey.signature) },
      preKey: b.preKey ? { keyId: b.preKey.keyId, publicKey: hex(b.preKey.publicKey) } : undefined,
    });
    return {};
  },
  encrypt: async ({ who, address: addr, plaintext }) => {
    const { type, body } = await new SessionCipher(party(who).store, address(addr)).encrypt(hex(plaintext));
    return { type: type === 3 ? 'pkmsg' : 'msg', body: toHex(body) };
  },
  decrypt: async ({ who, address: addr, type, body }) => {
    const cipher = new SessionCipher(party(who).store, address(addr));
    const plaintext =
      type === 'pkmsg' ? await cipher.decryptPreKeyWhisperMessage(hex(body)) : await cipher.decryptWhisperMessage(hex(body));
    return { plaintext: toHex(plaintext) };
  },
  g_create: async ({ who, group, sender }) => {
    const skdm = await new GroupSessionBuilder(party(who).store).create(senderKeyName(group, sender));
    return { skdm: toHex(skdm.serialize()) };
  },
  g_process: async ({ who, group, sender, skdm }) => {
    const message = new SenderKeyDistributionMessage(null, null, null, null, hex(skdm));
    await new GroupSessionBuilder(party(who).store).process(senderKeyName(group, sender), message);
    return {};
  },
  g_encrypt: async ({ who, group, sender, plaintext }) => {
    const body = await new GroupCipher(party(who).store, senderKeyName(group, sender)).encrypt(hex(plaintext));
    return { body: toHex(body) };
  },
  g_decrypt: async ({ who, group, sender, body }) => {
    const plaintext = await new GroupCipher(party(who).store, senderKeyName(group, sender)).decrypt(hex(body));
    return { plaintext: toHex(plaintext) };
  },
  export: async ({ who, dir, sessions = [], senderKeys = [] }) => {
    const s = party(who);
    const { state, saveCreds } = await useMultiFileAuthState(dir);
    // Baileys keeps the identity as 32-byte public + private.
    state.creds.signedIdentityKey = { public: s.identity.pubKey.subarray(1), private: s.identity.privKey };
    state.creds.registrationId = s.registrationId;
    await saveCreds();
    const session = {};
    for (const addr of sessions) session[addr] = s.sessions.get(addr);
    const senderKey = {};
    for (const [group, sender] of senderKeys) {
      const name = senderKeyName(group, sender).toString();
      senderKey[name] = s.senderKeys.get(name);
    }
    await state.keys.set({ session, 'sender-key': senderKey });
    return {};
  },
};

await serveJsonLines(ops, (err) => String(err?.stack ?? err));
