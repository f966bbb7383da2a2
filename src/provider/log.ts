/**
 * Structured logs for the provider: one JSON object per line, so a cluster's log pipeline can
 * index image, did, duration and error without parsing prose. Warnings and errors go to stderr,
 * the rest to stdout (the usual split for container log collectors).
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** Where finished lines go; tests pass their own to read or silence the log. */
export type LogSink = (level: LogLevel, line: string) => void;

const processSink: LogSink = (level, line) => {
  (level === 'warn' || level === 'error' ? process.stderr : process.stdout).write(`${line}\n`);
};

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export function createLogger(level: LogLevel = 'info', sink: LogSink = processSink): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const write = (at: LogLevel, msg: string, fields: LogFields = {}): void => {
    if (LOG_LEVELS.indexOf(at) < threshold) return;
    sink(at, safeStringify({ time: new Date().toISOString(), level: at, msg, ...fields }));
  };
  return {
    level,
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
  };
}

/** A log line must never throw (cycles, BigInt): fall back to the message alone. */
function safeStringify(entry: LogFields): string {
  try {
    return JSON.stringify(entry, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  } catch {
    return JSON.stringify({ time: entry.time, level: entry.level, msg: entry.msg, logError: 'fields not serialisable' });
  }
}
