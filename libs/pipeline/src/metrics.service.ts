/**
 * Prometheus metrics of the service. Labels never carry patient or user identifiers: only
 * outcomes, chains (event categories), routes and status classes.
 */
import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { droppedLogLines } from '@app/core';

@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  /** Metrics for authenticated callers who may read alerts (per-rule alert counts); /metrics adds them for those. */
  readonly restrictedRegistry = new Registry();

  readonly ingestedEvents = new Counter({
    name: 'audit_ingest_events_total',
    help: 'Events received on the ingest API, by result (stored, duplicate, rejected).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly ingestRequests = new Counter({
    name: 'audit_ingest_requests_total',
    help: 'Ingest requests by HTTP status class.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly requestBatchSize = new Histogram({
    name: 'audit_ingest_request_events',
    help: 'Events per ingest request.',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000],
    registers: [this.registry],
  });

  readonly commitGroupSize = new Histogram({
    name: 'audit_commit_group_events',
    help: 'Events per group commit (one fsync-ed transaction).',
    buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000],
    registers: [this.registry],
  });

  readonly commitLatency = new Histogram({
    name: 'audit_commit_duration_seconds',
    help: 'Duration of a durable group commit (hashing, insert, fsync).',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly ackLatency = new Histogram({
    name: 'audit_ingest_ack_duration_seconds',
    help: 'Time from a validated ingest request to its durable acknowledgement.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly commitFailures = new Counter({
    name: 'audit_commit_failures_total',
    help: 'Group commits that failed (the requests got 503 and nothing was acknowledged).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly walCheckpointDuration = new Histogram({
    name: 'audit_wal_checkpoint_duration_seconds',
    help: 'Background WAL checkpoints of the embedded store (copying committed pages into the database file).',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly walPendingFrames = new Gauge({
    name: 'audit_wal_pending_frames',
    help: 'WAL frames (pages) not yet copied into the database file after the last background checkpoint.',
    registers: [this.registry],
  });

  readonly walCheckpointFailures = new Counter({
    name: 'audit_wal_checkpoint_failures_total',
    help: 'Background WAL checkpoints that failed (SQLite then checkpoints on commit past its backstop).',
    registers: [this.registry],
  });

  readonly queueDepth = new Gauge({
    name: 'audit_writer_queue_events',
    help: 'Validated events waiting for the next group commit.',
    registers: [this.registry],
  });

  readonly chainLength = new Gauge({
    name: 'audit_chain_head_seq',
    help: 'Sequence number of the head of each chain.',
    labelNames: ['chain'] as const,
    registers: [this.registry],
  });

  readonly fhirSubmissions = new Counter({
    name: 'audit_fhir_submissions_total',
    help: 'POST /fhir and /fhir/AuditEvent submissions by result (stored, rejected, failed).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** Known FHIR deviations accepted and normalized (issue 21), per posting integration; labels are fixed words, never values. */
  readonly fhirDataQuality = new Counter({
    name: 'audit_fhir_data_quality_total',
    help: 'Stored FHIR AuditEvents by known deviation accepted and normalized (docs/fhir-mapping.md), per posting integration.',
    labelNames: ['integration', 'deviation'] as const,
    registers: [this.registry],
  });

  /** HTTP(S) connections closed on arrival by a connection cap (issue 22); no address is a label. */
  readonly httpConnectionsRefused = new Counter({
    name: 'audit_http_connections_refused_total',
    help: 'HTTP(S) connections closed as soon as accepted, by cap: total (HTTP_MAX_CONNECTIONS) or per_ip (HTTP_MAX_CONNECTIONS_PER_IP).',
    labelNames: ['cap'] as const,
    registers: [this.registry],
  });

  /** Known ATNA (DICOM audit message) deviations accepted and normalized (issue 21), per sending integration; labels are fixed words, never values. */
  readonly atnaDataQuality = new Counter({
    name: 'audit_atna_data_quality_total',
    help: 'Stored ATNA messages by known deviation accepted and normalized (docs/fhir-mapping.md), per sending integration (client certificate).',
    labelNames: ['integration', 'deviation'] as const,
    registers: [this.registry],
  });

  readonly atnaConnections = new Counter({
    name: 'audit_atna_connections_total',
    help: 'ATNA TLS connections by result (accepted, tls_refused, identity_refused, framing_closed, overloaded).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly atnaMessages = new Counter({
    name: 'audit_atna_messages_total',
    help: 'ATNA syslog messages by result (stored, rejected: malformed, refused: by the store or admission, failed: not durable).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly atnaErrors = new Counter({
    name: 'audit_atna_errors_total',
    help: 'ATNA input not stored, by stage (framing, syslog, xml, mapping, store) and stable error code.',
    labelNames: ['stage', 'code'] as const,
    registers: [this.registry],
  });

  readonly busMessages = new Counter({
    name: 'audit_bus_messages_total',
    help: 'Messages the chain writer consumed from the bus (BUS=kafka), by result (stored: in the store, new or already there; conflict: id reused with other content; invalid).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly futureEvents = new Counter({
    name: 'audit_ingest_future_events_total',
    help: 'Events stored and flagged clock-ahead: their occurredAt was more than EVENT_MAX_FUTURE_SECONDS ahead of the server clock.',
    registers: [this.registry],
  });

  readonly clockSkewEvents = new Counter({
    name: 'audit_ingest_clock_skew_events_total',
    help: 'Events stored and flagged for their clock, by source integration (or system) and direction (ahead: beyond EVENT_MAX_FUTURE_SECONDS; behind: beyond EVENT_MAX_PAST_SECONDS).',
    labelNames: ['integration', 'direction'] as const,
    registers: [this.registry],
  });

  readonly integrityIntact = new Gauge({
    name: 'audit_integrity_intact',
    help: 'Result of the last verification (start, scheduled incremental or full): 1 no break known, 0 a chain is broken; absent before the first.',
    registers: [this.registry],
  });

  readonly integrityBreaks = new Gauge({
    name: 'audit_integrity_broken_chains',
    help: 'Chains with a known break (their first break is on /health/ready and in the log).',
    registers: [this.registry],
  });

  readonly integrityRuns = new Counter({
    name: 'audit_integrity_verifications_total',
    help: 'Verifications the service ran by itself, by mode (start, incremental, full) and result (intact, broken, failed).',
    labelNames: ['mode', 'result'] as const,
    registers: [this.registry],
  });

  readonly integrityRecords = new Counter({
    name: 'audit_integrity_verified_records_total',
    help: 'Records recomputed by the service\'s own verifications.',
    registers: [this.registry],
  });

  readonly integrityLastRun = new Gauge({
    name: 'audit_integrity_last_verification_timestamp_seconds',
    help: 'When the last verification the service ran by itself ended (Unix time).',
    registers: [this.registry],
  });

  readonly logLinesDropped = new Counter({
    name: 'audit_log_lines_dropped_total',
    help: 'Log lines the service could not write to stdout/stderr (full disk, closed pipe), by stream and error code; the service keeps serving.',
    labelNames: ['stream', 'reason'] as const,
    registers: [this.registry],
    // The sink counts before any registry exists (log-sink.ts); the counter mirrors its totals.
    collect() {
      this.reset();
      for (const d of droppedLogLines()) this.inc({ stream: d.stream, reason: d.reason }, d.count);
    },
  });

  readonly durabilityFaults = new Counter({
    name: 'audit_durability_faults_total',
    help: 'Times events could no longer be made durable, by cause (disk_full, database_locked, io_error, store_error); readiness was false until it cleared.',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });

  readonly durabilityFault = new Gauge({
    name: 'audit_durability_fault',
    help: '1 while events cannot be made durable for this cause (readiness false), else 0.',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });

  readonly writerStalled = new Gauge({
    name: 'audit_writer_stalled',
    help: '1 while a group commit has run past WRITER_STALL_SECONDS (readiness false, new writes 503), else 0.',
    registers: [this.registry],
  });

  readonly writerStalls = new Counter({
    name: 'audit_writer_stalls_total',
    help: 'Times the chain writer was found stalled (no commit progress within WRITER_STALL_SECONDS while work was in flight).',
    registers: [this.registry],
  });

  readonly diskFreeBytes = new Gauge({
    name: 'audit_disk_free_bytes',
    help: 'Free bytes (for the service\'s user) on the filesystem of DATA_DIR.',
    registers: [this.registry],
  });

  readonly diskLow = new Gauge({
    name: 'audit_disk_pressure',
    help: '1 while free space under DATA_DIR is below DISK_FREE_FLOOR_BYTES, else 0.',
    registers: [this.registry],
  });

  readonly diskLowWarnings = new Counter({
    name: 'audit_disk_pressure_warnings_total',
    help: 'Times free space under DATA_DIR fell below DISK_FREE_FLOOR_BYTES (each raised one data-quality alert).',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'audit_process_' });
  }
}
