// A real, unmodified Baileys 7 client connecting to a local test server for a fresh registration.
// Usage: node crypto_baileys_handshake.mjs <package> <ws-url> <root-public-key-hex> [routing-info-hex]
//   <package> is 'baileys' (7.0.0-rc14) or '@whiskeysockets/baileys' (6.7.24).
// Prints JSON lines: {"event":"creds","noise":hex,"identity":hex}, then {"event":"qr","qr":...} once Baileys
// has answered the server's <pair-device> iq and shown the first QR, then exits 0. Any close or a 30 s
// timeout before that exits 1.
import pino from 'pino';

const [pkg, url, rootHex, routingHex] = process.argv.slice(2);
const baileys = await import(pkg);
const makeWASocket = baileys.default?.default ?? baileys.default ?? baileys.makeWASocket;
const { WA_CERT_DETAILS, initAuthCreds } = baileys;
// Baileys 7 checks the chain through the broken Curve.verify (docs/protocol.md §Client quirks); point it at the
// test root anyway, so the flow keeps working once that is fixed. (6.x only checks the intermediate's issuer serial.)
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(rootHex, 'hex');

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const creds = initAuthCreds();
if (routingHex) creds.routingInfo = Buffer.from(routingHex, 'hex');
const store = {};
const keys = {
  get: async (type, ids) => Object.fromEntries(ids.map((id) => [id, store[`${type}-${id}`]]).filter(([, v]) => v)),
  set: async (data) => {
    for (const [type, entries] of Object.entries(data)) {
      for (const [id, value] of Object.entries(entries)) {
        if (value) store[`${type}-${id}`] = value;
        else delete store[`${type}-${id}`];
      }
    }
  },
};
emit({
  event: 'creds',
  noise: Buffer.from(creds.noiseKey.public).toString('hex'),
  identity: Buffer.from(creds.signedIdentityKey.public).toString('hex'),
  registrationId: creds.registrationId,
});

const timer = setTimeout(() => {
  emit({ event: 'timeout' });
  process.exit(1);
}, 30000);

const sock = makeWASocket({
  waWebSocketUrl: url,
  auth: { creds, keys },
  printQRInTerminal: false,
  logger: pino({ level: 'silent' }),
  connectTimeoutMs: 20000,
  defaultQueryTimeoutMs: 5000,
});
let done = false;
sock.ev.on('connection.update', (update) => {
  if (update.qr && !done) {
    done = true;
    emit({ event: 'qr', qr: update.qr });
    clearTimeout(timer);
    sock.end(undefined);
    setTimeout(() => process.exit(0), 100);
  } else if (update.connection === 'close' && !done) {
    emit({ event: 'close', error: String(update.lastDisconnect?.error) });
    process.exit(1);
  }
});
