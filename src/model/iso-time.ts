/**
 * `new Date(ms).toISOString()` without touching the local time zone. Node 20's V8 looks the
 * local zone's name up in ICU on every Date string conversion, toISOString and JSON.stringify
 * of a Date included: the first one maps ICU's zone-name tables (~1 MB of RSS in the resident
 * agent, docs/agent.md, "Memory"). The UTC getters read no zone data.
 */
export function isoTime(ms: number = Date.now()): string {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (Number.isNaN(year)) throw new RangeError('Invalid time value');
  const two = (n: number): string => (n < 10 ? '0' : '') + n;
  const yyyy = year >= 0 && year <= 9999 ? String(year).padStart(4, '0') : (year < 0 ? '-' : '+') + String(Math.abs(year)).padStart(6, '0');
  const millis = d.getUTCMilliseconds();
  return `${yyyy}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${millis < 100 ? (millis < 10 ? '00' : '0') : ''}${millis}Z`;
}
