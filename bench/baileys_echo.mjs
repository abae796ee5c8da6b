// A Baileys 7 (7.0.0-rc14) echo bot for bench/load.py: `!ping` -> "pong" (a quoted reply), auth in
// useMultiFileAuthState (the durable folder store Baileys ships). It uses the packages npm installed in tests/node.
//
//   WA_URL=ws://127.0.0.1:PORT/ws/chat WA_ROOT_KEY=hex AUTH_DIR=/tmp/x node bench/baileys_echo.mjs
//
// stdout: one JSON object per line: {"event":"qr","qr"} and {"event":"open"}. Reconnects on close unless logged out.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = process.env.WA_NODE_ORACLES || path.join(here, '..', 'tests', 'node');
const B = await import(pathToFileURL(path.join(modules, 'node_modules', 'baileys', 'lib', 'index.js')).href);
const makeWASocket = B.default?.default || B.default || B.makeWASocket;
const { useMultiFileAuthState } = B;
const env = process.env;
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const noop = () => {};
const logger = { level: 'silent', child: () => logger, trace: noop, debug: noop, info: noop, warn: noop,
                 error: noop, fatal: noop };

if (env.WA_ROOT_KEY && B.WA_CERT_DETAILS && 'PUBLIC_KEY' in B.WA_CERT_DETAILS) {
    B.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(env.WA_ROOT_KEY, 'hex');
}
const { state, saveCreds } = await useMultiFileAuthState(env.AUTH_DIR);

function start() {
    const sock = makeWASocket({
        waWebSocketUrl: env.WA_URL, auth: state, logger, printQRInTerminal: false, syncFullHistory: false,
        markOnlineOnConnect: false, browser: ['Ubuntu', 'Chrome', '22.04'],
    });
    sock.ev.on('creds.update', saveCreds);
    sock.ev.on('connection.update', (update) => {
        if (update.qr) emit({ event: 'qr', qr: update.qr });
        if (update.connection === 'open') emit({ event: 'open' });
        if (update.connection === 'close') {
            const code = update.lastDisconnect?.error?.output?.statusCode;
            if (code !== 401 && code !== 440) start();
        }
    });
    sock.ev.on('messages.upsert', async ({ messages, type }) => {
        if (type !== 'notify') return;
        for (const m of messages) {
            if (m.key.fromMe) continue;
            const text = m.message?.conversation ?? m.message?.extendedTextMessage?.text;
            if (text === '!ping' || text === '!p') {
                try { await sock.sendMessage(m.key.remoteJid, { text: 'pong' }, { quoted: m }); } catch { /* next */ }
            }
        }
    });
}
start();
