// Pairing oracle: Baileys 7 (baileys@7.0.0-rc14) computing pairing-related values, for the Python tests.
// Reads one JSON document on stdin: {"ops": [{"op": NAME, ...args}, ...]}; prints {"results": [...]} (one per op,
// or {"error": message} when Baileys threw). All byte values are hex unless said otherwise.
//
//   crockford        {data}                                   -> {code}            bytesToCrockford
//   derive_key       {code, salt}                             -> {key}             derivePairingCodeKey (PBKDF2)
//   wrap             {code, pub, salt, iv}                    -> {wrapped}         salt||iv||aesEncryptCTR(pub), as
//                                                                                  Baileys' generatePairingKey does
//   unwrap           {code, wrapped}                          -> {pub}             as Baileys' decipherLinkPublicKey
//   companion_finish {code, eph_priv, ident_priv, ident_pub, wrapped_primary, primary_ident_pub,
//                     random, salt, iv}                       -> {bundle, adv_secret}
//                    Baileys' link_code_companion_reg handler (messages-recv) with its randomness given
//   decrypt_bundle   {shared, bundle}                         -> {plain}           hkdf + aesDecryptGCM
//   qr               {ref, noise, ident, adv_b64, browser[3]} -> {qr}              buildPairingQRData
//   platform_id      {browser[3]}                             -> {id}              getCompanionPlatformId
//   pair_success     {device_identity, adv_b64, ident_priv, ident_pub, jid, lid, platform}
//                    -> {reply_identity, key_index, account, account_signature_key, me}
//                    configureSuccessfulPairing on a pair-success stanza built around device_identity
//   curve_verify     {pub, msg, sig}                          -> {ok}              curve25519-js strict verify
//   registration     {creds, config}                          -> {payload}         generateRegistrationNode
//   login            {jid, config}                            -> {payload}         generateLoginNode
//     creds  = {registration_id, ident_pub, spk_id, spk_pub, spk_sig}
//     config = {version[3], browser[3], sync_full_history, country_code, push_name?}
import * as curve from 'curve25519-js';
import {
  aesDecryptCTR,
  aesDecryptGCM,
  aesEncryptCTR,
  aesEncryptGCM,
  buildPairingQRData,
  bytesToCrockford,
  configureSuccessfulPairing,
  Curve,
  derivePairingCodeKey,
  encodeSignedDeviceIdentity,
  generateLoginNode,
  generateRegistrationNode,
  getCompanionPlatformId,
  hkdf,
  proto,
} from 'baileys';
import { readFileSync } from 'node:fs';

const hex = (s) => Buffer.from(s ?? '', 'hex');
const toHex = (b) => Buffer.from(b).toString('hex');

const config = (c) => ({
  version: c.version,
  browser: c.browser,
  syncFullHistory: c.sync_full_history,
  countryCode: c.country_code,
  pushName: c.push_name,
});

