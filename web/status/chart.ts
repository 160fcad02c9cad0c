/** A small hand-drawn SVG chart: events per job as bars, delivery lag as a line (own scale). */
export interface ChartPoint {
  at: number;
  events: number;
  lagSeconds: number | null;
}

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 720;
const HEIGHT = 260;
const PAD = { left: 56, right: 56, top: 16, bottom: 36 };

function el<K extends keyof SVGElementTagNameMap>(name: K, attributes: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function drawChart(svg: SVGSVGElement, points: ChartPoint[]): void {
  svg.replaceChildren();
  svg.appendChild(el('rect', { x: 0, y: 0, width: WIDTH, height: HEIGHT, fill: '#ffffff' }));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  svg.appendChild(el('line', { x1: PAD.left, y1: PAD.top + plotH, x2: PAD.left + plotW, y2: PAD.top + plotH, stroke: '#9aa0a6' }));
  svg.appendChild(el('line', { x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: PAD.top + plotH, stroke: '#9aa0a6' }));
  if (points.length === 0) {
    svg.appendChild(el('text', { x: WIDTH / 2, y: HEIGHT / 2, 'text-anchor': 'middle', fill: '#555', 'font-size': 14 }, 'No finished jobs yet'));
    return;
  }
  const sorted = [...points].sort((a, b) => a.at - b.at);
  const maxEvents = Math.max(1, ...sorted.map((p) => p.events));
  const maxLag = Math.max(1, ...sorted.map((p) => p.lagSeconds ?? 0));
  const slot = plotW / sorted.length;
  const barW = Math.max(2, Math.min(40, slot * 0.6));
  const yEvents = (value: number) => PAD.top + plotH - (value / maxEvents) * plotH;
  const yLag = (value: number) => PAD.top + plotH - (value / maxLag) * plotH;
  const x = (index: number) => PAD.left + slot * index + slot / 2;

  sorted.forEach((point, index) => {
    const top = yEvents(point.events);
    svg.appendChild(el('rect', { class: 'bar', x: x(index) - barW / 2, y: top, width: barW, height: PAD.top + plotH - top, fill: '#4c8bf5' }));
  });
  const lagPoints = sorted
    .map((point, index) => (point.lagSeconds === null ? null : `${x(index).toFixed(1)},${yLag(point.lagSeconds).toFixed(1)}`))
    .filter((p): p is string => p !== null);
  if (lagPoints.length > 0) {
    svg.appendChild(el('polyline', { class: 'lag', points: lagPoints.join(' '), fill: 'none', stroke: '#e8710a', 'stroke-width': 2.5 }));
    for (const p of lagPoints) {
      const [cx, cy] = p.split(',');
      svg.appendChild(el('circle', { cx, cy, r: 3.5, fill: '#e8710a' }));
    }
  }
  // Axis labels: events on the left, lag on the right, first and last job's time below.
  svg.appendChild(el('text', { x: PAD.left - 6, y: PAD.top + 10, 'text-anchor': 'end', fill: '#4c8bf5', 'font-size': 11 }, String(maxEvents)));
  svg.appendChild(el('text', { x: PAD.left - 6, y: PAD.top + plotH, 'text-anchor': 'end', fill: '#4c8bf5', 'font-size': 11 }, '0'));
  svg.appendChild(el('text', { x: PAD.left + plotW + 6, y: PAD.top + 10, fill: '#e8710a', 'font-size': 11 }, `${formatSeconds(maxLag)}`));
  svg.appendChild(el('text', { x: PAD.left, y: HEIGHT - 12, fill: '#555', 'font-size': 11 }, new Date(sorted[0].at).toLocaleString()));
  svg.appendChild(
    el('text', { x: PAD.left + plotW, y: HEIGHT - 12, 'text-anchor': 'end', fill: '#555', 'font-size': 11 }, new Date(sorted[sorted.length - 1].at).toLocaleString()),
  );
}

export function formatSeconds(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}
