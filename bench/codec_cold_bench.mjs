// Times Baileys 7's codec warm (one node over and over) and cold (a pool of unique nodes, each once) for
// bench/codec_cold.py. Uses the packages npm installed in tests/node.
// stdin: {"seconds": s, "nodes": {name: {"warm": N, "enc_pools": [[N, ...], ...], "dec_pools": [[N, ...], ...]}}}
// stdout: {name: {"bytes", "warm_encode_us", "warm_decode_us", "cold_encode_us", "cold_decode_us"}}
// (N as in codec_oracle.mjs; the decode pools are encoded here first, outside the timing.)
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(process.env.WA_NODE_ORACLES || path.join(here, '..', 'tests', 'node'), 'node_modules');
const lib = (p) => import(pathToFileURL(path.join(modules, 'baileys', 'lib', p)).href);
const B = await lib('index.js');
const constants = await lib('WABinary/constants.js');
const { encodeBinaryNode, decodeDecompressedBinaryNode } = B;

const readStdin = async () => {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    return Buffer.concat(chunks).toString('utf-8');
};
const fromJson = (n) => {
    let content;
    if (n.content === null || n.content === undefined) content = undefined;
    else if (Array.isArray(n.content)) content = n.content.map(fromJson);
    else if ('b64' in n.content) content = Buffer.from(n.content.b64, 'base64');
    else content = n.content.str;
    return { tag: n.tag, attrs: n.attrs || {}, content };
};
const now = () => process.hrtime.bigint();
const perCall = (fn, seconds, rounds = 5) => {
    let batch = 1, elapsed = 0;
    for (;;) {
        const t = now(); for (let i = 0; i < batch; i++) fn(); elapsed = Number(now() - t) / 1e9;
        if (elapsed >= seconds / rounds / 4) break;
        batch *= 2;
    }
    batch = Math.max(1, Math.floor(batch * (seconds / rounds) / elapsed));
    let best = Infinity;
    for (let r = 0; r < rounds; r++) {
        const t = now(); for (let i = 0; i < batch; i++) fn(); best = Math.min(best, Number(now() - t) / 1e9 / batch);
    }
    return best * 1e6;
};
// Best of the pools, each element once: microseconds per call.
const perPool = (pools, fn) => {
    let best = Infinity;
    for (const pool of pools) {
        const t = now(); for (const item of pool) fn(item); best = Math.min(best, Number(now() - t) / 1e3 / pool.length);
    }
    return best;
};

const input = JSON.parse(await readStdin());
const seconds = input.seconds ?? 0.5;
const out = {};
for (const [name, spec] of Object.entries(input.nodes)) {
    const node = fromJson(spec.warm);
    const frame = encodeBinaryNode(node);
    const body = frame.subarray(1);
    perCall(() => encodeBinaryNode(node), seconds / 4);  // JIT warm-up
    perCall(() => decodeDecompressedBinaryNode(body, constants, { index: 0 }), seconds / 4);
    const encPools = spec.enc_pools.map((pool) => pool.map(fromJson));
    const decPools = spec.dec_pools.map((pool) => pool.map((n) => encodeBinaryNode(fromJson(n)).subarray(1)));
    out[name] = {
        bytes: frame.length,
        warm_encode_us: perCall(() => encodeBinaryNode(node), seconds),
        warm_decode_us: perCall(() => decodeDecompressedBinaryNode(body, constants, { index: 0 }), seconds),
        cold_encode_us: perPool(encPools, (n) => encodeBinaryNode(n)),
        cold_decode_us: perPool(decPools, (b) => decodeDecompressedBinaryNode(b, constants, { index: 0 })),
    };
}
process.stdout.write(JSON.stringify(out) + '\n');
