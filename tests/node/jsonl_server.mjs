// The request loop shared by the long-running Node oracles (signal_peer.mjs, signal_libsignal_export.mjs):
// one JSON request per stdin line ({op, ...}), one JSON answer per stdout line, errors as {error}.
import { createInterface } from 'node:readline';

export async function serveJsonLines(ops, describeError = (err) => String(err?.message ?? err)) {
  // libsignal logs session warnings on stdout via console.*; keep stdout for answers only.
  for (const name of ['log', 'warn', 'error', 'info', 'debug']) console[name] = (...args) => process.stderr.write(`${args.join(' ')}\n`);

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
      const request = JSON.parse(line);
      if (!ops[request.op]) throw new Error(`unknown op ${request.op}`);
      answer = await ops[request.op](request);
    } catch (err) {
      answer = { error: describeError(err) };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
}
