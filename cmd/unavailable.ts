// Whether a start-up error means a prerequisite is unavailable (exit 3) rather than a crash (exit 1):
// a port already in use or not ours to bind. Node's servers say so in err.code; @grpc/grpc-js does not
// set a code and only names the listen error in its message ("No address added out of total 1
// resolved errors: [listen EADDRINUSE: address already in use 127.0.0.1:4317]").

const PORT_CODES = new Set(['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL']);

export function isPortUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && PORT_CODES.has(code)) return true;
  return /\blisten (EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.test(err.message);
}
