// Media oracle: Baileys 7's media crypto and message padding, for the Python tests.
// Reads {"ops": [{"op": NAME, ...}, ...]} on stdin, prints {"results": [...]} (or {"error": message} per op).
// Byte values are hex.
//
//   keys     {media_key, type}          -> {iv, cipher_key, mac_key}   getMediaKeys(mediaKey, type)
//   encrypt  {plaintext, type}          -> {media_key, body, file_sha256, file_enc_sha256, file_length, mac}
//            encryptedStream(Buffer, type): Baileys' upload encryption; body is the encrypted temp file it wrote
//   decrypt  {body, media_key, type}    -> {plaintext}
//            downloadEncryptedContent from a one-shot HTTP server on 127.0.0.1 serving `body`, as a real download
//            would (Baileys does not check the MAC or the hashes, P8; the Python side does)
//   pad      {data}                     -> {padded}                   writeRandomPadMax16
//   unpad    {data}                     -> {data}                     unpadRandomMax16
import { downloadEncryptedContent, encryptedStream, getMediaKeys, unpadRandomMax16, writeRandomPadMax16 } from 'baileys';
import { readFileSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { createServer } from 'node:http';

const hex = (s) => Buffer.from(s ?? '', 'hex');
const toHex = (b) => Buffer.from(b).toString('hex');

const serveOnce = (body) =>
  new Promise((resolve) => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });

const ops = {
  keys: async ({ media_key, type }) => {
    const k = await getMediaKeys(hex(media_key), type);
    return { iv: toHex(k.iv), cipher_key: toHex(k.cipherKey), mac_key: toHex(k.macKey) };
  },
  encrypt: async ({ plaintext, type }) => {
    const r = await encryptedStream(hex(plaintext), type);
    const body = await readFile(r.encFilePath);
    await unlink(r.encFilePath);
    return {
      media_key: toHex(r.mediaKey),
      body: toHex(body),
      file_sha256: toHex(r.fileSha256),
      file_enc_sha256: toHex(r.fileEncSha256),
      file_length: r.fileLength,
      mac: toHex(r.mac),
    };
  },
  decrypt: async ({ body, media_key, type }) => {
    const server = await serveOnce(hex(body));
    try {
      const { port } = server.address();
      const keys = await getMediaKeys(hex(media_key), type);
      const stream = await downloadEncryptedContent(`http://127.0.0.1:${port}/blob`, keys);
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      return { plaintext: toHex(Buffer.concat(chunks)) };
    } finally {
      server.close();
    }
  },
  pad: ({ data }) => ({ padded: toHex(writeRandomPadMax16(hex(data))) }),
  unpad: ({ data }) => ({ data: toHex(unpadRandomMax16(hex(data))) }),
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
