// Media-retry oracle: Baileys 7's own request sealing and answer opening, for the Python tests.
// Reads {"request": {id, remote_jid, from_me, media_key, me}, "answer": {ciphertext, iv, media_key, id}} on stdin
// (hex bytes), prints {"request": {enc_p, enc_iv, attrs, rmr}, "answer": {stanzaId, directPath, result}}.
//   request: encryptMediaRetryRequest(key, mediaKey, meId), the receipt Baileys sends its phone
//   answer:  decryptMediaRetryData({ciphertext, iv}, mediaKey, msgId), how Baileys opens the phone's answer
import { decryptMediaRetryData, encryptMediaRetryRequest } from 'baileys';

const hex = (s) => Buffer.from(s ?? '', 'hex');
const toHex = (b) => Buffer.from(b).toString('hex');
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { request, answer } = JSON.parse(input);
const out = {};
if (request) {
  const node = encryptMediaRetryRequest({ id: request.id, remoteJid: request.remote_jid, fromMe: request.from_me },
                                        hex(request.media_key), request.me);
  const encrypt = node.content.find((c) => c.tag === 'encrypt');
  const rmr = node.content.find((c) => c.tag === 'rmr');
  out.request = {
    attrs: node.attrs, rmr: rmr.attrs,
    enc_p: toHex(encrypt.content.find((c) => c.tag === 'enc_p').content),
    enc_iv: toHex(encrypt.content.find((c) => c.tag === 'enc_iv').content),
  };
}
if (answer) {
  const n = decryptMediaRetryData({ ciphertext: hex(answer.ciphertext), iv: hex(answer.iv) }, hex(answer.media_key),
                                  answer.id);
  out.answer = { stanzaId: n.stanzaId ?? null, directPath: n.directPath ?? null, result: n.result ?? null };
}
process.stdout.write(JSON.stringify(out) + '\n');
