import pino, { type Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a logged object. This is a second line of defence:
 * secrets are not passed to the logger in the first place.
 */
const REDACTED_PATHS = [
  'secretAccessKey',
  '*.secretAccessKey',
  '*.*.secretAccessKey',
  'secretCiphertext',
  '*.secretCiphertext',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'sessionToken',
  '*.sessionToken',
  'credentials',
  '*.credentials',
  'apiKey',
  '*.apiKey',
];

/** Creates the service logger; JSON lines on stdout. */
export function createLogger(level: string, name = 'audit-export'): Logger {
  return pino({ name, level, redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' } });
}

export type { Logger };
