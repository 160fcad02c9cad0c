import type { IncomingMessage, ServerResponse } from 'node:http';
import { SandboxConfigError } from './iam.config';
import type { FaultConfig } from './fault.injector';

/**
 * The unsigned control API under `/_sandbox/...`, for tests in other processes and for the
 * README walkthrough ("now fix the trust policy"). It can rewrite IAM, so it answers only
 * to loopback peers, whatever address the sandbox listens on. No route ever returns a
 * secret.
 *
 *   GET    /_sandbox/health
 *   PUT    /_sandbox/roles/<name>/trust-policy   body: policy document
 *   PUT    /_sandbox/roles/<name>/policies       body: [policy document, ...]
 *   PUT    /_sandbox/users/<name>/policies       body: [policy document, ...]
 *   PUT    /_sandbox/buckets/<name>
 *   POST   /_sandbox/kms/keys                    body: {"id"?, "alias"?, "keyPolicy"?}  → {keyId, arn, aliases}
 *   PUT    /_sandbox/kms/keys/<id|alias>/policy  body: key policy (an alias as alias%2Fname)
 *   PUT    /_sandbox/faults                      body: {"s3FailureRatio":0.33,"status":503,"code":"SlowDown"} or null
 *   DELETE /_sandbox/faults
 *   POST   /_sandbox/clock/advance               body: {"ms": 3600000}
 *   GET    /_sandbox/requests
 */

/** The operations the control API exposes; implemented by the sandbox itself. */
export interface SandboxControl {
  accountId: string;
  endpoint: string;
  httpsEndpoint?: string;
  setTrustPolicy(roleName: string, policy: unknown): void;
  setRolePolicies(roleName: string, policies: unknown): void;
  setUserPolicies(userName: string, policies: unknown): void;
  createBucket(name: string): Promise<void>;
  createKey(options?: unknown): unknown;
  setKeyPolicy(keyIdOrAlias: string, policy: unknown): void;
  setFaults(faults: FaultConfig | null): void;
  advanceClock(ms: number): void;
  readonly requests: ReadonlyArray<unknown>;
}

class AdminError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function isLoopback(address: string | undefined): boolean {
  return !!address && (address.startsWith('127.') || address === '::1' || address === '::ffff:127.0.0.1' || address.startsWith('::ffff:127.'));
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8') || 'null');
  } catch (err) {
    throw new AdminError('BAD_REQUEST', 400, `Body is not valid JSON: ${(err as Error).message}`);
  }
}

function send(res: ServerResponse, status: number, payload: unknown): void {
  const text = JSON.stringify(payload, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

export async function handleAdmin(req: IncomingMessage, res: ServerResponse, body: Buffer, control: SandboxControl): Promise<void> {
  try {
    if (!isLoopback(req.socket.remoteAddress)) throw new AdminError('FORBIDDEN', 403, 'The sandbox control API only answers loopback clients.');
    const path = (req.url ?? '').split('?')[0];
    const segments = path.split('/').filter(Boolean).slice(1).map(decodeURIComponent);
    // The segment after a collection word is a name: /roles/<name>/..., /kms/keys/<id|alias>/...
    let name = '';
    let afterCollection = false;
    const pattern = segments.map((segment) => {
      if (afterCollection) {
        afterCollection = false;
        name = segment;
        return ':name';
      }
      afterCollection = ['roles', 'users', 'buckets', 'keys'].includes(segment);
      return segment;
    });
    const route = `${req.method} /${pattern.join('/')}`;
    switch (route) {
      case 'GET /health':
        return send(res, 200, { status: 'ok', endpoint: control.endpoint, httpsEndpoint: control.httpsEndpoint, accountId: control.accountId });
      case 'PUT /roles/:name/trust-policy':
        control.setTrustPolicy(name, parseJson(body));
        return send(res, 200, { ok: true });
      case 'PUT /roles/:name/policies':
        control.setRolePolicies(name, parseJson(body));
        return send(res, 200, { ok: true });
      case 'PUT /users/:name/policies':
        control.setUserPolicies(name, parseJson(body));
        return send(res, 200, { ok: true });
      case 'PUT /buckets/:name':
        await control.createBucket(name);
        return send(res, 200, { ok: true });
      case 'POST /kms/keys':
        return send(res, 200, control.createKey(parseJson(body) ?? {}));
      case 'PUT /kms/keys/:name/policy':
        control.setKeyPolicy(name, parseJson(body));
        return send(res, 200, { ok: true });
      case 'PUT /faults':
        control.setFaults(parseJson(body) as FaultConfig | null);
        return send(res, 200, { ok: true });
      case 'DELETE /faults':
        control.setFaults(null);
        return send(res, 200, { ok: true });
      case 'POST /clock/advance': {
        const { ms } = (parseJson(body) ?? {}) as { ms?: unknown };
        if (typeof ms !== 'number') throw new AdminError('BAD_REQUEST', 400, 'Body must be {"ms": <number>}');
        control.advanceClock(ms);
        return send(res, 200, { ok: true });
      }
      case 'GET /requests':
        return send(res, 200, control.requests);
      default:
        throw new AdminError('NOT_FOUND', 404, `No control route ${req.method} ${path}`);
    }
  } catch (err) {
    if (err instanceof AdminError) return send(res, err.status, { error: { code: err.code, message: err.message } });
    if (err instanceof SandboxConfigError) {
      return send(res, err.code === 'NOT_FOUND' ? 404 : 400, { error: { code: err.code, message: err.message } });
    }
    if (err instanceof RangeError) return send(res, 400, { error: { code: 'BAD_REQUEST', message: err.message } });
    throw err;
  }
}
