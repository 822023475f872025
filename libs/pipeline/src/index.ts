/** The ingestion pipeline: chain writer (group commit), ingest, query and verification services. */
export * from './chain-writer';
export * from './ingest.service';
export * from './query.service';
export * from './integrity.service';
export * from './metrics.service';
export * from './pipeline.module';
