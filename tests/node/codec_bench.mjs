// Times the pinned Baileys codec on the nodes given on stdin (same JSON shape as codec_oracle.mjs).
// stdin: {"nodes": {name: N}, "seconds": float}; stdout: {name: {"encode_us", "decode_us", "decode_async_us", "bytes"}}
import { encodeBinaryNode, decodeBinaryNode, decodeDecompressedBinaryNode } from 'baileys'
import * as constants from 'baileys/lib/WABinary/constants.js'

const readStdin = async () => {
    const chunks = []
    for await (const chunk of process.stdin) chunks.push(chunk)
    return Buffer.concat(chunks).toString('utf-8')
}

const fromJson = (n) => {
    let content
    if (n.content === null || n.content === undefined) content = undefined
    else if (Array.isArray(n.content)) content = n.content.map(fromJson)
    else if ('b64' in n.content) content = Buffer.from(n.content.b64, 'base64')
    else content = n.content.str
    return { tag: n.tag, attrs: n.attrs || {}, content }
}

// Best of `rounds` timed rounds of a batch sized to seconds/rounds; returns microseconds per call.
const timeIt = async (fn, seconds, isAsync = false, rounds = 5) => {
    const run = async (n) => {
        const start = process.hrtime.bigint()
        for (let i = 0; i < n; i++) {
            if (isAsync) await fn()
            else fn()
        }
        return Number(process.hrtime.bigint() - start) / 1e9
    }
    let batch = 1
    let elapsed = 0
    for (;;) {
        elapsed = await run(batch)
        if (elapsed >= seconds / rounds / 4) break
        batch *= 2
    }
    batch = Math.max(1, Math.floor(batch * (seconds / rounds) / elapsed))
    let best = Infinity
    for (let r = 0; r < rounds; r++) best = Math.min(best, (await run(batch)) / batch)
    return best * 1e6
}

const input = JSON.parse(await readStdin())
const seconds = input.seconds ?? 0.5
const out = {}
for (const [name, json] of Object.entries(input.nodes)) {
    const node = fromJson(json)
    const frame = encodeBinaryNode(node)
    const body = frame.subarray(1)
    await timeIt(() => encodeBinaryNode(node), seconds / 4)  // warm-up (JIT)
    await timeIt(() => decodeDecompressedBinaryNode(body, constants), seconds / 4)
    out[name] = {
        bytes: frame.length,
        encode_us: await timeIt(() => encodeBinaryNode(node), seconds),
        decode_us: await timeIt(() => decodeDecompressedBinaryNode(body, constants, { index: 0 }), seconds),
        decode_async_us: await timeIt(() => decodeBinaryNode(frame), seconds, true),
    }
}
process.stdout.write(JSON.stringify(out) + '\n')
