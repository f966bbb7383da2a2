import { spawn, type ChildProcess } from 'node:child_process';
import net, { type Socket } from 'node:net';

/**
 * A loopback port where connections never come up, as behind a NetworkPolicy that drops the
 * packets: python3 listens with a backlog of 0 and never accepts (Node always accepts), one
 * connection fills the accept queue, and the kernel then drops further SYNs.
 */
export interface Blackhole {
  port: number;
  close(): void;
}

export async function startBlackhole(): Promise<Blackhole> {
  const listener: ChildProcess = spawn('python3', ['-c', "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)"], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    listener.once('error', reject);
    listener.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  const filler: Socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => filler.once('connect', resolve).once('error', reject));
  return {
    port,
    close() {
      filler.destroy();
      listener.kill();
    },
  };
}
