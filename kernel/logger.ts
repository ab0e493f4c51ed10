// Owns structured logging: one JSON object per line, levels, child loggers with bound fields.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger;
  isLevelEnabled(level: LogLevel): boolean;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  const v = value?.toLowerCase();
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' ? v : fallback;
}

export interface LoggerOptions {
  level: LogLevel;
  /** Where a finished line goes; defaults to stderr so stdout stays free for command output. */
  write?: (line: string) => void;
  now?: () => number;
  fields?: LogFields;
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = options.now ?? Date.now;
  const min = rank[options.level];
  const make = (bound: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
      if (rank[level] < min) return;
      const record = { time: new Date(now()).toISOString(), level, msg, ...bound, ...fields };
      write(JSON.stringify(record, errorReplacer));
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (fields) => make({ ...bound, ...fields }),
      isLevelEnabled: (level) => rank[level] >= min,
    };
  };
  return make(options.fields ?? {});
}

/** A logger that drops everything; for tests and benchmarks. */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => undefined });

/** A logger that keeps its records in memory, for tests that assert on audit lines. */
export function createRecordingLogger(): Logger & { records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'debug',
    write: (line) => records.push(JSON.parse(line) as Record<string, unknown>),
  });
  return Object.assign(logger, { records });
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === 'bigint') return value.toString();
  return value;
}
