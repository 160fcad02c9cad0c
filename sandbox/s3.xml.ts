import { xmlEscape } from './sandbox.errors';

/**
 * The little XML S3 needs: rendering result documents, and reading the few request bodies the
 * sandbox accepts (CompleteMultipartUpload, Delete, ServerSideEncryptionConfiguration). Those
 * bodies are flat and already integrity-checked, so a tag-by-tag reader is enough; anything it
 * cannot make sense of is answered with MalformedXML.
 */

export const S3_XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** `<name>value</name>`, escaped; nothing for an undefined value (optional elements are omitted). */
export function el(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${xmlEscape(String(value))}</${name}>`;
}

/** A result document: `<?xml ...?><Root xmlns="...">inner</Root>`. */
export function xmlDocument(root: string, inner: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${S3_XMLNS}">${inner}</${root}>`;
}

export function xmlUnescape(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&amp;/g, '&');
}

/** Raw inner text of every `<tag>` element (attributes allowed on the opening tag). */
export function xmlElements(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]);
}

/** Unescaped, trimmed text of the first `<tag>`, if any. */
export function xmlText(xml: string, tag: string): string | undefined {
  const inner = xmlElements(xml, tag)[0];
  return inner === undefined ? undefined : xmlUnescape(inner.trim());
}

/**
 * S3's `encoding-type=url` for list results: percent-encoding with `+` for a space, which is how
 * the AWS CLI decodes it (urllib's unquote_plus); `/` is left readable.
 */
export function urlEncodeListValue(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+').replace(/%2F/g, '/');
}
