import type { DeliveryFormat } from '../generated/prisma/enums';
import type { DeliveryFormatEncoder, EncoderOptions } from './delivery-format.encoder';
import { gzipTextEncoder } from './gzip-text.encoder';
import { encodeOcsfParquet } from './ocsf/ocsf-parquet.encoder';

/**
 * The formats this build can encode, by name. A format of the API's enum with no entry here is
 * refused when a configuration asks for it (export-config.validation.ts), so a configuration can
 * never be stored with a format its exports could not write.
 */
const ENCODERS: Partial<Record<DeliveryFormat, (options: EncoderOptions) => DeliveryFormatEncoder>> = {
  NDJSON_GZIP: (options) => gzipTextEncoder('NDJSON_GZIP', options),
  JSON_ARRAY_GZIP: (options) => gzipTextEncoder('JSON_ARRAY_GZIP', options),
  CLOUDTRAIL_JSON_GZIP: (options) => gzipTextEncoder('CLOUDTRAIL_JSON_GZIP', options),
  // OCSF 1.7.0 records (docs/ocsf-mapping.md), one Snappy Parquet file written a row group at a
  // time. No Content-Encoding: Parquet compresses its own pages.
  OCSF_PARQUET: () => ({
    format: 'OCSF_PARQUET',
    extension: 'parquet',
    contentType: 'application/vnd.apache.parquet',
    encode: (eventBatches) => encodeOcsfParquet(eventTexts(eventBatches)),
  }),
};

/** Each event's JSON text, for an encoder that parses it. */
async function* eventTexts(eventBatches: AsyncIterable<readonly Buffer[]>): AsyncGenerator<string> {
  for await (const batch of eventBatches) for (const event of batch) yield event.toString('utf8');
}

export const DEFAULT_ENCODER_OPTIONS: EncoderOptions = { gzipLevel: 6 };

/** Whether this build can write objects in `format`. */
export function isFormatAvailable(format: DeliveryFormat): boolean {
  return ENCODERS[format] !== undefined;
}

/** The encoder of `format`; throws for a format this build cannot write (validation keeps such configurations out). */
export function encoderFor(format: DeliveryFormat, options: EncoderOptions = DEFAULT_ENCODER_OPTIONS): DeliveryFormatEncoder {
  const create = ENCODERS[format];
  if (!create) throw new Error(`The delivery format ${format} is not available in this build`);
  return create(options);
}

/** The object name extension of `format` (fixed at planning, with the key). */
export function formatExtension(format: DeliveryFormat): string {
  return encoderFor(format).extension;
}