const ops = {
  crockford: ({ data }) => ({ code: bytesToCrockford(hex(data)) }),
  derive_key: async ({ code, salt }) => ({ key: toHex(await derivePairingCodeKey(code, hex(salt))) }),
  wrap: async ({ code, pub, salt, iv }) => {
    const key = await derivePairingCodeKey(code, hex(salt));
    return { wrapped: toHex(Buffer.concat([hex(salt), hex(iv), aesEncryptCTR(hex(pub), key, hex(iv))])) };
  },
  unwrap: async ({ code, wrapped }) => {
    const buf = hex(wrapped);
    const key = await derivePairingCodeKey(code, buf.slice(0, 32));
    return { pub: toHex(aesDecryptCTR(buf.slice(48, 80), key, buf.slice(32, 48))) };
  },
  companion_finish: async (a) => {
    const wrapped = hex(a.wrapped_primary);
    const key = await derivePairingCodeKey(a.code, wrapped.slice(0, 32));
    const primaryEph = aesDecryptCTR(wrapped.slice(48, 80), key, wrapped.slice(32, 48));
    const companionShared = Curve.sharedKey(hex(a.eph_priv), primaryEph);
    const bundleKey = hkdf(companionShared, 32, { salt: hex(a.salt), info: 'link_code_pairing_key_bundle_encryption_key' });
    const payload = Buffer.concat([hex(a.ident_pub), hex(a.primary_ident_pub), hex(a.random)]);
    const encrypted = aesEncryptGCM(payload, bundleKey, hex(a.iv), Buffer.alloc(0));
    const identShared = Curve.sharedKey(hex(a.ident_priv), hex(a.primary_ident_pub));
    const advSecret = hkdf(Buffer.concat([companionShared, identShared, hex(a.random)]), 32, { info: 'adv_secret' });
    return { bundle: toHex(Buffer.concat([hex(a.salt), hex(a.iv), encrypted])), adv_secret: toHex(advSecret) };
  },
  decrypt_bundle: ({ shared, bundle }) => {
    const buf = hex(bundle);
    const key = hkdf(hex(shared), 32, { salt: buf.slice(0, 32), info: 'link_code_pairing_key_bundle_encryption_key' });
    return { plain: toHex(aesDecryptGCM(buf.slice(44), key, buf.slice(32, 44), Buffer.alloc(0))) };
  },
  qr: ({ ref, noise, ident, adv_b64, browser }) => ({
    qr: buildPairingQRData(ref, hex(noise).toString('base64'), hex(ident).toString('base64'), adv_b64, browser),
  }),
  platform_id: ({ browser }) => ({ id: getCompanionPlatformId(browser) }),
  pair_success: (a) => {
    const stanza = {
      tag: 'iq',
      attrs: { id: 'pair-1', type: 'set', from: 's.whatsapp.net' },
      content: [
        {
          tag: 'pair-success',
          attrs: {},
          content: [
            { tag: 'device-identity', attrs: {}, content: hex(a.device_identity) },
            { tag: 'device', attrs: { jid: a.jid, lid: a.lid } },
            { tag: 'platform', attrs: { name: a.platform } },
          ],
        },
      ],
    };
    const creds = {
      advSecretKey: a.adv_b64,
      signedIdentityKey: { private: hex(a.ident_priv), public: hex(a.ident_pub) },
      signalIdentities: [],
    };
    const { creds: update, reply } = configureSuccessfulPairing(stanza, creds);
    const identityNode = reply.content[0].content[0];
    return {
      reply_identity: toHex(identityNode.content),
      key_index: identityNode.attrs['key-index'],
      account: toHex(encodeSignedDeviceIdentity(update.account, true)),
      account_signature_key: toHex(update.account.accountSignatureKey),
      me: update.me,
      platform: update.platform,
    };
  },
  curve_verify: ({ pub, msg, sig }) => {
    try {
      return { ok: curve.verify(hex(pub), hex(msg), hex(sig)) === true };
    } catch {
      return { ok: false };
    }
  },
  registration: ({ creds, config: c }) => {
    const node = generateRegistrationNode(
      {
        registrationId: creds.registration_id,
        signedIdentityKey: { public: hex(creds.ident_pub) },
        signedPreKey: { keyId: creds.spk_id, keyPair: { public: hex(creds.spk_pub) }, signature: hex(creds.spk_sig) },
      },
      config(c),
    );
    return { payload: toHex(proto.ClientPayload.encode(node).finish()) };
  },
  login: ({ jid, config: c }) => ({
    payload: toHex(proto.ClientPayload.encode(generateLoginNode(jid, config(c))).finish()),
  }),
};

const input = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const item of input.ops) {
  try {
    results.push(await ops[item.op](item));
  } catch (err) {
    results.push({ error: String(err?.message ?? err) });
  }
}
process.stdout.write(JSON.stringify({ results }) + '\n');
