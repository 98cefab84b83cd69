// node_openai.js - replays a request spec (see akclient.py) through the official openai npm
// SDK 4.x on Debian's node 18 (system libssl). The SDK builds and sends the request itself
// from the spec's JSON body (chat, responses, embeddings; stream or not); the driver prints
// the raw HTTP body the SDK received (.asResponse()), so the bytes can be compared.
// node-fetch 2.x reports chunked replies on a kept-alive socket as "Premature close" on
// Debian's node 18, so the SDK gets a non-keep-alive agent. maxRetries 0: one call, one request.
// Usage: NODE_PATH=tests/.cache/npm/node_modules node node_openai.js SPEC.json
'use strict';
const fs = require('fs');
const https = require('https');
const OpenAI = require('openai');

const FAILED = 3;
const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const timeoutMs = (spec.options && spec.options.timeout || 20) * 1000;

function endpoint(client, op) {
  if (op === 'chat') return client.chat.completions;
  if (op === 'responses') return client.responses;
  if (op === 'embeddings') return client.embeddings;
  throw new Error('operation not supported by the openai SDK driver: ' + op);
}

async function call(c) {
  const m = c.meta;
  const client = new OpenAI({
    apiKey: m.api_key, baseURL: m.base_url, maxRetries: 0, timeout: timeoutMs,
    httpAgent: new https.Agent({ keepAlive: false }),
  });
  try {
    const resp = await endpoint(client, m.op).create(JSON.parse(c.body)).asResponse();
    for await (const chunk of resp.body) process.stdout.write(chunk);
    process.stderr.write('status: ' + resp.status + '\n');
    return 0;
  } catch (e) {
    if (e instanceof OpenAI.APIError && e.status) {
      process.stdout.write(JSON.stringify(e.error === undefined ? null : e.error));
      process.stderr.write('status: ' + e.status + '\n');
      return 0;
    }
    process.stderr.write('error: ' + (e.name || '') + ': ' + e.message + '\n');
    return FAILED;
  }
}

(async () => {
  let rc = 0;
  for (const c of spec.calls) rc = (await call(c)) || rc;
  process.exitCode = rc;
})();
