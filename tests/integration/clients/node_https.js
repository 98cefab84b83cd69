// node_https.js - replays a request spec (see akclient.py) with Node's plain https.request.
//
// Meant for Debian's node 18 (tests/.cache/node18), which uses the system libssl and so is
// visible to the shim. All calls share one keep-alive Agent with a single socket. Bodies are
// written to stdout as they arrive; "status: N" (or "error: ...") per call goes to stderr.
// Exit 3 when a call failed.
// Usage: node node_https.js SPEC.json
'use strict';
const fs = require('fs');
const https = require('https');

const FAILED = 3;
const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const timeoutMs = (spec.options && spec.options.timeout || 20) * 1000;
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });

function call(c) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (rc, line) => {
      if (done) return;
      done = true;
      process.stderr.write(line + '\n');
      resolve(rc);
    };
    const u = new URL(c.url);
    const headers = {};
    for (const [k, v] of c.headers) headers[k] = v;
    if (c.body) headers['Content-Length'] = Buffer.byteLength(c.body);
    const req = https.request({
      method: c.method, hostname: u.hostname, port: u.port || 443,
      path: u.pathname + u.search, headers, agent, timeout: timeoutMs,
    }, (res) => {
      res.on('data', (d) => process.stdout.write(d));
      res.on('end', () => finish(0, 'status: ' + res.statusCode));
      res.on('aborted', () => finish(FAILED, 'error: aborted'));
      res.on('error', (e) => finish(FAILED, 'error: ' + (e.code || '') + ' ' + e.message));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => finish(FAILED, 'error: ' + (e.code || '') + ' ' + e.message));
    req.end(c.body ? c.body : undefined);
  });
}

(async () => {
  let rc = 0;
  for (const c of spec.calls) rc = (await call(c)) || rc;
  agent.destroy();
  process.exitCode = rc;
})();
