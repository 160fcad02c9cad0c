import type { ObjectStatus, ValidationReport } from './digest-validator';

/** `audit-export validate`'s human-readable output (`--output json` prints the report itself). */
export function formatValidationReport(report: ValidationReport): string {
  const location = `s3://${report.bucket}/${report.path ? `${report.path}/` : ''}`;
  const lines = [
    `Validating ${location} with ${report.trustedKeys.length} trusted key${report.trustedKeys.length === 1 ? '' : 's'} (${report.trustedKeys.map(short).join(', ')})`,
    `Digests: ${report.digests.found} found, ${report.digests.verified} verified`,
  ];
  if (report.digests.found === 0) lines.push('  no digest under this path: nothing proves what was delivered (is integrity validation on for this configuration?)');
  for (const chain of report.chains) {
    const name = chain.configurationId ? `configuration ${chain.configurationId}` : 'unreadable digests';
    const range = chain.sequenceRange ? `, events after sequence ${chain.sequenceRange.after} through ${chain.sequenceRange.through}` : '';
    lines.push(`Chain of ${name}: ${chain.status.toUpperCase()} (${chain.digests} digest${chain.digests === 1 ? '' : 's'}${range})`);
    if (chain.oldest && chain.newest) lines.push(`  oldest ${chain.oldest}`, `  newest ${chain.newest}`);
    for (const start of chain.starts) {
      if (start.previousDigest) lines.push(`  starts at ${start.digest}, after s3://${start.previousDigest.bucket}/${start.previousDigest.key} (outside this path, not checked)`);
    }
    for (const gap of chain.gaps)
      lines.push(`  gap before ${gap.digest}: events after sequence ${gap.after} through ${gap.through} are in no digest (delivered while integrity validation was off)`);
    for (const broken of chain.breaks) lines.push(`  broken at ${broken.digest}: ${broken.reason} (${broken.detail})`);
  }
  const order: ObjectStatus[] = ['valid', 'modified', 'missing', 'not covered'];
  lines.push(`Objects: ${order.map((status) => `${report.summary[status]} ${status}`).join(', ')}`);
  for (const object of report.objects) {
    if (object.status === 'valid') continue;
    lines.push(`  ${object.status.padEnd(11)} ${object.key} (${object.detail}${object.digest ? `; ${object.digest}` : ''})`);
  }
  lines.push(`Result: ${report.result === 'valid' ? 'VALID: every object is as its digest lists it and the chain is intact' : 'INVALID'}`);
  return `${lines.join('\n')}\n`;
}

/** A fingerprint is 64 hex digits; the first 16 tell keys apart in a summary line. */
function short(fingerprint: string): string {
  return `${fingerprint.slice(0, 16)}…`;
}
