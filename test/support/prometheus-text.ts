/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests that scrape the
 * service's `/metrics` (docs/metrics.md): prom-client has a writer but no parser. Every line must be `# HELP`, `# TYPE`, a sample, or blank; every sample
 * must belong to a family declared (HELP and TYPE) before it; anything else throws.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const HELP_LINE = new RegExp(`^# HELP (${NAME}) (.*)$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/;

/**
 * Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any letter case;
 * prom-client writes NaN as `Nan` (a process metric with no sample yet, on a busy machine).
 */
function parseValue(text: string, line: number): number {
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  return Number(text);
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const match = LABEL.exec(rest);
    if (!match) throw new Error(`line ${line}: bad labels ${JSON.stringify(text)}`);
    if (match[1] in labels) throw new Error(`line ${line}: label ${match[1]} repeated`);
    labels[match[1]] = match[2].replace(/\\(["\\n])/g, (_all, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(match[0].length);
  }
  return labels;
}

/** The family a sample belongs to: histograms and summaries add suffixes to their family's name. */
function familyOf(sample: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  const exact = families.get(sample);
  if (exact) return exact;
  const match = /^(.*)_(bucket|sum|count)$/.exec(sample);
  const family = match ? families.get(match[1]) : undefined;
  if (!family) return undefined;
  if (match![2] === 'bucket' ? family.type !== 'histogram' : family.type !== 'histogram' && family.type !== 'summary') return undefined;
  return family;
}

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, MetricFamily>();
  const helps = new Map<string, string>();
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((content, index) => {
    const line = index + 1;
    if (content === '') return;
    let match: RegExpExecArray | null;
    if ((match = HELP_LINE.exec(content))) {
      if (helps.has(match[1])) throw new Error(`line ${line}: second HELP for ${match[1]}`);
      helps.set(match[1], match[2]);
      return;
    }
    if ((match = TYPE_LINE.exec(content))) {
      const help = helps.get(match[1]);
      if (help === undefined) throw new Error(`line ${line}: TYPE of ${match[1]} without its HELP before it`);
      if (families.has(match[1])) throw new Error(`line ${line}: second TYPE for ${match[1]}`);
      families.set(match[1], { name: match[1], help, type: match[2] as MetricFamily['type'], samples: [] });
      return;
    }
    if (content.startsWith('#')) throw new Error(`line ${line}: unexpected comment ${JSON.stringify(content)}`);
    if (!(match = SAMPLE_LINE.exec(content))) throw new Error(`line ${line}: not a sample: ${JSON.stringify(content)}`);
    const family = familyOf(match[1], families);
    if (!family) throw new Error(`line ${line}: sample ${match[1]} has no HELP/TYPE before it`);
    family.samples.push({ name: match[1], labels: parseLabels(match[2] ?? '', line), value: parseValue(match[3], line) });
  });
  return families;
}

/** The value of the one sample called `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  const matches = [...families.values()]
    .flatMap((family) => family.samples)
    .filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}

/** GET `<url>/metrics` as Prometheus would, with `authorization` as the header when given. */
export async function scrapeMetrics(url: string, authorization?: string): Promise<{ status: number; text: string; contentType: string | null }> {
  const response = await fetch(`${url}/metrics`, { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(15_000) });
  return { status: response.status, text: await response.text(), contentType: response.headers.get('content-type') };
}
