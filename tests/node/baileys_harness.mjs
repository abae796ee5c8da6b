// A long-running Node process driving ONE real, unmodified Baileys client against the emulated server.
//
// Configuration (environment):
//   WA_URL        ws://127.0.0.1:PORT/ws/chat (required)
//   WA_ROOT_KEY   hex of the emulator's root public key (patched into WA_CERT_DETAILS.PUBLIC_KEY when the
//                 flavour has it, so the chain check stays meaningful if Baileys' Curve.verify is ever fixed)
//   AUTH_DIR      folder for useMultiFileAuthState (required)
//   FLAVOUR       "baileys" (7.0.0-rc14, default) or "@whiskeysockets/baileys" (6.7.24)
//   PAIR_PHONE    if set and not registered: request a pairing code for this number instead of showing QRs
//   RECONNECT     "1" (default): on close, reconnect like Baileys' README unless the status says not to
//                 (401 logged out, 403, 405, 406, 402, 440 replaced, 411); "0": only the 515 restart
//   QR_TIMEOUT_MS optional Baileys qrTimeout
//   KEEPALIVE_MS  optional Baileys keepAliveIntervalMs (its w:p ping interval; Baileys' default is 30 s)
//   BAILEYS_LOG   pino-like level for Baileys' own log on stderr (default: silent)
//   MEDIA_HOST    host:port of the emulator's media host. Baileys 6 downloads from mmg.whatsapp.net whatever
//                 the message says, so its downloads are sent there (the TLS name stays mmg.whatsapp.net)
//   NODE_EXTRA_CA_CERTS  (read by Node itself) the emulator's media CA, so Baileys' https requests trust it
//
// Protocol: one JSON object per line.
//   stdout events: {"event":"ready"} {"event":"qr","qr"} {"event":"pairing_code","code"}
//     {"event":"connection","connection":"connecting"|"open"|"close","statusCode","reason","willReconnect"}
//     {"event":"creds","registered","me","lid"} {"event":"message","id","from","fromMe","participant","text","type",
//      "media": null | {kind, mimetype, fileLength, caption, fileName, ptt, gifPlayback, isAnimated, seconds,
//                       width, height, pageCount, viewOnce, mediaKey, fileEncSha256, directPath}}
//     {"event":"receipt", ...} {"event":"update", ...} {"event":"result","cmd","req", ...} {"event":"error","cmd","req","error"}
//     (interactions) {"event":"reaction","id","from","text","by"} {"event":"presence","id","presences"}
//     {"event":"poll_votes","id","votes":[{name, voters}]}; "message" events also carry "kinds" (content fields),
//     "mentions", "quotedId", "expiration", "location", "contact", "pollName"; "update" events "edited", "revoked"
//     {"event":"exit"}
//   stdin commands: {"cmd": NAME, "req": optional correlation id, ...args}; every command answers with a
//     "result" or "error" event carrying the same cmd and req.
//
// EXTENDING: add an entry to COMMANDS below: `name: async (args) => resultObject`. `current.sock` is the
// live socket (it changes on every reconnect). The routing engineer adds messaging/group commands there.

