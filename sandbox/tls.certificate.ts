import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * The self-signed certificate of the sandbox's HTTPS listener. Node can parse X.509 but not
 * create it, so the certificate is made by running `openssl` (present wherever Node's TLS is).
 * It is kept in the data directory and reused while it stays valid for another day, so a client
 * told to trust it (AWS_CA_BUNDLE, NODE_EXTRA_CA_CERTS) keeps working across restarts.
 */

export interface SandboxCertificate {
  /** PEM file of the certificate: also the CA bundle clients trust, as it signs itself. */
  certFile: string;
  cert: string;
  key: string;
}

const run = promisify(execFile);
const DAY_MS = 24 * 3600 * 1000;

async function reusable(certFile: string, keyFile: string): Promise<SandboxCertificate | undefined> {
  try {
    const [cert, key] = await Promise.all([fs.readFile(certFile, 'utf8'), fs.readFile(keyFile, 'utf8')]);
    const x509 = new X509Certificate(cert);
    const fresh = Date.parse(x509.validTo) - Date.now() > DAY_MS;
    return fresh && x509.checkIP('127.0.0.1') && x509.checkHost('localhost') ? { certFile, cert, key } : undefined;
  } catch {
    return undefined;
  }
}

/** Returns the certificate under `<dataDir>/tls/`, generating one (valid 30 days) if needed. */
export async function sandboxCertificate(dataDir: string): Promise<SandboxCertificate> {
  const dir = path.join(dataDir, 'tls');
  const certFile = path.join(dir, 'sandbox-ca.pem');
  const keyFile = path.join(dir, 'sandbox-key.pem');
  const existing = await reusable(certFile, keyFile);
  if (existing) return existing;
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  // prettier-ignore
  const args = [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', keyFile, '-out', certFile,
  ];
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const why = e.code === 'ENOENT' ? 'openssl is not installed (or not on PATH)' : (e.stderr?.trim() ?? e.message);
    throw new Error(`The sandbox's HTTPS listener needs a certificate made with openssl: ${why}`, { cause: err });
  }
  await fs.chmod(keyFile, 0o600);
  return { certFile, cert: await fs.readFile(certFile, 'utf8'), key: await fs.readFile(keyFile, 'utf8') };
}
