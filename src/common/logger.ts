import pino, { type DestinationStream, type Logger } from 'pino';

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

/**
 * Creates the service logger; JSON lines on stdout, or on `destination` (tests capture the
 * output there to prove that no secret is ever logged).
 */
export function createLogger(level: string, name = 'audit-export', destination?: DestinationStream): Logger {
  const options = { name, level, redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' } };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