import crypto, { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import readline from 'node:readline';

const env = process.env;
const FLAVOUR = env.FLAVOUR || 'baileys';
const B = await import(FLAVOUR);
const makeWASocket = B.default?.default || B.default || B.makeWASocket;
const { useMultiFileAuthState, DisconnectReason } = B;

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// A pino-compatible logger: silent unless BAILEYS_LOG names a level, then JSON lines on stderr.
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: 100 };
function makeLogger(level, bindings = {}) {
    const threshold = LEVELS[level] ?? 100;
    const log = (lvl) => (obj, msg) => {
        if (LEVELS[lvl] < threshold) return;
        let data = obj;
        try {
            data = JSON.parse(JSON.stringify(obj, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
        } catch { data = String(obj); }
        process.stderr.write(JSON.stringify({ level: lvl, ...bindings, msg, data }) + '\n');
    };
    return {
        level,
        child: (more) => makeLogger(level, { ...bindings, ...more }),
        trace: log('trace'), debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'),
        fatal: log('fatal'),
    };
}
const logger = makeLogger(env.BAILEYS_LOG || 'silent');

if (env.WA_ROOT_KEY && B.WA_CERT_DETAILS && 'PUBLIC_KEY' in B.WA_CERT_DETAILS) {
    B.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(env.WA_ROOT_KEY, 'hex');
}

const NO_RECONNECT = new Set([401, 402, 403, 405, 406, 411, 440]);
const current = { sock: null, generation: 0, quitting: false };
const { state, saveCreds } = await useMultiFileAuthState(env.AUTH_DIR);
let pairingCodeRequested = false;

const messageText = (m) =>
    m?.conversation ?? m?.extendedTextMessage?.text ?? m?.ephemeralMessage?.message?.conversation ?? null;

// (media) Received messages by id, for download_media (bounded: the oldest go first).
const received = new Map();
const MEDIA_KINDS = { imageMessage: 'image', videoMessage: 'video', audioMessage: 'audio', documentMessage: 'document',
                      stickerMessage: 'sticker' };
const hexOf = (b) => (b ? Buffer.from(b).toString('hex') : null);
const num = (v) => (v === undefined || v === null ? null : Number(v));
function mediaSummary(message) {
    const content = B.normalizeMessageContent(message);
    const type = content ? B.getContentType(content) : null;
    const kind = MEDIA_KINDS[type];
    if (!kind) return null;
    const m = content[type];
    const viewOnce = !!(message?.viewOnceMessage || message?.viewOnceMessageV2 || message?.viewOnceMessageV2Extension
                        || message?.ephemeralMessage?.message?.viewOnceMessage || m.viewOnce);
    return { kind, mimetype: m.mimetype ?? null, fileLength: num(m.fileLength), caption: m.caption ?? null,
             fileName: m.fileName ?? null, ptt: !!m.ptt, gifPlayback: !!m.gifPlayback, isAnimated: !!m.isAnimated,
             seconds: num(m.seconds), width: num(m.width), height: num(m.height), pageCount: num(m.pageCount),
             viewOnce, mediaKey: hexOf(m.mediaKey), fileEncSha256: hexOf(m.fileEncSha256),
             fileSha256: hexOf(m.fileSha256), directPath: m.directPath ?? null, url: m.url ?? null,
             hasThumbnail: !!(m.jpegThumbnail && m.jpegThumbnail.length) };
}
// Baileys 6 always downloads from https://mmg.whatsapp.net: connect that name to the emulator instead.
class MediaHostAgent extends https.Agent {
    createConnection(options, callback) {
        const [host, port] = env.MEDIA_HOST.split(':');
        return tls.connect({ ...options, host, port: Number(port), servername: options.servername || options.host },
                           callback);
    }
}
const mediaAgent = env.MEDIA_HOST ? new MediaHostAgent({ keepAlive: false }) : undefined;

// (interactions) What a received message is, beyond its text: content kinds, mentions, quote, location, card.
function interactionSummary(m) {
    const content = B.normalizeMessageContent(m.message) || {};
    const type = B.getContentType(content);
    const info = type ? content[type]?.contextInfo : null;
    return { kinds: Object.keys(content), mentions: info?.mentionedJid ?? [], quotedId: info?.stanzaId ?? null,
             expiration: info?.expiration ?? null,
             location: content.locationMessage ? { lat: content.locationMessage.degreesLatitude,
                                                   lon: content.locationMessage.degreesLongitude,
                                                   name: content.locationMessage.name ?? null } : null,
             contact: content.contactMessage ? { name: content.contactMessage.displayName,
                                                 vcard: content.contactMessage.vcard } : null,
             pollName: (content.pollCreationMessage || content.pollCreationMessageV2 || content.pollCreationMessageV3)?.name
                       ?? null,
             edit: content.protocolMessage?.type === 14 ? content.protocolMessage?.key?.id ?? null : null };
}
// (interactions) Polls this client created, and the votes decrypted so far (Baileys' README recipe: the app keeps
// the poll, decrypts each pollUpdateMessage with decryptPollVote and aggregates with getAggregateVotesInPollMessage).
const polls = new Map();
function aggregatePollVote(m) {
    const update = B.normalizeMessageContent(m.message)?.pollUpdateMessage;
    if (!update) return;
    const poll = polls.get(update.pollCreationMessageKey?.id);
    if (!poll) return;
    const me = B.jidNormalizedUser(state.creds.me?.id);
    const voter = B.jidNormalizedUser(m.key.participant || m.key.remoteJid);
    try {
        const vote = B.decryptPollVote(update.vote, { pollCreatorJid: me, pollMsgId: poll.key.id,
                                                      pollEncKey: poll.message.messageContextInfo.messageSecret,
                                                      voterJid: voter });
        B.updateMessageWithPollUpdate(poll, { pollUpdateMessageKey: m.key, vote,
                                              senderTimestampMs: Number(update.senderTimestampMs ?? 0) });
        emit({ event: 'poll_votes', id: poll.key.id, votes: B.getAggregateVotesInPollMessage(poll, me) });
    } catch (err) {
        emit({ event: 'poll_vote_error', id: poll.key.id, error: String(err?.message ?? err) });
    }
}

function start() {
    const generation = ++current.generation;
    const config = {
        waWebSocketUrl: env.WA_URL,
        auth: state,
        logger,
        printQRInTerminal: false,
        defaultQueryTimeoutMs: 5000,
        syncFullHistory: false,
        markOnlineOnConnect: false,
        fireInitQueries: true,
        browser: ['Ubuntu', 'Chrome', '22.04'],
    };
    if (env.QR_TIMEOUT_MS) config.qrTimeout = Number(env.QR_TIMEOUT_MS);
    if (env.KEEPALIVE_MS) config.keepAliveIntervalMs = Number(env.KEEPALIVE_MS);
    const sock = makeWASocket(config);
    current.sock = sock;
    sock.ev.on('creds.update', async () => {
        await saveCreds();
        emit({ event: 'creds', registered: !!state.creds.registered, me: state.creds.me?.id ?? null,
               lid: state.creds.me?.lid ?? null });
    });
    sock.ev.on('connection.update', async (update) => {
        if (generation !== current.generation) return;
        const { connection, lastDisconnect, qr } = update;
        if (qr) {
            if (env.PAIR_PHONE && !state.creds.registered) {
                if (!pairingCodeRequested) {
                    pairingCodeRequested = true;
                    try {
                        const code = await sock.requestPairingCode(env.PAIR_PHONE);
                        emit({ event: 'pairing_code', code });
                    } catch (err) {
                        emit({ event: 'error', cmd: 'requestPairingCode', error: String(err?.message ?? err) });
                    }
                }
            } else {
                emit({ event: 'qr', qr });
            }
        }
        if (update.receivedPendingNotifications) emit({ event: 'offline_done' });
        if (!connection) return;
        if (connection === 'close') {
            const statusCode = lastDisconnect?.error?.output?.statusCode ?? null;
            const willReconnect = !current.quitting && !NO_RECONNECT.has(statusCode)
                && (env.RECONNECT !== '0' || statusCode === DisconnectReason.restartRequired);
            emit({ event: 'connection', connection, statusCode, reason: String(lastDisconnect?.error?.message ?? ''),
                   willReconnect });
            if (willReconnect) {
                pairingCodeRequested = false;
                start();
            }
        } else {
            emit({ event: 'connection', connection, me: state.creds.me?.id ?? null });
        }
    });
    sock.ev.on('messages.upsert', ({ messages, type }) => {
        for (const m of messages) {
            received.set(m.key.id, m);
            if (received.size > 200) received.delete(received.keys().next().value);
            emit({ event: 'message', id: m.key.id, from: m.key.remoteJid, fromMe: !!m.key.fromMe,
                   participant: m.key.participant ?? null, text: messageText(m.message), type,
                   stub: m.messageStubType ?? null, media: mediaSummary(m.message), ...interactionSummary(m) });
            aggregatePollVote(m);
            // (routing) Baileys' event buffer folds receipts that arrive while our own sent message is still
            // buffered into that message instead of emitting message-receipt.update: report them the same way.
            for (const receipt of m.userReceipt ?? []) {
                emit({ event: 'receipt', id: m.key.id, from: m.key.remoteJid, receipt });
            }
        }
    });
    sock.ev.on('messages.update', (updates) => {
        for (const u of updates) {
            const edited = u.update?.message?.editedMessage?.message;
            emit({ event: 'update', id: u.key.id, from: u.key.remoteJid, fromMe: !!u.key.fromMe,
                   status: u.update?.status ?? null, edited: edited ? messageText(edited) : null,
                   revoked: u.update?.messageStubType === (B.WAMessageStubType?.REVOKE ?? 1) });
        }
    });
    // (interactions) Reactions and presence/typing as Baileys reports them.
    sock.ev.on('messages.reaction', (reactions) => {
        for (const r of reactions) {
            emit({ event: 'reaction', id: r.key.id, from: r.key.remoteJid, text: r.reaction?.text ?? null,
                   by: r.reaction?.key?.participant || r.reaction?.key?.remoteJid || null });
        }
    });
    sock.ev.on('presence.update', ({ id, presences }) => emit({ event: 'presence', id, presences }));
    // (groups) Group changes as Baileys reports them to an application.
    sock.ev.on('groups.update', (updates) => {
        for (const u of updates) emit({ event: 'groups_update', ...u });
    });
    sock.ev.on('group-participants.update', ({ id, author, participants, action }) => {
        emit({ event: 'group_participants', id, author: author ?? null, action,
               participants: participants.map((p) => (typeof p === 'string' ? p : p.id)) });
    });
    sock.ev.on('message-receipt.update', (updates) => {
        for (const u of updates) {
            emit({ event: 'receipt', id: u.key.id, from: u.key.remoteJid, receipt: u.receipt });
        }
    });
}

// Commands: name -> async (args) => result. Extend here.
export const COMMANDS = {
    ping: async () => ({ pong: true }),
    state: async () => ({ registered: !!state.creds.registered, me: state.creds.me?.id ?? null,
                          lid: state.creds.me?.lid ?? null, generation: current.generation,
                          appStateKeyId: state.creds.myAppStateKeyId ?? null }),
    // (app state) One chat setting or contact, written as Baileys writes app state (appPatch): action "pin"
    // (value bool), "mute" (value: mute-end ms, null unmutes), "archive" (bool), "contact" (a ContactAction
    // {fullName, firstName}, null removes it; Baileys 7 addOrEditContact/removeContact).
    chat_modify: async ({ jid, action, value }) => {
        const sock = current.sock;
        if (action === 'contact') {
            await (value ? sock.addOrEditContact(jid, value) : sock.removeContact(jid));
        } else if (action === 'pin') {
            await sock.chatModify({ pin: !!value }, jid);
        } else if (action === 'mute') {
            await sock.chatModify({ mute: value ?? null }, jid);
        } else if (action === 'archive') {
            await sock.chatModify({ archive: !!value, lastMessages: [] }, jid);
        } else {
            throw new Error(`unknown chat_modify action ${action}`);
        }
        return {};
    },
    send_text: async ({ jid, text }) => {
        const sent = await current.sock.sendMessage(jid, { text });
        return { id: sent?.key?.id ?? null };
    },
    // (media) Send a file as {kind: path} with Baileys' own options; returns the id and what was sent.
    send_media: async ({ jid, kind, path, caption, mimetype, fileName, ptt, gifPlayback, seconds, viewOnce }) => {
        const content = { [kind]: { url: path } };
        for (const [key, value] of Object.entries({ caption, mimetype, fileName, ptt, gifPlayback, seconds, viewOnce })) {
            if (value !== undefined && value !== null) content[key] = value;
        }
        const sent = await current.sock.sendMessage(jid, content);
        return { id: sent?.key?.id ?? null, media: mediaSummary(sent?.message) };
    },
    // (media) Download and decrypt a received message's media with Baileys' downloadMediaMessage into `path`.
    download_media: async ({ id, path }) => {
        const m = received.get(id);
        if (!m) throw new Error(`no received message ${id}`);
        const options = mediaAgent ? { options: { httpsAgent: mediaAgent, agent: mediaAgent } } : {};
        const data = await B.downloadMediaMessage(m, 'buffer', options);
        fs.writeFileSync(path, data);
        return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    },
    // (media) Time Baileys' own upload (encrypt + POST) and download (GET + decrypt) of one file, for bench/media.py.
    media_roundtrip: async ({ path, kind }) => {
        const upload = current.sock.waUploadToServer;
        let started = process.hrtime.bigint();
        const enc = await B.encryptedStream({ url: path }, kind);
        const { mediaUrl, directPath } = await upload(enc.encFilePath, {
            fileEncSha256B64: enc.fileEncSha256.toString('base64'), mediaType: kind, timeoutMs: 120000 });
        const uploadSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        fs.unlinkSync(enc.encFilePath);
        started = process.hrtime.bigint();
        const options = mediaAgent ? { options: { httpsAgent: mediaAgent, agent: mediaAgent } } : {};
        const stream = await B.downloadContentFromMessage({ mediaKey: enc.mediaKey, directPath, url: mediaUrl }, kind,
                                                         options);
        const hash = createHash('sha256');
        let size = 0;
        for await (const chunk of stream) { hash.update(chunk); size += chunk.length; }
        const downloadSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        return { size, uploadSeconds, downloadSeconds, sha256: hash.digest('hex'),
                 fileSha256: enc.fileSha256.toString('hex') };
    },
    // (interactions) Reactions, edits, deletes, polls, votes, read receipts, presence, as an application does them.
    react: async ({ jid, id, fromMe, participant, text }) => {
        const key = { remoteJid: jid, id, fromMe: !!fromMe, ...(participant ? { participant } : {}) };
        const sent = await current.sock.sendMessage(jid, { react: { text, key } });
        return { id: sent?.key?.id ?? null };
    },
    edit: async ({ jid, id, text }) => {
        const sent = await current.sock.sendMessage(jid, { text, edit: { remoteJid: jid, id, fromMe: true } });
        return { id: sent?.key?.id ?? null };
    },
    delete: async ({ jid, id, fromMe, participant }) => {
        const key = { remoteJid: jid, id, fromMe: fromMe !== false, ...(participant ? { participant } : {}) };
        const sent = await current.sock.sendMessage(jid, { delete: key });
        return { id: sent?.key?.id ?? null };
    },
    send_poll: async ({ jid, name, values, selectableCount }) => {
        const sent = await current.sock.sendMessage(jid, { poll: { name, values, selectableCount: selectableCount ?? 1 } });
        polls.set(sent.key.id, sent);
        return { id: sent.key.id };
    },
    // Baileys builds no votes itself: encrypted here as decryptPollVote opens them (HKDF-SHA256 of the poll's
    // secret with info id||creator||voter||"Poll Vote", AES-256-GCM, aad id\0voter), then relayed by Baileys.
    vote: async ({ jid, id, options }) => {
        const poll = received.get(id);
        if (!poll) throw new Error(`no received poll ${id}`);
        const content = B.normalizeMessageContent(poll.message);
        const secret = content.messageContextInfo?.messageSecret || poll.message.messageContextInfo?.messageSecret;
        const creator = B.jidNormalizedUser(poll.key.participant || poll.key.remoteJid);
        const voter = B.jidNormalizedUser(state.creds.me.id);
        const info = Buffer.concat([Buffer.from(id), Buffer.from(creator), Buffer.from(voter), Buffer.from('Poll Vote')]);
        const key = Buffer.from(crypto.hkdfSync('sha256', Buffer.from(secret), Buffer.alloc(0), info, 32));
        const plain = B.proto.Message.PollVoteMessage.encode({
            selectedOptions: options.map((o) => createHash('sha256').update(Buffer.from(o)).digest()) }).finish();
        const iv = randomBytes(12);
        const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
        cipher.setAAD(Buffer.from(`${id}\u0000${voter}`));
        const encPayload = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
        const message = { pollUpdateMessage: {
            pollCreationMessageKey: { remoteJid: poll.key.remoteJid, id, fromMe: false,
                                      ...(poll.key.participant ? { participant: poll.key.participant } : {}) },
            vote: { encPayload, encIv: iv }, senderTimestampMs: Date.now() } };
        const messageId = B.generateMessageIDV2(current.sock.user?.id);
        await current.sock.relayMessage(jid, message, { messageId });
        return { id: messageId };
    },
    send_rich: async ({ jid, text, mentions, quotedId, expiration }) => {
        const quoted = quotedId ? received.get(quotedId) : undefined;
        const options = { ...(quoted ? { quoted } : {}), ...(expiration ? { ephemeralExpiration: expiration } : {}) };
        const sent = await current.sock.sendMessage(jid, { text, mentions: mentions ?? [] }, options);
        return { id: sent?.key?.id ?? null };
    },
    read: async ({ jid, id, participant }) => {
        await current.sock.readMessages([{ remoteJid: jid, id, fromMe: false, ...(participant ? { participant } : {}) }]);
        return {};
    },
    presence: async ({ type, jid }) => {
        await current.sock.sendPresenceUpdate(type, jid);
        return {};
    },
    subscribe: async ({ jid }) => {
        await current.sock.presenceSubscribe(jid);
        return {};
    },
    group_participants: async ({ jid, participants, action }) => {
        const result = await current.sock.groupParticipantsUpdate(jid, participants, action);
        return { result };
    },
    group_subject: async ({ jid, subject }) => {
        await current.sock.groupUpdateSubject(jid, subject);
        return {};
    },
    // (status) A text status for the users in `recipients`, as Baileys posts one.
    send_status: async ({ text, recipients }) => {
        const sent = await current.sock.sendMessage('status@broadcast', { text },
                                                    { statusJidList: recipients, backgroundColor: '#FF1E6E4F' });
        return { id: sent?.key?.id ?? null };
    },
    // (groups) Admin operations as an application does them.
    group_description: async ({ jid, description }) => {
        await current.sock.groupUpdateDescription(jid, description);
        return {};
    },
    group_setting: async ({ jid, setting }) => {
        await current.sock.groupSettingUpdate(jid, setting);
        return {};
    },
    group_invite_code: async ({ jid }) => ({ code: await current.sock.groupInviteCode(jid) }),
    group_accept_invite: async ({ code }) => ({ id: await current.sock.groupAcceptInvite(code) }),
    group_leave: async ({ jid }) => {
        await current.sock.groupLeave(jid);
        return {};
    },
    create_group: async ({ subject, participants }) => {
        const meta = await current.sock.groupCreate(subject, participants);
        return { id: meta.id, subject: meta.subject };
    },
    // (routing) Full group metadata as Baileys parsed it from the server's <group>.
    group_metadata: async ({ jid }) => {
        const meta = await current.sock.groupMetadata(jid);
        return { id: meta.id, subject: meta.subject, addressingMode: meta.addressingMode, owner: meta.owner ?? null,
                 announce: !!meta.announce, restrict: !!meta.restrict, desc: meta.desc ?? null,
                 participants: meta.participants.map((p) => ({ id: p.id, admin: p.admin ?? null,
                                                               lid: p.lid ?? null, phoneNumber: p.phoneNumber ?? null })) };
    },
    // (routing) `count` texts "<prefix><i>" sent one after the other, each awaited as an application would.
    send_burst: async ({ jid, count, prefix }) => {
        const started = process.hrtime.bigint();
        const ids = [];
        for (let i = 0; i < count; i++) ids.push((await current.sock.sendMessage(jid, { text: `${prefix}${i}` })).key.id);
        return { ids, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
    },
    // Close the socket without logging out (the auth folder stays valid); no reconnect.
    end: async () => {
        current.quitting = true;
        current.sock.end(undefined);
        return {};
    },
    logout: async () => {
        current.quitting = true;
        await current.sock.logout();
        return {};
    },
    // Send raw bytes on the WebSocket, by default a well-framed 20-byte payload that cannot decrypt:
    // the server must close only this connection.
    send_garbage: async ({ hex }) => {
        const data = hex ? Buffer.from(hex, 'hex') : Buffer.concat([Buffer.from([0, 0, 20]), randomBytes(20)]);
        current.sock.ws.send(data);
        return {};
    },
    // One IQ round trip through the server (Baileys' keep-alive ping, sent now).
    query_ping: async () => {
        const sock = current.sock;
        const res = await sock.query({ tag: 'iq', attrs: { id: sock.generateMessageTag(), to: 's.whatsapp.net',
                                                           type: 'get', xmlns: 'w:p' },
                                       content: [{ tag: 'ping', attrs: {} }] });
        return { type: res.attrs.type };
    },
    quit: async () => {
        current.quitting = true;
        try { current.sock?.end(undefined); } catch { /* already closed */ }
        setTimeout(() => { emit({ event: 'exit' }); process.exit(0); }, 200);
        return {};
    },
};

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
    if (!line.trim()) return;
    let cmd;
    try {
        cmd = JSON.parse(line);
    } catch (err) {
        emit({ event: 'error', cmd: null, error: `bad JSON: ${err.message}` });
        return;
    }
    const handler = COMMANDS[cmd.cmd];
    if (!handler) {
        emit({ event: 'error', cmd: cmd.cmd, req: cmd.req ?? null, error: 'unknown command' });
        return;
    }
    try {
        const result = await handler(cmd);
        emit({ event: 'result', cmd: cmd.cmd, req: cmd.req ?? null, ...result });
    } catch (err) {
        emit({ event: 'error', cmd: cmd.cmd, req: cmd.req ?? null, error: String(err?.message ?? err) });
    }
});
rl.on('close', () => { current.quitting = true; try { current.sock?.end(undefined); } catch { } process.exit(0); });

fs.mkdirSync(env.AUTH_DIR, { recursive: true });
emit({ event: 'ready', flavour: FLAVOUR, registered: !!state.creds.registered });
start();
