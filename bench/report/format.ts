/** Numbers as the table shows them: rates in k, latencies to about three significant digits. */
export function formatValue(value: number, unit: string): string {
  if (unit === 'ops') return String(Math.round(value));
  if (/\/s$/.test(unit) && unit !== 'Gbit/s') {
    if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
    if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
    return value.toFixed(0);
  }
  if (unit === '%') return value === 0 ? '0' : value < 1 ? value.toFixed(2) : value.toFixed(1);
  if (value === 0) return '0';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function formatRatio(value: number, base: number): string {
  if (base === 0) return '';
  return `${(value / base).toFixed(2)}×`;
}

export function percent(cores: number): string {
  return `${Math.round(cores * 100)}%`;
}
