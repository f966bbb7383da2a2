'use strict';
/**
 * Records every outgoing HTTP(S) request of a process (start and end times, target), so the
 * benchmark can count network round trips and how many of them were sequential.
 *
 * Two uses: preloaded into a benchmarked child (`NODE_OPTIONS=--require <this file>` with
 * BENCH_TRACE_FILE set), it writes `{requests, maxRssKb}` to that file at exit; required by the
 * benchmark itself, it exposes the live list as `globalThis.__atprotoVerifierHttpTrace`.
 * Instrumented runs are separate from timed runs: the hook has a cost of its own.
 */
const http = require('node:http');
const https = require('node:https');
const fs = require('node:fs');

if (!globalThis.__atprotoVerifierHttpTrace) {
  const trace = { requests: [], enabled: true };
  globalThis.__atprotoVerifierHttpTrace = trace;

  const wrap = (mod, scheme) => {
    const original = mod.request;
    mod.request = function tracedRequest(...args) {
      const req = original.apply(this, args);
      if (!trace.enabled) return req;
      const entry = { scheme, method: req.method, host: req.host, path: String(req.path).split('?')[0].slice(0, 120), start: performance.now(), end: undefined, status: undefined };
      trace.requests.push(entry);
      const done = () => {
        if (entry.end === undefined) entry.end = performance.now();
      };
      req.once('response', (res) => {
        entry.status = res.statusCode;
        res.once('end', done);
        res.once('close', done);
      });
      req.once('error', done);
      req.once('close', () => setImmediate(done));
      return req;
    };
  };
  wrap(http, 'http');
  wrap(https, 'https');

  const file = process.env.BENCH_TRACE_FILE;
  if (file) {
    process.once('exit', () => {
      const now = performance.now();
      const requests = trace.requests.map((r) => ({ ...r, end: r.end ?? now }));
      fs.writeFileSync(file, JSON.stringify({ requests, maxRssKb: process.resourceUsage().maxRSS }));
    });
  }
}
