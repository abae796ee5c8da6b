// Writes a real Baileys useMultiFileAuthState folder (pinned Baileys) with a fake paired `me`/`account`,
// pre-keys and a few other key types, then prints, as JSON, what the import must reproduce byte for byte:
// every credential field in hex and the ADVSignedDeviceIdentity encoded by Baileys' own protobuf code.
//   node storage_baileys_folder.mjs <folder>
import { randomBytes } from 'node:crypto'
import { useMultiFileAuthState, Curve, proto } from 'baileys'

const folder = process.argv[2]
const { state, saveCreds } = await useMultiFileAuthState(folder)
const creds = state.creds

creds.me = { id: '15551234567:12@s.whatsapp.net', lid: '123456789012345:12@lid', name: 'Storage Test' }
creds.account = {
  details: randomBytes(70),
  accountSignatureKey: randomBytes(32),
  accountSignature: randomBytes(64),
  deviceSignature: randomBytes(64),
}
creds.platform = 'android'
creds.routingInfo = randomBytes(12)
creds.myAppStateKeyId = 'AAAAAB+/'

const preKeys = {}
for (let id = 1; id <= 5; id++) preKeys[id] = Curve.generateKeyPair()
creds.nextPreKeyId = 6
creds.firstUnuploadedPreKeyId = 6

const appStateKey = proto.Message.AppStateSyncKeyData.fromObject({
  keyData: randomBytes(32),
  fingerprint: { rawId: 7, currentIndex: 1, deviceIndexes: [0, 12] },
  timestamp: 1700000000,
})
const identity = Buffer.concat([Buffer.from([5]), randomBytes(32)])
const session = randomBytes(300)
const senderKey = randomBytes(120)

await state.keys.set({
  'pre-key': preKeys,
  'lid-mapping': { '15551234567': '123456789012345', '123456789012345_reverse': '15551234567' },
  'device-list': { '15551234567': ['0', '12'] },
  'app-state-sync-key': { 'AAAAAB+/': appStateKey },
  'identity-key': { '15551234567.0': identity },
  session: { '15551234567.0': session },
  'sender-key': { '120363012345678901@g.us::15551234567::0': senderKey },
})
await saveCreds()

const hex = (b) => Buffer.from(b).toString('hex')
const pair = (kp) => hex(Buffer.concat([Buffer.from(kp.private), Buffer.from(kp.public)]))
console.log(JSON.stringify({
  noise_key: pair(creds.noiseKey),
  identity_key: pair(creds.signedIdentityKey),
  signed_prekey: pair(creds.signedPreKey.keyPair),
  signed_prekey_id: creds.signedPreKey.keyId,
  signed_prekey_signature: hex(creds.signedPreKey.signature),
  registration_id: creds.registrationId,
  adv_secret_key: hex(Buffer.from(creds.advSecretKey, 'base64')),
  me_id: creds.me.id,
  me_lid: creds.me.lid,
  push_name: creds.me.name,
  account: hex(proto.ADVSignedDeviceIdentity.encode(creds.account).finish()),
  platform: creds.platform,
  routing_info: hex(creds.routingInfo),
  next_prekey_id: creds.nextPreKeyId,
  first_unuploaded_prekey_id: creds.firstUnuploadedPreKeyId,
  pre_keys: Object.fromEntries(Object.entries(preKeys).map(([id, kp]) => [id, pair(kp)])),
  identity: hex(identity),
  session: hex(session),
  sender_key: hex(senderKey),
  app_state_key_data: hex(appStateKey.keyData),
}))
