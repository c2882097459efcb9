/** Prometheus metrics of one aggregator (its own registry, so several can live in one process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AggregatorMetrics {
  readonly registry = new Registry();
  readonly connectedAgents = new Gauge({ name: 'hostcheck_connected_agents', help: 'Agents with an open, authenticated connection', registers: [this.registry] });
  readonly reports = new Counter({ name: 'hostcheck_reports_total', help: 'Reports committed', registers: [this.registry] });
  readonly rejected = new Counter({ name: 'hostcheck_rejected_messages_total', help: 'Messages rejected (their connection closed), by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly matchSeconds = new Histogram({
    name: 'hostcheck_fleet_match_seconds', help: 'Time of one fleet match', labelNames: ['kind'],
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry],
  });
  readonly fleetFindings = new Gauge({ name: 'hostcheck_fleet_findings', help: 'Current fleet findings', registers: [this.registry] });
  readonly sections = new Counter({ name: 'hostcheck_sections_received_total', help: 'Sections received whole (version 2 agents), by kind', labelNames: ['kind'], registers: [this.registry] });
  readonly sectionChars = new Counter({ name: 'hostcheck_section_characters_total', help: 'Characters of the sections received', registers: [this.registry] });
  readonly unauthenticated = new Gauge({ name: 'hostcheck_unauthenticated_connections', help: 'Connections without an accepted hello', registers: [this.registry] });
  readonly httpRefused = new Counter({ name: 'hostcheck_http_refused_total', help: 'HTTP requests refused as a browser attack would send them (host, origin, content_type)', labelNames: ['reason'], registers: [this.registry] });
  readonly staleHosts = new Gauge({ name: 'hostcheck_stale_hosts', help: 'Hosts silent for longer than the stale time', registers: [this.registry] });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
