import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';

/**
 * How this machine runs an executable built for another CPU: directly when the kernel hands it to
 * QEMU through binfmt_misc (what scripts/install-system-deps.sh registers where it may), so the
 * process is started exactly as Ratify's exec.Command starts it; else through qemu-<cpu>-static
 * named explicitly (same environment, stdin and output, one more process in between).
 */
export interface Launch {
  arch: 'x64' | 'arm64';
  /** Set when the executable must be started through this emulator. */
  emulator?: string;
}

/** ELF e_machine values of the architectures the build produces. */
const MACHINES: Record<number, Launch['arch']> = { 0x3e: 'x64', 0xb7: 'arm64' };
const QEMU_CPU: Record<Launch['arch'], string> = { x64: 'x86_64', arm64: 'aarch64' };

export function launchFor(executable: string): Launch {
  const header = Buffer.alloc(20);
  const fd = openSync(executable, 'r');
  try {
    readSync(fd, header, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${executable} is not an ELF executable`);
  const arch = MACHINES[header.readUInt16LE(18)];
  if (!arch) throw new Error(`${executable}: ELF machine 0x${header.readUInt16LE(18).toString(16)} is not one the build produces`);
  if (arch === process.arch) return { arch };
  const cpu = QEMU_CPU[arch];
  const binfmt = `/proc/sys/fs/binfmt_misc/qemu-${cpu}`;
  if (existsSync(binfmt) && readFileSync(binfmt, 'utf8').startsWith('enabled')) return { arch };
  const emulator = `/usr/bin/qemu-${cpu}-static`;
  if (!existsSync(emulator)) throw new Error(`running ${executable} needs qemu-user-static: run scripts/install-system-deps.sh`);
  return { arch, emulator };
}
