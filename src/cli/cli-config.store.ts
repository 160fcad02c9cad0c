import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { CliError } from './cli.errors';

/**
 * The CLI's own settings: one entry per profile, each with the service URL and an API key.
 * Stored at ~/.config/audit-export/config.json (or $AUDIT_EXPORT_CONFIG) with mode 0600, like
 * ~/.aws/credentials: the file holds a bearer credential.
 */

export const DEFAULT_PROFILE = 'default';

const profileSchema = z.strictObject({
  host: z.url(),
  apiKey: z.string().min(1),
});

const configFileSchema = z.strictObject({
  profiles: z.record(z.string(), profileSchema),
});

export type CliProfile = z.infer<typeof profileSchema>;
type ConfigFile = z.infer<typeof configFileSchema>;

/** Where the configuration lives: $AUDIT_EXPORT_CONFIG, else the XDG-style default. */
export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AUDIT_EXPORT_CONFIG) return env.AUDIT_EXPORT_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'audit-export', 'config.json');
}

function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new CliError(`Cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error, which may be the API key.
    throw new CliError(`${file} is not valid JSON; fix it or run "audit-export configure" again`);
  }
  const parsed = configFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliError(`${file}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Saves (creates or replaces) one profile, keeping the others; the file ends up mode 0600. */
export function saveProfile(file: string, name: string, profile: CliProfile): void {
  const checked = profileSchema.safeParse(profile);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    // Only the field name and zod's message: never the value, which may be the key.
    throw new CliError(`Invalid ${String(issue?.path[0] ?? 'profile')}: ${issue?.message ?? 'invalid'}`, 2);
  }
  const config = readConfigFile(file);
  config.profiles[name] = checked.data;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  // `mode` only applies when the file is created; an existing file keeps its old mode otherwise.
  chmodSync(file, 0o600);
}

/**
 * The profile to use: `--host`/`--api-key` (or AUDIT_EXPORT_HOST / AUDIT_EXPORT_API_KEY) override
 * the stored profile field by field, so scripts and CI need no config file.
 */
export function resolveProfile(file: string, name: string, overrides: { host?: string; apiKey?: string }): CliProfile {
  const stored = readConfigFile(file).profiles[name];
  const host = overrides.host ?? stored?.host;
  const apiKey = overrides.apiKey ?? stored?.apiKey;
  if (!host || !apiKey) {
    throw new CliError(
      `Profile "${name}" is not configured (${file}). Run: audit-export configure${name === DEFAULT_PROFILE ? '' : ` --profile ${name}`} --host <url> --api-key <key>`,
      2,
    );
  }
  return { host, apiKey };
}
