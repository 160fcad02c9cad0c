import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The `audit-export` CLI run as a child process (through tsx, as `npm run cli` does), with its own
 * config file in a temporary directory. Variables that would select another profile or host are
 * removed, so the test sees only what it configured.
 */
export class CliHarness {
  readonly dir = mkdtempSync(join(tmpdir(), 'audit-export-cli-'));
  readonly configFile = join(this.dir, 'config.json');
  /** Every stdout and stderr the CLI wrote, for leak checks. */
  readonly transcript: string[] = [];

  run(args: string[], options: { env?: Record<string, string> } = {}): Promise<CliResult> {
    const env: NodeJS.ProcessEnv = { ...process.env, AUDIT_EXPORT_CONFIG: this.configFile, ...options.env };
    for (const name of ['AUDIT_EXPORT_HOST', 'AUDIT_EXPORT_API_KEY', 'AUDIT_EXPORT_PROFILE']) {
      if (!options.env?.[name]) delete env[name];
    }
    return new Promise((resolve) => {
      execFile(TSX, [CLI, ...args], { cwd: this.dir, env, timeout: 60_000 }, (error, stdout, stderr) => {
        this.transcript.push(stdout, stderr);
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Writes a JSON input file (like the seed's ./exportConfig.json) and returns its path. */
  writeFile(name: string, content: unknown): string {
    const file = join(this.dir, name);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return file;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Parses a successful run's stdout; fails with the CLI's stderr otherwise. */
export function json(result: CliResult): any {
  if (result.code !== 0) throw new Error(`CLI exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}
