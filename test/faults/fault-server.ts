/**
 * A misbehaving PLC directory and PDS in one node:http server on 127.0.0.1. Real servers cannot
 * be made to hang, reset or answer a gigabyte on cue, so this is the one stand-in the fault tests
 * use; everything it does happens over real sockets.
 *
 *   GET /plc/<did>/log/audit            a signed one-operation log whose atproto_pds is this server
 *   GET /plcfault/<mode>/<did>/log/audit  the PLC directory misbehaving in <mode>
 *   GET /xrpc/com.atproto.sync.getRecord?did=<didFor(mode)>   the PDS misbehaving in <mode>
 *
 * Modes: hang, reset (RST before any answer), resetmidbody (RST after part of a declared body),
 * error (HTTP 500), drip (one byte every 100 ms), huge (1 GiB chunked, generated lazily as the
 * client reads), hugedeclared (Content-Length of 1 GiB), garbage (200 with bytes that mean nothing).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { genesisLog, newPlcKey, type PlcLogEntry } from '../identity/plc-log-builder.js';

export const FAULT_MODES = ['hang', 'reset', 'resetmidbody', 'error', 'drip', 'huge', 'hugedeclared', 'garbage'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

const GIB = 1024 * 1024 * 1024;

export interface FaultServer {
  origin: string;
  /** PLC directory URL that answers well (its DIDs' logs point at this server's PDS). */
  plcDirectory: string;
  /** PLC directory URL that misbehaves in `mode`. */
  faultyPlc(mode: FaultMode): string;
  /** A DID (a real genesis operation this server signed) whose PDS, this server, misbehaves in `mode`. */
  didFor(mode: FaultMode): string;
  /** Response body bytes this server has written, per mode, since the last reset. */
  bytesWritten: Map<string, number>;
  /** Destroys every open server-side socket (hanging exchanges included). */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startFaultServer(signingKeyMultibase: string): Promise<FaultServer> {
  const sockets = new Set<Socket>();
  const bytesWritten = new Map<string, number>();
  const count = (mode: string, n: number) => bytesWritten.set(mode, (bytesWritten.get(mode) ?? 0) + n);
  let origin = '';
  // did:plc identities must hash from their genesis operation, so each mode gets a real one.
  const logs = new Map<string, PlcLogEntry[]>();
  const modeOf = new Map<string, FaultMode>();
  const didOf = new Map<FaultMode, string>();

  const misbehave = (mode: string, req: http.IncomingMessage, res: http.ServerResponse) => {
    switch (mode as FaultMode) {
      case 'hang':
        return; // never answer
      case 'reset':
        req.socket.resetAndDestroy();
        return;
      case 'resetmidbody':
        // Declared under every cap (DID documents 64 KiB, proofs 2 MiB), so only the reset can fail it.
        res.writeHead(200, { 'content-length': '50000', 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(1000, 0x61), () => req.socket.resetAndDestroy());
        count(mode, 1000);
        return;
      case 'error':
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"InternalServerError"}');
        return;
      case 'drip': {
        res.writeHead(200, { 'content-type': 'application/json' });
        const timer = setInterval(() => {
          res.write(' ');
          count(mode, 1);
        }, 100);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case 'huge':
      case 'hugedeclared': {
        res.writeHead(200, mode === 'hugedeclared' ? { 'content-length': String(GIB) } : {});
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        // Writes only while the socket accepts data: the gigabyte exists only as far as it is read.
        const pump = () => {
          while (sent < GIB && !res.destroyed) {
            sent += chunk.length;
            count(mode, chunk.length);
            if (!res.write(chunk)) return;
          }
          if (sent >= GIB) res.end();
        };
        res.on('drain', pump);
        pump();
        return;
      }
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(Buffer.from('\u00ff\u00fe garbage, not a CAR or a DID document'));
        return;
      default:
        res.writeHead(404).end();
    }
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fault.invalid');
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] === 'plc' && parts.length === 4 && parts[2] === 'log' && parts[3] === 'audit') {
      const log = logs.get(decodeURIComponent(parts[1]!));
      if (!log) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(log));
      return;
    }
    if (parts[0] === 'plcfault' && parts.length >= 3) return misbehave(parts[1]!, req, res);
    if (url.pathname === '/xrpc/com.atproto.sync.getRecord') {
      return misbehave(modeOf.get(url.searchParams.get('did') ?? '') ?? 'unknown', req, res);
    }
    res.writeHead(404).end();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rotationKey = newPlcKey();
  for (const mode of FAULT_MODES) {
    const { did, log } = genesisLog({ signingKey: `did:key:${signingKeyMultibase}`, pds: origin, handle: `${mode}.fault.test`, rotationKeys: [rotationKey] });
    logs.set(did, log);
    modeOf.set(did, mode);
    didOf.set(mode, did);
  }

  return {
    origin,
    plcDirectory: `${origin}/plc`,
    faultyPlc: (mode) => `${origin}/plcfault/${mode}`,
    didFor: (mode) => didOf.get(mode)!,
    bytesWritten,
    dropConnections() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
