// Reporting-token oracle: Baileys 7's own getMessageReportingToken (src/Utils/reporting-utils.ts), for the
// Python tests. Reads {"cases": [{message, id, sender, chat}]} on stdin (message: the serialized Message,
// hex), prints {"tokens": [hex or null]}. The key is given as a received message's ({fromMe: false,
// participant: sender, remoteJid: chat}), which makes Baileys derive its key from (id, sender, chat) — the
// JIDs whatsmeow's sender uses; on its own sends Baileys names the chat twice.
import { proto } from 'baileys/WAProto/index.js';
import { getMessageReportingToken } from 'baileys/lib/Utils/reporting-utils.js';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { cases } = JSON.parse(input);
const tokens = [];
for (const c of cases) {
  const bytes = Buffer.from(c.message, 'hex');
  const message = proto.Message.decode(bytes);
  const node = await getMessageReportingToken(bytes, message, {
    id: c.id, fromMe: false, participant: c.sender, remoteJid: c.chat,
  });
  const token = node?.content?.[0];
  tokens.push(token ? Buffer.from(token.content).toString('hex') : null);
}
process.stdout.write(JSON.stringify({ tokens }) + '\n');
