/**
 * The CLI's outputs for people (`--output text|table`). JSON stays every command's default, for
 * scripts; these are for reading at a terminal and pasting into the AWS console.
 */

export type OutputFormat = 'json' | 'text' | 'table';

export interface Policies {
  configurationId: string;
  principalArn: string | null;
  callerArn: string | null;
  trustPolicy: string | null;
  permissionsPolicy: string;
}

/** The policies with their documents as JSON objects instead of JSON strings (the default output). */
export function policiesAsObjects(policies: Policies): Record<string, unknown> {
  return {
    ...policies,
    trustPolicy: policies.trustPolicy === null ? null : (JSON.parse(policies.trustPolicy) as unknown),
    permissionsPolicy: JSON.parse(policies.permissionsPolicy) as unknown,
  };
}

/** Headed blocks of pretty JSON, each one pasteable as it is (`policy <id> --output text`). */
export function policiesAsText(policies: Policies): string {
  const block = (heading: string, document: string) => `# ${heading}\n${JSON.stringify(JSON.parse(document), null, 2)}\n`;
  const blocks: string[] = [];
  if (policies.trustPolicy !== null) {
    blocks.push(block(`Trust policy of the IAM role (Trust relationships tab); it names ${policies.configurationId} as External ID`, policies.trustPolicy));
  }
  blocks.push(block(`Permissions policy (the IAM role's, or the access key user's)`, policies.permissionsPolicy));
  return blocks.join('\n');
}

export interface ListedConfiguration {
  id: string;
  interval: string;
  enabled: boolean;
  connectionStatus: string;
  endpointConfiguration: { bucket: string; path: string | null };
}

/** `list --output table`: one aligned row per configuration. */
export function configurationsAsTable(configurations: ListedConfiguration[]): string {
  const rows = configurations.map((configuration) => [
    configuration.id,
    configuration.interval,
    configuration.enabled ? 'yes' : 'no',
    configuration.connectionStatus,
    configuration.endpointConfiguration.path
      ? `${configuration.endpointConfiguration.bucket}/${configuration.endpointConfiguration.path}`
      : configuration.endpointConfiguration.bucket,
  ]);
  return table(['ID', 'INTERVAL', 'ENABLED', 'CONNECTION', 'BUCKET/PATH'], rows);
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  // A connection status can be a long AWS error on several lines: one line per row.
  const cells = [header, ...rows].map((row) => row.map((cell) => cell.replace(/\s+/g, ' ')));
  const widths = header.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  return cells.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n') + '\n';
}
