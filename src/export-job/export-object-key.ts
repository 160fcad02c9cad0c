/**
 * Where a task's object goes: `<path>/<yyyy>/<mm>/<dd>/<jobId>-<offset>.ndjson.gz`, dated by the
 * job's start (UTC), like CloudTrail's date-partitioned layout, so Athena/Glue can prune by day.
 * The key is fixed when the job is planned and stored with the task: every retry of the task
 * writes the same object, which is what makes a retry overwrite instead of duplicate.
 */
export function exportObjectKey(path: string | null, jobStartedAt: Date, jobId: string, offset: number): string {
  const yyyy = jobStartedAt.getUTCFullYear().toString().padStart(4, '0');
  const mm = (jobStartedAt.getUTCMonth() + 1).toString().padStart(2, '0');
  const dd = jobStartedAt.getUTCDate().toString().padStart(2, '0');
  // Zero-padded so that a listing in key order is in event order.
  const name = `${jobId}-${offset.toString().padStart(10, '0')}.ndjson.gz`;
  return [path, yyyy, mm, dd, name].filter((part) => part).join('/');
}
