import { forgetKey, graphql, storedKey, storeKey } from '../shared/api';
import { drawChart, formatSeconds, type ChartPoint } from './chart';

/**
 * The status page: configurations with their delivery status (getExportConfigurationStatuses),
 * and, for the one clicked, its recent jobs and a chart of events and lag (getAllExportJobs).
 * Only textContent is used for data from the API: nothing it returns is parsed as HTML.
 */

interface Status {
  id: string;
  enabled: boolean;
  connectionStatus: string;
  interval: string;
  bucket: string;
  path: string | null;
  lastDeliveredAt: string | null;
  deliveryLagSeconds: number | null;
  lastError: string | null;
  consecutiveFailures: number;
  nextRunAt: string | null;
  disabledReason: string | null;
}

interface Job {
  id: string;
  status: string;
  eventCount: number;
  endTimestamp: string | null;
  oldestEventReceivedAt: string | null;
  attempts: number;
  failureReason: string | null;
}

const STATUSES = `query { getExportConfigurationStatuses { id enabled connectionStatus interval bucket path lastDeliveredAt deliveryLagSeconds lastError consecutiveFailures nextRunAt disabledReason } }`;
const JOBS = `query($id: String!) { getAllExportJobs(exportConfigurationId: $id) { id status eventCount endTimestamp oldestEventReceivedAt attempts failureReason } }`;

const $ = <T extends Element>(selector: string) => document.querySelector(selector) as T;
let selected: string | null = null;

function cell(row: HTMLTableRowElement, text: string, className?: string): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function when(value: string | null): string {
  return value ? new Date(value).toLocaleString() : '—';
}

function showError(message: string | null): void {
  const error = $<HTMLParagraphElement>('#error');
  error.hidden = message === null;
  error.textContent = message ?? '';
}

function state(status: Status): { text: string; className: string } {
  if (!status.enabled) return { text: status.disabledReason ? 'Disabled (automatically)' : 'Disabled', className: 'state disabled' };
  if (status.consecutiveFailures > 0 || status.connectionStatus !== 'SUCCESS') return { text: 'Failing', className: 'state failing' };
  return { text: 'Healthy', className: 'state ok' };
}

async function loadStatuses(): Promise<void> {
  const result = await graphql<{ getExportConfigurationStatuses: Status[] }>(STATUSES);
  if (result.errors?.length || !result.data) {
    const code = result.errors?.[0]?.extensions?.code;
    showError(code === 'UNAUTHENTICATED' || code === 'FORBIDDEN' ? 'The API key was refused.' : (result.errors?.[0]?.message ?? 'Request failed'));
    if (code === 'UNAUTHENTICATED') showKeyForm();
    return;
  }
  showError(null);
  const body = $<HTMLTableSectionElement>('#configurations tbody');
  body.replaceChildren();
  for (const status of result.data.getExportConfigurationStatuses) {
    const row = body.insertRow();
    row.dataset.id = status.id;
    if (status.id === selected) row.classList.add('selected');
    cell(row, `s3://${status.bucket}/${status.path ? `${status.path}/` : ''}`);
    const s = state(status);
    cell(row, s.text, s.className);
    cell(row, when(status.lastDeliveredAt));
    cell(row, status.deliveryLagSeconds === null ? '—' : formatSeconds(status.deliveryLagSeconds), 'lag');
    cell(row, String(status.consecutiveFailures), 'failures');
    cell(row, when(status.nextRunAt));
    cell(row, status.disabledReason ?? status.lastError ?? '', 'error-text');
    row.addEventListener('click', () => void selectConfiguration(status));
  }
  $<HTMLSpanElement>('#updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function selectConfiguration(status: Status): Promise<void> {
  selected = status.id;
  for (const row of document.querySelectorAll<HTMLTableRowElement>('#configurations tbody tr')) row.classList.toggle('selected', row.dataset.id === status.id);
  const result = await graphql<{ getAllExportJobs: Job[] }>(JOBS, { id: status.id });
  if (result.errors?.length || !result.data) {
    showError(result.errors?.[0]?.message ?? 'Request failed');
    return;
  }
  const jobs = result.data.getAllExportJobs;
  $<HTMLElement>('#jobs').hidden = false;
  $<HTMLElement>('#jobs-title').textContent = `Recent jobs of s3://${status.bucket}/${status.path ? `${status.path}/` : ''}`;
  const body = $<HTMLTableSectionElement>('#job-table tbody');
  body.replaceChildren();
  const points: ChartPoint[] = [];
  for (const job of jobs) {
    const lag = job.endTimestamp && job.oldestEventReceivedAt ? (Date.parse(job.endTimestamp) - Date.parse(job.oldestEventReceivedAt)) / 1000 : null;
    const row = body.insertRow();
    cell(row, when(job.endTimestamp));
    cell(row, job.status);
    cell(row, String(job.eventCount));
    cell(row, lag === null ? '—' : formatSeconds(lag));
    cell(row, String(job.attempts));
    cell(row, job.failureReason ?? '', 'error-text');
    if (job.endTimestamp && job.status === 'SUCCEEDED') points.push({ at: Date.parse(job.endTimestamp), events: job.eventCount, lagSeconds: lag });
  }
  drawChart($<SVGSVGElement>('#chart'), points);
}

function showKeyForm(): void {
  $<HTMLFormElement>('#key-form').hidden = false;
  $<HTMLElement>('#status').hidden = true;
}

function showStatus(): void {
  $<HTMLFormElement>('#key-form').hidden = true;
  $<HTMLElement>('#status').hidden = false;
  void loadStatuses();
}

document.addEventListener('DOMContentLoaded', () => {
  $<HTMLFormElement>('#key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $<HTMLInputElement>('#api-key');
    storeKey(input.value);
    input.value = '';
    showStatus();
  });
  $<HTMLButtonElement>('#refresh').addEventListener('click', () => void loadStatuses());
  $<HTMLButtonElement>('#forget-key').addEventListener('click', () => {
    forgetKey();
    showKeyForm();
  });
  if (storedKey()) showStatus();
  else showKeyForm();
});
