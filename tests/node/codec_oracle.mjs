// Drives the pinned Baileys binary-node codec for the Python codec tests.
// stdin: {"ops": [{"op": "encode", "node": N, "compress"?: bool} | {"op": "decode", "b64": "..."} | {"op": "jid"|"signal", "jid": "..."}]}
// N = {"tag": str, "attrs": {k: str}, "content": null | {"b64": str} | {"str": str} | [N...]}
// stdout: one JSON line: [{"ok": true, "b64"|"node"|"jid": ...} | {"ok": false, "error": str}]
import { deflateSync } from 'zlib'
import { encodeBinaryNode, decodeBinaryNode, jidDecode } from 'baileys'
import { makeLibSignalRepository } from 'baileys/lib/Signal/libsignal.js'

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

const toJson = (n) => {
    let content = null
    if (Array.isArray(n.content)) content = n.content.map(toJson)
    else if (Buffer.isBuffer(n.content) || n.content instanceof Uint8Array) content = { b64: Buffer.from(n.content).toString('base64') }
    else if (typeof n.content === 'string') content = { str: n.content }
    // attribute order as Baileys enumerates it
    const attrs = Object.entries(n.attrs)
    return { tag: n.tag, attrs, content }
}

// Only for its jidToSignalProtocolAddress(jid) (Baileys keeps the function itself private).
const noop = () => {}
const logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, child: () => logger }
const memoryKeys = { get: async () => ({}), set: async () => {}, transaction: async (fn) => fn() }
const signalRepository = makeLibSignalRepository({ creds: {}, keys: memoryKeys }, logger, undefined)

const input = JSON.parse(await readStdin())
const results = []
for (const op of input.ops) {
    try {
        if (op.op === 'encode') {
            let frame = encodeBinaryNode(fromJson(op.node))
            if (op.compress) frame = Buffer.concat([Buffer.from([2]), deflateSync(frame.subarray(1))])
            results.push({ ok: true, b64: frame.toString('base64') })
        } else if (op.op === 'decode') {
            results.push({ ok: true, node: toJson(await decodeBinaryNode(Buffer.from(op.b64, 'base64'))) })
        } else if (op.op === 'jid') {
            const d = jidDecode(op.jid)
            results.push({ ok: true, jid: d ? { user: d.user, server: d.server, domainType: d.domainType, device: d.device ?? null } : null })
        } else if (op.op === 'signal') {
            results.push({ ok: true, address: signalRepository.jidToSignalProtocolAddress(op.jid) })
        } else {
            throw new Error('unknown op ' + op.op)
        }
    } catch (e) {
        results.push({ ok: false, error: String(e && e.message || e) })
    }
}
// ASCII-only output: the Python side splits stdout into lines, and str.splitlines() also breaks at
// U+2028, U+0085 and friends, which JSON.stringify leaves raw.
const ascii = JSON.stringify(results).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
process.stdout.write(ascii + '\n')
